//! `manifold-cnn train` and `manifold-cnn predict`, run as a user runs them: the built binary on
//! manifests, signals and models written by each test into its own temporary directory.
//!
//! Good runs are checked for what they write (the JSON summary's keys, the files in the output
//! directory, the shape and dtype of the predictions, a loss curve that a seed fixes); bad inputs for
//! exit code 2 and a message that names the file, the row and what is wrong.

mod common;
use common::assert_abs_diff_eq_msg;
use common::cli;
use common::TempDir;
use std::path::{Path, PathBuf};

// ----------------------------------------------------------------------------------------------------
// Fixtures

/// Vertex counts of the primitives used here (an icosphere of level L has 10·4^L + 2 vertices).
const ICO1: usize = 42;
const ICO2: usize = 162;
const GRID3: usize = 9;

/// Signals of `samples` samples on `n` vertices with `c` channels whose class is visible in them: sample
/// `s` of class `classes[s]` is a smooth bump pattern shifted by the class.
fn signals(classes: &[u32], n: usize, c: usize) -> Vec<f32> {
    let mut x = Vec::with_capacity(classes.len() * n * c);
    for (s, &k) in classes.iter().enumerate() {
        for v in 0..n {
            for ch in 0..c {
                let phase = (v * 7 + ch * 3 + s) as f32 * 0.37;
                x.push(k as f32 - 1.0 + 0.2 * phase.sin());
            }
        }
    }
    x
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Output {
    let out = cli::run(args);
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: cli::stdout(&out),
        stderr: cli::stderr(&out),
    }
}

fn json(out: &Output) -> serde_json::Value {
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// Asserts exit code 2 and a message starting with `error:` that contains every one of `needles`.
fn assert_fails(out: &Output, needles: &[&str]) {
    assert_eq!(
        out.code, 2,
        "expected exit 2; stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    assert!(
        out.stderr.starts_with("error:"),
        "stderr does not start with `error:`: {}",
        out.stderr
    );
    for n in needles {
        assert!(
            out.stderr.contains(n),
            "stderr does not name `{n}`: {}",
            out.stderr
        );
    }
}

/// A mesh classifier without pooling (so any mesh fits): conv, relu, global pool, dense.
fn mesh_model(input_channels: usize, outputs: usize, group: &str) -> String {
    format!(
        r#"{{
  "input_channels": {input_channels}, "outputs": {outputs}, "task": "mesh", "group": "{group}",
  "conv": {{ "basis": "harmonic:2:1", "rings": 2, "directions": 8, "radius_edges": 1.5 }},
  "layers": [
    {{ "type": "conv", "channels": 4 }}, {{ "type": "relu" }},
    {{ "type": "global_pool", "mode": "mean_max" }},
    {{ "type": "dense", "units": {outputs} }}
  ]
}}"#
    )
}

/// A per-vertex classifier: conv, relu, linear.
fn vertex_model(input_channels: usize, outputs: usize) -> String {
    format!(
        r#"{{
  "input_channels": {input_channels}, "outputs": {outputs}, "task": "vertex", "group": "auto",
  "conv": {{ "basis": "harmonic:2:1", "rings": 2, "directions": 8, "radius_edges": 1.5 }},
  "layers": [
    {{ "type": "conv", "channels": 4 }}, {{ "type": "relu" }},
    {{ "type": "linear", "channels": {outputs} }}
  ]
}}"#
    )
}

