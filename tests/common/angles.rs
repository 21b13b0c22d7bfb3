//! Angles, written here independently of the library's own wrapping.

use std::f64::consts::{PI, TAU};

use manifold_cnn::transport::O2;

/// `a` wrapped to `(−π, π]`.
pub fn wrap(a: f64) -> f64 {
    let r = a.rem_euclid(TAU);
    if r > PI {
        r - TAU
    } else {
        r
    }
}

/// Asserts that the transport `g` is the identity: no reflection, and an angle within 1e-12 of 0
/// (mod 2π); on failure, prints `what` and `g`.
pub fn assert_identity(g: O2, what: impl std::fmt::Display) {
    assert!(
        !g.reflect && approx::abs_diff_eq!(wrap(g.angle), 0.0, epsilon = 1e-12),
        "{what}: {g:?}"
    );
}
