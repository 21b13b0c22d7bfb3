//! Networks: gradients of whole models against finite differences, pooling in closed form, saving and
//! loading, and training that lowers the loss.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use manifold_cnn::holonomy::HolonomyGroup;
use manifold_cnn::nn::{
    coarser_levels, evaluate, predict, train, EpochStats, Label, Loss, MeshLevels, Model,
    ModelSpec, Sample, TrainOptions,
};
use manifold_cnn::Manifold;
use std::sync::Arc;

use approx::assert_abs_diff_eq;
use common::assert_abs_diff_eq_msg;
use common::gradients::assert_gradient;
use common::random::{normals, SplitMix};
use common::slices::max_abs;
use common::TempDir;

fn load(spec: &str) -> Arc<Manifold> {
    Arc::new(common::meshes::load(spec))
}

fn spec(json: &str) -> ModelSpec {
    ModelSpec::from_json(json, "test").unwrap()
}

fn compile(mesh: &str, model: &Model, f64: bool) -> MeshLevels {
    MeshLevels::compile(
        load(mesh),
        coarser_levels(mesh, model.pooling_levels()).unwrap(),
        &model.spec().conv,
        model.group(),
        f64,
    )
    .unwrap()
    .with_fields(model.field_kernels())
    .unwrap()
}

fn random(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
    let v = normals(&mut SplitMix(seed), shape.iter().product());
    Tensor::from_vec(v, shape, &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

/// A scalar of the model's output: `Σ out · probe` with a fixed random probe.
fn objective(model: &Model, x: &Tensor, mesh: &MeshLevels, probe: &Tensor) -> Tensor {
    (model.forward(x, mesh, None).unwrap() * probe)
        .unwrap()
        .sum_all()
        .unwrap()
}

fn scalar(t: &Tensor) -> f64 {
    t.to_scalar::<f64>().unwrap()
}

/// Central differences `(f(v + h) − f(v − h)) / 2h` at a few entries of a variable, against autograd.
fn check_entries(
    var: &Var,
    grad: &Tensor,
    f: &dyn Fn() -> f64,
    entries: usize,
    seed: u64,
    name: &str,
) {
    let n = var.elem_count();
    let shape = var.shape().clone();
    let base: Vec<f64> = var.flatten_all().unwrap().to_vec1().unwrap();
    let g: Vec<f64> = grad.flatten_all().unwrap().to_vec1().unwrap();
    let at = |v: &[f64]| {
        var.set(&Tensor::from_vec(v.to_vec(), &shape, &Device::Cpu).unwrap())
            .unwrap();
        f()
    };
    let mut rng = SplitMix(seed);
    let picks = (0..entries.min(n)).map(|_| rng.below(n));
    assert_gradient(name, at, &base, &g, picks, 1e-6);
    var.set(&Tensor::from_vec(base, &shape, &Device::Cpu).unwrap())
        .unwrap();
}

/// Autograd against central differences for every weight and the input of a model on icosphere:2.
fn check_model_gradients(json: &str) {
    let s = spec(json);
    let model = Model::new(&s, &HolonomyGroup::trivial(), 7, DType::F64).unwrap();
    let mesh = compile("icosphere:2", &model, true);
    let n = mesh.vertex_count();
    let x = Var::from_tensor(&random(&[2, n, 2], 1, DType::F64)).unwrap();
    let probe = random(&[2, 3], 2, DType::F64);
    let grads = objective(&model, x.as_tensor(), &mesh, &probe)
        .backward()
        .unwrap();
    let f = || scalar(&objective(&model, x.as_tensor(), &mesh, &probe));
    for (name, var) in model.var_names().iter().zip(model.vars()) {
        let g = grads
            .get(&var)
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        check_entries(&var, g, &f, 6, 3, name);
    }
    check_entries(&x, grads.get(&x).unwrap(), &f, 10, 4, "input");
}

#[test]
fn gradients_of_a_pooling_network_match_finite_differences() {
    // conv → norm → tanh → pool (max) → residual(conv, gelu) → linear → conv → global pool (mean ⊕
    // max) → dense, on icosphere:2 and its parent icosphere:1, in f64.
    check_model_gradients(
        r#"{
        "input_channels": 2, "outputs": 3, "group": "trivial",
        "conv": { "basis": "harmonic:2:1", "rings": 3, "directions": 8, "radius_edges": 1.5 },
        "layers": [
            { "type": "conv", "channels": 4 }, { "type": "norm" }, { "type": "tanh" },
            { "type": "pool", "mode": "max" },
            { "type": "residual", "layers": [ { "type": "conv", "channels": 4 }, { "type": "gelu" } ] },
            { "type": "linear", "channels": 5 },
            { "type": "conv", "channels": 3 },
            { "type": "global_pool", "mode": "mean_max" },
            { "type": "dense", "units": 3 }
        ] }"#,
    );
    // The fused norm + ReLU, mean pooling, unpooling, a convolution without bias, global max.
    check_model_gradients(
        r#"{
        "input_channels": 2, "outputs": 3, "group": "trivial",
        "conv": { "basis": "harmonic:2:1", "rings": 3, "directions": 8, "radius_edges": 1.5 },
        "layers": [
            { "type": "conv", "channels": 4 }, { "type": "norm" }, { "type": "relu" },
            { "type": "pool", "mode": "mean" },
            { "type": "conv", "channels": 4, "bias": false }, { "type": "leaky_relu", "slope": 0.1 },
            { "type": "unpool" },
            { "type": "conv", "channels": 3 },
            { "type": "global_pool", "mode": "max" },
            { "type": "dense", "units": 3 }
        ] }"#,
    );
}