/// The mixed dataset of the end-to-end tests: 5 samples stacked on icosphere:1 (labels in a .npy)
/// and 3 single samples on icosphere:2 and grid:3x3 (labels in the manifest), 2 channels, 3 classes.
fn mixed_dataset(dir: &TempDir) -> (PathBuf, usize) {
    let stacked = [0u32, 1, 2, 1, 0];
    dir.f32(
        "ico1.npy",
        &[stacked.len() as u64, ICO1 as u64, 2],
        &signals(&stacked, ICO1, 2),
    );
    dir.npy(
        "ico1_labels.npy",
        &[stacked.len() as u64],
        &stacked.map(i64::from),
    );
    dir.f32("ico2_a.npy", &[ICO2 as u64, 2], &signals(&[2], ICO2, 2));
    dir.f32("ico2_b.npy", &[ICO2 as u64, 2], &signals(&[0], ICO2, 2));
    dir.f32("grid.npy", &[GRID3 as u64, 2], &signals(&[1], GRID3, 2));
    let manifest = dir.write(
        "train.csv",
        "mesh,signals,labels\n\
         icosphere:1,ico1.npy,ico1_labels.npy\n\
         icosphere:2,ico2_a.npy,2\n\
         icosphere:2,ico2_b.npy,0\n\
         grid:3x3,grid.npy,1\n",
    );
    (manifest, stacked.len() + 3)
}

/// `train` for 2 epochs, batches of 4, learning rate 0.01, seed 1, JSON output.
fn train_args<'a>(model: &'a str, train: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--model",
        model,
        "--train",
        train,
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--lr",
        "0.01",
        "--seed",
        "1",
        "--out",
        out,
        "--json",
    ]
}

/// Shape and dtype descriptor of a .npy file, and its float32 values.
fn read_npy(path: &Path) -> (Vec<u64>, String, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    let dtype = npy.dtype().descr();
    let values = if dtype == "'<f4'" {
        npy.into_vec::<f32>().unwrap()
    } else {
        Vec::new()
    };
    (shape, dtype, values)
}

/// The training losses of a log.jsonl, checking one line per epoch numbered 1, 2, ….
fn logged_losses(path: &Path, epochs: usize) -> Vec<f64> {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), epochs, "{text}");
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["epoch"], i + 1, "{l}");
            v["train_loss"].as_f64().unwrap()
        })
        .collect()
}

// ----------------------------------------------------------------------------------------------------
// Good runs

#[test]
fn train_then_predict_on_meshes_of_different_sizes() {
    let dir = TempDir::new("train-cli", "e2e");
    let (manifest, samples) = mixed_dataset(&dir);
    let manifest = manifest.display().to_string();
    dir.write("model.json", &mesh_model(2, 3, "auto"));
    let (model, out) = (dir.arg("model.json"), dir.arg("run"));

    // Batch size 4 over 8 samples on three meshes: batches mix meshes of 42, 162 and 9 vertices.
    let mut args = train_args(&model, &manifest, &out);
    args[6] = "3"; // epochs
    args.extend(["--val", &manifest]);
    let summary = json(&run(&args));
    let keys: Vec<&str> = summary
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "epochs",
        "train_loss",
        "train_accuracy",
        "val_accuracy",
        "parameters",
        "seconds",
        "seconds_per_epoch",
    ];
    let mut sorted = keys.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "{summary}");
    assert_eq!(summary["epochs"], 3);
    assert!(summary["train_loss"].as_f64().unwrap().is_finite());
    for k in ["train_accuracy", "val_accuracy"] {
        let a = summary[k].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a), "{k} = {a}");
    }
    assert!(summary["parameters"].as_u64().unwrap() > 0);
    assert!(summary["seconds"].as_f64().unwrap() >= 0.0);
    assert!(summary["seconds_per_epoch"].as_f64().unwrap() >= 0.0);

    let run_dir = Path::new(&out);
    for f in ["model.json", "model.safetensors", "log.jsonl", "curves.png"] {
        assert!(run_dir.join(f).is_file(), "{f} missing");
    }
    let png = std::fs::read(run_dir.join("curves.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("model.json")).unwrap())
            .unwrap();
    assert_eq!(saved["outputs"], 3);
    // "auto" is fixed when training starts: icospheres have holonomy group SO(2), a grid the trivial one.
    assert_eq!(saved["group"], "SO2");
    for loss in logged_losses(&run_dir.join("log.jsonl"), 3) {
        assert!(loss.is_finite() && loss > 0.0);
    }

    let pred = dir.arg("pred.npy");
    let report = json(&run(&[
        "predict", "--model", &out, "--data", &manifest, "--out", &pred, "--json",
    ]));
    assert_eq!(report["samples"], samples);
    let accuracy = report["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&accuracy));
    // The weights kept are those of the epoch with the best validation accuracy (the validation set
    // is this data set).
    let log = std::fs::read_to_string(run_dir.join("log.jsonl")).unwrap();
    let best = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["val_accuracy"]
                .as_f64()
                .unwrap()
        })
        .fold(0.0, f64::max);
    assert_abs_diff_eq_msg!(
        accuracy,
        best,
        epsilon = 1e-9,
        "{accuracy} vs {best}: {log}"
    );
    assert!(report["seconds"].as_f64().unwrap() >= 0.0);
    let (shape, dtype, values) = read_npy(Path::new(&pred));
    assert_eq!(shape, vec![samples as u64, 3]);
    assert_eq!(dtype, "'<f4'");
    assert!(values.iter().all(|x| x.is_finite()));
}

