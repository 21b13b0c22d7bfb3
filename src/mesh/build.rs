//! Validation and repair: from a [`MeshSource`] to a clean, manifold face list.
//!
//! Checks run in a fixed order and, in strict mode, the first defect found is returned as an
//! [`Error`] naming the element (input numbering). With [`BuildOptions::repair`] each defect that can be
//! fixed safely is fixed and recorded as a [`Repair`].

use super::corners::{self, References, VertexCorners};
use super::work::{self, Work};
use super::MeshSource;
use crate::disjoint::DisjointWrites;
use crate::error::{Error, Result};
use crate::geometry::triangle_area;
use crate::par::first_where;
use crate::prefetch::{prefetch, prefetch_ptr};
use rayon::prelude::*;
use std::borrow::Cow;

/// Options for [`Mesh::build`](super::Mesh::build).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// Fix what can be fixed safely (drop degenerate and duplicate faces, split non-manifold edges and
    /// vertices, drop unreferenced vertices) instead of failing on the first defect. Faces are always
    /// oriented consistently where possible; that is not a repair.
    pub repair: bool,
}

/// One change made by a repair. Indices are in the input numbering.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Repair {
    /// A face was dropped because it touches a vertex with a NaN or infinite coordinate.
    DroppedNonFiniteFace {
        /// Input face index.
        face: usize,
    },
    /// A face was dropped because a vertex appears twice in it.
    DroppedRepeatedVertexFace {
        /// Input face index.
        face: usize,
    },
    /// A face was dropped because its area is zero (or its lengths are invalid).
    DroppedZeroAreaFace {
        /// Input face index.
        face: usize,
    },
    /// A face was dropped because an edge length lies outside [`MIN_EDGE_LENGTH`, `MAX_EDGE_LENGTH`].
    DroppedOutOfRangeFace {
        /// Input face index.
        face: usize,
    },
    /// A face was dropped because an earlier face has the same three vertices.
    DroppedDuplicateFace {
        /// Input face index.
        face: usize,
        /// The earlier face kept.
        first: usize,
    },
    /// An edge with three or more faces was cut: the first two faces (by index) stay glued, the others
    /// are detached (their copies of the endpoints become new vertices through vertex splitting).
    SplitNonManifoldEdge {
        /// The edge's endpoints.
        edge: (usize, usize),
        /// How many faces shared it.
        faces: usize,
    },
    /// A vertex where several fans met was split into one vertex per fan.
    SplitNonManifoldVertex {
        /// Input vertex index.
        vertex: usize,
        /// How many fans met there (the number of vertices it became).
        fans: usize,
    },
    /// A face was dropped because it could not be made manifold by splitting.
    DroppedNonManifoldFace {
        /// Input face index.
        face: usize,
    },
    /// A vertex that belongs to no face was dropped.
    DroppedUnreferencedVertex {
        /// Input vertex index.
        vertex: usize,
    },
}

impl std::fmt::Display for Repair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use Repair::*;
        match self {
            DroppedNonFiniteFace { face } => {
                write!(
                    f,
                    "dropped face {face}: touches a vertex with a non-finite coordinate"
                )
            }
            DroppedRepeatedVertexFace { face } => {
                write!(f, "dropped face {face}: degenerate (repeated vertex)")
            }
            DroppedZeroAreaFace { face } => {
                write!(f, "dropped face {face}: degenerate (zero area)")
            }
            DroppedOutOfRangeFace { face } => write!(
                f,
                "dropped face {face}: an edge length is outside [{MIN_EDGE_LENGTH:e}, {MAX_EDGE_LENGTH:e}]"
            ),
            DroppedDuplicateFace { face, first } => {
                write!(f, "dropped face {face}: duplicate of face {first}")
            }
            SplitNonManifoldEdge { edge, faces } => write!(
                f,
                "split non-manifold edge ({}, {}) shared by {faces} faces",
                edge.0, edge.1
            ),
            SplitNonManifoldVertex { vertex, fans } => {
                write!(f, "split non-manifold vertex {vertex} into {fans} vertices")
            }
            DroppedNonManifoldFace { face } => {
                write!(f, "dropped face {face}: could not be made manifold")
            }
            DroppedUnreferencedVertex { vertex } => {
                write!(f, "dropped unreferenced vertex {vertex}")
            }
        }
    }
}

impl Repair {
    /// A short machine-readable name of the kind of repair.
    pub fn kind(&self) -> &'static str {
        use Repair::*;
        match self {
            DroppedNonFiniteFace { .. } => "dropped_non_finite_face",
            DroppedRepeatedVertexFace { .. } => "dropped_repeated_vertex_face",
            DroppedZeroAreaFace { .. } => "dropped_zero_area_face",
            DroppedOutOfRangeFace { .. } => "dropped_out_of_range_face",
            DroppedDuplicateFace { .. } => "dropped_duplicate_face",
            SplitNonManifoldEdge { .. } => "split_non_manifold_edge",
            SplitNonManifoldVertex { .. } => "split_non_manifold_vertex",
            DroppedNonManifoldFace { .. } => "dropped_non_manifold_face",
            DroppedUnreferencedVertex { .. } => "dropped_unreferenced_vertex",
        }
    }
}

