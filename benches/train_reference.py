"""The sphere classifier's training step in PyTorch (CPU), on operators exported by manifold-cnn.

    python3 benches/train_reference.py NET.npz [STEPS]

NET.npz is written by examples/train_step.rs: per level l the convolution operator in CSR form
(op{l}_indptr, op{l}_indices, op{l}_data [nnz, B]), the area weights area{l}, per pooling step the padded
one rings ring{l} [N_{l+1}, K] (padding index N_l); the initial weights under their manifold-cnn names
(layers.{i}.weight, ...); and one batch (x [S, N, 1], labels [S]). The network is the one of
examples/models/sphere_classifier.json: conv-norm-relu-pool, conv-norm-relu-pool, conv-norm-relu,
global mean and max, dense. Each A_b is a torch.sparse CSR matrix (they share one structure), so a
convolution is sum_b (A_b X) W_b with X the batch's channels side by side, as a PyTorch user would write
it. Prints one JSON object: the loss of the batch with the initial weights (it must equal manifold-cnn's),
and the median seconds of a training step (forward, backward, AdamW) over STEPS steps after 3 warm-up
steps. Exits 0 with {"skipped": ...} when torch is absent.
"""
import json
import sys
import time

import numpy as np


def main():
    try:
        import torch
    except ImportError as e:
        print(json.dumps({"skipped": f"torch is not installed ({e})"}))
        return
    torch.set_num_threads(int(__import__("os").environ.get("THREADS", "2")))
    z = np.load(sys.argv[1])
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    levels = sum(1 for k in z.files if k.startswith("op") and k.endswith("_indptr"))
    ops, areas = [], []
    for l in range(levels):
        indptr = torch.from_numpy(z[f"op{l}_indptr"].astype(np.int64))
        indices = torch.from_numpy(z[f"op{l}_indices"].astype(np.int64))
        data = z[f"op{l}_data"]
        n = indptr.numel() - 1
        ops.append([torch.sparse_csr_tensor(indptr, indices, torch.from_numpy(np.ascontiguousarray(data[:, b])), size=(n, n))
                    for b in range(data.shape[1])])
        areas.append(torch.from_numpy(z[f"area{l}"].astype(np.float32)))
    rings = [torch.from_numpy(z[f"ring{l}"].astype(np.int64)) for l in range(levels - 1)]
    params = {k: torch.nn.Parameter(torch.from_numpy(z[k].astype(np.float32))) for k in z.files if k.startswith("layers.")}
    x = torch.from_numpy(z["x"].astype(np.float32))
    labels = torch.from_numpy(z["labels"].astype(np.int64))

    def conv(x, l, i):
        s, n, c = x.shape
        xs = x.permute(1, 0, 2).reshape(n, s * c)
        y = torch.stack([a @ xs for a in ops[l]])  # [B, N, S*C]
        y = y.reshape(len(ops[l]), n, s, c)
        return torch.einsum("bnsc,bco->sno", y, params[f"layers.{i}.weight"]) + params[f"layers.{i}.bias"]

    def norm(x, l, i):
        a = areas[l][None, :, None]
        mean = (x * a).sum(1, keepdim=True)
        centred = x - mean
        var = (centred * centred * a).sum(1, keepdim=True)
        return centred / torch.sqrt(var + 1e-5) * params[f"layers.{i}.scale"] + params[f"layers.{i}.shift"]

    def pool(x, l):
        s, n, c = x.shape
        ext = torch.cat([x, torch.full((s, 1, c), -1e30)], 1)
        r = rings[l]
        return ext[:, r.reshape(-1), :].reshape(s, r.shape[0], r.shape[1], c).amax(2)

    def forward(x):
        x = torch.relu(norm(conv(x, 0, 0), 0, 1))
        x = pool(x, 0)
        x = torch.relu(norm(conv(x, 1, 4), 1, 5))
        x = pool(x, 1)
        x = torch.relu(norm(conv(x, 2, 8), 2, 9))
        a = areas[2][None, :, None]
        g = torch.cat([(x * a).sum(1), x.amax(1)], 1)
        return g @ params["layers.12.weight"] + params["layers.12.bias"]

    with torch.no_grad():
        initial = float(torch.nn.functional.cross_entropy(forward(x), labels))
    opt = torch.optim.AdamW(params.values(), lr=3e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4)
    times = []
    for step in range(3 + steps):
        t = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(forward(x), labels)
        loss.backward()
        opt.step()
        if step >= 3:
            times.append(time.perf_counter() - t)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "initial_loss": initial,
                      "seconds_per_step": float(np.median(times)), "steps": steps}))


if __name__ == "__main__":
    main()