#[test]
fn the_same_seed_gives_the_same_loss_curve() {
    let dir = TempDir::new("train-cli", "seed");
    let (manifest, _) = mixed_dataset(&dir);
    let manifest = manifest.display().to_string();
    dir.write("model.json", &mesh_model(2, 3, "auto"));
    let model = dir.arg("model.json");
    let curves: Vec<Vec<f64>> = ["a", "b"]
        .iter()
        .map(|name| {
            let out = dir.arg(name);
            json(&run(&train_args(&model, &manifest, &out)));
            logged_losses(&dir.path(name).join("log.jsonl"), 2)
        })
        .collect();
    assert_eq!(curves[0], curves[1]);
}

#[test]
fn a_vertex_task_predicts_one_vector_per_vertex() {
    let dir = TempDir::new("train-cli", "vertex");
    let s = 3;
    let classes: Vec<u8> = (0..s * ICO1).map(|i| ((i / 7) % 2) as u8).collect();
    dir.f32(
        "x.npy",
        &[s as u64, ICO1 as u64, 1],
        &classes.iter().map(|&k| f32::from(k)).collect::<Vec<_>>(),
    );
    dir.npy("y.npy", &[s as u64, ICO1 as u64], &classes);
    let manifest = dir
        .write("v.csv", "mesh,signals,labels\nicosphere:1,x.npy,y.npy\n")
        .display()
        .to_string();
    dir.write("model.json", &vertex_model(1, 2));
    let (model, out) = (dir.arg("model.json"), dir.arg("run"));
    let summary = json(&run(&train_args(&model, &manifest, &out)));
    assert!(summary["val_accuracy"].is_null(), "no --val: {summary}");

    let pred = dir.arg("pred.npy");
    let report = json(&run(&[
        "predict", "--model", &out, "--data", &manifest, "--out", &pred, "--json",
    ]));
    assert_eq!(report["samples"], s);
    assert!((0.0..=1.0).contains(&report["accuracy"].as_f64().unwrap()));
    let (shape, dtype, _) = read_npy(Path::new(&pred));
    assert_eq!(shape, vec![s as u64, ICO1 as u64, 2]);
    assert_eq!(dtype, "'<f4'");
}

