//! Duplicate faces: the same three vertices, in either orientation.

use super::super::work::{self, Work};
use super::sides::{ahead_sides, group_sides, opposite_vertex, RUN_CHUNK};
use super::{Cleaning, Repair};
use crate::error::{Error, Result};
use crate::prefetch::prefetch;
use rayon::prelude::*;
use std::borrow::Cow;

/// Drops (with repair) or reports the later copies of every face.
///
/// Two copies of a face put two sides with the same opposite vertex on one edge, or three or more
/// sides on it; only if some edge shows that is the exact pass (one O(n log n) sort of all faces) run.
/// Comparing the sides of a crowded edge pairwise instead would be quadratic (200k faces on one edge).
pub(super) fn drop_duplicates(c: &mut Cleaning) -> Result<()> {
    let nv = c.vertex_origin.len();
    let (runs, sides) = c.grouped.get_or_insert_with(|| group_sides(nv, &c.faces));
    if !any_suspicious_edge(&c.faces, runs, sides) {
        return Ok(());
    }
    let mut keyed: Vec<([u32; 3], u32)> = c
        .faces
        .iter()
        .zip(&c.face_origin)
        .map(|(f, &fi)| {
            let mut s = *f;
            s.sort_unstable();
            (s, fi)
        })
        .collect();
    keyed.par_sort_unstable();
    work::add(Work::Sides, keyed.len() as u64);
    // Sorted by (vertex set, face index): the first of each run is the copy kept.
    let copies = || {
        keyed
            .chunk_by(|a, b| a.0 == b.0)
            .filter(|run| run.len() > 1)
    };
    if !c.repair {
        // The earliest face that repeats one before it.
        return match copies()
            .map(|run| (run[1].1 as usize, run[0].1 as usize))
            .min()
        {
            Some((face, first)) => Err(Error::DuplicateFace {
                face,
                first,
                line: c.source.face_line(face),
            }),
            None => Ok(()),
        };
    }
    for run in copies() {
        let first = run[0].1 as usize;
        for &(_, later) in &run[1..] {
            c.keep[later as usize] = false;
            c.repairs.push(Repair::DroppedDuplicateFace {
                face: later as usize,
                first,
            });
        }
    }
    let keep = &c.keep;
    c.face_origin.retain(|&f| keep[f as usize]);
    c.faces = Cow::Owned(
        c.face_origin
            .iter()
            .map(|&f| c.source.faces[f as usize])
            .collect(),
    );
    c.grouped = None;
    Ok(())
}

/// Whether some edge has three or more sides, or two whose faces share the opposite vertex.
fn any_suspicious_edge(faces: &[[u32; 3]], runs: &[u32], sides: &[u32]) -> bool {
    let nr = runs.len() - 1;
    work::add(Work::Sides, nr as u64);
    (0..nr.div_ceil(RUN_CHUNK)).into_par_iter().any(|chunk| {
        (chunk * RUN_CHUNK..((chunk + 1) * RUN_CHUNK).min(nr)).any(|r| {
            // The sides' faces lie anywhere: ask for those of a run a few places ahead.
            ahead_sides(runs, sides, r, |s| prefetch(&faces[(s / 3) as usize]));
            match sides[runs[r] as usize..runs[r + 1] as usize] {
                [_] => false,
                [a, b] => opposite_vertex(faces, a) == opposite_vertex(faces, b),
                _ => true,
            }
        })
    })
}
