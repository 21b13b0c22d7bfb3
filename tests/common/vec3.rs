//! Arithmetic on points and vectors of ℝ³ as `[f64; 3]`, as the mesh sources store them.

/// `a − b`.
pub fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// `a · b`.
pub fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// `a × b`.
pub fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// `|a|`.
pub fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

/// `|a − b|`.
pub fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    norm(sub(a, b))
}

/// The unsigned angle between `a` and `b`, in `[0, π]` (accurate near 0 and π).
pub fn angle_between(a: [f64; 3], b: [f64; 3]) -> f64 {
    norm(cross(a, b)).atan2(dot(a, b))
}

/// `R p` for a 3 × 3 matrix `R` stored by rows.
pub fn mul(r: &[[f64; 3]; 3], p: [f64; 3]) -> [f64; 3] {
    [dot(r[0], p), dot(r[1], p), dot(r[2], p)]
}

/// `Rᵀ p`: for a rotation, `R⁻¹ p`.
pub fn mul_transpose(r: &[[f64; 3]; 3], p: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|i| r[0][i] * p[0] + r[1][i] * p[1] + r[2][i] * p[2])
}