#[test]
fn predict_needs_no_labels_and_validation_may_use_other_meshes() {
    let dir = TempDir::new("train-cli", "unlabelled");
    let (manifest, _) = mixed_dataset(&dir);
    let manifest = manifest.display().to_string();
    // Validation on a mesh the training set does not have (grid:4x4, 16 vertices).
    dir.f32("g4.npy", &[2, 16, 2], &signals(&[0, 2], 16, 2));
    dir.npy("g4_labels.npy", &[2], &[0u8, 2]);
    let val = dir
        .write(
            "val.csv",
            "mesh,signals,labels\ngrid:4x4,g4.npy,g4_labels.npy\n",
        )
        .display()
        .to_string();
    dir.write("model.json", &mesh_model(2, 3, "auto"));
    let (model, out) = (dir.arg("model.json"), dir.arg("run"));
    let mut args = train_args(&model, &manifest, &out);
    args.extend(["--val", &val]);
    let summary = json(&run(&args));
    assert!((0.0..=1.0).contains(&summary["val_accuracy"].as_f64().unwrap()));

    // No labels at all: predict writes outputs and reports no accuracy.
    let unlabelled = dir
        .write(
            "new.csv",
            "mesh,signals,labels\ngrid:4x4,g4.npy,\nicosphere:1,ico1.npy,\n",
        )
        .display()
        .to_string();
    let pred = dir.arg("pred.npy");
    let report = json(&run(&[
        "predict",
        "--model",
        &out,
        "--data",
        &unlabelled,
        "--out",
        &pred,
        "--json",
    ]));
    assert_eq!(report["samples"], 7);
    assert!(report["accuracy"].is_null(), "{report}");
    assert_eq!(read_npy(Path::new(&pred)).0, vec![7, 3]);

    // …but training on it is refused.
    let out2 = dir.arg("run2");
    assert_fails(
        &run(&train_args(&model, &unlabelled, &out2)),
        &["new.csv", "line 2", "no labels"],
    );
}

// ----------------------------------------------------------------------------------------------------
// Bad inputs: exit code 2, naming the file, the row and the problem

/// A directory with one good row's files on icosphere:1 (1 channel, class 1) and grid:3x3, and a
/// 2-class mesh model.
fn bad_case_dir(name: &str) -> TempDir {
    let dir = TempDir::new("train-cli", name);
    dir.f32("ico.npy", &[ICO1 as u64, 1], &signals(&[1], ICO1, 1));
    dir.f32("grid.npy", &[GRID3 as u64, 1], &signals(&[1], GRID3, 1));
    dir.write("model.json", &mesh_model(1, 2, "auto"));
    dir
}

/// Trains on the manifest `text` (written as bad.csv) with `model` (a file in `dir`).
fn train_on(dir: &TempDir, text: &str, model: &str) -> Output {
    let manifest = dir.write("bad.csv", text).display().to_string();
    let (model, out) = (dir.arg(model), dir.arg("run"));
    run(&train_args(&model, &manifest, &out))
}

#[test]
fn manifest_structure_errors_name_the_line() {
    let dir = bad_case_dir("structure");
    let m = "model.json";
    // No header: the first line is a data row.
    assert_fails(
        &train_on(&dir, "icosphere:1,ico.npy,1\n", m),
        &["bad.csv", "line 1", "header"],
    );
    // A wrong header.
    assert_fails(
        &train_on(&dir, "mesh,signal,label\nicosphere:1,ico.npy,1\n", m),
        &["bad.csv", "line 1", "header", "mesh,signals,labels"],
    );
    // A row with too few / too many fields.
    assert_fails(
        &train_on(&dir, "mesh,signals,labels\nicosphere:1,ico.npy\n", m),
        &["bad.csv", "line 2", "3 fields", "found 2"],
    );
    assert_fails(
        &train_on(
            &dir,
            "mesh,signals,labels\nicosphere:1,ico.npy,1\ngrid:3x3,grid.npy,1,7\n",
            m,
        ),
        &["bad.csv", "line 3", "found 4"],
    );
    // A signals file that does not exist.
    assert_fails(
        &train_on(&dir, "mesh,signals,labels\nicosphere:1,nowhere.npy,1\n", m),
        &["bad.csv", "line 2", "nowhere.npy"],
    );
    // A mesh that does not load: an OBJ whose face names a vertex it does not have, and a bad spec.
    dir.write("broken.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n");
    assert_fails(
        &train_on(
            &dir,
            "mesh,signals,labels\nicosphere:1,ico.npy,1\nbroken.obj,grid.npy,0\n",
            m,
        ),
        &["bad.csv", "line 3", "broken.obj", "does not load"],
    );
    assert_fails(
        &train_on(&dir, "mesh,signals,labels\nicosphere:x,ico.npy,1\n", m),
        &["bad.csv", "line 2", "icosphere:x"],
    );
    assert_fails(
        &train_on(&dir, "mesh,signals,labels\nnot_a_mesh.obj,ico.npy,1\n", m),
        &["bad.csv", "line 2", "not_a_mesh.obj"],
    );
}

