//! Subcommands of the binary. Each returns the library's [`Error`] for bad input (exit code 2).

pub mod expmap;
pub mod holonomy;
pub mod inspect;
pub mod tour;

use manifold_cnn::{BuildOptions, Error, Manifold};
use std::time::Instant;

/// Loads a mesh spec, printing what took long to stderr.
pub fn load(spec: &str, repair: bool) -> Result<Manifold, Error> {
    let t = Instant::now();
    let m = Manifold::load(spec, &BuildOptions { repair })?;
    let secs = t.elapsed().as_secs_f64();
    if secs > 1.0 {
        eprintln!("loaded {spec}: {} vertices in {secs:.2} s", m.mesh.vertex_count());
    }
    Ok(m)
}

/// Writes a JSON value to stdout.
pub fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("JSON values always serialize"));
}