/// Relative threshold at or below which a triangle counts as having zero area: twice its area over its
/// longest edge squared (about its smallest angle; for a sliver, its height over its base). Scale
/// invariant. The test runs on the edge lengths every later stage uses (for a mesh with positions, the
/// lengths computed from them) with the geometry's own area formula, so every accepted face has a
/// positive area and heights and finite angles, and the exp-map tracer works on it.
pub const ZERO_AREA_RELATIVE: f64 = 1e-12;

/// The smallest edge length accepted. With lengths in [`MIN_EDGE_LENGTH`, `MAX_EDGE_LENGTH`] every
/// product of two lengths, and the area of every face that passes [`ZERO_AREA_RELATIVE`], is a finite,
/// normal double; outside it areas and angles overflow or underflow (lengths of 1e-310 have areas of
/// 1e-620, which no double holds).
pub const MIN_EDGE_LENGTH: f64 = 1e-120;

/// The largest edge length accepted (see [`MIN_EDGE_LENGTH`]).
pub const MAX_EDGE_LENGTH: f64 = 1e120;

/// Relative tolerance for two faces agreeing on an edge's length.
pub const EDGE_LENGTH_AGREEMENT: f64 = 1e-9;

/// The outcome of validation and repair: a manifold face list, still in input orientation.
pub(crate) struct CleanFaces<'a> {
    /// Faces (new vertex numbering), in input order of the faces kept: the source's own when nothing
    /// changed.
    pub faces: Cow<'a, [[u32; 3]]>,
    /// Input face index of each kept face.
    pub face_origin: Vec<u32>,
    /// Input vertex index of each new vertex.
    pub vertex_origin: Vec<u32>,
    /// Per-face-side lengths, where the source had them.
    pub face_edge_lengths: Option<Vec<[f64; 3]>>,
    /// Paired face sides: twin[3f+k] = 3g+j or NONE (computed on the final list).
    pub side_twin: Vec<u32>,
    pub repairs: Vec<Repair>,
    /// The corners and references of every vertex, where the pass that paired the sides built them.
    pub corners: Option<(VertexCorners, References)>,
}

/// Runs of sides per parallel task in the edge checks, and how many runs ahead they prefetch.
const RUN_CHUNK: usize = 8192;
const AHEAD: usize = 8;

/// Calls `f` on the first two sides of the run `AHEAD` places after run `r` (if there is one): what a
/// pass over the runs prefetches.
#[inline(always)]
fn ahead_sides(runs: &[u32], sides: &[u32], r: usize, f: impl Fn(u32)) {
    if r + AHEAD + 1 < runs.len() {
        let a = runs[r + AHEAD] as usize;
        sides[a..(a + 2).min(runs[r + AHEAD + 1] as usize)]
            .iter()
            .for_each(|&s| f(s));
    }
}

pub(crate) const NONE: u32 = u32::MAX;

/// Groups face sides by undirected vertex pair. Returns, in order of (lo, hi), the runs of sides
/// (halfedge ids 3f+k) sharing a pair, as offsets into a side list. O(n) counting sort by `lo`.
pub(crate) fn group_sides(vertex_count: usize, faces: &[[u32; 3]]) -> (Vec<u32>, Vec<u32>) {
    let mut count = vec![0u32; vertex_count + 1];
    for f in faces {
        for k in 0..3 {
            let (a, b) = (f[k], f[(k + 1) % 3]);
            count[a.min(b) as usize + 1] += 1;
        }
    }
    for i in 0..vertex_count {
        count[i + 1] += count[i];
    }
    let mut fill = count.clone();
    // (hi, side) pairs bucketed by lo.
    let mut pairs = vec![(0u32, 0u32); faces.len() * 3];
    for (fi, f) in faces.iter().enumerate() {
        for k in 0..3 {
            let (a, b) = (f[k], f[(k + 1) % 3]);
            let lo = a.min(b) as usize;
            let slot = fill[lo] as usize;
            fill[lo] += 1;
            pairs[slot] = (a.max(b), (3 * fi + k) as u32);
        }
    }
    // Sort each bucket by (hi, side), in parallel over blocks of vertices: insertion sort for the usual
    // small buckets (vertex degree), an O(k log k) sort past a few dozen sides (a vertex of valence
    // 100k, a million copies of one face).
    {
        let mut blocks: Vec<(usize, &mut [(u32, u32)])> = Vec::new();
        let mut rest: &mut [(u32, u32)] = &mut pairs;
        let mut v = 0;
        while v < vertex_count {
            let end = (v + 4096).min(vertex_count);
            let len = (count[end] - count[v]) as usize;
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(len);
            blocks.push((v, head));
            rest = tail;
            v = end;
        }
        blocks.into_par_iter().for_each(|(v0, block)| {
            let base = count[v0] as usize;
            let mut v = v0;
            let mut steps = 0u64;
            while v < vertex_count && (count[v] as usize) < base + block.len() {
                let (s, e) = (count[v] as usize - base, count[v + 1] as usize - base);
                if e - s <= 32 {
                    for i in s + 1..e {
                        let mut j = i;
                        while j > s && block[j - 1] > block[j] {
                            block.swap(j - 1, j);
                            j -= 1;
                            steps += 1;
                        }
                        steps += 1;
                    }
                } else {
                    block[s..e].sort_unstable_by(|a, b| {
                        steps += 1;
                        a.cmp(b)
                    });
                }
                v += 1;
            }
            work::add(Work::Sides, steps);
        });
    }
    let mut run_offsets = Vec::with_capacity(faces.len() * 3 / 2 + 1);
    for v in 0..vertex_count {
        let (s, e) = (count[v] as usize, count[v + 1] as usize);
        for i in s..e {
            if i == s || pairs[i].0 != pairs[i - 1].0 {
                run_offsets.push(i as u32);
            }
        }
    }
    let sides: Vec<u32> = pairs.into_iter().map(|p| p.1).collect();
    run_offsets.push(sides.len() as u32);
    (run_offsets, sides)
}