#[test]
fn signal_errors_name_the_file_and_the_problem() {
    let dir = bad_case_dir("signals");
    let m = "model.json";
    let row =
        |file: &str| format!("mesh,signals,labels\nicosphere:1,ico.npy,0\nicosphere:1,{file},1\n");
    // float64 instead of float32.
    dir.npy("f64.npy", &[ICO1 as u64, 1], &vec![0.5f64; ICO1]);
    assert_fails(
        &train_on(&dir, &row("f64.npy"), m),
        &["bad.csv", "line 3", "f64.npy", "float32"],
    );
    // Rank 1 and rank 4.
    dir.f32("rank1.npy", &[ICO1 as u64], &[0.5; ICO1]);
    assert_fails(
        &train_on(&dir, &row("rank1.npy"), m),
        &["bad.csv", "line 3", "rank1.npy", "rank 1"],
    );
    dir.f32("rank4.npy", &[1, 1, ICO1 as u64, 1], &[0.5; ICO1]);
    assert_fails(
        &train_on(&dir, &row("rank4.npy"), m),
        &["bad.csv", "line 3", "rank4.npy", "rank 4"],
    );
    // N ≠ the mesh's vertex count (grid signals on the icosphere).
    assert_fails(
        &train_on(&dir, &row("grid.npy"), m),
        &["bad.csv", "line 3", "grid.npy", "N = 9", "42 vertices"],
    );
    // A NaN: sample 1, vertex 5, channel 0 of a stacked array.
    let mut x = vec![0.25f32; 2 * ICO1];
    x[ICO1 + 5] = f32::NAN;
    dir.f32("nan.npy", &[2, ICO1 as u64, 1], &x);
    dir.npy("two.npy", &[2], &[0i32, 1]);
    assert_fails(
        &train_on(
            &dir,
            "mesh,signals,labels\nicosphere:1,nan.npy,two.npy\n",
            m,
        ),
        &[
            "bad.csv",
            "line 2",
            "nan.npy",
            "sample 1",
            "vertex 5",
            "not finite",
        ],
    );
    // Channels differing from the model's input_channels (2 here, the model takes 1).
    dir.f32("c2.npy", &[ICO1 as u64, 2], &vec![0.5; 2 * ICO1]);
    assert_fails(
        &train_on(&dir, "mesh,signals,labels\nicosphere:1,c2.npy,1\n", m),
        &["bad.csv", "line 2", "2 channel", "model.json takes 1"],
    );
}

