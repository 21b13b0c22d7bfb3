//! The built `manifold-cnn` binary, run as a user runs it.

use std::process::{Command, Output};

use super::TempDir;

/// The binary under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_manifold-cnn");

/// Runs `manifold-cnn args` and waits for it.
pub fn run(args: &[&str]) -> Output {
    Command::new(EXE)
        .args(args)
        .output()
        .expect("run manifold-cnn")
}

/// Runs `manifold-cnn args` in `dir` with extra environment variables.
pub fn run_in(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(EXE)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(&dir.0)
        .output()
        .expect("run manifold-cnn")
}

/// What a run wrote to its standard output, as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a run wrote to its standard error, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The JSON a successful run printed; panics with its standard error when it failed.
pub fn json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}