fn side_vertices(faces: &[[u32; 3]], side: u32) -> (u32, u32) {
    let f = &faces[(side / 3) as usize];
    let k = (side % 3) as usize;
    (f[k], f[(k + 1) % 3])
}

/// Twice the area of a triangle with side lengths `l` over its longest side squared: the geometry's own
/// area ([`triangle_area`]), so a face passes exactly when the quantities every later stage divides by
/// are positive. Lengths must lie in [`MIN_EDGE_LENGTH`, `MAX_EDGE_LENGTH`].
fn twice_area_ratio(l: [f64; 3]) -> f64 {
    let a = l[0].max(l[1]).max(l[2]);
    2.0 * triangle_area(l) / (a * a)
}

/// Whether a face certainly passes both tests of [`check_lengths`] (lengths in range, relative area
/// above [`ZERO_AREA_RELATIVE`]), from its positions' squared quantities (no square roots). `false`
/// decides nothing: overflow, underflow and thin faces take the exact test on the lengths.
#[inline]
fn clearly_fine(p: &[[f64; 3]], f: [u32; 3]) -> bool {
    let (sides, cr) = side_vectors(p, f);
    let l2 = sides.map(norm2);
    let (lo, hi) = (l2[0].min(l2[1]).min(l2[2]), l2[0].max(l2[1]).max(l2[2]));
    // The position ratio |cr| / l² must exceed FAST_RATIO: rounding the lengths changes a triangle's
    // area by a relative ~ε/r² (a sliver's is the worst case), under 1e-3 there, so the lengths' ratio
    // is far above ZERO_AREA_RELATIVE. Products that overflow or underflow compare false.
    lo >= MIN_EDGE_LENGTH * MIN_EDGE_LENGTH
        && hi <= MAX_EDGE_LENGTH * MAX_EDGE_LENGTH
        && norm2(cr) > FAST_RATIO * FAST_RATIO * (hi * hi)
}

/// See [`clearly_fine`].
const FAST_RATIO: f64 = 1e-6;