#[test]
fn label_errors_name_the_file_and_the_problem() {
    let dir = bad_case_dir("labels");
    let m = "model.json";
    // A negative class, in the manifest and in a .npy.
    assert_fails(
        &train_on(&dir, "mesh,signals,labels\nicosphere:1,ico.npy,-1\n", m),
        &["bad.csv", "line 2", "-1", "negative"],
    );
    dir.f32("two.npy", &[2, ICO1 as u64, 1], &vec![0.5; 2 * ICO1]);
    dir.npy("neg.npy", &[2], &[0i16, -3]);
    assert_fails(
        &train_on(
            &dir,
            "mesh,signals,labels\nicosphere:1,two.npy,neg.npy\n",
            m,
        ),
        &["bad.csv", "line 2", "neg.npy", "sample 1", "negative"],
    );
    // A class ≥ the model's 2 outputs, in the manifest and per vertex.
    assert_fails(
        &train_on(
            &dir,
            "mesh,signals,labels\nicosphere:1,ico.npy,0\ngrid:3x3,grid.npy,2\n",
            m,
        ),
        &["bad.csv", "line 3", "label 2", "out of range"],
    );
    // A label array whose shape fits neither [S] nor [S, N].
    dir.npy("three.npy", &[3], &[0u8, 1, 0]);
    assert_fails(
        &train_on(
            &dir,
            "mesh,signals,labels\nicosphere:1,two.npy,three.npy\n",
            m,
        ),
        &["bad.csv", "line 2", "three.npy", "[3]", "fits neither"],
    );
    // Mesh-level labels on one row, per-vertex ones on the next.
    dir.npy("pv.npy", &[GRID3 as u64], &[0u8; GRID3]);
    assert_fails(
        &train_on(
            &dir,
            "mesh,signals,labels\nicosphere:1,ico.npy,1\ngrid:3x3,grid.npy,pv.npy\n",
            m,
        ),
        &["bad.csv", "line 3", "per-vertex", "line 2", "mesh-level"],
    );
    // Per-vertex labels for a model whose task is the mesh.
    assert_fails(
        &train_on(&dir, "mesh,signals,labels\ngrid:3x3,grid.npy,pv.npy\n", m),
        &[
            "bad.csv",
            "line 2",
            "per-vertex",
            "model.json",
            "mesh-level",
        ],
    );
    // Labelled and unlabelled rows mixed.
    assert_fails(
        &train_on(
            &dir,
            "mesh,signals,labels\nicosphere:1,ico.npy,1\ngrid:3x3,grid.npy,\n",
            m,
        ),
        &["bad.csv", "line 3", "no labels"],
    );
}

#[test]
fn model_and_flag_errors_name_the_field() {
    let dir = bad_case_dir("model");
    let good = "mesh,signals,labels\nicosphere:1,ico.npy,1\ngrid:3x3,grid.npy,0\n";
    // An unknown layer type, named.
    dir.write(
        "unknown.json",
        &mesh_model(1, 2, "auto").replace("\"relu\"", "\"swish\""),
    );
    assert_fails(
        &train_on(&dir, good, "unknown.json"),
        &["unknown.json", "swish"],
    );
    // A last layer whose size is not the model's outputs.
    dir.write(
        "units.json",
        &mesh_model(1, 2, "auto").replace("\"units\": 2", "\"units\": 5"),
    );
    assert_fails(
        &train_on(&dir, good, "units.json"),
        &["units.json", "5", "outputs"],
    );
    // C2 kernels on an icosphere, whose measured group is SO(2) (the grid's is trivial: it passes).
    dir.write("c2.json", &mesh_model(1, 2, "C2"));
    assert_fails(
        &train_on(
            &dir,
            "mesh,signals,labels\ngrid:3x3,grid.npy,0\nicosphere:1,ico.npy,1\n",
            "c2.json",
        ),
        &["bad.csv", "line 3", "c2.json", "C2", "SO2", "icosphere:1"],
    );
    // Pooling on a mesh that was not made by subdivision.
    dir.write(
        "pool.json",
        &mesh_model(1, 2, "auto").replace("\"layers\": [", "\"layers\": [ { \"type\": \"pool\" },"),
    );
    assert_fails(
        &train_on(&dir, good, "pool.json"),
        &["bad.csv", "line 3", "grid:3x3", "pool"],
    );
    // Bad flags.
    let manifest = dir.write("good.csv", good).display().to_string();
    let (model, out) = (dir.arg("model.json"), dir.arg("run"));
    for (flag, value) in [
        ("--schedule", "bogus"),
        ("--schedule", "step:0:0.5"),
        ("--optimizer", "bogus"),
        ("--loss", "bogus"),
        ("--batch-size", "0"),
        ("--epochs", "0"),
        ("--lr", "0"),
    ] {
        let mut args = train_args(&model, &manifest, &out);
        match args.iter().position(|a| *a == flag) {
            Some(i) => args[i + 1] = value,
            None => args.extend([flag, value]),
        }
        let out = run(&args);
        assert_fails(&out, &[&flag[2..]]);
        assert!(out.stderr.contains(value) || value == "0", "{}", out.stderr);
    }
}

