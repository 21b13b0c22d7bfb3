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
        let angles = geometry.corner_angles();
        let nv = mesh.vertex_count();
        let mut vertex_scales = vec![0.0; nv];
        let mut spoke_angles = vec![0.0; mesh.spoke_count()];
        // Blocks of vertices write their own ranges of both arrays.
        const BLOCK: usize = 8192;
        let bounds: Vec<(usize, usize)> = (0..nv.div_ceil(BLOCK))
            .map(|b| (b * BLOCK, ((b + 1) * BLOCK).min(nv)))
            .collect();
        let spoke_start = |v: usize| {
            if v == nv {
                mesh.spoke_count()
            } else {
                mesh.vertex_spokes(VertexId::new(v)).start
            }
        };
        let pieces = crate::mesh::split_lengths(
            &mut spoke_angles,
            bounds.iter().map(|&(a, b)| spoke_start(b) - spoke_start(a)),
        );
        vertex_scales
            .par_chunks_mut(BLOCK)
            .zip(pieces)
            .zip(bounds.par_iter())
            .for_each(|((scales, phis), &(v0, v1))| {
                let s0 = spoke_start(v0);
                for v in v0..v1 {
                    let vid = VertexId::new(v);
                    let boundary = mesh.is_boundary_vertex(vid);
                    let s = if boundary {
                        1.0
                    } else {
                        2.0 * PI / geometry.vertex_angle_sums()[v]
                    };
                    scales[v - v0] = s;
                    let spokes = mesh.vertex_spokes(vid);
                    let out = &mut phis[spokes.start - s0..spokes.end - s0];
                    let corners = mesh.vertex_corners(vid);
                    let mut acc = 0.0;
                    out[0] = 0.0;
                    for (i, c) in corners[..out.len() - 1].iter().enumerate() {
                        acc += angles[c.index()];
                        out[i + 1] = s * acc;
                    }
                    let r = out[mesh.vertex_reference_spoke(vid)];
                    if r != 0.0 {
                        for p in out.iter_mut() {
                            *p -= r;
                        }
                    }
                }
            });
        TangentFrames {
            vertex_scales,
            spoke_angles,
        }
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
                let x = (e - n * n.dot(&e))
                    .try_normalize(1e-300)
                    .unwrap_or_else(|| {
                        let t = if n.x.abs() < 0.9 {
                            Vector3::x()
                        } else {
                            Vector3::y()
                        };
                        (t - n * n.dot(&t)).normalize()
                    });
                (n, x, n.cross(&x))
            })
            .collect();
        let mut out = ExtrinsicFrames {
            normals: vec![],
            x: vec![],
            y: vec![],
        };
        for (n, x, y) in rows {
            out.normals.push(n);
            out.x.push(x);
            out.y.push(y);
        }
        out
    }
}
