//! Intrinsic geometry from edge lengths: corner angles, angle sums, areas, curvature.
//!
//! Everything here depends only on connectivity and edge lengths, never on positions (which are one way
//! to get lengths). For a triangle with sides `a`, `b` adjacent to a corner and `c` opposite it, the
//! corner angle is computed in Kahan's numerically stable half-angle form (with `a ≥ b`)
//!
//! ```text
//! α = 2 atan √( ((a − b) + c) μ / ((a + (b + c)) ((a − c) + b)) ),
//! μ = c − (a − b) if b ≥ c, else b − (a − c),
//! ```
//!
//! whose differences are exact where they cancel, so even a needle's tiny angles keep their relative
//! accuracy (W. Kahan, *Miscalculating Area and Angles of a Needle-like Triangle*, 2014),
//! and the area by Kahan's stable form of Heron's formula.
//!
//! **Curvature.** The angle sum of vertex `v` is `Θ_v = Σ α` over its corners. An interior vertex has
//! angle defect `K_v = 2π − Θ_v`; a boundary vertex has turning angle `τ_v = π − Θ_v` (the geodesic
//! curvature of the boundary concentrated there). Discrete Gauss–Bonnet holds exactly:
//! `Σ_interior K_v + Σ_boundary τ_v = 2π χ`.

use crate::ids::{FaceId, HalfedgeId, VertexId};
use crate::mesh::Mesh;
use crate::prefetch::prefetch;
use rayon::prelude::*;
use std::f64::consts::PI;

/// Intrinsic quantities of a mesh with edge lengths. Immutable; `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Geometry {
    edge_lengths: Vec<f64>,
    corner_angles: Vec<f64>,
    face_areas: Vec<f64>,
    vertex_angle_sums: Vec<f64>,
    vertex_areas: Vec<f64>,
}

/// Interior angle at the corner between sides `a` and `b`, opposite side `c`: Kahan's formula, accurate
/// to a few ulps relative even for needle-like triangles (the differences are taken where they are
/// exact). Lengths violating the triangle inequality are clamped to a flat triangle (angle 0 or π).
#[inline]
pub fn corner_angle(a: f64, b: f64, c: f64) -> f64 {
    let (a, b) = if a >= b { (a, b) } else { (b, a) };
    let mu = if b >= c { c - (a - b) } else { b - (a - c) };
    let num = (((a - b) + c) * mu).max(0.0);
    let den = ((a + (b + c)) * ((a - c) + b)).max(0.0);
    if den > 0.0 {
        // One square root and `atan` (well conditioned on [0, ∞), about half the cost of `atan2`,
        // which the build would call twice per face).
        2.0 * (num / den).sqrt().atan()
    } else {
        2.0 * num.sqrt().atan2(den.sqrt())
    }
}

/// Area of a triangle with side lengths `l` (Kahan's stable Heron; 0 for degenerate lengths). The mesh
/// builder accepts a face only if this is above [`ZERO_AREA_RELATIVE`](crate::mesh::ZERO_AREA_RELATIVE)
/// × ½ × (longest side)².
#[inline]
pub fn triangle_area(l: [f64; 3]) -> f64 {
    let mut s = l;
    if s[0] < s[1] {
        s.swap(0, 1);
    }
    if s[1] < s[2] {
        s.swap(1, 2);
    }
    if s[0] < s[1] {
        s.swap(0, 1);
    }
    let (a, b, c) = (s[0], s[1], s[2]);
    // Two square roots of products of two factors instead of one of four: no overflow or underflow for
    // lengths in the mesh's range (MIN_EDGE_LENGTH..=MAX_EDGE_LENGTH), where the four-fold product would.
    let (p, q) = ((a + (b + c)) * (c - (a - b)), (c + (a - b)) * (a + (b - c)));
    if p > 0.0 && q > 0.0 {
        0.25 * (p.sqrt() * q.sqrt())
    } else {
        0.0
    }
}

impl Geometry {
    /// Computes angles and areas from one length per edge (indexed by [`EdgeId`](crate::EdgeId)).
    ///
    /// # Panics
    /// If `edge_lengths.len() != mesh.edge_count()`.
    ///
    /// # Complexity
    /// O(F), parallel over faces.
    pub fn new(mesh: &Mesh, edge_lengths: Vec<f64>) -> Geometry {
        let mut g = Geometry::faces_only(mesh, edge_lengths);
        (g.vertex_angle_sums, g.vertex_areas) = (0..mesh.vertex_count())
            .into_par_iter()
            .with_min_len(crate::par::GEOMETRY_ITEMS_PER_TASK)
            .map(|v| g.vertex_sums(mesh, VertexId::new(v)))
            .unzip();
        g
    }