/// The length of a side from positions, exactly as the mesh computes its edge lengths (the same
/// operations in the same order, symmetric in its ends: the geometry sees these very numbers).
#[inline]
pub(crate) fn position_length(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// The distance between two points without intermediate overflow or underflow (for messages about
/// lengths out of range, where [`position_length`] gives inf or 0).
fn scaled_length(a: [f64; 3], b: [f64; 3]) -> f64 {
    let d = [0, 1, 2].map(|k| a[k] - b[k]);
    let m = d.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if m == 0.0 || !m.is_finite() {
        return m;
    }
    m * d.iter().map(|x| (x / m).powi(2)).sum::<f64>().sqrt()
}

/// The one rule for a face's lengths (given, or computed from positions by [`position_length`]): each
/// in [`MIN_EDGE_LENGTH`, `MAX_EDGE_LENGTH`], and twice the area over the longest side squared above
/// [`ZERO_AREA_RELATIVE`]. `Err(Some(side))`: that side is out of range; `Err(None)`: flat.
fn check_lengths(l: [f64; 3]) -> std::result::Result<(), Option<usize>> {
    if let Some(k) = (0..3).find(|&k| !(MIN_EDGE_LENGTH..=MAX_EDGE_LENGTH).contains(&l[k])) {
        return Err(Some(k));
    }
    if twice_area_ratio(l) > ZERO_AREA_RELATIVE {
        Ok(())
    } else {
        Err(None)
    }
}

/// The side vectors of a face (corner k to corner k + 1) and the cross product of the first and last.
#[inline]
fn side_vectors(p: &[[f64; 3]], f: [u32; 3]) -> ([[f64; 3]; 3], [f64; 3]) {
    let d = |i: usize, j: usize| {
        let (a, b) = (p[f[i] as usize], p[f[j] as usize]);
        [b[0] - a[0], b[1] - a[1], b[2] - a[2]]
    };
    let (e0, e1, e2) = (d(0, 1), d(1, 2), d(2, 0));
    let cr = [
        e0[1] * e2[2] - e0[2] * e2[1],
        e0[2] * e2[0] - e0[0] * e2[2],
        e0[0] * e2[1] - e0[1] * e2[0],
    ];
    ([e0, e1, e2], cr)
}

#[inline]
fn norm2(e: [f64; 3]) -> f64 {
    e[0] * e[0] + e[1] * e[1] + e[2] * e[2]
}

/// The error for a repair that left no face: how many faces each kind of defect removed, and the
/// first of each (input numbering).
fn all_dropped(repairs: &[Repair]) -> Error {
    let mut kinds: Vec<(&'static str, usize, usize)> = Vec::new();
    for r in repairs {
        let (kind, face) = match *r {
            Repair::DroppedNonFiniteFace { face } => ("with a non-finite coordinate", face),
            Repair::DroppedRepeatedVertexFace { face } => ("with a repeated vertex", face),
            Repair::DroppedZeroAreaFace { face } => ("of zero area", face),
            Repair::DroppedOutOfRangeFace { face } => ("with an edge length out of range", face),
            Repair::DroppedDuplicateFace { face, .. } => ("duplicating an earlier face", face),
            Repair::DroppedNonManifoldFace { face } => ("that could not be made manifold", face),
            _ => continue,
        };
        match kinds.iter_mut().find(|k| k.0 == kind) {
            Some(k) => k.1 += 1,
            None => kinds.push((kind, 1, face)),
        }
    }
    if kinds.is_empty() {
        return Error::EmptyMesh;
    }
    let defects = kinds
        .iter()
        .map(|(kind, count, first)| format!("{count} face(s) {kind} (first: face {first})"))
        .collect::<Vec<_>>()
        .join(", ");
    Error::AllFacesDropped { defects }
}

/// Validates (and in repair mode, repairs) a source into a manifold face list.
///
/// Fans around vertices are analysed only when `check_fans` is set or a non-manifold edge was found:
/// the mesh assembly detects a vertex with several fans on its own (its star walk does not reach every
/// corner) and then calls again with `check_fans`.
pub(crate) fn clean<'a>(
    source: &'a MeshSource,
    options: &BuildOptions,
    check_fans: bool,
) -> Result<CleanFaces<'a>> {
    let repair = options.repair;
    let n = source.vertex_count;
    if source.faces.is_empty() {
        return Err(Error::EmptyMesh);
    }
    if n > (u32::MAX / 2) as usize || source.faces.len() > (u32::MAX / 4) as usize {
        return Err(Error::InvalidParameter {
            name: "mesh size",
            message: format!(
                "{} vertices and {} faces exceed the u32 index range",
                n,
                source.faces.len()
            ),
        });
    }
    if let Some(p) = &source.positions {
        if p.len() != n {
            return Err(Error::MissingGeometry {
                message: format!("{} positions for {} vertices", p.len(), n),
            });
        }
    }
    if let Some(l) = &source.face_edge_lengths {
        if l.len() != source.faces.len() {
            return Err(Error::MissingGeometry {
                message: format!(
                    "edge lengths for {} faces, but {} faces",
                    l.len(),
                    source.faces.len()
                ),
            });
        }
    } else if source.positions.is_none() {
        return Err(Error::MissingGeometry {
            message: "neither positions nor edge lengths were given".into(),
        });
    }
    for (fi, f) in source.faces.iter().enumerate() {
        for &i in f {
            if i as usize >= n {
                return Err(Error::FaceIndexOutOfRange {
                    face: fi,
                    line: source.face_line(fi),
                    index: i as i64,
                    vertices: n,
                });
            }
        }
    }
    let mut repairs = Vec::new();
    let mut keep = vec![true; source.faces.len()];

    // Non-finite coordinates.
    if let Some(p) = &source.positions {
        let finite = |x: &[f64; 3]| x.iter().all(|c| c.is_finite());
        if let Some(v) = first_where(p.len(), |v| !finite(&p[v])) {
            if !repair {
                return Err(Error::NonFiniteCoordinate {
                    vertex: v,
                    line: source.vertex_line(v),
                });
            }
            for (fi, f) in source.faces.iter().enumerate() {
                if f.iter().any(|&i| !finite(&p[i as usize])) {
                    keep[fi] = false;
                    repairs.push(Repair::DroppedNonFiniteFace { face: fi });
                }
            }
        }
    }
    // Degenerate faces: repeated vertex, invalid lengths, lengths out of range, zero area (checked in
    // parallel, reported in face order). One rule on the lengths the geometry will use: see
    // `check_lengths`.
    enum Check {
        Fine,
        Repeated(u32),
        BadLength(usize),
        OutOfRange(usize, f64),
        Thin,
    }
    let check = |fi: usize| {
        let f = source.faces[fi];
        if f[0] == f[1] || f[0] == f[2] {
            return Check::Repeated(f[0]);
        }
        if f[1] == f[2] {
            return Check::Repeated(f[1]);
        }
        let verdict = if let Some(ls) = &source.face_edge_lengths {
            let l = ls[fi];
            if let Some(side) = (0..3).find(|&k| !(l[k].is_finite() && l[k] > 0.0)) {
                return Check::BadLength(side);
            }
            check_lengths(l).map_err(|e| e.map(|k| (k, l[k])))
        } else {
            let p = source.positions.as_ref().unwrap();
            // The corners lie anywhere: ask for those of a face a few places on (the search runs
            // through each chunk of faces in order).
            if let Some(ahead) = source.faces.get(fi + 8) {
                ahead
                    .iter()
                    .for_each(|&v| prefetch_ptr(p.as_ptr().wrapping_add(v as usize)));
            }
            if clearly_fine(p, f) {
                return Check::Fine;
            }
            let ends = |k: usize| (p[f[k] as usize], p[f[(k + 1) % 3] as usize]);
            let l = [0, 1, 2].map(|k| {
                let (a, b) = ends(k);
                position_length(a, b)
            });
            check_lengths(l).map_err(|e| {
                e.map(|k| {
                    let (a, b) = ends(k);
                    (k, scaled_length(a, b))
                })
            })
        };
        match verdict {
            Ok(()) => Check::Fine,
            Err(Some((side, length))) => Check::OutOfRange(side, length),
            Err(None) => Check::Thin,
        }
    };
    // Almost every mesh has no degenerate face: find the first one in parallel, report from there.
    let first_bad = first_where(source.faces.len(), |fi| !matches!(check(fi), Check::Fine))
        .unwrap_or(source.faces.len());
    for fi in first_bad..source.faces.len() {
        if !keep[fi] {
            continue;
        }
        let (error, repaired) = match check(fi) {
            Check::Fine => continue,
            Check::Repeated(v) => (
                Error::RepeatedVertexInFace {
                    face: fi,
                    line: source.face_line(fi),
                    vertex: v as usize,
                },
                Repair::DroppedRepeatedVertexFace { face: fi },
            ),
            Check::BadLength(side) => (
                Error::InvalidEdgeLength {
                    face: fi,
                    side,
                    length: source.face_edge_lengths.as_ref().unwrap()[fi][side],
                },
                Repair::DroppedZeroAreaFace { face: fi },
            ),
            Check::OutOfRange(side, length) => (
                Error::EdgeLengthOutOfRange {
                    face: fi,
                    line: source.face_line(fi),
                    side,
                    length,
                },
                Repair::DroppedOutOfRangeFace { face: fi },
            ),
            Check::Thin => (
                match &source.face_edge_lengths {
                    Some(ls) => Error::TriangleInequality {
                        face: fi,
                        lengths: ls[fi],
                    },
                    None => Error::ZeroAreaFace {
                        face: fi,
                        line: source.face_line(fi),
                    },
                },
                Repair::DroppedZeroAreaFace { face: fi },
            ),
        };
        if !repair {
            return Err(error);
        }
        keep[fi] = false;
        repairs.push(repaired);
    }

    // Nothing dropped (the common case): the source's faces as they are.
    let (mut face_origin, mut faces): (Vec<u32>, Cow<[[u32; 3]]>) = if repairs.is_empty() {
        let all = (0..source.faces.len() as u32).into_par_iter().collect();
        (all, Cow::Borrowed(&source.faces))
    } else {
        let kept: Vec<u32> = (0..source.faces.len() as u32)
            .filter(|&f| keep[f as usize])
            .collect();
        let faces = kept.iter().map(|&f| source.faces[f as usize]).collect();
        (kept, Cow::Owned(faces))
    };
    let mut vertex_origin: Vec<u32> = (0..n as u32).into_par_iter().collect();
    if faces.is_empty() {
        return Err(all_dropped(&repairs));
    }

    // The usual mesh (positions, every edge with one or two sides, no duplicate face, one fan per
    // vertex) is paired through the corner lists; anything else takes the general passes below, which
    // name and repair what they find. Intrinsic lengths take them too: they check that sides agree.
    if source.face_edge_lengths.is_none() && !check_fans {
        let corners = VertexCorners::new(n, &faces);
        if let Some(pairing) = corners::pair_sides(&faces, &corners) {
            let clean = CleanFaces {
                faces,
                face_origin,
                vertex_origin,
                face_edge_lengths: None,
                side_twin: pairing.twin,
                repairs,
                corners: Some((corners, pairing.references)),
            };
            return finish(source, clean, repair, None);
        }
    }

    // Duplicate faces (same vertex set, either orientation). Two copies of a face put two sides with
    // the same opposite vertex on one edge, or three or more sides on it; only if some edge shows that
    // is the exact pass (one O(n log n) sort of all faces) run. Comparing the sides of a crowded edge
    // pairwise instead would be quadratic (200k faces on one edge).
    let mut grouped = Some(group_sides(n, &faces));
    let suspicious = {
        let (runs, sides) = grouped.as_ref().unwrap();
        let third = |s: u32| faces[(s / 3) as usize][(s as usize % 3 + 2) % 3];
        let nr = runs.len() - 1;
        work::add(Work::Sides, nr as u64);
        (0..nr.div_ceil(RUN_CHUNK)).into_par_iter().any(|chunk| {
            (chunk * RUN_CHUNK..((chunk + 1) * RUN_CHUNK).min(nr)).any(|r| {
                // The sides' faces lie anywhere: ask for those of a run a few places ahead.
                ahead_sides(runs, sides, r, |s| prefetch(&faces[(s / 3) as usize]));
                match sides[runs[r] as usize..runs[r + 1] as usize] {
                    [_] => false,
                    [a, b] => third(a) == third(b),
                    _ => true,
                }
            })
        })
    };
    if suspicious {
        let mut keyed: Vec<([u32; 3], u32)> = faces
            .iter()
            .zip(&face_origin)
            .map(|(f, &fi)| {
                let mut s = *f;
                s.sort_unstable();
                (s, fi)
            })
            .collect();
        keyed.par_sort_unstable();
        work::add(Work::Sides, keyed.len() as u64);
        // Sorted by (vertex set, face index): the first of each run is the copy kept.
        let mut first_dup: Option<(usize, usize)> = None;
        let mut i = 0;
        while i < keyed.len() {
            let mut j = i + 1;
            while j < keyed.len() && keyed[j].0 == keyed[i].0 {
                let (later, first) = (keyed[j].1 as usize, keyed[i].1 as usize);
                if repair {
                    keep[later] = false;
                    repairs.push(Repair::DroppedDuplicateFace { face: later, first });
                } else if first_dup.is_none_or(|(l, _)| later < l) {
                    first_dup = Some((later, first));
                }
                j += 1;
            }
            i = j;
        }
        if let Some((face, first)) = first_dup {
            return Err(Error::DuplicateFace {
                face,
                first,
                line: source.face_line(face),
            });
        }
        face_origin.retain(|&f| keep[f as usize]);
        faces = Cow::Owned(
            face_origin
                .iter()
                .map(|&f| source.faces[f as usize])
                .collect(),
        );
        grouped = None;
    }

    // Edge lengths must agree between faces sharing an edge (never repaired: it is ambiguous). The
    // geometry takes one length per edge, so where they differ (within the tolerance) every side of the
    // edge gets the first side's, and the faces that changed are checked again by the one rule: a thin
    // face valid with its own length may be flat with its neighbour's.
    let mut unified: Option<Vec<[f64; 3]>> = None;
    if let Some(ls) = &source.face_edge_lengths {
        let (runs, sides) = grouped.get_or_insert_with(|| group_sides(n, &faces));
        let mut changed = Vec::new();
        for r in runs.windows(2) {
            let run = &sides[r[0] as usize..r[1] as usize];
            let at = |s: u32| (face_origin[(s / 3) as usize] as usize, (s % 3) as usize);
            let len = |s: u32| {
                let (f, k) = at(s);
                ls[f][k]
            };
            let l0 = len(run[0]);
            for &s in &run[1..] {
                let l = len(s);
                if (l - l0).abs() > EDGE_LENGTH_AGREEMENT * l0.max(l) {
                    let (a, b) = side_vertices(&faces, run[0]);
                    return Err(Error::InconsistentEdgeLength {
                        edge: (a.min(b) as usize, a.max(b) as usize),
                        lengths: (l0, l),
                    });
                }
                if l != l0 {
                    let (f, k) = at(s);
                    unified.get_or_insert_with(|| ls.clone())[f][k] = l0;
                    changed.push(f);
                }
            }
        }
        changed.sort_unstable();
        changed.dedup();
        for f in changed {
            let l = unified.as_ref().unwrap()[f];
            match check_lengths(l) {
                Ok(()) => {}
                Err(Some(side)) => {
                    return Err(Error::EdgeLengthOutOfRange {
                        face: f,
                        line: source.face_line(f),
                        side,
                        length: l[side],
                    })
                }
                Err(None) => {
                    return Err(Error::TriangleInequality {
                        face: f,
                        lengths: l,
                    })
                }
            }
        }
    }

    // Non-manifold edges and vertices: cut, split, and if that is not enough, drop.
    let mut split_edges = std::collections::HashSet::new();
    for round in 0..6 {
        let nv = vertex_origin.len();
        let (runs, sides) = grouped.take().unwrap_or_else(|| group_sides(nv, &faces));
        let mut twin = vec![NONE; faces.len() * 3];
        let mut bad_edge = false;
        let mut dropped = Vec::new();
        let nr = runs.len() - 1;
        let crowded = runs.par_windows(2).any(|r| r[1] - r[0] >= 3);
        if !crowded {
            // Every edge has one or two sides (the usual case): pair them in parallel.
            let pairs = DisjointWrites::new(&mut twin);
            (0..nr.div_ceil(RUN_CHUNK))
                .into_par_iter()
                .for_each(|chunk| {
                    for r in chunk * RUN_CHUNK..((chunk + 1) * RUN_CHUNK).min(nr) {
                        ahead_sides(&runs, &sides, r, |s| pairs.prefetch(s as usize));
                        let run = &sides[runs[r] as usize..runs[r + 1] as usize];
                        if let [a, b] = *run {
                            // SAFETY: each side belongs to exactly one run, so no other task writes
                            // twin[a] or twin[b].
                            unsafe {
                                pairs.write(a as usize, &[b]);
                                pairs.write(b as usize, &[a]);
                            }
                        }
                    }
                });
        }
        for r in runs.windows(2).filter(|_| crowded) {
            let run = &sides[r[0] as usize..r[1] as usize];
            if run.len() >= 3 {
                let (a, b) = side_vertices(&faces, run[0]);
                let (a, b) = (
                    vertex_origin[a as usize] as usize,
                    vertex_origin[b as usize] as usize,
                );
                if !repair {
                    return Err(Error::NonManifoldEdge {
                        edge: (a.min(b), a.max(b)),
                        faces: run.len(),
                    });
                }
                bad_edge = true;
                if round < 3 {
                    // First try splitting: the pages past the first two usually form fans of their own.
                    let r = Repair::SplitNonManifoldEdge {
                        edge: (a.min(b), a.max(b)),
                        faces: run.len(),
                    };
                    // Once per edge and size over the rounds (a set: `repairs.contains` would be
                    // quadratic in the number of crowded edges).
                    if split_edges.insert((a.min(b), a.max(b), run.len())) {
                        repairs.push(r);
                    }
                } else {
                    // Last resort: the faces past the first two go.
                    dropped.extend(run[2..].iter().map(|&s| (s / 3) as usize));
                }
            }
            if run.len() >= 2 {
                twin[run[0] as usize] = run[1];
                twin[run[1] as usize] = run[0];
            }
        }
        if round >= 3 && bad_edge {
            dropped.sort_unstable();
            dropped.dedup();
            for &f in &dropped {
                repairs.push(Repair::DroppedNonManifoldFace {
                    face: face_origin[f] as usize,
                });
                faces.to_mut()[f] = [NONE; 3];
            }
            let kept: Vec<usize> = (0..faces.len()).filter(|&f| faces[f][0] != NONE).collect();
            face_origin = kept.iter().map(|&f| face_origin[f]).collect();
            faces = Cow::Owned(kept.iter().map(|&f| faces[f]).collect());
            if faces.is_empty() {
                return Err(all_dropped(&repairs));
            }
            continue;
        }
        // Fans: union corners of each vertex across paired sides (only when something may be wrong:
        // the mesh assembly detects a vertex with several fans by itself).
        let (fans, fan_count) = if bad_edge || check_fans {
            let fans = vertex_fans(nv, &faces, &twin);
            let mut fan_count = vec![0u32; nv];
            for (c, &fan) in fans.iter().enumerate() {
                let v = faces[c / 3][c % 3] as usize;
                fan_count[v] = fan_count[v].max(fan + 1);
            }
            (fans, fan_count)
        } else {
            (Vec::new(), vec![1; nv])
        };
        let split: Vec<usize> = (0..nv).filter(|&v| fan_count[v] > 1).collect();
        if split.is_empty() && !bad_edge {
            let clean = CleanFaces {
                faces,
                face_origin,
                vertex_origin,
                face_edge_lengths: None,
                side_twin: twin,
                repairs,
                corners: None,
            };
            return finish(source, clean, repair, unified.as_deref());
        }
        if let Some(&v) = split.first() {
            if !repair {
                return Err(Error::NonManifoldVertex {
                    vertex: vertex_origin[v] as usize,
                    fans: fan_count[v] as usize,
                });
            }
        }
        // Split: fan 0 keeps the vertex, fan k > 0 gets a new copy.
        let mut copy_base = vec![NONE; nv];
        for &v in &split {
            repairs.push(Repair::SplitNonManifoldVertex {
                vertex: vertex_origin[v] as usize,
                fans: fan_count[v] as usize,
            });
            copy_base[v] = vertex_origin.len() as u32;
            for _ in 1..fan_count[v] {
                vertex_origin.push(vertex_origin[v]);
            }
        }
        let split_faces = faces.to_mut();
        for (c, &fan) in fans.iter().enumerate() {
            let v = split_faces[c / 3][c % 3] as usize;
            if fan > 0 {
                split_faces[c / 3][c % 3] = copy_base[v] + fan - 1;
            }
        }
    }
    Err(Error::InvalidParameter {
        name: "mesh",
        message: "repair could not make the mesh manifold".into(),
    })
}

