//! Intrinsic lengths: every side of an edge must give it the same length (never repaired: which one is
//! right is ambiguous).

use super::faces::check_lengths;
use super::sides::{group_sides, side_vertices};
use super::{Cleaning, EDGE_LENGTH_AGREEMENT};
use crate::error::{Error, Result};

/// Checks that the sides of each edge agree on its length within [`EDGE_LENGTH_AGREEMENT`]. The
/// geometry takes one length per edge, so where they differ (within the tolerance) every side of the
/// edge gets the first side's, and the faces that changed are checked again by the one rule: a thin
/// face valid with its own length may be flat with its neighbour's.
///
/// Returns the per-input-face lengths so unified, where any changed.
pub(super) fn unify_lengths(c: &mut Cleaning) -> Result<Option<Vec<[f64; 3]>>> {
    let Some(ls) = &c.source.face_edge_lengths else {
        return Ok(None);
    };
    let nv = c.vertex_origin.len();
    let (runs, sides) = c.grouped.get_or_insert_with(|| group_sides(nv, &c.faces));
    let mut unified: Option<Vec<[f64; 3]>> = None;
    let mut changed = Vec::new();
    let at = |s: u32| (c.face_origin[(s / 3) as usize] as usize, (s % 3) as usize);
    for r in runs.windows(2) {
        let run = &sides[r[0] as usize..r[1] as usize];
        let len = |s: u32| {
            let (f, k) = at(s);
            ls[f][k]
        };
        let l0 = len(run[0]);
        for &s in &run[1..] {
            let l = len(s);
            if (l - l0).abs() > EDGE_LENGTH_AGREEMENT * l0.max(l) {
                let (a, b) = side_vertices(&c.faces, run[0]);
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
    if let Some(u) = &unified {
        for f in changed {
            let l = u[f];
            match check_lengths(l) {
                Ok(()) => {}
                Err(Some(side)) => {
                    return Err(Error::EdgeLengthOutOfRange {
                        face: f,
                        line: c.source.face_line(f),
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
    Ok(unified)
}