    /// Angle sum Θ_v and barycentric area of one vertex, from the face quantities.
    #[inline]
    pub(crate) fn vertex_sums(&self, mesh: &Mesh, v: VertexId) -> (f64, f64) {
        let cs = mesh.vertex_corners(v);
        let theta: f64 = cs.iter().map(|c| self.corner_angles[c.index()]).sum();
        let area = cs
            .iter()
            .map(|c| self.face_areas[c.face().index()])
            .sum::<f64>()
            / 3.0;
        (theta, area)
    }

    /// The face quantities (corner angles, face areas); the per-vertex sums are left empty for the
    /// caller to fill (see [`crate::frames`], which fills them while building the frames).
    pub(crate) fn faces_only(mesh: &Mesh, edge_lengths: Vec<f64>) -> Geometry {
        assert_eq!(edge_lengths.len(), mesh.edge_count(), "one length per edge");
        let nf = mesh.face_count();
        let mut corner_angles = vec![0.0; 3 * nf];
        let mut face_areas = vec![0.0; nf];
        corner_angles
            .par_chunks_mut(3 * 4096)
            .zip(face_areas.par_chunks_mut(4096))
            .enumerate()
            .for_each(|(b, (angles, areas))| {
                let areas_len = areas.len();
                let edge = |f: usize, k: usize| mesh.halfedge_edge(HalfedgeId::new(3 * f + k));
                for (i, area) in areas.iter_mut().enumerate() {
                    let f = b * 4096 + i;
                    // Half a face's edges were numbered by a neighbour stored anywhere: ask for
                    // their lengths a few faces ahead.
                    const AHEAD: usize = 8;
                    if i + AHEAD < areas_len {
                        (0..3).for_each(|k| prefetch(&edge_lengths[edge(f + AHEAD, k).index()]));
                    }
                    let l = [0, 1, 2].map(|k| edge_lengths[edge(f, k).index()]);
                    // Corner k lies between sides k (k→k+1) and k+2 (k+2→k), opposite side k+1. The two
                    // smaller angles are computed directly (accurately, however thin the triangle), the
                    // largest as π minus them.
                    let big = if l[1] >= l[0] && l[1] >= l[2] {
                        0
                    } else if l[2] >= l[0] {
                        1
                    } else {
                        2
                    };
                    let (k1, k2) = ((big + 1) % 3, (big + 2) % 3);
                    let a1 = corner_angle(l[k1], l[(k1 + 2) % 3], l[(k1 + 1) % 3]);
                    let a2 = corner_angle(l[k2], l[(k2 + 2) % 3], l[(k2 + 1) % 3]);
                    angles[3 * i + k1] = a1;
                    angles[3 * i + k2] = a2;
                    angles[3 * i + big] = PI - a1 - a2;
                    *area = triangle_area(l);
                }
            });
        Geometry {
            edge_lengths,
            corner_angles,
            face_areas,
            vertex_angle_sums: Vec::new(),
            vertex_areas: Vec::new(),
        }
    }

    /// Sets what [`Geometry::faces_only`] left empty.
    pub(crate) fn set_vertex_sums(&mut self, angle_sums: Vec<f64>, areas: Vec<f64>) {
        (self.vertex_angle_sums, self.vertex_areas) = (angle_sums, areas);
    }