/// For each corner (3f+k), the index of its fan among the fans of its vertex (0 for the fan of the
/// vertex's lowest corner, then in order of lowest corner).
fn vertex_fans(nv: usize, faces: &[[u32; 3]], twin: &[u32]) -> Vec<u32> {
    // Union-find over corners: corners of the same vertex in faces adjacent across a paired side.
    let nc = faces.len() * 3;
    let mut parent: Vec<u32> = (0..nc as u32).collect();
    fn find(p: &mut [u32], mut x: u32) -> u32 {
        while p[x as usize] != x {
            p[x as usize] = p[p[x as usize] as usize];
            x = p[x as usize];
        }
        x
    }
    for s in 0..nc {
        let t = twin[s];
        if t == NONE || (t as usize) < s {
            continue;
        }
        let (fs, ks) = (s / 3, s % 3);
        let (ft, kt) = ((t / 3) as usize, (t % 3) as usize);
        for kk in [ks, (ks + 1) % 3] {
            let v = faces[fs][kk];
            let j = (0..3).find(|&j| faces[ft][j] == v).unwrap_or(kt);
            let (a, b) = (
                find(&mut parent, (3 * fs + kk) as u32),
                find(&mut parent, (3 * ft + j) as u32),
            );
            if a != b {
                let (lo, hi) = (a.min(b), a.max(b));
                parent[hi as usize] = lo;
            }
        }
    }
    let mut fan = vec![0u32; nc];
    let mut next_fan = vec![0u32; nv];
    let mut root_fan = vec![NONE; nc];
    for c in 0..nc {
        let r = find(&mut parent, c as u32) as usize;
        if root_fan[r] == NONE {
            let v = faces[c / 3][c % 3] as usize;
            root_fan[r] = next_fan[v];
            next_fan[v] += 1;
        }
        fan[c] = root_fan[r];
    }
    fan
}

