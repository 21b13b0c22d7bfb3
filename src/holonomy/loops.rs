//! Holonomy along loops, with the curvature they enclose: discrete Gauss–Bonnet at work.
//!
//! For a region `R` of faces whose boundary is one closed edge loop `γ`, walked with `R` on its left in
//! the orientation of the star of its first vertex, the transport of the vertex connection around `γ`
//! is the rotation by the curvature of the vertex connection inside:
//!
//! ```text
//! hol(γ) = Σ_{f ∈ R} K_f   (mod 2π),      K_f = Σ_{c ∈ f} s_v α_c − π = Σ_{c ∈ f} (s_v − 1) α_c
//! ```
//!
//! exactly (to rounding), because transports along interior edges cancel and the face holonomies are
//! rotations, which commute. Grouping the corners by vertex, a vertex strictly inside `R` contributes
//! `(2π/Θ_v − 1) Θ_v = 2π − Θ_v = K_v`, its whole angle defect, and a vertex on `γ` the share
//! `K_v · θ_v^R / Θ_v` of it that lies inside (θ_v^R: the angle of `R` at `v`). On the unit sphere the
//! total approaches the enclosed area, `2π(1 − cos r)` for a geodesic circle of radius `r`.
//!
//! Three ways to name the loop: any closed vertex path ([`loop_holonomy`]; the enclosed region is the
//! side on its left, when that side is bounded by the loop alone), the boundary of a set of faces
//! ([`region_holonomy`]), and the discrete geodesic circle about a vertex ([`geodesic_circle`]).

use super::distance::geodesic_distances;
use crate::error::{Error, Num, Result};
use crate::ids::{EdgeId, FaceId, HalfedgeId, SpokeId, VertexId};
use crate::manifold::Manifold;
use crate::mesh::Mesh;
use crate::transport::{wrap_angle, NotAdjacent, O2};
use std::collections::{HashSet, VecDeque};
use std::f64::consts::PI;

/// Curvature of the vertex connection of every face, `K_f = Σ_{c ∈ f} s_v α_c − π` (from the formula,
/// not from transport): the rotation of the transport around `f` measured in the orientation it is
/// walked in.
pub fn face_curvatures(m: &Manifold) -> Vec<f64> {
    let s = m.frames.vertex_scales();
    m.mesh
        .face_ids()
        .map(|f| {
            (0..3)
                .map(|k| {
                    let h = HalfedgeId::from_face_side(f, k);
                    s[m.mesh.halfedge_tail(h).index()] * m.geometry.corner_angle(h)
                })
                .sum::<f64>()
                - PI
        })
        .collect()
}

/// The region a loop encloses and its curvature.
#[derive(Clone, Debug, PartialEq)]
pub struct EnclosedRegion {
    /// The faces, in increasing id order.
    pub faces: Vec<FaceId>,
    /// `Σ K_f` over the faces: the rotation the loop's holonomy must equal (mod 2π).
    pub curvature: f64,
    /// `Σ K_v` over the interior vertices all of whose faces lie in the region (the cone-metric
    /// curvature strictly inside).
    pub interior_vertex_defects: f64,
    /// Total area of the faces.
    pub area: f64,
}

/// The holonomy of a closed vertex loop and, where it bounds a region, what that region encloses.
#[derive(Clone, Debug, PartialEq)]
pub struct LoopHolonomy {
    /// The loop `cycle[0] → cycle[1] → … → cycle[0]` (the first vertex is not repeated).
    pub cycle: Vec<VertexId>,
    /// Transport of the vertex connection around the loop, in the frame of `cycle[0]`.
    pub holonomy: O2,
    /// The region on the loop's left, if the loop alone bounds an orientable region there.
    pub enclosed: Option<EnclosedRegion>,
}

impl LoopHolonomy {
    /// `hol − Σ K_f`, wrapped to `(−π, π]`: zero up to rounding whenever a region is enclosed.
    pub fn gauss_bonnet_residual(&self) -> Option<f64> {
        let e = self.enclosed.as_ref()?;
        (!self.holonomy.reflect).then(|| wrap_angle(self.holonomy.angle - e.curvature))
    }

