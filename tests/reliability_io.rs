//! The command line under hostile output: a closed pipe, a full device, a file that cannot be
//! completed. A closed pipe ends the command quietly (status 141, as a shell reports `yes | head`);
//! every other write error is one clean message and status 2; an output file is complete or the
//! previous one is untouched.

mod common;

use common::cli::{run, run_in, stderr, EXE};
use common::TempDir;
use std::process::{Command, Output, Stdio};

/// Runs the binary with stdout a pipe whose reader is already gone, so the first write fails.
fn run_with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(EXE)
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

/// Runs the binary with files limited to a few KiB (`ulimit -f`; SIGXFSZ ignored, so a write past
/// the limit fails with EFBIG as on a full disk instead of killing the process).
fn run_with_file_size_limit(args: &[&str], dir: &TempDir) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 8; exec \"$0\" \"$@\"")
        .arg(EXE)
        .args(args)
        .current_dir(&dir.0)
        .output()
        .unwrap()
}

/// One line starting with `error: `, nothing else (no panic, no debug text of a dependency).
fn assert_one_clean_error(out: &Output, what: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{what}: {err}");
    assert!(
        err.starts_with("error: ") && err.lines().count() == 1,
        "{what}: {err:?}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("ZipWriter") && !err.contains("Os {"),
        "{what}: {err}"
    );
}

#[test]
fn a_closed_stdout_ends_commands_quietly_with_status_141() {
    for args in [
        &["tour"][..],
        &["holonomy", "meshes/bull.obj"],
        &["inspect", "default", "--json"],
        &["inspect", "default"],
    ] {
        let out = run_with_closed_stdout(args);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

#[test]
fn a_full_stdout_is_one_clean_error_with_status_2() {
    for args in [&["inspect", "default", "--json"][..], &["tour"]] {
        let out = Command::new(EXE)
            .args(args)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_one_clean_error(&out, &format!("{args:?}"));
        assert_eq!(
            stderr(&out),
            "error: standard output: No space left on device (os error 28)\n"
        );
    }
}

#[test]
fn an_output_that_cannot_be_completed_leaves_the_previous_file_and_no_temporary() {
    let dir = TempDir::new("reliability-io", "atomic");
    // 162 × 64 float32 values: 41 KB of output, well past the limit of a few KiB.
    dir.f32("signal.npy", &[162, 1], &[1.0; 162]);
    let convolve = [
        "convolve",
        "icosphere:2",
        "--signal",
        "signal.npy",
        "--kernel",
        "random:1",
        "--out-channels",
        "64",
    ];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "expmap",
                "icosphere:2",
                "--radius-edges",
                "2",
                "--out",
                "table.npz",
            ],
            "table.npz",
        ),
        (
            vec!["inspect", "icosphere:3", "--out", "mesh.npz"],
            "mesh.npz",
        ),
        ([&convolve[..], &["--out", "out.npy"]].concat(), "out.npy"),
        (
            [&convolve[..], &["--export-operator", "op.npz"]].concat(),
            "op.npz",
        ),
    ];
    for (args, file) in &cases {
        std::fs::write(dir.path(file), "the previous file").unwrap();
        let out = run_with_file_size_limit(args, &dir);
        assert_one_clean_error(&out, file);
        assert!(
            stderr(&out).starts_with(&format!("error: {file}: ")),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read_to_string(dir.path(file)).unwrap(),
            "the previous file",
            "{file}"
        );
    }
    let mut left: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["mesh.npz", "op.npz", "out.npy", "signal.npy", "table.npz"],
        "no temporary file is left behind"
    );
    // Without the limit the same command replaces the file with a complete archive.
    let out = run_in(&dir, &["inspect", "icosphere:3", "--out", "mesh.npz"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let names = manifold_cnn::io::npz::npz_array_names(dir.path("mesh.npz")).unwrap();
    assert!(names.iter().any(|n| n == "transport_reflect"), "{names:?}");
}

#[test]
fn out_and_export_operator_naming_the_same_file_is_an_error() {
    let dir = TempDir::new("reliability-io", "same-file");
    dir.f32("signal.npy", &[162, 1], &[1.0; 162]);
    let twice = dir.0.join(".").join("result.npy");
    let out = run(&[
        "convolve",
        "icosphere:2",
        "--signal",
        &dir.arg("signal.npy"),
        "--kernel",
        "random:1",
        "--out",
        &dir.arg("result.npy"),
        "--export-operator",
        &twice.display().to_string(),
    ]);
    assert_one_clean_error(&out, "same file");
    assert!(
        stderr(&out).contains("name the same file"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path("result.npy").exists());
}

#[test]
fn convolve_refuses_requests_larger_than_the_memory_limit_with_the_estimate() {
    let dir = TempDir::new("reliability-io", "memory");
    dir.f32("signal.npy", &[162, 1], &[1.0; 162]);
    let convolve = |extra: &[&str], env: &[(&str, &str)]| {
        let args = [
            &[
                "convolve",
                "icosphere:2",
                "--signal",
                "signal.npy",
                "--kernel",
                "random:1",
            ][..],
            extra,
        ]
        .concat();
        run_in(&dir, &args, env)
    };
    // 10^7 output channels: the output alone is 162 × 10^7 float32 values, 6 GiB.
    let limit = [("MANIFOLD_CNN_MAX_MEMORY", "4G")];
    let out = convolve(&["--out-channels", "10000000"], &limit);
    assert_one_clean_error(&out, "out-channels");
    let err = stderr(&out);
    assert!(
        err.contains("needs ~") && err.contains("MANIFOLD_CNN_MAX_MEMORY=4G"),
        "{err}"
    );
    let gib: f64 = err
        .split("needs ~")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(gib > 6.0, "{err}");
    // bins:1000:1000 is 10^6 functions; the constraint holds them as a dense 10^6 × 10^6 matrix of
    // f64: 8·10^12 bytes = 7450.581 GiB, refused even under a generous limit.
    let out = convolve(
        &["--basis", "bins:1000:1000"],
        &[("MANIFOLD_CNN_MAX_MEMORY", "1T")],
    );
    assert_one_clean_error(&out, "bins");
    assert!(
        stderr(&out).contains("needs ~7450.581 GiB"),
        "{}",
        stderr(&out)
    );
    // The same request under an address-space limit and no override: the limit is read from the
    // process, and the request is refused instead of aborting on a failed allocation.
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4000000; exec \"$0\" \"$@\"")
        .arg(EXE)
        .args([
            "convolve",
            "icosphere:2",
            "--signal",
            "signal.npy",
            "--kernel",
            "random:1",
            "--out-channels",
            "10000000",
        ])
        .current_dir(&dir.0)
        .env_remove("MANIFOLD_CNN_MAX_MEMORY")
        .output()
        .unwrap();
    assert_one_clean_error(&out, "address-space limit");
    assert!(stderr(&out).contains("needs ~"), "{}", stderr(&out));
    // A malformed override is named.
    let out = convolve(&[], &[("MANIFOLD_CNN_MAX_MEMORY", "lots")]);
    assert_one_clean_error(&out, "bad override");
    assert!(
        stderr(&out).contains("MANIFOLD_CNN_MAX_MEMORY"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn convolve_bounds_repeat() {
    let dir = TempDir::new("reliability-io", "repeat");
    dir.f32("signal.npy", &[162, 1], &[1.0; 162]);
    let args = |repeat: &'static str| {
        [
            "convolve",
            "icosphere:2",
            "--signal",
            "signal.npy",
            "--kernel",
            "random:1",
            "--repeat",
            repeat,
        ]
    };
    let out = run_in(&dir, &args("1000000000"), &[]);
    assert_one_clean_error(&out, "repeat");
    assert!(
        stderr(&out).contains("must be in 1..=1000"),
        "{}",
        stderr(&out)
    );
    let out = run_in(&dir, &args("3"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn inputs_larger_than_the_input_limit_are_refused() {
    let dir = TempDir::new("reliability-io", "input-limit");
    let limit = [("MANIFOLD_CNN_MAX_INPUT_BYTES", "100000")];
    // A stream that never ends: refused once past the limit instead of read until memory runs out.
    let out = run_in(&dir, &["inspect", "/dev/zero"], &limit);
    assert_one_clean_error(&out, "/dev/zero");
    let err = stderr(&out);
    assert!(
        err.starts_with("error: /dev/zero: larger than the input limit of 100000 bytes"),
        "{err}"
    );
    // A regular file past the limit: refused before reading (bull.obj is about 400 KB).
    let bull = std::fs::canonicalize("meshes/bull.obj").unwrap();
    let bull = bull.display().to_string();
    let out = run_in(&dir, &["inspect", &bull], &limit);
    assert_one_clean_error(&out, "bull.obj");
    assert!(
        stderr(&out).contains("larger than the input limit"),
        "{}",
        stderr(&out)
    );
    // Under the default limit the same file is read.
    let out = run_in(&dir, &["inspect", &bull], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Arrays too: a signal file past the limit.
    dir.f32("signal.npy", &[162, 200], &vec![1.0; 162 * 200]);
    let out = run_in(
        &dir,
        &[
            "convolve",
            "icosphere:2",
            "--signal",
            "signal.npy",
            "--kernel",
            "random:1",
        ],
        &limit,
    );
    assert_one_clean_error(&out, "signal");
    assert!(
        stderr(&out).contains("signal.npy: larger than the input limit"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn manifests_and_model_descriptions_past_the_input_limit_are_refused() {
    let dir = TempDir::new("reliability-io", "manifest-limit");
    // 200 rows of 21 bytes: a 4 KB manifest, past a 1 KB limit (the model description is under it).
    let mut csv = String::from("mesh,signals,labels\n");
    for _ in 0..200 {
        csv.push_str("icosphere:1,s.npy,0\n");
    }
    dir.write("data.csv", &csv);
    let model = r#"{ "input_channels": 1, "outputs": 2, "conv": { "basis": "harmonic:1:0" },
        "layers": [ { "type": "global_pool" }, { "type": "dense", "units": 2 } ] }"#;
    dir.write("model.json", model);
    let limit = [("MANIFOLD_CNN_MAX_INPUT_BYTES", "1000")];
    let args = [
        "train",
        "--model",
        "model.json",
        "--train",
        "data.csv",
        "--out",
        "o",
    ];
    let out = run_in(&dir, &args, &limit);
    assert_one_clean_error(&out, "data.csv");
    assert!(
        stderr(&out).contains("data.csv: larger than the input limit of 1000 bytes"),
        "{}",
        stderr(&out)
    );
    // A saved model's description past the limit, read by predict.
    std::fs::create_dir_all(dir.0.join("saved")).unwrap();
    let padded = format!("{model}{}", " ".repeat(2000));
    dir.write("saved/model.json", &padded);
    let args = [
        "predict", "--model", "saved", "--data", "data.csv", "--out", "p.npy",
    ];
    let out = run_in(&dir, &args, &[("MANIFOLD_CNN_MAX_INPUT_BYTES", "2000")]);
    assert_one_clean_error(&out, "model.json");
    assert!(
        stderr(&out).contains("model.json: larger than the input limit of 2000 bytes"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_kernel_with_nan_or_inf_weights_is_refused_naming_the_entry() {
    let dir = TempDir::new("reliability-io", "kernel-nan");
    dir.f32("x.npy", &[162, 1], &vec![1.0; 162]);
    // `harmonic:1:0` constrained to SO(2) (the icosphere's group): one basis function; 1 → 2 channels.
    for (bad, shown) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf")] {
        dir.f32("k.npy", &[1, 1, 2], &[0.5, bad]);
        let out = run_in(
            &dir,
            &[
                "convolve",
                "icosphere:2",
                "--signal",
                "x.npy",
                "--kernel",
                "k.npy",
                "--basis",
                "harmonic:1:0",
                "--group",
                "SO2",
                "--out",
                "y.npy",
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let msg = stderr(&out);
        assert!(
            msg.contains("k.npy") && msg.contains(shown) && msg.contains("output channel 1"),
            "{msg}"
        );
        assert!(!dir.path("y.npy").exists());
    }
}