/// Checks for unreferenced vertices (dropping them in repair mode) and carries the edge lengths over.
/// `lengths`: per input face, the side lengths unified across shared edges, where they differed.
fn finish<'a>(
    source: &MeshSource,
    mut clean: CleanFaces<'a>,
    repair: bool,
    lengths: Option<&[[f64; 3]]>,
) -> Result<CleanFaces<'a>> {
    let nv = clean.vertex_origin.len();
    let unused = match &clean.corners {
        Some((corners, _)) => first_where(nv, |v| corners.of(v).is_empty()),
        None => {
            let mut used = vec![false; nv];
            for &v in clean.faces.iter().flatten() {
                used[v as usize] = true;
            }
            used.iter().position(|&u| !u)
        }
    };
    if let Some(first) = unused {
        if !repair {
            let v = clean.vertex_origin[first] as usize;
            return Err(Error::UnreferencedVertex {
                vertex: v,
                line: source.vertex_line(v),
            });
        }
        let mut used = vec![false; nv];
        for &v in clean.faces.iter().flatten() {
            used[v as usize] = true;
        }
        let mut new_index = vec![NONE; nv];
        let mut origin = Vec::with_capacity(nv);
        for v in 0..nv {
            if used[v] {
                new_index[v] = origin.len() as u32;
                origin.push(clean.vertex_origin[v]);
            } else {
                clean.repairs.push(Repair::DroppedUnreferencedVertex {
                    vertex: clean.vertex_origin[v] as usize,
                });
            }
        }
        clean.faces = Cow::Owned(
            clean
                .faces
                .iter()
                .map(|f| f.map(|v| new_index[v as usize]))
                .collect(),
        );
        clean.vertex_origin = origin;
        // The lists were numbered by the old vertices.
        clean.corners = None;
    }
    clean.face_edge_lengths = lengths
        .or(source.face_edge_lengths.as_deref())
        .map(|ls| clean.face_origin.iter().map(|&f| ls[f as usize]).collect());
    Ok(clean)
}
