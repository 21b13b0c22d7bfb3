//! Connectivity of a manifold triangle mesh, possibly with boundary, several components and no global
//! orientation.
//!
//! # Elements and numbering
//! - Faces are triangles of [`VertexId`]s, oriented consistently within each orientable component (the
//!   first face of a component, in input order, keeps its input orientation).
//! - Halfedge `3f + k` runs from corner `k` to corner `k + 1` of face `f`; it doubles as the id of
//!   corner `k`. Its twin is the other face's halfedge on the same edge, if any.
//! - Edges are undirected; each has one or two halfedges.
//! - The **star** of a vertex lists its corners in the star's own rotational order (counter-clockwise as
//!   seen from the side the star's orientation defines), and its **spokes**: the outgoing edges in the
//!   same order. Spoke `i` of a star is the edge where corner `i` starts; an interior vertex has as many
//!   spokes as corners, a boundary vertex one more (its first and last spokes are boundary edges). Spokes
//!   are the *directed edges* of the mesh: every edge is one spoke at each end, and per-directed-edge
//!   quantities (polar angles, transport) are stored per spoke.
//!
//! # Orientation
//! Each star has its own orientation: that of the face its reference spoke was read from (see below), as
//! oriented by the mesh. On an orientable component all stars agree with the face orientation. On a non-orientable one
//! (a Möbius strip) some edges join stars that disagree; [`Mesh::spoke_reflects`] marks them and transport
//! across them carries a reflection.
//!
//! # Reference spoke
//! The reference spoke of a vertex (polar angle 0 of its tangent frame) points to the vertex chosen by
//! [`MeshSource`]'s rule (the next corner of the first face in which the vertex is corner 0). On interior
//! vertices it is spoke 0; on boundary vertices spoke 0 is the first boundary edge and the reference
//! spoke is [`Mesh::vertex_reference_spoke`].

//!
//! # Validity of a face (one rule)
//! A face is accepted when its three edge lengths — given, or computed from positions exactly as the
//! mesh's [`BuiltMesh::edge_lengths`] are — each lie in [[`MIN_EDGE_LENGTH`], [`MAX_EDGE_LENGTH`]] =
//! [1e-120, 1e120], and twice its area over its longest side squared, by the geometry's own
//! [`triangle_area`](crate::geometry::triangle_area), exceeds [`ZERO_AREA_RELATIVE`] = 1e-12. The
//! second test is scale invariant (a triangle at scale 1e-100 is as valid as at scale 1); the first
//! keeps every product of two lengths, and every area, a finite normal double. The test runs on the
//! lengths and not the positions because everything downstream sees only lengths: a sliver whose apex is
//! 1e-10 off its base has lengths that round to an exactly flat triangle. Every accepted face then has
//! positive area and heights and finite angles, and the exp-map tracer lands in it with finite
//! barycentric coordinates in [0, 1]. Otherwise: [`Error::ZeroAreaFace`] (or
//! [`Error::TriangleInequality`] for given lengths) or [`Error::EdgeLengthOutOfRange`], naming the face;
//! repair drops the face.
//!
//! # Cost
//! Building is O(n log n) in the input size whatever the valences and duplicates (one vertex of valence
//! 100k, 200k faces on one edge, a million copies of one face); the [`work`] counters measure the steps
//! that depend on them. Before allocating, [`Mesh::build`] checks that [`build_memory_estimate`] bytes
//! can be allocated and refuses with the estimate ([`Error::OutOfMemory`]) if not.

mod build;
mod corners;
mod edges;
mod orientation;
mod source;
mod star;
pub mod work;

pub use build::{
    BuildOptions, Repair, EDGE_LENGTH_AGREEMENT, MAX_EDGE_LENGTH, MIN_EDGE_LENGTH,
    ZERO_AREA_RELATIVE,
};
pub use source::MeshSource;

use crate::error::{Error, Result};
use crate::ids::{EdgeId, FaceId, HalfedgeId, SpokeId, VertexId};
use crate::prefetch::prefetch;
use build::NONE;
use rayon::prelude::*;
use std::ops::Range;