    /// Length of every edge.
    pub fn edge_lengths(&self) -> &[f64] {
        &self.edge_lengths
    }
    /// Angle at every corner, indexed by the corner's halfedge id `3f + k`.
    pub fn corner_angles(&self) -> &[f64] {
        &self.corner_angles
    }
    /// Angle at one corner.
    pub fn corner_angle(&self, c: HalfedgeId) -> f64 {
        self.corner_angles[c.index()]
    }
    /// Area of every face.
    pub fn face_areas(&self) -> &[f64] {
        &self.face_areas
    }
    /// Area of one face.
    pub fn face_area(&self, f: FaceId) -> f64 {
        self.face_areas[f.index()]
    }
    /// Angle sum Θ_v of every vertex.
    pub fn vertex_angle_sums(&self) -> &[f64] {
        &self.vertex_angle_sums
    }
    /// Barycentric vertex areas (a third of each incident face).
    pub fn vertex_areas(&self) -> &[f64] {
        &self.vertex_areas
    }
    /// Total surface area.
    pub fn total_area(&self) -> f64 {
        self.face_areas.iter().sum()
    }
    /// Mean edge length.
    pub fn mean_edge_length(&self) -> f64 {
        self.edge_lengths.iter().sum::<f64>() / self.edge_lengths.len().max(1) as f64
    }
    /// Angle defect `2π − Θ_v` of interior vertices, 0 on the boundary.
    pub fn vertex_angle_defects(&self, mesh: &Mesh) -> Vec<f64> {
        mesh.vertices()
            .map(|v| {
                if mesh.is_boundary_vertex(v) {
                    0.0
                } else {
                    2.0 * PI - self.vertex_angle_sums[v.index()]
                }
            })
            .collect()
    }
    /// Turning angle `π − Θ_v` of boundary vertices, 0 inside.
    pub fn vertex_boundary_turning(&self, mesh: &Mesh) -> Vec<f64> {
        mesh.vertices()
            .map(|v| {
                if mesh.is_boundary_vertex(v) {
                    PI - self.vertex_angle_sums[v.index()]
                } else {
                    0.0
                }
            })
            .collect()
    }
    /// The Gauss–Bonnet contribution of each vertex: `2π − Θ_v` inside, `π − Θ_v` on the boundary.
    pub fn vertex_curvatures(&self, mesh: &Mesh) -> Vec<f64> {
        mesh.vertices()
            .map(|v| {
                let full = if mesh.is_boundary_vertex(v) {
                    PI
                } else {
                    2.0 * PI
                };
                full - self.vertex_angle_sums[v.index()]
            })
            .collect()
    }
    /// Total curvature `Σ K_v + Σ τ_v`.
    pub fn total_curvature(&self, mesh: &Mesh) -> f64 {
        self.vertex_curvatures(mesh).iter().sum()
    }
    /// Gauss–Bonnet residual `Σ K_v + Σ τ_v − 2πχ` (zero up to rounding on any mesh).
    pub fn gauss_bonnet_residual(&self, mesh: &Mesh) -> f64 {
        self.total_curvature(mesh) - 2.0 * PI * mesh.euler_characteristic() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corner_angles_of_known_triangles() {
        let close = |got: f64, want: f64| {
            assert!(
                (got - want).abs() <= 4.0 * f64::EPSILON * want.max(1e-300),
                "{got} vs {want}"
            )
        };
        // Equilateral, right isosceles, 3-4-5 (angle between sides a and b, opposite c).
        close(corner_angle(1.0, 1.0, 1.0), PI / 3.0);
        close(corner_angle(1.0, 1.0, 2f64.sqrt()), PI / 2.0);
        close(corner_angle(1.0, 2f64.sqrt(), 1.0), PI / 4.0);
        close(corner_angle(3.0, 4.0, 5.0), PI / 2.0);
        close(corner_angle(4.0, 5.0, 3.0), (3.0f64 / 4.0).atan());
        close(corner_angle(3.0, 5.0, 4.0), (4.0f64 / 3.0).atan());
        // A sliver: the angle opposite a tiny side ε between unit sides is 2 asin(ε/2), far below
        // what acos of the law of cosines can resolve.
        let eps = 1e-9;
        close(corner_angle(1.0, 1.0, eps), 2.0 * (eps / 2.0).asin());
        // Any triangle: the three angles, each computed on its own, sum to π.
        let mut x = 7u64;
        let mut unit = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..10_000 {
            let (a, b) = (unit() + 1e-3, unit() + 1e-3);
            let c = (a - b).abs() + unit() * (a + b - (a - b).abs());
            let sum = corner_angle(a, b, c) + corner_angle(b, c, a) + corner_angle(c, a, b);
            assert!((sum - PI).abs() < 16.0 * f64::EPSILON, "{a} {b} {c}: {sum}");
        }
        // Degenerate limits: a flat triangle's angles are π and 0.
        assert_eq!(corner_angle(1.0, 2.0, 3.0), PI);
        assert_eq!(corner_angle(1.0, 3.0, 2.0), 0.0);
    }
}
