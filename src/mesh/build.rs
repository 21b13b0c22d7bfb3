//! Validation and repair: from a [`MeshSource`] to a clean, manifold face list.
//!
//! Checks run in a fixed order and, in strict mode, the first defect found is returned as an
//! [`Error`] naming the element (input numbering). With [`BuildOptions::repair`](field@BuildOptions::repair) each defect that can be
//! fixed safely is fixed and recorded as a [`Repair`].

mod duplicates;
mod faces;
mod finish;
mod input;
mod lengths;
mod manifold;
mod sides;

pub(crate) use faces::position_length;
#[cfg(test)]
pub(crate) use sides::group_sides;

use super::corners::{self, References, VertexCorners};
use super::MeshSource;
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::borrow::Cow;

/// Options for [`Mesh::build`](super::Mesh::build).
///
/// Made with [`BuildOptions::new`] (or `default()`: strict) and the builder-style setter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildOptions {
    /// Fix what can be fixed safely (drop degenerate and duplicate faces, split non-manifold edges and
    /// vertices, drop unreferenced vertices) instead of failing on the first defect. Faces are always
    /// oriented consistently where possible; that is not a repair.
    pub repair: bool,
}

impl BuildOptions {
    /// The default options: strict (the first defect is an error).
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::mesh::BuildOptions;
    /// const REPAIR: BuildOptions = BuildOptions::new().repair(true);
    /// assert!(REPAIR.repair);
    /// assert!(!BuildOptions::new().repair);
    /// ```
    pub const fn new() -> BuildOptions {
        BuildOptions { repair: false }
    }

    /// These options repairing what can be repaired (`true`) or strict (`false`).
    pub const fn repair(mut self, repair: bool) -> BuildOptions {
        self.repair = repair;
        self
    }
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

pub(crate) const NONE: u32 = u32::MAX;

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

/// A face list in the middle of cleaning: what each step takes and hands on.
struct Cleaning<'a> {
    source: &'a MeshSource,
    repair: bool,
    /// Per input face: still kept.
    keep: Vec<bool>,
    /// The faces kept (new vertex numbering): the source's own while nothing changed.
    faces: Cow<'a, [[u32; 3]]>,
    /// Input face index of each kept face.
    face_origin: Vec<u32>,
    /// Input vertex index of each vertex (split vertices are appended).
    vertex_origin: Vec<u32>,
    repairs: Vec<Repair>,
    /// The sides grouped by edge ([`sides::group_sides`]) for the current `faces`, where computed.
    grouped: Option<(Vec<u32>, Vec<u32>)>,
}

impl<'a> Cleaning<'a> {
    /// The faces `keep` marks, in input order; an error naming what removed them if none is left.
    fn keeping(
        source: &'a MeshSource,
        repair: bool,
        keep: Vec<bool>,
        repairs: Vec<Repair>,
    ) -> Result<Cleaning<'a>> {
        // Nothing dropped (the common case): the source's faces as they are.
        let (face_origin, faces): (Vec<u32>, Cow<[[u32; 3]]>) = if repairs.is_empty() {
            let all = (0..source.faces.len() as u32).into_par_iter().collect();
            (all, Cow::Borrowed(&source.faces))
        } else {
            let kept: Vec<u32> = (0..source.faces.len() as u32)
                .filter(|&f| keep[f as usize])
                .collect();
            let faces = kept.iter().map(|&f| source.faces[f as usize]).collect();
            (kept, Cow::Owned(faces))
        };
        if faces.is_empty() {
            return Err(all_dropped(&repairs));
        }
        Ok(Cleaning {
            source,
            repair,
            keep,
            faces,
            face_origin,
            vertex_origin: (0..source.vertex_count as u32).into_par_iter().collect(),
            repairs,
            grouped: None,
        })
    }
}

/// Validates (and in repair mode, repairs) a source into a manifold face list: the source's shape,
/// then each face, duplicate faces, agreement of intrinsic lengths, manifold edges and vertices, and
/// unreferenced vertices, in that order.
///
/// Fans around vertices are analysed only when `check_fans` is set or a non-manifold edge was found:
/// the mesh assembly detects a vertex with several fans on its own (its star walk does not reach every
/// corner) and then calls again with `check_fans`.
pub(crate) fn clean<'a>(
    source: &'a MeshSource,
    options: &BuildOptions,
    check_fans: bool,
) -> Result<CleanFaces<'a>> {
    input::check_source(source)?;
    let mut repairs = Vec::new();
    let keep = faces::check_faces(source, options.repair, &mut repairs)?;
    let mut c = Cleaning::keeping(source, options.repair, keep, repairs)?;

    // The usual mesh (positions, every edge with one or two sides, no duplicate face, one fan per
    // vertex) is paired through the corner lists; anything else takes the general steps below, which
    // name and repair what they find. Intrinsic lengths take them too: they check that sides agree.
    if source.face_edge_lengths.is_none() && !check_fans {
        let corners = VertexCorners::new(c.vertex_origin.len(), &c.faces);
        if let Some(pairing) = corners::pair_sides(&c.faces, &corners) {
            return finish::finish(c, pairing.twin, Some((corners, pairing.references)), None);
        }
    }
    duplicates::drop_duplicates(&mut c)?;
    let unified = lengths::unify_lengths(&mut c)?;
    let twin = manifold::make_manifold(&mut c, check_fans)?;
    finish::finish(c, twin, None, unified.as_deref())
}