    /// The holonomy angle unwrapped to the representative nearest the enclosed curvature (which may
    /// exceed π), or the wrapped angle where nothing is enclosed.
    pub fn unwrapped_angle(&self) -> f64 {
        match &self.enclosed {
            Some(e) if !self.holonomy.reflect => {
                let k = ((e.curvature - self.holonomy.angle) / (2.0 * PI)).round();
                self.holonomy.angle + 2.0 * PI * k
            }
            _ => self.holonomy.angle,
        }
    }
}

/// Spoke of `v` to `w` as an index into the star of `v`.
fn local_spoke(mesh: &Mesh, v: VertexId, w: VertexId) -> Option<usize> {
    mesh.vertex_spoke_ids(v)
        .position(|s| mesh.spoke_target(s) == w)
}

fn region_summary(m: &Manifold, in_region: &[bool], curvatures: &[f64]) -> EnclosedRegion {
    let mesh = &m.mesh;
    let faces: Vec<FaceId> = mesh.face_ids().filter(|f| in_region[f.index()]).collect();
    let curvature = faces.iter().map(|f| curvatures[f.index()]).sum();
    let area = faces.iter().map(|&f| m.geometry.face_area(f)).sum();
    let mut seen = HashSet::new();
    let mut interior_vertex_defects = 0.0;
    for &f in &faces {
        for v in mesh.face_vertices(f) {
            if seen.insert(v)
                && !mesh.is_boundary_vertex(v)
                && mesh
                    .vertex_corners(v)
                    .iter()
                    .all(|c| in_region[c.face().index()])
            {
                interior_vertex_defects += 2.0 * PI - m.geometry.vertex_angle_sums()[v.index()];
            }
        }
    }
    EnclosedRegion {
        faces,
        curvature,
        interior_vertex_defects,
        area,
    }
}

/// Holonomy of a closed vertex path `cycle[0] → … → cycle[n−1] → cycle[0]` and the region on its left.
///
/// "Left" is taken in the orientation of the star of `cycle[0]`, carried along the loop. The region is
/// the set of faces reachable from the loop's left side without crossing it; it is reported only if
/// it does not reach the loop's right side, does not reach the mesh boundary, and is orientable (so
/// that the loop alone bounds it and Gauss–Bonnet applies). An orientation-reversing loop encloses
/// nothing. Reverse the loop to get the other side.
///
/// [`Connection::loop_holonomy`](crate::transport::Connection::loop_holonomy) is the transport alone
/// (no region), with the same errors.
///
/// # Errors
/// [`Error::InvalidParameter`] (named `"loop"`) if the cycle is empty, names a vertex the mesh lacks, or
/// two consecutive vertices share no edge.
///
/// # Complexity
/// O(F + length · degree): the face curvatures and the flood fill touch every face at most once.
pub fn loop_holonomy(m: &Manifold, cycle: &[VertexId]) -> Result<LoopHolonomy> {
    let mesh = &m.mesh;
    if cycle.is_empty() {
        return Err(Error::InvalidParameter {
            name: "loop",
            message: "is empty".into(),
        });
    }
    for &v in cycle {
        mesh.check_vertex(v, "loop")?;
    }
    let mut closed = cycle.to_vec();
    closed.push(cycle[0]);
    let holonomy = m
        .connection
        .path_transport(mesh, &closed)
        .map_err(NotAdjacent::in_loop)?;
    let curvatures = face_curvatures(m);
    let enclosed = enclosed_on_left(m, cycle, &curvatures);
    Ok(LoopHolonomy {
        cycle: cycle.to_vec(),
        holonomy,
        enclosed,
    })
}