/// Connectivity only: no coordinates, no lengths. Immutable once built; `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Mesh {
    faces: Vec<[VertexId; 3]>,
    halfedge_twin: Vec<u32>,
    halfedge_edge: Vec<EdgeId>,
    edge_halfedges: Vec<[u32; 2]>,
    corner_flipped: Vec<bool>,
    star_offsets: Vec<u32>,
    star_corners: Vec<HalfedgeId>,
    spoke_offsets: Vec<u32>,
    spoke_targets: Vec<VertexId>,
    spoke_edges: Vec<EdgeId>,
    spoke_opposites: Vec<u32>,
    spoke_reflect: Vec<bool>,
    vertex_reference: Vec<u32>,
    vertex_boundary: Vec<bool>,
    face_components: Vec<u32>,
    components: Vec<Component>,
    boundary_loops: Vec<Vec<VertexId>>,
}

/// A connected component of a mesh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    /// Number of faces.
    pub faces: usize,
    /// Number of vertices.
    pub vertices: usize,
    /// Number of edges.
    pub edges: usize,
    /// Number of boundary loops.
    pub boundary_loops: usize,
    /// Whether its faces can be oriented consistently.
    pub orientable: bool,
}

impl Component {
    /// Euler characteristic V − E + F.
    pub fn euler_characteristic(&self) -> i64 {
        self.vertices as i64 - self.edges as i64 + self.faces as i64
    }

    /// Genus: orientable, χ = 2 − 2g − b; non-orientable (number of cross-caps), χ = 2 − g − b.
    pub fn genus(&self) -> i64 {
        let d = 2 - self.euler_characteristic() - self.boundary_loops as i64;
        if self.orientable {
            d / 2
        } else {
            d
        }
    }
}

/// What building a mesh did to its input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BuildReport {
    /// Every repair made, in the order made (empty in strict mode).
    pub repairs: Vec<Repair>,
    /// How many faces were flipped to orient the mesh consistently (not a repair).
    pub flipped_faces: usize,
    /// Input vertex index of each mesh vertex (split vertices repeat their origin).
    pub vertex_origin: Vec<u32>,
    /// Input face index of each mesh face.
    pub face_origin: Vec<u32>,
}

/// The result of [`Mesh::build`]: connectivity plus the geometry carried over from the source in the
/// mesh's numbering.
#[derive(Clone, Debug)]
pub struct BuiltMesh {
    /// The connectivity.
    pub mesh: Mesh,
    /// Positions per mesh vertex, where the source had them.
    pub positions: Option<Vec<[f64; 3]>>,
    /// Length of every edge: from the source's edge lengths where given, else from positions.
    pub edge_lengths: Vec<f64>,
    /// What was changed.
    pub report: BuildReport,
}

/// About the most address space building a [`Manifold`](crate::Manifold) (mesh, geometry, frames,
/// connection) takes at once for a source of `vertices` and `faces`, the source included: 560 bytes
/// per face and 112 per vertex. Measured as the smallest `prlimit --as` under which `inspect` succeeds,
/// less that of a tiny mesh: ~530 bytes per face on `icosphere:6` … `icosphere:8` (the resident peak
/// is about half: freed pages stay reserved by the allocator and by the worker threads' arenas).
/// Saturates instead of overflowing.
pub fn build_memory_estimate(vertices: u64, faces: u64) -> u64 {
    faces
        .saturating_mul(560)
        .saturating_add(vertices.saturating_mul(112))
}

/// Address space the allocator takes beyond the bytes a stage asks for: each worker thread's heap
/// reserves its own segments, so a small mesh near a memory limit fails in a 100-byte allocation
/// although its arrays fit (measured: `bull.obj`, 7 MB of arrays, aborted under limits 26 MB above
/// the smallest that runs `icosphere:1`).
pub const ALLOCATOR_SLACK: u64 = 64 << 20;

/// Checks that `bytes` (plus the allocator's slack of 64 MiB) can be allocated now, by reserving them
/// and giving them back (address space only: the pages are never touched, so this costs a system
/// call, not memory).
///
/// # Errors
/// [`Error::OutOfMemory`] naming `what` and the estimate, if the reservation fails (a memory limit
/// such as `prlimit --as`, or more than the system will ever commit).
pub fn ensure_memory(what: impl FnOnce() -> String, bytes: u64) -> Result<()> {
    let fits = usize::try_from(bytes.saturating_add(ALLOCATOR_SLACK))
        .ok()
        .filter(|&b| b <= isize::MAX as usize)
        .is_some_and(|b| Vec::<u8>::new().try_reserve_exact(b).is_ok());
    if fits {
        Ok(())
    } else {
        Err(Error::OutOfMemory {
            what: what(),
            bytes,
        })
    }
}

