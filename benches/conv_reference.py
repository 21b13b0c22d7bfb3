"""Reference timings of the exported manifold-cnn operator in scipy and PyTorch (CPU).

    python3 benches/conv_reference.py OP.npz X16.npy [X64.npy ...]

OP.npz is written by `manifold-cnn convolve ... --export-operator` (or examples/conv_roofline.rs): one CSR
matrix A_b per basis function (indptr_b, indices_b, data_b; N x N, float32) and `weights` (B x C_in x C_out)
such that out = sum_b (A_b X) W_b. Every A_b has the same sparsity structure, so the script loads the
indices once and shares them (as a user would). Each X*.npy is an N x C float32 signal; the weights are
drawn at random for each C. Prints one JSON object: for each C and library, the best time over a few
formulations and repeats, and the maximum difference between the formulations (they must agree).
"""
import json
import sys
import time

import warnings

import numpy as np
import scipy.sparse as sp


def best_of(f, repeats):
    best = float("inf")
    out = None
    for _ in range(repeats):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    warnings.filterwarnings("ignore", category=UserWarning)
    z = np.load(sys.argv[1])
    n = int(z["shape"][0])
    b_count = int(z["weights"].shape[0])
    indptr = z["indptr_0"].astype(np.int32)
    indices = z["indices_0"].astype(np.int32)
    assert np.array_equal(z["indptr_1"].astype(np.int32), indptr) if b_count > 1 else True
    data = [z[f"data_{b}"] for b in range(b_count)]
    mats = [sp.csr_matrix((data[b], indices, indptr), shape=(n, n)) for b in range(b_count)]
    result = {"vertices": n, "basis": b_count, "nnz": int(indices.size), "runs": []}
    try:
        import torch

        torch.set_num_threads(2)
        crow, col = torch.from_numpy(indptr), torch.from_numpy(indices)
        tmats = [torch.sparse_csr_tensor(crow, col, torch.from_numpy(d), size=(n, n)) for d in data]
        result["torch"] = torch.__version__
    except Exception as e:  # torch is optional
        tmats = None
        result["torch_error"] = repr(e)
    for path in sys.argv[2:]:
        x = np.load(path).astype(np.float32)
        c = x.shape[1]
        rng = np.random.default_rng(c)
        w = (rng.standard_normal((b_count, c, c)) / np.sqrt(b_count * c)).astype(np.float32)
        runs = {}
        # scipy: (A_b X) W_b, and A_b (X W_b).
        # scipy is single-threaded and slow at 64 channels: one repeat there.
        reps = 2 if c <= 16 else 1
        t1, o1 = best_of(lambda: sum((mats[b] @ x) @ w[b] for b in range(b_count)), reps)
        t2, o2 = best_of(lambda: sum(mats[b] @ (x @ w[b]) for b in range(b_count)), reps)
        runs["scipy"] = {"seconds": min(t1, t2), "formulations": [t1, t2], "agree": float(np.abs(o1 - o2).max())}
        if tmats is not None:
            tx, tw = torch.from_numpy(x), torch.from_numpy(w)
            with torch.no_grad():
                t3, p1 = best_of(lambda: sum(torch.sparse.mm(tmats[b], tx) @ tw[b] for b in range(b_count)), 3)
                t4, p2 = best_of(lambda: sum(torch.sparse.mm(tmats[b], tx @ tw[b]) for b in range(b_count)), 3)
            runs["torch"] = {
                "seconds": min(t3, t4),
                "formulations": [t3, t4],
                "agree": float(np.abs(p1.numpy() - o1).max()),
            }
        result["runs"].append({"channels": c, **runs})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