fn enclosed_on_left(
    m: &Manifold,
    cycle: &[VertexId],
    curvatures: &[f64],
) -> Option<EnclosedRegion> {
    let mesh = &m.mesh;
    let n = cycle.len();
    if n < 3 {
        return None;
    }
    let mut loop_edges = HashSet::new();
    // (face, agrees-with-region) seeds on the left; faces on the right.
    let mut left: Vec<(FaceId, bool)> = Vec::with_capacity(n);
    let mut right: Vec<FaceId> = Vec::with_capacity(n);
    let mut flipped = false;
    for i in 0..n {
        let (v, w) = (cycle[i], cycle[(i + 1) % n]);
        let b = local_spoke(mesh, v, w)?;
        let spokes = mesh.vertex_spokes(v);
        let s = SpokeId::new(spokes.start + b);
        loop_edges.insert(mesh.spoke_edge(s));
        let corners = mesh.vertex_corners(v);
        let k = corners.len();
        let interior = !mesh.is_boundary_vertex(v);
        // Corner b lies counter-clockwise of spoke b in the star's orientation, corner b − 1 clockwise.
        let ccw = if interior {
            Some(b % k)
        } else {
            (b < k).then_some(b)
        };
        let cw = if interior {
            Some((b + k - 1) % k)
        } else {
            b.checked_sub(1)
        };
        let (l, r) = if flipped { (cw, ccw) } else { (ccw, cw) };
        let l = l?; // the loop runs along the boundary with the surface on its right
        let c = corners[l];
        left.push((c.face(), !mesh.corner_flipped(c) ^ flipped));
        if let Some(r) = r {
            right.push(corners[r].face());
        }
        flipped ^= mesh.spoke_reflects(s);
    }
    if flipped {
        return None;
    }
    // Flood fill from the left faces without crossing the loop.
    let nf = mesh.face_count();
    let mut state = vec![0u8; nf]; // 0: unseen, 1: agrees, 2: disagrees
    let mut queue = VecDeque::new();
    for &(f, o) in &left {
        let want = if o { 1 } else { 2 };
        match state[f.index()] {
            0 => {
                state[f.index()] = want;
                queue.push_back(f);
            }
            x if x != want => return None,
            _ => {}
        }
    }
    while let Some(f) = queue.pop_front() {
        let o = state[f.index()];
        for k in 0..3 {
            let h = HalfedgeId::from_face_side(f, k);
            let e: EdgeId = mesh.halfedge_edge(h);
            if loop_edges.contains(&e) {
                continue;
            }
            // A side on the mesh boundary: the region is not bounded by the loop alone.
            let t = mesh.halfedge_twin(h)?;
            let g = t.face();
            let same_direction = mesh.halfedge_tail(h) == mesh.halfedge_tail(t);
            let want = if same_direction { 3 - o } else { o };
            match state[g.index()] {
                0 => {
                    state[g.index()] = want;
                    queue.push_back(g);
                }
                x if x != want => return None,
                _ => {}
            }
        }
    }
    if right.iter().any(|f| state[f.index()] != 0) {
        return None;
    }
    let in_region: Vec<bool> = state.iter().map(|&s| s != 0).collect();
    Some(region_summary(m, &in_region, curvatures))
}