impl Mesh {
    /// Validates `source` and builds its connectivity (plus edge lengths and positions renumbered to
    /// match). Strict unless `options.repair`.
    ///
    /// # Errors
    /// The first defect of the input, naming the element in input numbering: see [`Error`].
    ///
    /// [`Error::OutOfMemory`] if [`build_memory_estimate`] bytes cannot be allocated (checked before
    /// anything is built).
    ///
    /// # Complexity
    /// O(V + F) time and memory.
    pub fn build(source: &MeshSource, options: &BuildOptions) -> Result<BuiltMesh> {
        ensure_memory(
            || format!("building the mesh {}", source.name),
            build_memory_estimate(source.vertex_count as u64, source.faces.len() as u64),
        )?;
        let clean = build::clean(source, options, false)?;
        match Mesh::assemble(source, clean) {
            Some(built) => Ok(built),
            // A vertex where several fans meet: analyse fans (and split them or report the first).
            None => {
                let clean = build::clean(source, options, true)?;
                Mesh::assemble(source, clean).ok_or_else(|| {
                    Error::Internal("a vertex still has several fans after splitting".into())
                })
            }
        }
    }

    /// Orients, numbers edges and builds the stars. `None` if some vertex has several fans.
    fn assemble(source: &MeshSource, clean: build::CleanFaces) -> Option<BuiltMesh> {
        let nv = clean.vertex_origin.len();
        let nf = clean.faces.len();
        // Corners of each vertex, ascending (input corner numbering until the flips below).
        let (mut corners, mut references) = match clean.corners {
            Some(both) => both,
            None => {
                let corners = corners::VertexCorners::new(nv, &clean.faces);
                let references = corners::References::of_faces(&clean.faces, &corners);
                (corners, references)
            }
        };
        let orient = orientation::orient(&clean.faces, &clean.side_twin);
        let flip = &orient.flip;
        let flipped_faces = flip.par_iter().filter(|&&x| x).count();
        let (faces, halfedge_twin) =
            oriented_faces(&clean.faces, clean.side_twin, flip, flipped_faces > 0);
        if flipped_faces > 0 {
            corners.flip(flip);
            corners::flip_corners(&mut references.corner, flip);
        }
        let edges::Edges {
            halfedge_edge,
            edge_halfedges,
        } = edges::number_edges(&halfedge_twin);
        let (star_offsets, unordered) = (corners.offsets, corners.corners);
        let vertex_boundary = boundary_vertices(nv, &faces, &halfedge_twin);
        // A star has a spoke per corner, and one more where it is open.
        let mut spoke_offsets = vec![0u32; nv + 1];
        for v in 0..nv {
            let corners = star_offsets[v + 1] - star_offsets[v];
            spoke_offsets[v + 1] = spoke_offsets[v] + corners + vertex_boundary[v] as u32;
        }

        // Walk every star, in parallel over blocks of vertices.
        let ctx = star::StarContext {
            faces: &faces,
            halfedge_edge: &halfedge_edge,
            star_offsets: &star_offsets,
            unordered: &unordered,
            vertex_boundary: &vertex_boundary,
            reference: &references.target,
            reference_corner: &references.corner,
        };
        let stars = star::walk_all(&ctx, &spoke_offsets, edge_halfedges.len())?;
        let spoke_opposites = stars.opposite_spokes();
        drop(stars.edge_spokes);
        // Where stars disagree (only on non-orientable components), the spoke reflects.
        let (corner_flipped, spoke_reflect) = if orient.component_orientable.iter().all(|&o| o) {
            debug_assert!(!stars.star_flipped.iter().any(|&f| f));
            (vec![false; 3 * nf], vec![false; stars.spoke_edges.len()])
        } else {
            reflections(
                nf,
                &stars.star_corners,
                &stars.star_flipped,
                &stars.spoke_edges,
                &edge_halfedges,
            )
        };
        let mut mesh = Mesh {
            faces,
            halfedge_twin,
            halfedge_edge,
            edge_halfedges,
            corner_flipped,
            star_offsets,
            star_corners: stars.star_corners,
            spoke_offsets,
            spoke_targets: stars.spoke_targets,
            spoke_edges: stars.spoke_edges,
            spoke_opposites,
            spoke_reflect,
            vertex_reference: stars.vertex_reference,
            vertex_boundary,
            face_components: orient.face_components,
            components: Vec::new(),
            boundary_loops: Vec::new(),
        };
        mesh.boundary_loops = mesh.trace_boundary_loops();
        mesh.components = mesh.summarize_components(&orient.component_orientable);

        let positions = source
            .positions
            .as_ref()
            .map(|p| renumbered_positions(p, &clean.vertex_origin));
        let edge_lengths = match (&clean.face_edge_lengths, &positions) {
            (Some(ls), _) => mesh
                .edge_halfedges
                .par_iter()
                .map(|hs| {
                    let h = hs[0] as usize;
                    let (f, k) = (h / 3, h % 3);
                    ls[f][if flip[f] { 2 - k } else { k }]
                })
                .collect(),
            (None, Some(p)) => mesh.edge_lengths_from(p),
            // `clean` rejects sources with neither.
            (None, None) => return None,
        };
        let report = BuildReport {
            repairs: clean.repairs,
            flipped_faces,
            vertex_origin: clean.vertex_origin,
            face_origin: clean.face_origin,
        };
        Some(BuiltMesh {
            mesh,
            positions,
            edge_lengths,
            report,
        })
    }

