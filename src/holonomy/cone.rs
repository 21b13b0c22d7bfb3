//! Transport of the exact piecewise-flat (cone) metric: across edges, between faces.
//!
//! Each face is a flat triangle with its own frame: polar angle 0 along its side 0 (corner 0 → corner
//! 1), angles increasing counter-clockwise in the face's orientation as stored in the [`Mesh`]. Side `k`
//! then points at angle
//!
//! ```text
//! a_0 = 0,   a_1 = π − α_1,   a_2 = 2π − α_1 − α_2       (α_k: the angle at corner k)
//! ```
//!
//! Unfolding two faces `f`, `g` that share an edge into the plane, their sides on that edge point in
//! opposite directions if the faces agree in orientation and in the same direction across a Möbius
//! seam. Transport of a direction ψ from `f` to `g` is therefore
//!
//! ```text
//! agree:     ψ ↦ ψ + a_g + π − a_f          (a rotation)
//! disagree:  ψ ↦ a_g + a_f − ψ              (a reflection)
//! ```
//!
//! The composed transport around the faces of an interior vertex `v` is the rotation by its angle
//! defect `K_v = 2π − Θ_v` (measured in the star's orientation). A closed vertex path is measured by
//! pushing it off its vertices into the faces around them ([`cone_loop_holonomy`]); which side it
//! passes a vertex on changes the result by that vertex's defect, which belongs to the cone-metric
//! holonomy group anyway.

use crate::geometry::Geometry;
use crate::ids::{FaceId, HalfedgeId, SpokeId, VertexId};
use crate::mesh::Mesh;
use crate::transport::{wrap_angle, NotAdjacent, O2};
use std::f64::consts::PI;

/// Direction of side `k` of face `f` in the face's own frame.
pub fn face_side_direction(geometry: &Geometry, f: FaceId, k: usize) -> f64 {
    let a = |j: usize| geometry.corner_angle(HalfedgeId::from_face_side(f, j));
    match k {
        0 => 0.0,
        1 => PI - a(1),
        _ => 2.0 * PI - a(1) - a(2),
    }
}

/// Transport from the frame of `h`'s face to the frame of its twin's face, or `None` on the boundary.
pub fn cone_edge_transport(mesh: &Mesh, geometry: &Geometry, h: HalfedgeId) -> Option<O2> {
    let t = mesh.halfedge_twin(h)?;
    let a_f = face_side_direction(geometry, h.face(), h.side());
    let a_g = face_side_direction(geometry, t.face(), t.side());
    Some(if mesh.halfedge_tail(h) == mesh.halfedge_tail(t) {
        O2 {
            angle: wrap_angle(a_g + a_f),
            reflect: true,
        }
    } else {
        O2::rotation(a_g + PI - a_f)
    })
}

/// The halfedge of face `f` on the edge of spoke `s`.
fn side_on_spoke(mesh: &Mesh, f: FaceId, s: SpokeId) -> HalfedgeId {
    let e = mesh.spoke_edge(s);
    (0..3)
        .map(|k| HalfedgeId::from_face_side(f, k))
        .find(|&h| mesh.halfedge_edge(h) == e)
        .expect("a star corner's face holds the spokes on either side of it")
}

/// Walks the star of `v` from corner index `x` to corner index `y`, composing the edge transports
/// onto `g`. Interior stars are cyclic and walked the short way; boundary stars have one way.
fn walk_star(mesh: &Mesh, geometry: &Geometry, v: VertexId, x: usize, y: usize, g: &mut O2) {
    let corners = mesh.vertex_corners(v);
    let spokes = mesh.vertex_spokes(v);
    let k = corners.len();
    let interior = !mesh.is_boundary_vertex(v);
    let forward = if interior {
        (y + k - x) % k <= (x + k - y) % k
    } else {
        y >= x
    };
    let steps = if interior {
        if forward {
            (y + k - x) % k
        } else {
            (x + k - y) % k
        }
    } else {
        x.abs_diff(y)
    };
    let mut i = x;
    for _ in 0..steps {
        // Corner i spans spoke i → spoke i + 1; forward crosses spoke i + 1, backward spoke i.
        let s = SpokeId::new(if forward {
            spokes.start + (i + 1) % spokes.len()
        } else {
            spokes.start + i
        });
        let h = side_on_spoke(mesh, corners[i].face(), s);
        let t = cone_edge_transport(mesh, geometry, h)
            .expect("a spoke between two corners of a star is an interior edge");
        *g = g.then(t);
        i = if forward {
            (i + 1) % k
        } else {
            (i + k - 1) % k
        };
    }
}

