//! Whole-slice comparisons and norms.

/// `max |a_i − b_i|` (0 for empty slices).
///
/// # Panics
/// If the lengths differ.
pub fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "max_diff of slices of different lengths");
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// `max |a_i|` (0 for an empty slice).
pub fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// The root mean square of `a`.
pub fn rms(a: &[f64]) -> f64 {
    (a.iter().map(|x| x * x).sum::<f64>() / a.len() as f64).sqrt()
}

/// `Σ a_i b_i`.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Asserts that each error of a refinement study is below `factor` times the one before;
/// on failure, prints `what` and all the errors.
pub fn assert_falling(errors: &[f64], factor: f64, what: &str) {
    for e in errors.windows(2) {
        assert!(e[1] < factor * e[0], "{what}: {errors:?}");
    }
}
