//! What the benches and `examples/conv_roofline.rs` share: the big real mesh and seeded signals.
#![allow(dead_code)] // each includer uses a part

use manifold_cnn::{io, subdivide, MeshSource};

/// A mesh spec, or `bull_loop4`: meshes/bull.obj after four Loop subdivisions (1,586,690 vertices).
pub fn source(spec: &str) -> MeshSource {
    match spec {
        "bull_loop4" => {
            let bull = io::obj::read_obj(concat!(env!("CARGO_MANIFEST_DIR"), "/meshes/bull.obj"))
                .expect("meshes/bull.obj");
            subdivide::subdivide(&bull, 4).expect("Loop subdivision of bull")
        }
        other => io::load_source(other).unwrap(),
    }
}

/// `n` reproducible values in [−0.5, 0.5) (a multiplicative hash of the index and `seed`).
pub fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32
                / (1u32 << 24) as f32
                - 0.5
        })
        .collect()
}