#[test]
fn gradients_of_a_field_network_match_finite_differences() {
    // Scalars → ρ1 ⊕ ρ2 (field norm, norm nonlinearity) → ρ0 ⊕ ρ1 (field norm, regular
    // nonlinearity) → mean pooling of the fields → scalars ⊕ ρ1 on the coarse level → invariants →
    // global pool → dense, in f64.
    check_model_gradients(
        r#"{
        "input_channels": 2, "outputs": 3, "group": "trivial",
        "conv": { "basis": "harmonic:2:1", "rings": 3, "directions": 8, "radius_edges": 1.5 },
        "layers": [
            { "type": "field_conv", "fields": "2x1+1x2", "radial": 2 },
            { "type": "field_norm" }, { "type": "field_relu" },
            { "type": "field_conv", "fields": "2x0+2x1" }, { "type": "field_norm" },
            { "type": "field_relu", "mode": "regular", "samples": 7 },
            { "type": "pool", "mode": "mean" },
            { "type": "field_conv", "fields": "1x0+2x1", "bias": false },
            { "type": "invariant" },
            { "type": "global_pool", "mode": "mean_max" },
            { "type": "dense", "units": 3 }
        ] }"#,
    );
}

/// The layers a model runs as one op (conv → norm → ReLU → pool, and conv → norm) give the outputs
/// and gradients of the same layers run apart (kept apart here by zero dropouts, which pass features
/// through unchanged), to rounding; so do a training pass and an evaluating one.
#[test]
fn fused_blocks_equal_their_layers_apart() {
    let fused = r#"{
        "input_channels": 2, "outputs": 3, "group": "trivial",
        "conv": { "basis": "harmonic:2:1", "rings": 3, "directions": 8, "radius_edges": 1.5 },
        "layers": [
            { "type": "conv", "channels": 4 }, { "type": "norm" }, { "type": "relu" },
            { "type": "pool", "mode": "max" },
            { "type": "conv", "channels": 5, "bias": false }, { "type": "norm" },
            { "type": "global_pool", "mode": "mean_max" },
            { "type": "dense", "units": 3 }
        ] }"#;
    let apart = fused
        .replace(
            r#"{ "type": "norm" }"#,
            r#"{ "type": "dropout", "p": 0.0 }, { "type": "norm" }"#,
        )
        .replace(
            r#"{ "type": "relu" }"#,
            r#"{ "type": "dropout", "p": 0.0 }, { "type": "relu" }"#,
        )
        .replace(
            r#"{ "type": "pool", "mode": "max" }"#,
            r#"{ "type": "dropout", "p": 0.0 }, { "type": "pool", "mode": "max" }"#,
        );
    // Fused in a training pass (the convolutions keep what they gathered), apart in an evaluating one.
    let run = |json: &str, dropout_seed: Option<u64>| {
        let model = Model::new(&spec(json), &HolonomyGroup::trivial(), 5, DType::F64).unwrap();
        let mesh = compile("icosphere:2", &model, true);
        let x = Var::from_tensor(&random(&[3, mesh.vertex_count(), 2], 6, DType::F64)).unwrap();
        let probe = random(&[3, 3], 7, DType::F64);
        let out = (model.forward(x.as_tensor(), &mesh, dropout_seed).unwrap() * &probe)
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = out.backward().unwrap();
        let mut all = vec![scalar(&out)];
        for v in model.vars().iter().chain([&x]) {
            all.extend(
                grads
                    .get(v)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap(),
            );
        }
        all
    };
    let (a, b) = (run(fused, Some(1)), run(&apart, None));
    assert_eq!(a.len(), b.len());
    let scale = max_abs(&b);
    for (i, (u, v)) in a.iter().zip(&b).enumerate() {
        assert_abs_diff_eq_msg!(
            u,
            v,
            epsilon = 1e-12 * scale,
            "value {i}: {u} fused, {v} apart"
        );
    }
}