#[test]
fn predict_errors_name_the_file_and_the_problem() {
    let dir = bad_case_dir("predict");
    let good = dir
        .write(
            "good.csv",
            "mesh,signals,labels\nicosphere:1,ico.npy,1\ngrid:3x3,grid.npy,0\n",
        )
        .display()
        .to_string();
    let (model, out) = (dir.arg("model.json"), dir.arg("run"));
    json(&run(&train_args(&model, &good, &out)));
    let predict = |data: &str, model: &str| {
        let manifest = dir.write("p.csv", data).display().to_string();
        run(&[
            "predict",
            "--model",
            model,
            "--data",
            &manifest,
            "--out",
            &dir.arg("p.npy"),
        ])
    };
    // Not a directory written by train.
    assert_fails(
        &predict(
            "mesh,signals,labels\nicosphere:1,ico.npy,\n",
            &dir.arg("nowhere"),
        ),
        &["nowhere", "model.json"],
    );
    // Channels the model does not take.
    dir.f32("c2.npy", &[GRID3 as u64, 2], &[0.5; 2 * GRID3]);
    assert_fails(
        &predict("mesh,signals,labels\ngrid:3x3,c2.npy,\n", &out),
        &["p.csv", "line 2", "2 channel", "takes 1"],
    );
    // A label the model cannot predict.
    assert_fails(
        &predict("mesh,signals,labels\ngrid:3x3,grid.npy,5\n", &out),
        &["p.csv", "line 2", "label 5", "out of range"],
    );
    // A vertex task writes one [S, N, K] array: every sample needs the same N.
    dir.write("vertex.json", &vertex_model(1, 2));
    dir.npy("gl.npy", &[GRID3 as u64], &[1u8; GRID3]);
    dir.npy("il.npy", &[ICO1 as u64], &[0u8; ICO1]);
    let vertex_data = "mesh,signals,labels\ngrid:3x3,grid.npy,gl.npy\nicosphere:1,ico.npy,il.npy\n";
    let manifest = dir.write("v.csv", vertex_data).display().to_string();
    let vout = dir.arg("vrun");
    json(&run(&train_args(&dir.arg("vertex.json"), &manifest, &vout)));
    assert_fails(
        &predict(vertex_data, &vout),
        &["p.csv", "line 3", "same vertex count"],
    );
}

#[test]
fn training_separates_classes_that_the_signals_show() {
    // Class k is a signal around k − 1 on every vertex: a mean over the vertices separates them.
    let dir = TempDir::new("train-cli", "learns");
    let classes: Vec<u32> = (0..24).map(|i| i % 3).collect();
    dir.f32(
        "ico1.npy",
        &[24, ICO1 as u64, 2],
        &signals(&classes, ICO1, 2),
    );
    dir.npy("ico1_labels.npy", &[24], &classes);
    dir.f32(
        "grid.npy",
        &[24, GRID3 as u64, 2],
        &signals(&classes, GRID3, 2),
    );
    let manifest = dir
        .write(
            "train.csv",
            "mesh,signals,labels\nicosphere:1,ico1.npy,ico1_labels.npy\ngrid:3x3,grid.npy,ico1_labels.npy\n",
        )
        .display()
        .to_string();
    dir.write("model.json", &mesh_model(2, 3, "auto"));
    let (model, out) = (dir.arg("model.json"), dir.arg("run"));
    let mut args = train_args(&model, &manifest, &out);
    args[6] = "30"; // epochs
    args[10] = "0.05"; // learning rate
    json(&run(&args));
    let losses = logged_losses(&dir.path("run").join("log.jsonl"), 30);
    assert!(losses[29] < 0.5 * losses[0], "{losses:?}");
    let report = json(&run(&[
        "predict",
        "--model",
        &out,
        "--data",
        &manifest,
        "--out",
        &dir.arg("p.npy"),
        "--json",
    ]));
    assert!(report["accuracy"].as_f64().unwrap() >= 0.9, "{report}");
}