    /// The length of every edge between `positions`.
    fn edge_lengths_from(&self, positions: &[[f64; 3]]) -> Vec<f64> {
        let ends = |e: usize| {
            let h = HalfedgeId(self.edge_halfedges[e][0]);
            (self.halfedge_tail(h).index(), self.halfedge_head(h).index())
        };
        let mut lengths = vec![0.0; self.edge_count()];
        lengths
            .par_chunks_mut(4096)
            .enumerate()
            .for_each(|(chunk, out)| {
                // The endpoints lie anywhere: ask for them a few edges ahead.
                const AHEAD: usize = 8;
                let (e0, n) = (chunk * 4096, out.len());
                for (i, l) in out.iter_mut().enumerate() {
                    if i + AHEAD < n {
                        let (a, b) = ends(e0 + i + AHEAD);
                        prefetch(&positions[a]);
                        prefetch(&positions[b]);
                    }
                    let (x, y) = {
                        let (a, b) = ends(e0 + i);
                        (positions[a], positions[b])
                    };
                    // The very function validation checked the faces' lengths with.
                    *l = build::position_length(x, y);
                }
            });
        lengths
    }

    fn trace_boundary_loops(&self) -> Vec<Vec<VertexId>> {
        let nv = self.vertex_count();
        let mut seen = vec![false; nv];
        let mut loops = Vec::new();
        for v0 in 0..nv {
            if !self.vertex_boundary[v0] || seen[v0] {
                continue;
            }
            let mut lp = Vec::new();
            let mut v = v0;
            let mut via = self.spoke_edges[self.spoke_offsets[v0] as usize];
            loop {
                seen[v] = true;
                lp.push(VertexId::new(v));
                let sp = self.vertex_spokes(VertexId::new(v));
                let (first, last) = (sp.start, sp.end - 1);
                let out = if self.spoke_edges[first] == via {
                    last
                } else {
                    first
                };
                via = self.spoke_edges[out];
                v = self.spoke_targets[out].index();
                if v == v0 || seen[v] || lp.len() > nv {
                    break;
                }
            }
            loops.push(lp);
        }
        loops
    }

    fn summarize_components(&self, orientable: &[bool]) -> Vec<Component> {
        let mut comps: Vec<Component> = orientable
            .iter()
            .map(|&o| Component {
                faces: 0,
                vertices: 0,
                edges: 0,
                boundary_loops: 0,
                orientable: o,
            })
            .collect();
        if let [only] = &mut comps[..] {
            // Everything belongs to it.
            only.faces = self.face_count();
            only.vertices = self.vertex_count();
            only.edges = self.edge_count();
            only.boundary_loops = self.boundary_loops.len();
            return comps;
        }
        for &c in &self.face_components {
            comps[c as usize].faces += 1;
        }
        for v in 0..self.vertex_count() {
            comps[self.vertex_component(VertexId::new(v))].vertices += 1;
        }
        for hs in &self.edge_halfedges {
            comps[self.face_components[hs[0] as usize / 3] as usize].edges += 1;
        }
        for lp in &self.boundary_loops {
            comps[self.vertex_component(lp[0])].boundary_loops += 1;
        }
        comps
    }

