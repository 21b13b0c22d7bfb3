//! The command line under hostile output: a closed pipe, a full device, a file that cannot be
//! completed. A closed pipe ends the command quietly (status 141, as a shell reports `yes | head`);
//! every other write error is one clean message and status 2; an output file is complete or the
//! previous one is untouched.

mod common;

use common::TempDir;
use std::process::{Command, Output, Stdio};

const EXE: &str = env!("CARGO_BIN_EXE_manifold-cnn");

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

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
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
    let out = Command::new(EXE)
        .args(["inspect", "icosphere:3", "--out", "mesh.npz"])
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let names = manifold_cnn::io::npz::npz_array_names(dir.path("mesh.npz")).unwrap();
    assert!(names.iter().any(|n| n == "transport_reflect"), "{names:?}");
}

#[test]
fn out_and_export_operator_naming_the_same_file_is_an_error() {
    let dir = TempDir::new("reliability-io", "same-file");
    dir.f32("signal.npy", &[162, 1], &[1.0; 162]);
    let twice = dir.0.join(".").join("result.npy");
    let out = Command::new(EXE)
        .args([
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
        ])
        .output()
        .unwrap();
    assert_one_clean_error(&out, "same file");
    assert!(
        stderr(&out).contains("name the same file"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path("result.npy").exists());
}