/// Holonomy around the boundary of a set of faces (`in_region[f]`), which must be connected,
/// orientable and bounded by a single closed edge loop (mesh boundary edges count as part of it). The
/// loop starts at the tail of the region's lowest boundary side and runs with the region on its left
/// in the orientation of its first vertex's star; `enclosed` is the region itself.
///
/// # Errors
/// [`Error::InvalidParameter`] if `in_region` does not have one entry per face, the region is empty,
/// not connected, not orientable, or its boundary is not exactly one loop (none: it is a whole closed
/// component; several: it has holes or wraps around a handle).
///
/// # Complexity
/// O(F + region size · degree).
pub fn region_holonomy(m: &Manifold, in_region: &[bool]) -> Result<LoopHolonomy> {
    let mesh = &m.mesh;
    let bad = |message: String| Error::InvalidParameter {
        name: "region",
        message,
    };
    if in_region.len() != mesh.face_count() {
        return Err(bad(format!(
            "has {} entries; the mesh has {} faces",
            in_region.len(),
            mesh.face_count()
        )));
    }
    let Some(start) = mesh.face_ids().find(|f| in_region[f.index()]) else {
        return Err(bad("is empty".into()));
    };
    // Orientation flags by a search inside the region.
    let nf = mesh.face_count();
    let mut agrees = vec![None::<bool>; nf];
    agrees[start.index()] = Some(true);
    let mut queue = VecDeque::from([start]);
    let mut reached = 1usize;
    while let Some(f) = queue.pop_front() {
        let o = agrees[f.index()].unwrap_or(true);
        for k in 0..3 {
            let h = HalfedgeId::from_face_side(f, k);
            let Some(t) = mesh.halfedge_twin(h) else {
                continue;
            };
            let g = t.face();
            if !in_region[g.index()] {
                continue;
            }
            let want = o ^ (mesh.halfedge_tail(h) == mesh.halfedge_tail(t));
            match agrees[g.index()] {
                None => {
                    agrees[g.index()] = Some(want);
                    reached += 1;
                    queue.push_back(g);
                }
                Some(x) if x != want => return Err(bad("is not orientable".into())),
                _ => {}
            }
        }
    }
    let total = in_region.iter().filter(|&&x| x).count();
    if reached != total {
        return Err(bad(format!(
            "is not connected ({reached} of its {total} faces reachable)"
        )));
    }
    let o = |f: FaceId| agrees[f.index()].unwrap_or(true);
    let is_boundary_side = |h: HalfedgeId| match mesh.halfedge_twin(h) {
        None => true,
        Some(t) => !in_region[t.face().index()],
    };
    // Region-oriented tail and head of a side.
    let ends = |h: HalfedgeId| {
        let (a, b) = (mesh.halfedge_tail(h), mesh.halfedge_head(h));
        if o(h.face()) {
            (a, b)
        } else {
            (b, a)
        }
    };
    // The side of f leaving v in the region's orientation.
    let out_side = |f: FaceId, v: VertexId| -> HalfedgeId {
        let fv = mesh.face_vertices(f);
        let k = (0..3).find(|&k| fv[k] == v).unwrap_or(0);
        // The side from v onward, or the one into v (run backward) where the face disagrees.
        let side = HalfedgeId::from_face_side(f, k);
        if o(f) {
            side
        } else {
            side.prev()
        }
    };
    let next_boundary_side = |h: HalfedgeId| -> Option<HalfedgeId> {
        let (_, b) = ends(h);
        let mut f = h.face();
        for _ in 0..=mesh.vertex_face_degree(b) {
            let s = out_side(f, b);
            if is_boundary_side(s) {
                return Some(s);
            }
            f = mesh.halfedge_twin(s)?.face();
        }
        None
    };
    let sides: Vec<HalfedgeId> = mesh
        .face_ids()
        .filter(|f| in_region[f.index()])
        .flat_map(|f| (0..3).map(move |k| HalfedgeId::from_face_side(f, k)))
        .filter(|&h| is_boundary_side(h))
        .collect();
    let Some(&first) = sides.first() else {
        return Err(bad("has no boundary: it is a whole closed component".into()));
    };
    let mut cycle = Vec::new();
    let mut h = first;
    loop {
        cycle.push(ends(h).0);
        h = next_boundary_side(h)
            .ok_or_else(|| bad("has a boundary that does not close".into()))?;
        if h == first {
            break;
        }
        if cycle.len() > sides.len() {
            return Err(bad("has a boundary that does not close".into()));
        }
    }
    if cycle.len() != sides.len() {
        return Err(bad(format!(
            "is bounded by several loops ({} boundary sides, {} on the first loop): it has holes or \
             wraps around a handle",
            sides.len(),
            cycle.len()
        )));
    }
    // Walk with the region on the left in the orientation of the first vertex's star.
    let v0 = cycle[0];
    let f0 = first.face();
    let c0 = mesh
        .vertex_corners(v0)
        .iter()
        .copied()
        .find(|c| c.face() == f0);
    let star_agrees = c0.map(|c| o(f0) != mesh.corner_flipped(c)).unwrap_or(true);
    if !star_agrees {
        cycle[1..].reverse();
    }
    let mut closed = cycle.clone();
    closed.push(v0);
    let holonomy = m
        .connection
        .path_transport(mesh, &closed)
        .map_err(|e| Error::Internal(format!("a region's boundary is not an edge path ({e})")))?;
    let curvatures = face_curvatures(m);
    let enclosed = Some(region_summary(m, in_region, &curvatures));
    Ok(LoopHolonomy {
        cycle,
        holonomy,
        enclosed,
    })
}