    /// Number of vertices.
    pub fn vertex_count(&self) -> usize {
        self.star_offsets.len() - 1
    }
    /// Number of faces.
    pub fn face_count(&self) -> usize {
        self.faces.len()
    }
    /// Number of (undirected) edges.
    pub fn edge_count(&self) -> usize {
        self.edge_halfedges.len()
    }
    /// Number of halfedges (3 per face).
    pub fn halfedge_count(&self) -> usize {
        self.halfedge_twin.len()
    }
    /// Number of spokes (directed edges): twice the number of edges.
    pub fn spoke_count(&self) -> usize {
        self.spoke_targets.len()
    }
    /// The id of vertex `i`, if the mesh has that many vertices.
    pub fn vertex(&self, i: usize) -> Option<VertexId> {
        (i < self.vertex_count()).then(|| VertexId::new(i))
    }
    /// [`Error::InvalidParameter`] named `name` unless `v` is a vertex of this mesh (an id made for
    /// another, bigger mesh).
    pub(crate) fn check_vertex(&self, v: VertexId, name: &'static str) -> Result<()> {
        if v.index() >= self.vertex_count() {
            return Err(Error::InvalidParameter {
                name,
                message: format!(
                    "vertex {v} does not exist (the mesh has {} vertices)",
                    self.vertex_count()
                ),
            });
        }
        Ok(())
    }
    /// The id of face `i`, if the mesh has that many faces.
    pub fn face(&self, i: usize) -> Option<FaceId> {
        (i < self.face_count()).then(|| FaceId::new(i))
    }
    /// The id of spoke `i` (global numbering, as in [`Mesh::vertex_spokes`]), if the mesh has that many
    /// spokes.
    pub fn spoke(&self, i: usize) -> Option<SpokeId> {
        (i < self.spoke_count()).then(|| SpokeId::new(i))
    }
    /// All vertex ids.
    pub fn vertices(&self) -> impl ExactSizeIterator<Item = VertexId> {
        (0..self.vertex_count()).map(VertexId::new)
    }
    /// All spoke ids, in global order (star by star, in vertex order).
    pub fn spoke_ids(&self) -> impl ExactSizeIterator<Item = SpokeId> {
        (0..self.spoke_count()).map(SpokeId::new)
    }
    /// All face ids.
    pub fn face_ids(&self) -> impl ExactSizeIterator<Item = FaceId> {
        (0..self.face_count()).map(FaceId::new)
    }
    /// The oriented faces.
    pub fn faces(&self) -> &[[VertexId; 3]] {
        &self.faces
    }
    /// The three vertices of a face, in its orientation.
    pub fn face_vertices(&self, f: FaceId) -> [VertexId; 3] {
        self.faces[f.index()]
    }
    /// Tail (corner) vertex of a halfedge.
    pub fn halfedge_tail(&self, h: HalfedgeId) -> VertexId {
        self.faces[h.face().index()][h.side()]
    }
    /// Head vertex of a halfedge.
    pub fn halfedge_head(&self, h: HalfedgeId) -> VertexId {
        self.faces[h.face().index()][(h.side() + 1) % 3]
    }
    /// The other face's halfedge on the same edge, or `None` on the boundary. On an orientation seam of
    /// a non-orientable mesh the twin runs in the *same* direction.
    pub fn halfedge_twin(&self, h: HalfedgeId) -> Option<HalfedgeId> {
        let t = self.halfedge_twin[h.index()];
        (t != NONE).then_some(HalfedgeId(t))
    }
    /// The edge of a halfedge.
    pub fn halfedge_edge(&self, h: HalfedgeId) -> EdgeId {
        self.halfedge_edge[h.index()]
    }
    /// The endpoints of an edge, smaller id first.
    pub fn edge_vertices(&self, e: EdgeId) -> [VertexId; 2] {
        let h = HalfedgeId(self.edge_halfedges[e.index()][0]);
        let (a, b) = (self.halfedge_tail(h), self.halfedge_head(h));
        [a.min(b), a.max(b)]
    }
    /// The halfedges of an edge: one, or two for interior edges.
    pub fn edge_halfedges(&self, e: EdgeId) -> (HalfedgeId, Option<HalfedgeId>) {
        let [a, b] = self.edge_halfedges[e.index()];
        (HalfedgeId(a), (b != NONE).then_some(HalfedgeId(b)))
    }
    /// Whether an edge has a single face.
    pub fn is_boundary_edge(&self, e: EdgeId) -> bool {
        self.edge_halfedges[e.index()][1] == NONE
    }
    /// Whether a vertex lies on the boundary.
    pub fn is_boundary_vertex(&self, v: VertexId) -> bool {
        self.vertex_boundary[v.index()]
    }
    /// The corners (halfedge ids of the corners) around `v`, in star order.
    pub fn vertex_corners(&self, v: VertexId) -> &[HalfedgeId] {
        let (a, b) = (
            self.star_offsets[v.index()],
            self.star_offsets[v.index() + 1],
        );
        &self.star_corners[a as usize..b as usize]
    }
    /// Number of faces around `v`.
    pub fn vertex_face_degree(&self, v: VertexId) -> usize {
        (self.star_offsets[v.index() + 1] - self.star_offsets[v.index()]) as usize
    }
    /// Whether a corner's face is oriented against the star of its vertex (only on non-orientable
    /// components).
    pub fn corner_flipped(&self, c: HalfedgeId) -> bool {
        self.corner_flipped[c.index()]
    }
    /// The global range of spoke indices of `v`, in star order: the indices of per-spoke arrays such
    /// as [`Mesh::spoke_targets`]; [`Mesh::vertex_spoke_ids`] gives the same spokes as ids.
    pub fn vertex_spokes(&self, v: VertexId) -> Range<usize> {
        self.spoke_offsets[v.index()] as usize..self.spoke_offsets[v.index() + 1] as usize
    }
    /// The spokes of `v` in star order, as ids (those of [`Mesh::vertex_spokes`]).
    pub fn vertex_spoke_ids(
        &self,
        v: VertexId,
    ) -> impl ExactSizeIterator<Item = SpokeId> + DoubleEndedIterator + Clone {
        self.vertex_spokes(v).map(SpokeId::new)
    }
    /// The vertex a spoke points to.
    #[inline]
    pub fn spoke_target(&self, s: SpokeId) -> VertexId {
        self.spoke_targets[s.index()]
    }
    /// All spoke targets, indexed by spoke.
    pub fn spoke_targets(&self) -> &[VertexId] {
        &self.spoke_targets
    }
    /// The edge a spoke runs along.
    #[inline]
    pub fn spoke_edge(&self, s: SpokeId) -> EdgeId {
        self.spoke_edges[s.index()]
    }
    /// The spoke running back along the same edge.
    #[inline]
    pub fn spoke_opposite(&self, s: SpokeId) -> SpokeId {
        SpokeId(self.spoke_opposites[s.index()])
    }
    /// Whether the stars at the two ends of a spoke disagree in orientation (σ = −1).
    #[inline]
    pub fn spoke_reflects(&self, s: SpokeId) -> bool {
        self.spoke_reflect[s.index()]
    }
    /// The spoke from `a` to `b`, if they are adjacent. O(degree).
    pub fn find_spoke(&self, a: VertexId, b: VertexId) -> Option<SpokeId> {
        self.vertex_spoke_ids(a)
            .find(|&s| self.spoke_targets[s.index()] == b)
    }
    /// The reference spoke of `v` as an index into its star (0 for interior vertices).
    pub fn vertex_reference_spoke(&self, v: VertexId) -> usize {
        self.vertex_reference[v.index()] as usize
    }
    /// Connected components.
    pub fn components(&self) -> &[Component] {
        &self.components
    }
    /// Component of a face.
    pub fn face_component(&self, f: FaceId) -> usize {
        self.face_components[f.index()] as usize
    }
    /// Component of a vertex.
    pub fn vertex_component(&self, v: VertexId) -> usize {
        let c = self.star_corners[self.star_offsets[v.index()] as usize];
        self.face_components[c.face().index()] as usize
    }
    /// Boundary loops, each as its vertices in order.
    pub fn boundary_loops(&self) -> &[Vec<VertexId>] {
        &self.boundary_loops
    }
    /// Whether every component is orientable.
    pub fn is_orientable(&self) -> bool {
        self.components.iter().all(|c| c.orientable)
    }
    /// Euler characteristic V − E + F of the whole mesh.
    pub fn euler_characteristic(&self) -> i64 {
        self.vertex_count() as i64 - self.edge_count() as i64 + self.face_count() as i64
    }
    /// Total genus (sum over components) if every component is orientable, else `None`.
    pub fn genus(&self) -> Option<i64> {
        self.is_orientable()
            .then(|| self.components.iter().map(|c| c.genus()).sum())
    }
}

