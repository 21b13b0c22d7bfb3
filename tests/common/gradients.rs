//! Gradients against central differences.

/// The central difference `(f(v + h eᵢ) − f(v − h eᵢ)) / 2h` of `f` at `v` along entry `i`.
pub fn central_difference(f: impl Fn(&[f64]) -> f64, v: &[f64], i: usize, h: f64) -> f64 {
    let (mut plus, mut minus) = (v.to_vec(), v.to_vec());
    plus[i] = v[i] + h;
    minus[i] = v[i] - h;
    (f(&plus) - f(&minus)) / (2.0 * h)
}

/// Asserts that `grad[i]` is the central difference of `f` at `v` (step `h`) to `1e-6 · (1 + |fd|)`
/// for every `i` of `entries`; on failure, names `name[i]` and both values.
pub fn assert_gradient(
    name: &str,
    f: impl Fn(&[f64]) -> f64,
    v: &[f64],
    grad: &[f64],
    entries: impl IntoIterator<Item = usize>,
    h: f64,
) {
    for i in entries {
        let fd = central_difference(&f, v, i, h);
        let err = (fd - grad[i]).abs();
        assert!(
            approx::abs_diff_eq!(fd, grad[i], epsilon = 1e-6 * (1.0 + fd.abs())),
            "{name}[{i}]: gradient {} vs finite differences {fd} (error {err:e})",
            grad[i]
        );
    }
}
