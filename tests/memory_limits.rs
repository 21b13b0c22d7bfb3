//! Under any address-space limit a command either runs or refuses with its estimate (exit 2): it is
//! never killed by an allocation failure ("memory allocation of N bytes failed", SIGABRT). The sweep
//! crosses the band where the estimate passes but the arrays, the allocator's segments and the
//! export's transients must still fit, which is where the estimates were too small before.
#![cfg(target_os = "linux")] // the address-space limit is set with `ulimit -v` through `sh`

use std::process::Command;

/// Runs the binary with `args` under `ulimit -v` of `megabytes` (decimal MB), returning the exit
/// code (`None`: killed by a signal) and stderr.
fn run_limited(megabytes: u64, args: &str) -> (Option<i32>, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {} && exec \"$0\" {args}",
            megabytes * 1_000_000 / 1024
        ))
        .arg(env!("CARGO_BIN_EXE_manifold-cnn"))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sweep(args: &str, limits: impl Iterator<Item = u64>) {
    let (mut refused, mut ran) = (0, 0);
    for mb in limits {
        let (code, err) = run_limited(mb, args);
        assert!(
            matches!(code, Some(0 | 2)),
            "`{args}` under {mb} MB: exit {code:?} (a signal if None): {err}"
        );
        if code == Some(2) {
            assert!(
                err.contains("needs ~") && err.lines().count() == 1,
                "`{args}` under {mb} MB: {err}"
            );
            refused += 1;
        } else {
            ran += 1;
        }
    }
    assert!(refused > 0, "`{args}`: no limit of the sweep was refused");
    assert!(
        ran > 0,
        "`{args}`: no limit of the sweep was enough to run it"
    );
}

#[test]
fn building_a_manifold_runs_or_refuses_under_every_limit() {
    sweep("inspect icosphere:7", (100..=700).step_by(25));
}

#[test]
fn an_exported_table_runs_or_refuses_under_every_limit() {
    let dir = std::env::temp_dir().join(format!("mcnn-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("table.npz");
    sweep(
        &format!("expmap icosphere:6 --out {}", out.display()),
        (100..=800).step_by(50),
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
