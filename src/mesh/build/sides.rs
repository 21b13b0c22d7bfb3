//! Face sides grouped by the edge they lie on: the structure the duplicate, length and manifold steps
//! walk.

use super::super::work::{self, Work};
use rayon::prelude::*;

/// Runs of sides per parallel task in the edge checks, and how many runs ahead they prefetch.
pub(super) const RUN_CHUNK: usize = 8192;
const AHEAD: usize = 8;

/// Calls `f` on the first two sides of the run `AHEAD` places after run `r` (if there is one): what a
/// pass over the runs prefetches.
#[inline(always)]
pub(super) fn ahead_sides(runs: &[u32], sides: &[u32], r: usize, f: impl Fn(u32)) {
    if r + AHEAD + 1 < runs.len() {
        let a = runs[r + AHEAD] as usize;
        sides[a..(a + 2).min(runs[r + AHEAD + 1] as usize)]
            .iter()
            .for_each(|&s| f(s));
    }
}

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
    sort_buckets(&count, &mut pairs);
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

/// Sorts each bucket `pairs[count[v]..count[v + 1]]` by (hi, side), in parallel over blocks of
/// vertices: insertion sort for the usual small buckets (vertex degree), an O(k log k) sort past a few
/// dozen sides (a vertex of valence 100k, a million copies of one face).
fn sort_buckets(count: &[u32], pairs: &mut [(u32, u32)]) {
    const VERTICES_PER_TASK: usize = 4096;
    const INSERTION_SORT_MAX: usize = 32;
    let vertex_count = count.len() - 1;
    let starts: Vec<usize> = (0..vertex_count).step_by(VERTICES_PER_TASK).collect();
    let lens = starts.iter().map(|&v| {
        let end = (v + VERTICES_PER_TASK).min(vertex_count);
        (count[end] - count[v]) as usize
    });
    let blocks = crate::disjoint::split_lengths(pairs, lens);
    starts.into_par_iter().zip(blocks).for_each(|(v0, block)| {
        let base = count[v0] as usize;
        let mut v = v0;
        let mut steps = 0u64;
        while v < vertex_count && (count[v] as usize) < base + block.len() {
            let (s, e) = (count[v] as usize - base, count[v + 1] as usize - base);
            if e - s <= INSERTION_SORT_MAX {
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

/// The two vertices of a side (halfedge id 3f+k), in the face's order.
pub(super) fn side_vertices(faces: &[[u32; 3]], side: u32) -> (u32, u32) {
    let f = &faces[(side / 3) as usize];
    let k = (side % 3) as usize;
    (f[k], f[(k + 1) % 3])
}

/// The vertex of a side's face opposite the side.
pub(super) fn opposite_vertex(faces: &[[u32; 3]], side: u32) -> u32 {
    faces[(side / 3) as usize][(side as usize % 3 + 2) % 3]
}
