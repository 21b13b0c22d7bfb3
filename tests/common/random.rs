//! Seeded random data: every test draws from the library's SplitMix64, so a seed names the same data
//! on every machine.

use std::f64::consts::TAU;

use manifold_cnn::transport::O2;

pub use manifold_cnn::rng::SplitMix;

use super::angles::wrap;

/// A uniform number in `[−1, 1)`.
pub fn symmetric(rng: &mut SplitMix) -> f64 {
    2.0 * rng.uniform() - 1.0
}

/// `n` uniform numbers in `[−1, 1)`.
pub fn symmetrics(rng: &mut SplitMix, n: usize) -> Vec<f64> {
    (0..n).map(|_| symmetric(rng)).collect()
}

/// `n` standard normal numbers.
pub fn normals(rng: &mut SplitMix, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.normal()).collect()
}

/// A signal (or weights) of `n` values uniform in `[−1, 1)`, named by its seed.
pub fn signal(n: usize, seed: u64) -> Vec<f64> {
    symmetrics(&mut SplitMix(seed), n)
}

/// `n` random frames: rotations by any angle, or by multiples of 2π/D where `step` is `Some(D)`,
/// composed with a reflection (with probability ½) where `reflect`. Angles are wrapped to (−π, π].
pub fn random_frames(rng: &mut SplitMix, n: usize, step: Option<usize>, reflect: bool) -> Vec<O2> {
    (0..n)
        .map(|_| {
            let angle = match step {
                Some(d) => TAU * rng.below(d) as f64 / d as f64,
                None => TAU * rng.uniform(),
            };
            O2 {
                angle: wrap(angle),
                reflect: reflect && rng.below(2) == 1,
            }
        })
        .collect()
}