/// The faces with `flip`'s faces reversed (`[a, b, c]` → `[a, c, b]`), and the side twins renumbered
/// to match.
fn oriented_faces(
    faces: &[[u32; 3]],
    side_twin: Vec<u32>,
    flip: &[bool],
    any_flipped: bool,
) -> (Vec<[VertexId; 3]>, Vec<u32>) {
    let oriented = faces
        .par_iter()
        .zip(flip.par_iter())
        .map(|(f, &fl)| {
            let g = if fl { [f[0], f[2], f[1]] } else { *f };
            g.map(VertexId)
        })
        .collect();
    if !any_flipped {
        return (oriented, side_twin);
    }
    // Flipping [a, b, c] to [a, c, b] turns side k into side 2 − k (a→b becomes b→a, …).
    let new_side = |f: usize, k: usize| if flip[f] { 2 - k } else { k };
    let mut twin = vec![NONE; side_twin.len()];
    twin.par_chunks_mut(3).enumerate().for_each(|(f, twins)| {
        for k in 0..3 {
            let t = side_twin[3 * f + k];
            if t != NONE {
                let (g, j) = ((t / 3) as usize, (t % 3) as usize);
                twins[new_side(f, k)] = (3 * g + new_side(g, j)) as u32;
            }
        }
    });
    (oriented, twin)
}