/// A gauge-equivariant classifier (feature fields of orders 0–2, regular nonlinearity, invariants)
/// trains and predicts through the same commands on meshes of different sizes, and its saved
/// description keeps the field layers.
#[test]
fn a_gauge_equivariant_model_trains_and_predicts() {
    let dir = TempDir::new("train-cli", "gauge");
    let (manifest, samples) = mixed_dataset(&dir);
    let manifest = manifest.display().to_string();
    dir.write(
        "model.json",
        r#"{
  "input_channels": 2, "outputs": 3, "task": "mesh", "group": "auto",
  "conv": { "basis": "harmonic:2:1", "rings": 2, "directions": 8, "radius_edges": 1.5 },
  "layers": [
    { "type": "field_conv", "fields": "2x0+2x1+2x2", "radial": 2 }, { "type": "field_norm" },
    { "type": "field_relu", "mode": "regular", "samples": 8 },
    { "type": "field_conv", "fields": "3x0+2x1" }, { "type": "field_relu" },
    { "type": "invariant" },
    { "type": "global_pool", "mode": "mean_max" },
    { "type": "dense", "units": 3 }
  ]
}"#,
    );
    let (model, out) = (dir.arg("model.json"), dir.arg("run"));
    let summary = json(&run(&train_args(&model, &manifest, &out)));
    assert_eq!(summary["epochs"], 2, "{summary}");
    let saved = std::fs::read_to_string(dir.path("run").join("model.json")).unwrap();
    assert!(
        saved.contains("field_conv") && saved.contains("\"SO2\""),
        "{saved}"
    );
    let pred = dir.arg("pred.npy");
    let report = json(&run(&[
        "predict", "--model", &out, "--data", &manifest, "--out", &pred, "--json",
    ]));
    assert_eq!(report["samples"], samples);
    let (shape, _, values) = read_npy(Path::new(&pred));
    assert_eq!(shape, vec![samples as u64, 3]);
    assert!(values.iter().all(|v| v.is_finite()));

    // Through a compile cache: the second run loads the scalar operators and the table the field
    // convolutions are compiled from (their operators are not cached); the same loss curve both
    // times.
    let cache = dir.arg("cache");
    let runs: Vec<serde_json::Value> = ["c1", "c2"]
        .iter()
        .map(|name| {
            let out = dir.arg(name);
            let mut args = train_args(&model, &manifest, &out);
            args.extend(["--cache", cache.as_str()]);
            json(&run(&args))
        })
        .collect();
    assert!(runs[0]["train_loss"].is_f64(), "{runs:?}");
    assert_eq!(runs[0]["train_loss"], runs[1]["train_loss"], "{runs:?}");
    // The cache was used, not ignored: the first run wrote the scalar operators there.
    let operators = std::fs::read_dir(&cache)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".conv")
        })
        .count();
    assert!(operators > 0, "no operator file in {cache}");

    // Fields of order ≥ 1 cannot reach a layer that takes scalars: the error names the layer.
    dir.write(
        "bad.json",
        r#"{
  "input_channels": 2, "outputs": 3, "task": "mesh", "group": "auto",
  "layers": [
    { "type": "field_conv", "fields": "2x0+2x1" }, { "type": "relu" },
    { "type": "global_pool" }, { "type": "dense", "units": 3 }
  ]
}"#,
    );
    let bad = dir.arg("bad.json");
    assert_fails(
        &run(&train_args(&bad, &manifest, &dir.arg("bad_run"))),
        &["layers.1", "invariant"],
    );
}
