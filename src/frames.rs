//! Per-vertex tangent spaces: angle-scaled polar frames.
//!
//! At vertex `i` with corner angles α_c summing to Θ_i, walk the star (see [`Mesh`]) from spoke 0 in the
//! star's orientation. Spoke `k` gets the polar angle
//!
//! ```text
//! φ_ik = s_i · (α_0 + … + α_{k−1}) − φ_ref,      s_i = 2π / Θ_i (interior),   s_i = 1 (boundary)
//! ```
//!
//! where `φ_ref` makes the reference spoke's angle exactly 0. Interior vertices: the reference spoke is
//! spoke 0, and the cone of angle Θ_i is opened (or closed) to a full plane. Boundary vertices are left
//! unscaled: their spokes span the wedge `[−φ_ref, Θ_i − φ_ref]`, and a direction outside it leaves the
//! surface. (geometry-central scales boundary vertices to π instead; unscaled frames keep a flat mesh with
//! boundary, such as an image grid, exactly flat, so the planar CNN is recovered.)
//!
//! A tangent vector at `i` with polar angle ψ and length r has frame coordinates `(r cos ψ, r sin ψ)`.
//! Where positions exist, [`ExtrinsicFrames`] gives each vertex a normal and the 3-D directions `x`
//! (polar angle 0, the reference edge projected to the tangent plane) and `y = n × x` (angle π/2).

use crate::geometry::Geometry;
use crate::ids::VertexId;
use crate::mesh::Mesh;
use nalgebra::Vector3;
use rayon::prelude::*;
use std::f64::consts::PI;

/// Polar frames of every vertex. Immutable; `Send + Sync`.
#[derive(Clone, Debug)]
pub struct TangentFrames {
    vertex_scales: Vec<f64>,
    spoke_angles: Vec<f64>,
}

impl TangentFrames {
    /// Builds the frames. O(corners), parallel over vertices.
    pub fn new(mesh: &Mesh, geometry: &Geometry) -> TangentFrames {
        const BLOCK: usize = 8192;
        let angles = geometry.corner_angles();
        let nv = mesh.vertex_count();
        let blocks: Vec<(Vec<f64>, Vec<f64>)> = (0..nv.div_ceil(BLOCK))
            .into_par_iter()
            .map(|b| {
                let (mut scales, mut phis) = (Vec::with_capacity(BLOCK), Vec::with_capacity(7 * BLOCK));
                for v in b * BLOCK..((b + 1) * BLOCK).min(nv) {
                    let v = VertexId::new(v);
                    let theta: f64 = geometry.vertex_angle_sums()[v.index()];
                    let boundary = mesh.is_boundary_vertex(v);
                    let s = if boundary { 1.0 } else { 2.0 * PI / theta };
                    let base = phis.len();
                    let corners = mesh.vertex_corners(v);
                    let mut acc = 0.0;
                    phis.push(0.0);
                    for c in &corners[..corners.len() - 1 + boundary as usize] {
                        acc += angles[c.index()];
                        phis.push(s * acc);
                    }
                    let r = phis[base + mesh.vertex_reference_spoke(v)];
                    if r != 0.0 {
                        for p in &mut phis[base..] {
                            *p -= r;
                        }
                    }
                    scales.push(s);
                }
                (scales, phis)
            })
            .collect();
        let mut vertex_scales = Vec::with_capacity(nv);
        let mut spoke_angles = Vec::with_capacity(mesh.spoke_count());
        for (s, p) in blocks {
            vertex_scales.extend(s);
            spoke_angles.extend(p);
        }
        TangentFrames { vertex_scales, spoke_angles }
    }

    /// The scale `s_i` of every vertex (2π/Θ inside, 1 on the boundary).
    pub fn vertex_scales(&self) -> &[f64] {
        &self.vertex_scales
    }

    /// The polar angle φ of every spoke (directed edge) in the frame of its source vertex.
    pub fn spoke_angles(&self) -> &[f64] {
        &self.spoke_angles
    }
}

/// 3-D frames for output and visualisation, where the mesh has positions.
#[derive(Clone, Debug)]
pub struct ExtrinsicFrames {
    /// Unit normal per vertex (angle-weighted face normals, each face taken with its star's orientation).
    pub normals: Vec<Vector3<f64>>,
    /// Unit 3-D direction of polar angle 0 per vertex.
    pub x: Vec<Vector3<f64>>,
    /// Unit 3-D direction of polar angle π/2 per vertex (`normal × x`).
    pub y: Vec<Vector3<f64>>,
}

impl ExtrinsicFrames {
    /// Builds normals and frames from positions in mesh numbering.
    pub fn new(mesh: &Mesh, geometry: &Geometry, positions: &[[f64; 3]]) -> ExtrinsicFrames {
        let p = |v: VertexId| Vector3::from(positions[v.index()]);
        let rows: Vec<(Vector3<f64>, Vector3<f64>, Vector3<f64>)> = (0..mesh.vertex_count())
            .into_par_iter()
            .with_min_len(1024)
            .map(|v| {
                let v = VertexId::new(v);
                let mut n = Vector3::zeros();
                for &c in mesh.vertex_corners(v) {
                    let f = mesh.face_vertices(c.face());
                    let fn_ = (p(f[1]) - p(f[0])).cross(&(p(f[2]) - p(f[0])));
                    let sign = if mesh.corner_flipped(c) { -1.0 } else { 1.0 };
                    n += sign * geometry.corner_angle(c) * fn_.normalize();
                }
                let n = n.try_normalize(1e-300).unwrap_or(Vector3::z());
                let spokes = mesh.vertex_spokes(v);
                let s = spokes.start + mesh.vertex_reference_spoke(v);
                let e = p(mesh.spoke_target(s)) - p(v);
                let x = (e - n * n.dot(&e)).try_normalize(1e-300).unwrap_or_else(|| {
                    let t = if n.x.abs() < 0.9 { Vector3::x() } else { Vector3::y() };
                    (t - n * n.dot(&t)).normalize()
                });
                (n, x, n.cross(&x))
            })
            .collect();
        let mut out = ExtrinsicFrames { normals: vec![], x: vec![], y: vec![] };
        for (n, x, y) in rows {
            out.normals.push(n);
            out.x.push(x);
            out.y.push(y);
        }
        out
    }
}