/// Whether each vertex lies on a boundary edge (a halfedge without twin).
fn boundary_vertices(nv: usize, faces: &[[VertexId; 3]], halfedge_twin: &[u32]) -> Vec<bool> {
    let mut vertex_boundary = vec![false; nv];
    let nh = halfedge_twin.len();
    let first_boundary = crate::par::first_where(nh, |h| halfedge_twin[h] == NONE);
    for (h, &t) in halfedge_twin
        .iter()
        .enumerate()
        .skip(first_boundary.unwrap_or(nh))
    {
        if t == NONE {
            let f = &faces[h / 3];
            vertex_boundary[f[h % 3].index()] = true;
            vertex_boundary[f[(h % 3 + 1) % 3].index()] = true;
        }
    }
    vertex_boundary
}

/// On a non-orientable component the stars disagree: which corners their star saw flipped, and which
/// spokes (edges whose two corners disagree) reflect.
fn reflections(
    nf: usize,
    star_corners: &[HalfedgeId],
    star_flipped: &[bool],
    spoke_edges: &[EdgeId],
    edge_halfedges: &[[u32; 2]],
) -> (Vec<bool>, Vec<bool>) {
    let mut corner_flipped = vec![false; 3 * nf];
    for (c, &fl) in star_corners.iter().zip(star_flipped) {
        corner_flipped[c.index()] = fl;
    }
    let reflect = spoke_edges
        .par_iter()
        .map(|e| {
            let h = edge_halfedges[e.index()][0] as usize;
            let (f, k) = (h / 3, h % 3);
            corner_flipped[3 * f + k] != corner_flipped[3 * f + (k + 1) % 3]
        })
        .collect();
    (corner_flipped, reflect)
}

/// The source's positions in the mesh's numbering (`vertex_origin`: input vertex of each).
fn renumbered_positions(p: &[[f64; 3]], vertex_origin: &[u32]) -> Vec<[f64; 3]> {
    let identity = vertex_origin.len() == p.len()
        && crate::par::first_where(p.len(), |i| vertex_origin[i] as usize != i).is_none();
    if identity {
        p.par_iter()
            .with_min_len(crate::par::CHEAP_ITEMS_PER_TASK)
            .copied()
            .collect()
    } else {
        vertex_origin.par_iter().map(|&o| p[o as usize]).collect()
    }
}