/// Gaussian bumps on the unit sphere: class 0 narrow (σ = 0.35), class 1 wide (σ = 0.9), centred at
/// random points, plus noise.
fn bumps(m: &Manifold, count: usize, seed: u64) -> Vec<Sample> {
    let p = m.positions.as_ref().unwrap();
    let mut rng = SplitMix(seed);
    (0..count)
        .map(|i| {
            let c = [rng.normal(), rng.normal(), rng.normal()];
            let norm = (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt();
            let class = (i % 2) as u32;
            let sigma = if class == 0 { 0.35 } else { 0.9 };
            let signal = p
                .iter()
                .map(|x| {
                    let d2 = (0..3).map(|k| (x[k] - c[k] / norm).powi(2)).sum::<f64>();
                    ((-d2 / (2.0 * sigma * sigma)).exp() + 0.1 * rng.normal()) as f32
                })
                .collect();
            Sample {
                mesh: 0,
                signal,
                label: Some(Label::Mesh(class)),
            }
        })
        .collect()
}

const BUMP_MODEL: &str = r#"{
    "input_channels": 1, "outputs": 2, "group": "SO2",
    "conv": { "basis": "harmonic:3:0", "rings": 3, "directions": 8, "radius_edges": 2.0 },
    "layers": [
        { "type": "conv", "channels": 8 }, { "type": "relu" },
        { "type": "conv", "channels": 8 }, { "type": "relu" },
        { "type": "global_pool", "mode": "mean_max" },
        { "type": "dense", "units": 2 }
    ] }"#;

fn bump_training(
    seed: u64,
    steps_epochs: usize,
) -> (Model, Vec<EpochStats>, MeshLevels, Vec<Sample>) {
    let model = Model::new(&spec(BUMP_MODEL), &HolonomyGroup::so2(), seed, DType::F32).unwrap();
    let mesh = compile("icosphere:2", &model, false);
    let data = bumps(&mesh.level(0).manifold, 64, 11);
    let options = TrainOptions::new()
        .epochs(steps_epochs)
        .batch_size(16)
        .learning_rate(1e-2)
        .seed(seed);
    let history = train(
        &model,
        std::slice::from_ref(&mesh),
        &data,
        None,
        &options,
        |_, _| Ok(()),
    )
    .unwrap();
    (model, history, mesh, data)
}

#[test]
fn training_lowers_the_loss_and_repeats_with_the_seed() {
    let (model, history, mesh, data) = bump_training(3, 15);
    let first = history[0].train_loss;
    let last = history.last().unwrap().train_loss;
    eprintln!(
        "losses: {:?}",
        history.iter().map(|h| h.train_loss).collect::<Vec<_>>()
    );
    // 15 epochs of 4 steps: the loss of a two-class problem starts near ln 2 and falls at least 5×.
    assert!(last < first / 5.0, "loss {first} → {last}");
    let (_, accuracy) = evaluate(
        &model,
        std::slice::from_ref(&mesh),
        &data,
        16,
        Loss::CrossEntropy,
    )
    .unwrap();
    assert!(accuracy >= 0.95, "training accuracy {accuracy}");
    // Same seed, same threads: the same curve, bit for bit.
    let (_, again, _, _) = bump_training(3, 15);
    let curve = |h: &[EpochStats]| h.iter().map(|e| e.train_loss).collect::<Vec<_>>();
    assert_eq!(curve(&history), curve(&again));
}

