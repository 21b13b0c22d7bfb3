//! Planar images on the sphere, and rotations of the sphere.
//!
//! # The projection
//!
//! As in the spherical-CNN literature (Cohen et al. 2018, "Spherical CNNs": the image plane is projected
//! stereographically onto the sphere and sampled at the grid points by bilinear interpolation), with
//! every convention fixed here:
//!
//! * **Sphere and plane.** The unit sphere, north pole `(0, 0, 1)`; the image plane is the equatorial
//!   plane `z = 0`, with coordinates `(x, y)`.
//! * **Stereographic projection** from the south pole `(0, 0, −1)`: a point `p` (first normalised to
//!   the unit sphere) goes to
//!
//!   ```text
//!   x = p_x / (1 + p_z),   y = p_y / (1 + p_z)
//!   ```
//!
//!   a bijection from the sphere less its south pole onto the plane that maps the northern hemisphere
//!   `p_z ≥ 0` onto the closed unit disc (the north pole to the origin, the equator to the unit circle,
//!   polar angle β to radius `tan(β/2)`). It is conformal, so shapes keep their angles.
//! * **The image** `[H, W]` (row `i` from the top, column `j` from the left) covers the square
//!   `[−1, 1]²`: pixel `(i, j)` is the cell centred at
//!
//!   ```text
//!   x_j = −1 + (2j + 1)/W,   y_i = 1 − (2i + 1)/H        (y up = row decreasing)
//!   ```
//!
//!   so the image centre is the north pole, the disc inscribed in the image is the northern hemisphere,
//!   and the image's four corners reach into the southern hemisphere down to `p_z = −1/3` (radius √2).
//! * **Sampling.** The value at `(x, y)` is the bilinear interpolation of the pixel values at the four
//!   nearest pixel centres, with pixels outside the image counted as 0, divided by 255 (values in
//!   `[0, 1]`). The signal is therefore continuous on the whole sphere, and 0 wherever
//!   `max(|x|, |y|) ≥ 1 + 1/min(H, W)`: on most of the southern hemisphere (all of `p_z < −0.37` for
//!   28 × 28 images) and at the south pole.
//!
//!   The image is not cut at the equator: 15% of the MNIST digits have ink beyond radius 0.95 of the
//!   inscribed disc, and a cut there would make the signal jump on the equator, where rounding in a
//!   rotation decides the side of a vertex.
//! * **Rotation.** With a rotation `R`, the value at `p` is the unrotated value at `R⁻¹p = Rᵀp`: the
//!   signal is the projected image rotated by `R`.
//!
//! # Rotations
//!
//! A [`Rotation`] is a 3 × 3 row-major matrix acting on column vectors, `(R p)_a = Σ_b R[a][b] p_b`.
//! [`random_rotation`] draws from the uniform (Haar) measure on SO(3) by Shoemake's method;
//! [`icosahedral_rotations`] lists the 60 symmetries of the icosahedron of
//! [`primitives::icosphere`](crate::primitives::icosphere), and [`rotation_permutation`] turns a
//! symmetry of a point set into the vertex permutation it induces.

use std::f64::consts::PI;

/// A rotation of 3-space: row-major, acting on column vectors (`(R p)_a = Σ_b R[a][b] p_b`).
pub type Rotation = [[f64; 3]; 3];

/// The identity rotation.
pub const IDENTITY: Rotation = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

/// `R p`.
pub fn rotate(r: &Rotation, p: [f64; 3]) -> [f64; 3] {
    r.map(|row| row[0] * p[0] + row[1] * p[1] + row[2] * p[2])
}

/// `Rᵀ p`, which is `R⁻¹ p` for a rotation.
pub fn rotate_inverse(r: &Rotation, p: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|b| r[0][b] * p[0] + r[1][b] * p[1] + r[2][b] * p[2])
}