/// Holonomy around the discrete geodesic circle of radius `radius` about `center`.
///
/// The disk is the set of faces whose three vertices are, on average, closer than `radius` to
/// `center` ([fast-marching distances](super::distance::geodesic_distances)); keep the connected part
/// that touches `center`, and fill its holes (the parts of the complement that neither reach the mesh
/// boundary nor hold the farthest vertex). Its boundary is the circle.
///
/// # Errors
/// [`Error::InvalidParameter`] if `center` does not exist, `radius` is not positive and finite, the
/// disk holds no face (radius below the first ring), covers the whole closed component, or is not
/// bounded by a single loop (it wraps around a handle), and as [`region_holonomy`].
///
/// # Complexity
/// O((V + F) log V).
pub fn geodesic_circle(m: &Manifold, center: VertexId, radius: f64) -> Result<LoopHolonomy> {
    let mesh = &m.mesh;
    mesh.check_vertex(center, "center")?;
    if !(radius.is_finite() && radius > 0.0) {
        return Err(Error::InvalidParameter {
            name: "radius",
            message: format!("must be positive and finite (got {})", Num(radius)),
        });
    }
    let d = geodesic_distances(mesh, &m.geometry, center);
    let nf = mesh.face_count();
    let mean = |f: FaceId| {
        mesh.face_vertices(f)
            .iter()
            .map(|v| d[v.index()])
            .sum::<f64>()
            / 3.0
    };
    let raw: Vec<bool> = mesh.face_ids().map(|f| mean(f) < radius).collect();
    // The connected part holding a face at the center.
    let Some(seed) = mesh
        .vertex_corners(center)
        .iter()
        .map(|c| c.face())
        .find(|f| raw[f.index()])
    else {
        return Err(Error::InvalidParameter {
            name: "radius",
            message: format!(
                "{radius} is too small: no face around vertex {center} lies within it"
            ),
        });
    };
    let mut in_region = vec![false; nf];
    in_region[seed.index()] = true;
    let mut queue = VecDeque::from([seed]);
    while let Some(f) = queue.pop_front() {
        for k in 0..3 {
            if let Some(t) = mesh.halfedge_twin(HalfedgeId::from_face_side(f, k)) {
                let g = t.face();
                if raw[g.index()] && !in_region[g.index()] {
                    in_region[g.index()] = true;
                    queue.push_back(g);
                }
            }
        }
    }
    // Complement pieces in the center's component; those that reach the boundary or the farthest
    // vertex are outside, the rest are holes.
    let comp = mesh.vertex_component(center);
    let farthest = mesh
        .vertices()
        .filter(|&v| d[v.index()].is_finite())
        .max_by(|a, b| d[a.index()].total_cmp(&d[b.index()]))
        .unwrap_or(center);
    let mut label = vec![u32::MAX; nf];
    let mut pieces: Vec<bool> = Vec::new(); // outside?
    for f in mesh.face_ids() {
        if in_region[f.index()] || label[f.index()] != u32::MAX || mesh.face_component(f) != comp {
            continue;
        }
        let id = pieces.len() as u32;
        let mut outside = false;
        label[f.index()] = id;
        let mut queue = VecDeque::from([f]);
        while let Some(g) = queue.pop_front() {
            if mesh.face_vertices(g).contains(&farthest) {
                outside = true;
            }
            for k in 0..3 {
                match mesh.halfedge_twin(HalfedgeId::from_face_side(g, k)) {
                    None => outside = true,
                    Some(t) => {
                        let x = t.face();
                        if !in_region[x.index()] && label[x.index()] == u32::MAX {
                            label[x.index()] = id;
                            queue.push_back(x);
                        }
                    }
                }
            }
        }
        pieces.push(outside);
    }
    for f in 0..nf {
        if label[f] != u32::MAX && !pieces[label[f] as usize] {
            in_region[f] = true;
        }
    }
    if !pieces.iter().any(|&o| o) && mesh.components()[comp].boundary_loops == 0 {
        return Err(Error::InvalidParameter {
            name: "radius",
            message: format!("{radius} covers the whole closed component around vertex {center}"),
        });
    }
    region_holonomy(m, &in_region)
}