#[test]
fn save_load_gives_identical_outputs_and_wrong_shapes_are_named() {
    let (model, _, mesh, data) = bump_training(5, 2);
    let tmp = TempDir::new("nn", "save");
    let dir = tmp.path("model");
    model.save(&dir).unwrap();
    let loaded = Model::load(&dir).unwrap();
    assert_eq!(loaded.spec(), model.spec());
    let meshes = std::slice::from_ref(&mesh);
    let a = predict(&model, meshes, &data[..8], 4).unwrap();
    let b = predict(&loaded, meshes, &data[..8], 4).unwrap();
    for (x, y) in a.iter().zip(&b) {
        let (x, y): (Vec<f32>, Vec<f32>) = (x.to_vec1().unwrap(), y.to_vec1().unwrap());
        assert_eq!(x, y);
    }
    // The same description with wider convolutions: every weight file of the first is the wrong shape.
    let wider = spec(&BUMP_MODEL.replace("\"channels\": 8", "\"channels\": 9"));
    let other = Model::new(&wider, &HolonomyGroup::so2(), 0, DType::F32).unwrap();
    let err = other
        .load_weights(&dir.join("model.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.safetensors")
            && err.contains("'layers.0.weight'")
            && err.contains("[3, 1, 8]")
            && err.contains("[3, 1, 9]"),
        "{err}"
    );
    // Unknown layer types and fields are named.
    let err = ModelSpec::from_json(&BUMP_MODEL.replace("\"relu\"", "\"rellu\""), "m.json")
        .unwrap_err()
        .to_string();
    assert!(err.contains("m.json") && err.contains("rellu"), "{err}");
    let err = ModelSpec::from_json(&BUMP_MODEL.replace("\"units\"", "\"unit\""), "m.json")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unit"), "{err}");
}

#[test]
fn pooling_and_unpooling_follow_the_subdivision() {
    // icosphere:2 → icosphere:1. The one ring comes from the fine faces here (the library reads spokes).
    let model = Model::new(
        &spec(r#"{ "input_channels": 1, "outputs": 1, "group": "SO2", "conv": { "basis": "harmonic:1:0" },
                   "layers": [ { "type": "pool" }, { "type": "global_pool" }, { "type": "dense", "units": 1 } ] }"#),
        &HolonomyGroup::so2(),
        0,
        DType::F64,
    )
    .unwrap();
    let mesh = compile("icosphere:2", &model, false);
    let (fine, coarse) = (&mesh.level(0).manifold, &mesh.level(1).manifold);
    let (nf, nc) = (fine.mesh.vertex_count(), coarse.mesh.vertex_count());
    let p = fine.positions.as_ref().unwrap();
    let mut ring: Vec<Vec<usize>> = (0..nc).map(|v| vec![v]).collect();
    for f in fine.mesh.faces() {
        for a in 0..3 {
            let (v, w) = (f[a].index(), f[(a + 1) % 3].index());
            for (s, t) in [(v, w), (w, v)] {
                if s < nc && !ring[s].contains(&t) {
                    ring[s].push(t);
                }
            }
        }
    }
    let values: Vec<f64> = (0..nf)
        .map(|v| (3.0 * p[v][0] + p[v][1] * p[v][2]).sin())
        .collect();
    let x = Tensor::from_vec(values.clone(), (1, nf, 1), &Device::Cpu).unwrap();
    let max: Vec<f64> = mesh
        .pool(&x, 0, true)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let mean: Vec<f64> = mesh
        .pool(&x, 0, false)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    for v in 0..nc {
        let r: Vec<f64> = ring[v].iter().map(|&w| values[w]).collect();
        assert_eq!(r.len(), if v < 12 { 6 } else { 7 }, "ring of {v}");
        assert_eq!(max[v], r.iter().cloned().fold(f64::MIN, f64::max));
        assert_abs_diff_eq!(
            mean[v],
            r.iter().sum::<f64>() / r.len() as f64,
            epsilon = 1e-15
        );
    }
    // Unpooling a linear function of the coarse positions gives it at the unprojected edge midpoints.
    let pc = coarse.positions.as_ref().unwrap();
    let lin = |q: [f64; 3]| 0.3 * q[0] - 1.2 * q[1] + 0.7 * q[2];
    let xc: Vec<f64> = pc.iter().map(|&q| lin(q)).collect();
    let up: Vec<f64> = mesh
        .unpool(&Tensor::from_vec(xc, (1, nc, 1), &Device::Cpu).unwrap(), 0)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    for v in 0..nf {
        // The fine vertex is the normalized midpoint: its direction times the midpoint's length.
        let expected = if v < nc {
            lin(pc[v])
        } else {
            let parents: Vec<usize> = (0..nc)
                .filter(|&w| {
                    let d = (0..3).map(|k| (p[v][k] - pc[w][k]).powi(2)).sum::<f64>();
                    d < 0.2
                })
                .collect();
            // The two coarse neighbours whose midpoint is along p[v].
            let (a, b) = parents
                .iter()
                .flat_map(|&a| parents.iter().map(move |&b| (a, b)))
                .filter(|(a, b)| a < b)
                .min_by(|&(a, b), &(c, d)| {
                    let dir = |a: usize, b: usize| {
                        let m = [
                            (pc[a][0] + pc[b][0]) / 2.0,
                            (pc[a][1] + pc[b][1]) / 2.0,
                            (pc[a][2] + pc[b][2]) / 2.0,
                        ];
                        let r = (m[0] * m[0] + m[1] * m[1] + m[2] * m[2]).sqrt();
                        (0..3).map(|k| (m[k] / r - p[v][k]).powi(2)).sum::<f64>()
                    };
                    dir(a, b).total_cmp(&dir(c, d))
                })
                .unwrap();
            (lin(pc[a]) + lin(pc[b])) / 2.0
        };
        assert_abs_diff_eq_msg!(
            up[v],
            expected,
            epsilon = 1e-12,
            "vertex {v}: {} vs {expected}",
            up[v]
        );
    }
}