/// The product `A B` (first `B`, then `A`).
pub fn compose(a: &Rotation, b: &Rotation) -> Rotation {
    let mut c = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            c[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

/// The rotation by `angle` (right-handed) about `axis` (any non-zero length), by Rodrigues' formula
/// `R = cos θ I + sin θ [a]_× + (1 − cos θ) a aᵀ`.
pub fn axis_angle(axis: [f64; 3], angle: f64) -> Rotation {
    let n = (axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]).sqrt();
    let [x, y, z] = axis.map(|c| c / n);
    let (s, c) = angle.sin_cos();
    let t = 1.0 - c;
    [
        [t * x * x + c, t * x * y - s * z, t * x * z + s * y],
        [t * x * y + s * z, t * y * y + c, t * y * z - s * x],
        [t * x * z - s * y, t * y * z + s * x, t * z * z + c],
    ]
}

/// Projects an 8-bit image onto points of the sphere (see the [module docs](self) for the exact
/// convention): the image square `[−1, 1]²` stereographically (from the south pole) onto the sphere,
/// its inscribed disc onto the northern hemisphere, bilinear sampling, 0 outside the image, values in
/// `[0, 1]`; with `rotation = Some(R)`, the image rotated by `R` (the value at `p` is the unrotated one
/// at `R⁻¹p`).
///
/// # Arguments
/// * `image` — `height × width` pixels, row-major, row 0 at the top.
/// * `points` — where to sample; each is normalised to the unit sphere first (the zero vector and
///   non-finite points give 0).
///
/// # Returns
/// One value per point.
///
/// # Panics
/// If `image.len() != height * width`.
///
/// # Example
/// ```
/// use manifold_cnn::data::sphere::project_image;
/// // A 2 × 2 image: the north pole is the centre, the mean of the four pixels.
/// let v = project_image(&[0, 255, 255, 255], 2, 2, &[[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]], None);
/// assert!((v[0] - 0.75).abs() < 1e-6);
/// assert_eq!(v[1], 0.0); // the south pole
/// ```
pub fn project_image(
    image: &[u8],
    height: usize,
    width: usize,
    points: &[[f64; 3]],
    rotation: Option<&Rotation>,
) -> Vec<f32> {
    assert_eq!(
        image.len(),
        height.saturating_mul(width),
        "project_image: the image has {} pixels, not height × width = {height} × {width}",
        image.len()
    );
    points
        .iter()
        .map(|&p| {
            let p = rotation.map_or(p, |r| rotate_inverse(r, p));
            match stereographic(p) {
                Some((x, y)) => (bilinear(image, height, width, x, y) / 255.0) as f32,
                None => 0.0,
            }
        })
        .collect()
}

/// The stereographic image `(p_x, p_y) / (1 + p_z)` of `p / |p|`; `None` for the south pole (and zero
/// or non-finite `p`).
fn stereographic(p: [f64; 3]) -> Option<(f64, f64)> {
    let norm = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return None;
    }
    let [x, y, z] = p.map(|c| c / norm);
    let (x, y) = (x / (1.0 + z), y / (1.0 + z));
    (x.is_finite() && y.is_finite()).then_some((x, y))
}

/// Bilinear interpolation of the pixel values at plane point `(x, y)`, pixels outside the image 0.
fn bilinear(image: &[u8], height: usize, width: usize, x: f64, y: f64) -> f64 {
    // Continuous pixel coordinates: pixel (i, j) has its centre at (u, v) = (j, i).
    let u = (x + 1.0) * width as f64 / 2.0 - 0.5;
    let v = (1.0 - y) * height as f64 / 2.0 - 0.5;
    // One pixel or more outside the image (this also keeps huge coordinates near the south pole out
    // of the arithmetic below).
    if !(u > -1.0 && v > -1.0 && u < width as f64 && v < height as f64) {
        return 0.0;
    }
    let (j0, i0) = (u.floor(), v.floor());
    let (fu, fv) = (u - j0, v - i0);
    let pixel = |i: f64, j: f64| -> f64 {
        if i >= 0.0 && j >= 0.0 && i < height as f64 && j < width as f64 {
            f64::from(image[i as usize * width + j as usize])
        } else {
            0.0
        }
    };
    (1.0 - fv) * ((1.0 - fu) * pixel(i0, j0) + fu * pixel(i0, j0 + 1.0))
        + fv * ((1.0 - fu) * pixel(i0 + 1.0, j0) + fu * pixel(i0 + 1.0, j0 + 1.0))
}

/// The rotation of the unit quaternion Shoemake's method makes from three numbers uniform in
/// `[0, 1)`:
///
/// ```text
/// q = (w, x, y, z) = (√u₁ cos 2πu₃, √(1−u₁) sin 2πu₂, √(1−u₁) cos 2πu₂, √u₁ sin 2πu₃)
/// ```
///
/// which is uniform on the unit 3-sphere when the `u` are, so the rotation is uniform (Haar) on SO(3)
/// (K. Shoemake, "Uniform random rotations", Graphics Gems III, 1992).
pub fn rotation_from_uniforms(u: [f64; 3]) -> Rotation {
    let (r1, r2) = ((1.0 - u[0]).sqrt(), u[0].sqrt());
    let (s1, c1) = (2.0 * PI * u[1]).sin_cos();
    let (s2, c2) = (2.0 * PI * u[2]).sin_cos();
    rotation_from_quaternion([r2 * c2, r1 * s1, r1 * c1, r2 * s2])
}

