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

use crate::disjoint::DisjointWrites;
use crate::geometry::Geometry;
use crate::ids::{SpokeId, VertexId};
use crate::mesh::Mesh;
use crate::prefetch::prefetch;
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
        let sums = geometry.vertex_angle_sums();
        TangentFrames::build(mesh, geometry.corner_angles(), |v| sums[v.index()], None)
    }

    /// The frames with the angle sum of each vertex from `theta`, which is called once per vertex,
    /// just before its spokes are laid out (and reads `face_areas`, if given).
    fn build(
        mesh: &Mesh,
        angles: &[f64],
        theta: impl Fn(VertexId) -> f64 + Sync,
        face_areas: Option<&[f64]>,
    ) -> TangentFrames {
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
        let pieces = crate::disjoint::split_lengths(
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
                    // A vertex's corners lie anywhere: ask for their angles (and faces' areas, where
                    // `theta` reads them) a few vertices ahead.
                    const AHEAD: usize = 4;
                    if v + AHEAD < v1 {
                        for c in mesh.vertex_corners(VertexId::new(v + AHEAD)) {
                            prefetch(&angles[c.index()]);
                            if let Some(areas) = face_areas {
                                prefetch(&areas[c.face().index()]);
                            }
                        }
                    }
                    let vid = VertexId::new(v);
                    let theta = theta(vid);
                    let spokes = mesh.vertex_spokes(vid);
                    let out = &mut phis[spokes.start - s0..spokes.end - s0];
                    scales[v - v0] = vertex_frame(mesh, vid, theta, angles, out);
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

/// Lays out the polar angles of the spokes of `v` (angle sum `theta`) into `out`; returns its scale.
#[inline]
fn vertex_frame(mesh: &Mesh, v: VertexId, theta: f64, angles: &[f64], out: &mut [f64]) -> f64 {
    let s = if mesh.is_boundary_vertex(v) {
        1.0
    } else {
        2.0 * PI / theta
    };
    let corners = mesh.vertex_corners(v);
    let mut acc = 0.0;
    out[0] = 0.0;
    for (i, c) in corners[..out.len() - 1].iter().enumerate() {
        acc += angles[c.index()];
        out[i + 1] = s * acc;
    }
    let r = out[mesh.vertex_reference_spoke(v)];
    if r != 0.0 {
        for p in out.iter_mut() {
            *p -= r;
        }
    }
    s
}

/// Geometry and frames in one pass over the vertices: each vertex's corner angles are read once
/// (from anywhere in memory) for its angle sum, area and spoke angles alike. The same values as
/// [`Geometry::new`] then [`TangentFrames::new`].
pub(crate) fn geometry_and_frames(
    mesh: &Mesh,
    edge_lengths: Vec<f64>,
) -> (Geometry, TangentFrames) {
    let mut geometry = Geometry::faces_only(mesh, edge_lengths);
    let nv = mesh.vertex_count();
    let (mut sums, mut areas) = (vec![0.0; nv], vec![0.0; nv]);
    let frames = {
        let (sum_of, area_of) = (
            DisjointWrites::new(&mut sums),
            DisjointWrites::new(&mut areas),
        );
        let theta = |v: VertexId| {
            let (theta, area) = geometry.vertex_sums(mesh, v);
            // SAFETY: `build` visits each vertex once.
            unsafe {
                sum_of.write(v.index(), &[theta]);
                area_of.write(v.index(), &[area]);
            }
            theta
        };
        let areas = Some(geometry.face_areas());
        TangentFrames::build(mesh, geometry.corner_angles(), theta, areas)
    };
    geometry.set_vertex_sums(sums, areas);
    (geometry, frames)
}

/// 3-D frames for output and visualisation, where the mesh has positions.
#[derive(Clone, Debug)]
pub struct ExtrinsicFrames {
    /// Unit normal per vertex (angle-weighted face normals, each face taken with its star's orientation).
    pub normals: Vec<Vector3<f64>>,
    /// Unit 3-D direction of polar angle 0 per vertex.
    pub x: Vec<Vector3<f64>>,
    /// Unit 3-D direction `normal × x` per vertex: the tangent direction at a true angle of π/2 from
    /// `x`, which is the direction of *scaled* polar angle π/2 only where the vertex scale `s_v` is 1
    /// (flat interior vertices, boundary vertices). Elsewhere the scaled angle π/2 points at the
    /// true angle π/(2 s_v) (on a cone of angle sum Θ, `s = 2π/Θ`): up to 1.2 rad apart on strongly
    /// curved vertices. A tangent vector with scaled polar angle θ and length r lies along
    /// `cos(θ/s) x + sin(θ/s) y` in 3-D, to first order (the star is not planar).
    pub y: Vec<Vector3<f64>>,
}

impl ExtrinsicFrames {
    /// Builds normals and frames from positions in mesh numbering.
    pub fn new(mesh: &Mesh, geometry: &Geometry, positions: &[[f64; 3]]) -> ExtrinsicFrames {
        let p = |v: VertexId| Vector3::from(positions[v.index()]);
        let rows: Vec<(Vector3<f64>, Vector3<f64>, Vector3<f64>)> = (0..mesh.vertex_count())
            .into_par_iter()
            .with_min_len(crate::par::GEOMETRY_ITEMS_PER_TASK)
            .map(|v| {
                let v = VertexId::new(v);
                let mut n = Vector3::zeros();
                for &c in mesh.vertex_corners(v) {
                    let f = mesh.face_vertices(c.face());
                    // Unit sides first: the raw cross product's squared norm is a length⁴, which
                    // under- or overflows beyond lengths of 1e±77 (the mesh accepts 1e±120).
                    let (a, b) = (p(f[1]) - p(f[0]), p(f[2]) - p(f[0]));
                    let fn_ = (a / a.norm()).cross(&(b / b.norm()));
                    let sign = if mesh.corner_flipped(c) { -1.0 } else { 1.0 };
                    n += sign * geometry.corner_angle(c) * fn_.normalize();
                }
                let n = n.try_normalize(1e-300).unwrap_or(Vector3::z());
                let spokes = mesh.vertex_spokes(v);
                let s = SpokeId::new(spokes.start + mesh.vertex_reference_spoke(v));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::BuildOptions;

    #[test]
    fn the_fused_pass_gives_the_separate_passes_values() {
        for spec in [
            "icosphere:2",
            "grid:5x4",
            "cone:5",
            "flat-mobius:9x4",
            "mobius:16x4",
        ] {
            let src = crate::io::load_source(spec).unwrap();
            let built = Mesh::build(&src, &BuildOptions::default()).unwrap();
            let (mesh, lengths) = (&built.mesh, built.edge_lengths);
            let geometry = Geometry::new(mesh, lengths.clone());
            let frames = TangentFrames::new(mesh, &geometry);
            let (g, f) = geometry_and_frames(mesh, lengths);
            assert_eq!(
                g.vertex_angle_sums(),
                geometry.vertex_angle_sums(),
                "{spec}"
            );
            assert_eq!(g.vertex_areas(), geometry.vertex_areas(), "{spec}");
            assert_eq!(g.corner_angles(), geometry.corner_angles(), "{spec}");
            assert_eq!(f.vertex_scales(), frames.vertex_scales(), "{spec}");
            assert_eq!(f.spoke_angles(), frames.spoke_angles(), "{spec}");
        }
    }
}
