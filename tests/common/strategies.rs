//! proptest strategies shared by the fuzz and property tests, as free functions returning
//! `impl Strategy` (nalgebra's `proptest` module).

use std::ops::Range;

use manifold_cnn::MeshSource;
use proptest::prelude::*;

/// `n` points of a closed-ish cloud, scaled by `scale`: point `i` at angle `0.9 i` on the unit
/// cylinder, at height `sin 1.7 i`. Random faces on it are often valid, often not.
pub fn cloud(n: u32, scale: f64) -> Vec<[f64; 3]> {
    (0..n)
        .map(|i| {
            let a = i as f64 * 0.9;
            [
                scale * a.cos(),
                scale * a.sin(),
                scale * (i as f64 * 1.7).sin(),
            ]
        })
        .collect()
}

/// Lists of `counts` faces with corners in `0..n` (repeated corners and faces included).
pub fn face_lists(n: u32, counts: Range<usize>) -> impl Strategy<Value = Vec<[u32; 3]>> {
    proptest::collection::vec([0..n, 0..n, 0..n], counts)
}

/// A source of `counts` random faces on the `n` points of [`cloud`] at scale 1.
pub fn random_faces(n: u32, counts: Range<usize>) -> impl Strategy<Value = MeshSource> {
    face_lists(n, counts).prop_map(move |f| MeshSource::from_positions("random", cloud(n, 1.0), f))
}