/// The rotation of the quaternion `q = (w, x, y, z)` (normalised first; any non-zero `q`), `p ↦ q p q̄`:
///
/// ```text
///     ⎡ 1 − 2(y² + z²)   2(xy − wz)       2(xz + wy)     ⎤
/// R = ⎢ 2(xy + wz)       1 − 2(x² + z²)   2(yz − wx)     ⎥
///     ⎣ 2(xz − wy)       2(yz + wx)       1 − 2(x² + y²) ⎦
/// ```
///
/// `q` and `−q` give the same rotation.
pub fn rotation_from_quaternion(q: [f64; 4]) -> Rotation {
    let n = q.iter().map(|c| c * c).sum::<f64>().sqrt();
    let [w, x, y, z] = q.map(|c| c / n);
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}

/// A rotation drawn uniformly (Haar measure) from SO(3), by [`rotation_from_uniforms`] on three
/// uniforms made from three calls of `next_u64` (the top 53 bits of each, over 2⁵³). Pass any seeded
/// generator, e.g. `random_rotation(|| rng.next_u64())`.
pub fn random_rotation(mut next_u64: impl FnMut() -> u64) -> Rotation {
    let mut uniform = || (next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let u = [uniform(), uniform(), uniform()];
    rotation_from_uniforms(u)
}

/// The 60 rotations of the icosahedron of [`primitives::icosphere`](crate::primitives::icosphere)
/// (vertices at the cyclic permutations of `(0, ±1, ±φ)`, normalised), identity first: the closure of
/// the 5-fold rotation by 2π/5 about the vertex `(0, 1, φ)` and the 3-fold rotation by 2π/3 about the
/// centre `(1, 1, 1)` of the face `(0, 1, φ), (1, φ, 0), (φ, 0, 1)` (the cyclic shift of coordinates).
/// Entries are exact to rounding (~1e-15).
pub fn icosahedral_rotations() -> Vec<Rotation> {
    let phi = (1.0 + 5f64.sqrt()) / 2.0;
    let generators = [
        axis_angle([0.0, 1.0, phi], 2.0 * PI / 5.0),
        axis_angle([1.0, 1.0, 1.0], 2.0 * PI / 3.0),
    ];
    let same = |a: &Rotation, b: &Rotation| {
        (0..3).all(|i| (0..3).all(|j| (a[i][j] - b[i][j]).abs() < 1e-9))
    };
    let mut group = vec![IDENTITY];
    let mut i = 0;
    while i < group.len() {
        for g in &generators {
            let h = compose(g, &group[i]);
            if !group.iter().any(|k| same(k, &h)) {
                group.push(h);
            }
        }
        i += 1;
    }
    debug_assert_eq!(group.len(), 60);
    group
}

/// The permutation a rotation induces on a point set it preserves: `perm[p] = q` with
/// `points[q] = R · points[p]` to within `tol` (Euclidean distance; the nearest such point).
///
/// To rotate a vertex signal `f` by `R` (`(R f)(q) = f(R⁻¹ q)`), set `g[perm[p]] = f[p]`; this agrees
/// with [`project_image`]: projecting with rotation `R` gives, at `perm[p]`, the unrotated projection
/// at `p`.
///
/// # Returns
/// `None` if some rotated point has no point within `tol`, or two points go to the same one.
///
/// # Complexity
/// `O(N log N)` plus the points within `tol` in x of each rotated point.
pub fn rotation_permutation(points: &[[f64; 3]], r: &Rotation, tol: f64) -> Option<Vec<u32>> {
    let mut by_x: Vec<u32> = (0..points.len() as u32).collect();
    by_x.sort_by(|&a, &b| points[a as usize][0].total_cmp(&points[b as usize][0]));
    let mut taken = vec![false; points.len()];
    let mut perm = Vec::with_capacity(points.len());
    for &p in points {
        let y = rotate(r, p);
        let start = by_x.partition_point(|&q| points[q as usize][0] < y[0] - tol);
        let mut best: Option<(f64, u32)> = None;
        for &q in &by_x[start..] {
            let x = points[q as usize];
            if x[0] > y[0] + tol {
                break;
            }
            let d = ((x[0] - y[0]).powi(2) + (x[1] - y[1]).powi(2) + (x[2] - y[2]).powi(2)).sqrt();
            if d <= tol && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, q));
            }
        }
        let (_, q) = best?;
        if std::mem::replace(&mut taken[q as usize], true) {
            return None;
        }
        perm.push(q);
    }
    Some(perm)
}
