//! Work counters: the elementary steps of the loops whose cost depends on valences and duplicates
//! (sorting a vertex's sides, finding the face across an edge in a star walk, finding the corner a
//! geodesic leaves a vertex through). They let tests check that building a mesh and its exp-map table
//! stays O(n log n) on adversarial inputs (one vertex of valence 100k, 200k faces on one edge, a million
//! copies of one face) without timing anything.
//!
//! Counters are global and only ever grow; read them before and after the work of interest. Each
//! parallel task adds its total once (relaxed atomics), so counting costs nothing measurable.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What a counter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Comparisons sorting face sides by edge, and checking runs of sides for duplicate faces.
    Sides,
    /// Entries examined finding the face across an edge in the star walks (and sorting them).
    Stars,
    /// Spokes examined locating the corner a geodesic leaves a vertex through.
    Leave,
}

static COUNTS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

/// The current value of a counter.
pub fn read(w: Work) -> u64 {
    COUNTS[w as usize].load(Relaxed)
}

/// Adds `n` steps to a counter.
#[inline]
pub(crate) fn add(w: Work, n: u64) {
    if n > 0 {
        COUNTS[w as usize].fetch_add(n, Relaxed);
    }
}