/// Trains the bump classifier with `group` and `directions` on icosphere:3 (pooling to icosphere:2)
/// and returns the largest change of its logits, relative to their largest magnitude, when the input
/// is moved by each of the 60 rotations of the icosahedron (vertex permutations of the mesh).
fn icosahedral_logit_change(group: &str, directions: usize) -> f64 {
    use manifold_cnn::data::sphere::{icosahedral_rotations, rotation_permutation};
    let json = format!(
        r#"{{ "input_channels": 1, "outputs": 2, "group": "{group}",
        "conv": {{ "basis": "harmonic:2:2", "rings": 3, "directions": {directions}, "radius_edges": 2.0 }},
        "layers": [
            {{ "type": "conv", "channels": 6 }}, {{ "type": "norm" }}, {{ "type": "relu" }},
            {{ "type": "pool", "mode": "max" }},
            {{ "type": "conv", "channels": 6 }}, {{ "type": "relu" }},
            {{ "type": "global_pool", "mode": "mean_max" }},
            {{ "type": "dense", "units": 2 }}
        ] }}"#
    );
    let g = HolonomyGroup::parse(group).unwrap().unwrap();
    let model = Model::new(&spec(&json), &g, 4, DType::F64).unwrap();
    let mesh = compile("icosphere:3", &model, true);
    let data = bumps(&mesh.level(0).manifold, 32, 21);
    let options = TrainOptions::new()
        .epochs(4)
        .batch_size(8)
        .learning_rate(1e-2)
        .seed(4);
    let meshes = std::slice::from_ref(&mesh);
    train(&model, meshes, &data, None, &options, |_, _| Ok(())).unwrap();
    let points = mesh.level(0).manifold.positions.clone().unwrap();
    let inputs: Vec<Sample> = data[..4].to_vec();
    let logits = |s: &[Sample]| -> Vec<Vec<f64>> {
        predict(&model, meshes, s, 8)
            .unwrap()
            .iter()
            .map(|t| t.to_dtype(DType::F64).unwrap().to_vec1().unwrap())
            .collect()
    };
    let base = logits(&inputs);
    let scale = base.iter().flatten().fold(0.0f64, |a, b| a.max(b.abs()));
    let mut worst: f64 = 0.0;
    for r in icosahedral_rotations() {
        let perm = rotation_permutation(&points, &r, 1e-9).expect("a symmetry of the icosphere");
        let moved: Vec<Sample> = inputs
            .iter()
            .map(|s| {
                let mut signal = vec![0.0; s.signal.len()];
                for (p, &q) in perm.iter().enumerate() {
                    signal[q as usize] = s.signal[p];
                }
                Sample {
                    signal,
                    ..s.clone()
                }
            })
            .collect();
        for (a, b) in base.iter().zip(logits(&moved)) {
            for (x, y) in a.iter().zip(b) {
                worst = worst.max((x - y).abs() / scale);
            }
        }
    }
    worst
}

#[test]
fn a_trained_so2_classifier_is_invariant_under_the_icosahedral_rotations() {
    let so2_8 = icosahedral_logit_change("SO2", 8);
    let so2_16 = icosahedral_logit_change("SO2", 16);
    let free_16 = icosahedral_logit_change("trivial", 16);
    eprintln!(
        "relative logit change under the 60 rotations: SO2 with 8 directions {so2_8:.2e}, \
         16 directions {so2_16:.2e}; unconstrained (trivial group), 16 directions {free_16:.2e}"
    );
    // What is left for SO(2) kernels is the quadrature's: it falls with more directions, and stays
    // far below the change of the same network with unconstrained kernels.
    assert!(so2_16 < so2_8, "{so2_16} vs {so2_8}");
    assert!(10.0 * so2_16 <= free_16, "{so2_16} vs {free_16}");
}