/// The star index of the corner of `v` in face `f`.
fn corner_index(mesh: &Mesh, v: VertexId, f: FaceId) -> Option<usize> {
    mesh.vertex_corners(v).iter().position(|c| c.face() == f)
}

/// Cone-metric holonomy of a closed vertex path, pushed off its vertices into the surrounding faces
/// and based at face `base` (which must contain `cycle[0]`): the transport, in face frames, from
/// `base` around the path and back to `base`. At each vertex the path crosses the faces of the star
/// from the one it arrived in to one holding the next edge, the short way round.
///
/// # Errors
/// If two consecutive vertices (cyclically) share no edge.
///
/// # Panics
/// If `base` does not contain `cycle[0]`.
pub fn cone_loop_holonomy(
    mesh: &Mesh,
    geometry: &Geometry,
    base: FaceId,
    cycle: &[VertexId],
) -> Result<O2, NotAdjacent> {
    let mut g = O2::IDENTITY;
    let Some(&p0) = cycle.first() else {
        return Ok(g);
    };
    let mut face = base;
    let n = cycle.len();
    if n < 2 {
        return Ok(g);
    }
    for i in 0..n {
        let v = cycle[i];
        let w = cycle[(i + 1) % n];
        let b = mesh
            .vertex_spoke_ids(v)
            .position(|s| mesh.spoke_target(s) == w)
            .ok_or(NotAdjacent {
                position: i,
                vertices: (v, w),
            })?;
        let k = mesh.vertex_face_degree(v);
        let x = corner_index(mesh, v, face).expect("the current face contains the current vertex");
        // Corners beside spoke b: b − 1 and b (cyclically inside, where they exist on the boundary).
        let candidates: [Option<usize>; 2] = if mesh.is_boundary_vertex(v) {
            [b.checked_sub(1), (b < k).then_some(b)]
        } else {
            [Some((b + k - 1) % k), Some(b % k)]
        };
        let cost = |y: usize| {
            if mesh.is_boundary_vertex(v) {
                x.abs_diff(y)
            } else {
                ((y + k - x) % k).min((x + k - y) % k)
            }
        };
        let y = candidates
            .into_iter()
            .flatten()
            .min_by_key(|&y| cost(y))
            .expect("every spoke has a corner beside it");
        walk_star(mesh, geometry, v, x, y, &mut g);
        face = mesh.vertex_corners(v)[y].face();
    }
    let x = corner_index(mesh, p0, face).expect("the last edge's face contains the first vertex");
    let y = corner_index(mesh, p0, base).expect("the base face must contain the first vertex");
    walk_star(mesh, geometry, p0, x, y, &mut g);
    Ok(g)
}

/// Cone-metric holonomy around an interior vertex: transport through the faces of its star, starting
/// and ending in the face of its corner 0, walking in star order. It is the rotation by `2π − Θ_v`
/// when that face agrees with the star's orientation, by `−(2π − Θ_v)` when it does not. `None` on the
/// boundary.
pub fn cone_vertex_holonomy(mesh: &Mesh, geometry: &Geometry, v: VertexId) -> Option<O2> {
    if mesh.is_boundary_vertex(v) {
        return None;
    }
    let corners = mesh.vertex_corners(v);
    let spokes = mesh.vertex_spokes(v);
    let k = corners.len();
    let mut g = O2::IDENTITY;
    for (i, c) in corners.iter().enumerate() {
        let s = SpokeId::new(spokes.start + (i + 1) % k);
        let h = side_on_spoke(mesh, c.face(), s);
        g = g.then(cone_edge_transport(mesh, geometry, h)?);
    }
    Some(g)
}
