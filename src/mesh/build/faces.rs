//! Face by face: non-finite corners and degenerate faces (a repeated vertex, lengths out of range, zero
//! area), by one rule on the lengths every later stage uses.

use super::super::MeshSource;
use super::{Repair, MAX_EDGE_LENGTH, MIN_EDGE_LENGTH, ZERO_AREA_RELATIVE};
use crate::error::{Error, Result};
use crate::geometry::triangle_area;
use crate::par::first_where;
use crate::prefetch::prefetch_ptr;
use nalgebra::Vector3;

/// What [`check_face`] finds wrong with one face.
enum Verdict {
    Fine,
    Repeated(u32),
    BadLength(usize),
    OutOfRange(usize, f64),
    Thin,
}

/// Which input faces to keep after the face-local checks: in strict mode the first defect is the
/// error; with `repair` the faces are dropped and the drops recorded in `repairs`, in face order.
pub(super) fn check_faces(
    source: &MeshSource,
    repair: bool,
    repairs: &mut Vec<Repair>,
) -> Result<Vec<bool>> {
    let mut keep = vec![true; source.faces.len()];
    drop_non_finite(source, repair, &mut keep, repairs)?;
    // Almost every mesh has no degenerate face: find the first one in parallel, report from there.
    let nf = source.faces.len();
    let first_bad =
        first_where(nf, |fi| !matches!(check_face(source, fi), Verdict::Fine)).unwrap_or(nf);
    for fi in first_bad..nf {
        if !keep[fi] {
            continue;
        }
        let (error, repaired) = match check_face(source, fi) {
            Verdict::Fine => continue,
            Verdict::Repeated(v) => (
                Error::RepeatedVertexInFace {
                    face: fi,
                    line: source.face_line(fi),
                    vertex: v as usize,
                },
                Repair::DroppedRepeatedVertexFace { face: fi },
            ),
            Verdict::BadLength(side) => (
                Error::InvalidEdgeLength {
                    face: fi,
                    side,
                    length: source.face_edge_lengths.as_ref().unwrap()[fi][side],
                },
                Repair::DroppedZeroAreaFace { face: fi },
            ),
            Verdict::OutOfRange(side, length) => (
                Error::EdgeLengthOutOfRange {
                    face: fi,
                    line: source.face_line(fi),
                    side,
                    length,
                },
                Repair::DroppedOutOfRangeFace { face: fi },
            ),
            Verdict::Thin => (
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
    Ok(keep)
}

/// Faces touching a vertex with a non-finite coordinate: the first such vertex is the error, or with
/// `repair` every such face is dropped.
fn drop_non_finite(
    source: &MeshSource,
    repair: bool,
    keep: &mut [bool],
    repairs: &mut Vec<Repair>,
) -> Result<()> {
    let Some(p) = &source.positions else {
        return Ok(());
    };
    let finite = |x: &[f64; 3]| x.iter().all(|c| c.is_finite());
    let Some(v) = first_where(p.len(), |v| !finite(&p[v])) else {
        return Ok(());
    };
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
    Ok(())
}

/// One face against the rule of [`check_lengths`], on the source's lengths or those computed from its
/// positions.
fn check_face(source: &MeshSource, fi: usize) -> Verdict {
    let f = source.faces[fi];
    if f[0] == f[1] || f[0] == f[2] {
        return Verdict::Repeated(f[0]);
    }
    if f[1] == f[2] {
        return Verdict::Repeated(f[1]);
    }
    let verdict = if let Some(ls) = &source.face_edge_lengths {
        let l = ls[fi];
        if let Some(side) = (0..3).find(|&k| !(l[k].is_finite() && l[k] > 0.0)) {
            return Verdict::BadLength(side);
        }
        check_lengths(l).map_err(|e| e.map(|k| (k, l[k])))
    } else {
        let p = source.positions.as_ref().unwrap();
        // The corners lie anywhere: ask for those of a face a few places on (the search runs through
        // each chunk of faces in order).
        if let Some(ahead) = source.faces.get(fi + 8) {
            ahead
                .iter()
                .for_each(|&v| prefetch_ptr(p.as_ptr().wrapping_add(v as usize)));
        }
        if clearly_fine(p, f) {
            return Verdict::Fine;
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
        Ok(()) => Verdict::Fine,
        Err(Some((side, length))) => Verdict::OutOfRange(side, length),
        Err(None) => Verdict::Thin,
    }
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
    let corner = |i: usize| Vector3::from(p[f[i] as usize]);
    let (a, b, c) = (corner(0), corner(1), corner(2));
    let (e0, e1, e2) = (b - a, c - b, a - c);
    let l2 = [e0, e1, e2].map(|e| e.norm_squared());
    let (lo, hi) = (l2[0].min(l2[1]).min(l2[2]), l2[0].max(l2[1]).max(l2[2]));
    // The position ratio |e0 × e2| / l² must exceed FAST_RATIO: rounding the lengths changes a
    // triangle's area by a relative ~ε/r² (a sliver's is the worst case), under 1e-3 there, so the
    // lengths' ratio is far above ZERO_AREA_RELATIVE. Products that overflow or underflow compare
    // false.
    lo >= MIN_EDGE_LENGTH * MIN_EDGE_LENGTH
        && hi <= MAX_EDGE_LENGTH * MAX_EDGE_LENGTH
        && e0.cross(&e2).norm_squared() > FAST_RATIO * FAST_RATIO * (hi * hi)
}

/// See [`clearly_fine`].
const FAST_RATIO: f64 = 1e-6;

/// The one rule for a face's lengths (given, or computed from positions by [`position_length`]): each
/// in [`MIN_EDGE_LENGTH`, `MAX_EDGE_LENGTH`], and twice the area over the longest side squared above
/// [`ZERO_AREA_RELATIVE`]. `Err(Some(side))`: that side is out of range; `Err(None)`: flat.
pub(super) fn check_lengths(l: [f64; 3]) -> std::result::Result<(), Option<usize>> {
    if let Some(k) = (0..3).find(|&k| !(MIN_EDGE_LENGTH..=MAX_EDGE_LENGTH).contains(&l[k])) {
        return Err(Some(k));
    }
    if twice_area_ratio(l) > ZERO_AREA_RELATIVE {
        Ok(())
    } else {
        Err(None)
    }
}

/// The length of a side from positions, exactly as the mesh computes its edge lengths (the same
/// operations in the same order, symmetric in its ends: the geometry sees these very numbers).
#[inline]
pub(crate) fn position_length(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// The distance between two points without intermediate overflow or underflow (for messages about
/// lengths out of range, where [`position_length`] gives inf or 0).
fn scaled_length(a: [f64; 3], b: [f64; 3]) -> f64 {
    let d = Vector3::from(a) - Vector3::from(b);
    let m = d.amax();
    if m == 0.0 || !m.is_finite() {
        return m;
    }
    m * (d / m).norm()
}
