//! Consistent orientation of faces, disturbing the input as little as possible.
//!
//! Faces are first grouped into *patches*: maximal sets connected across edges they already traverse in
//! opposite directions (consistently oriented as given). Patches are then flipped as wholes, by a
//! breadth-first search over the patch graph, so that a mesh oriented consistently on input is never
//! touched, and the orientation seam of a non-orientable mesh stays where the input put it.

use super::build::NONE;
use crate::prefetch::prefetch;
use rayon::prelude::*;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

pub(crate) struct Orientation {
    /// Whether each face is reversed.
    pub flip: Vec<bool>,
    /// Component of each face (components numbered by lowest face).
    pub face_components: Vec<u32>,
    /// Whether each component is orientable.
    pub component_orientable: Vec<bool>,
}

/// Root of `x`: the lowest element of its set. Safe to run while other tasks link sets (see `union`):
/// parent pointers only ever decrease, so any value read, however stale, is an element of the set.
fn find(parent: &[AtomicU32], mut x: u32) -> u32 {
    loop {
        let p = parent[x as usize].load(Relaxed);
        if p == x {
            return x;
        }
        let g = parent[p as usize].load(Relaxed);
        if g != p {
            // Path halving; losing the race to another task's update is harmless.
            let _ = parent[x as usize].compare_exchange_weak(p, g, Relaxed, Relaxed);
        }
        x = g;
    }
}

/// Merges the sets of `a` and `b`, from any number of tasks at once: the higher root is linked below
/// the lower one by a compare-and-swap that fails, and is retried, if that root was linked meanwhile.
fn union(parent: &[AtomicU32], a: u32, b: u32) {
    let (mut a, mut b) = (a, b);
    loop {
        (a, b) = (find(parent, a), find(parent, b));
        if a == b {
            return;
        }
        let (lo, hi) = (a.min(b), a.max(b));
        if parent[hi as usize]
            .compare_exchange(hi, lo, Relaxed, Relaxed)
            .is_ok()
        {
            return;
        }
    }
}

/// Sides per parallel task.
const CHUNK: usize = 3 * 8192;

pub(crate) fn orient(faces: &[[u32; 3]], twin: &[u32]) -> Orientation {
    let nf = faces.len();
    let side = |s: usize| {
        let f = &faces[s / 3];
        (f[s % 3], f[(s % 3 + 1) % 3])
    };
    let parent: Vec<AtomicU32> = (0..nf as u32).into_par_iter().map(AtomicU32::new).collect();
    // Join faces that meet with opposite directions on their shared edge (consistently oriented);
    // collect the pairs that meet with the same direction, in side order.
    let against: Vec<(u32, u32)> = (0..twin.len().div_ceil(CHUNK))
        .into_par_iter()
        .flat_map_iter(|chunk| {
            let mut against = Vec::new();
            let end = ((chunk + 1) * CHUNK).min(twin.len());
            for s in chunk * CHUNK..end {
                // The twin's face lies anywhere: ask for it, and its parent, a few sides ahead.
                const AHEAD: usize = 16;
                if s + AHEAD < end && twin[s + AHEAD] != NONE {
                    let t = twin[s + AHEAD] as usize;
                    prefetch(&faces[t / 3]);
                    prefetch(&parent[t / 3]);
                }
                let t = twin[s];
                if t == NONE || (t as usize) < s {
                    continue;
                }
                let ((a, b), (c, d)) = (side(s), side(t as usize));
                let (fs, ft) = ((s / 3) as u32, t / 3);
                if a == d && b == c {
                    union(&parent, fs, ft);
                } else {
                    against.push((fs, ft));
                }
            }
            against
        })
        .collect();
    // Patch index per face, patches numbered by their lowest face (their root).
    let root: Vec<u32> = (0..nf as u32)
        .into_par_iter()
        .with_min_len(crate::par::CHEAP_ITEMS_PER_TASK)
        .map(|f| find(&parent, f))
        .collect();
    drop(parent);
    let mut patch_of_root = vec![NONE; nf];
    let mut patches = 0u32;
    for f in 0..nf {
        if root[f] as usize == f {
            patch_of_root[f] = patches;
            patches += 1;
        }
    }
    let face_patch: Vec<u32> = root
        .par_iter()
        .with_min_len(crate::par::CHEAP_ITEMS_PER_TASK)
        .map(|&r| patch_of_root[r as usize])
        .collect();
    let np = patches as usize;
    // Patch graph: an edge with parity 1 for each pair of faces meeting against each other.
    let mut adj_count = vec![0u32; np + 1];
    for &(a, b) in &against {
        adj_count[face_patch[a as usize] as usize + 1] += 1;
        adj_count[face_patch[b as usize] as usize + 1] += 1;
    }
    for i in 0..np {
        adj_count[i + 1] += adj_count[i];
    }
    let mut adj = vec![0u32; adj_count[np] as usize];
    let mut fill = adj_count.clone();
    for &(a, b) in &against {
        let (pa, pb) = (face_patch[a as usize], face_patch[b as usize]);
        adj[fill[pa as usize] as usize] = pb;
        fill[pa as usize] += 1;
        adj[fill[pb as usize] as usize] = pa;
        fill[pb as usize] += 1;
    }
    let mut patch_flip = vec![false; np];
    let mut patch_comp = vec![NONE; np];
    let mut component_orientable = Vec::new();
    let mut queue = VecDeque::new();
    for start in 0..np {
        if patch_comp[start] != NONE {
            continue;
        }
        let c = component_orientable.len() as u32;
        component_orientable.push(true);
        patch_comp[start] = c;
        queue.push_back(start);
        while let Some(p) = queue.pop_front() {
            for &q in &adj[adj_count[p] as usize..adj_count[p + 1] as usize] {
                let want = !patch_flip[p];
                let q = q as usize;
                if patch_comp[q] == NONE {
                    patch_comp[q] = c;
                    patch_flip[q] = want;
                    queue.push_back(q);
                } else if patch_flip[q] != want {
                    component_orientable[c as usize] = false;
                }
            }
        }
    }
    Orientation {
        flip: face_patch
            .par_iter()
            .map(|&p| patch_flip[p as usize])
            .collect(),
        face_components: face_patch
            .par_iter()
            .map(|&p| patch_comp[p as usize])
            .collect(),
        component_orientable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_unions_find_the_connected_components() {
        // Random pairs over n elements, joined from many tasks; reference: labels spread by a serial
        // fixed-point iteration (each element takes the lowest label of its pairs until nothing moves).
        let n = 20_000u32;
        let mut rng = crate::rng::SplitMix(12345);
        let mut next = || rng.below(n as usize) as u32;
        let pairs: Vec<(u32, u32)> = (0..15_000).map(|_| (next(), next())).collect();
        let parent: Vec<AtomicU32> = (0..n).map(AtomicU32::new).collect();
        pairs
            .par_iter()
            .with_max_len(16)
            .for_each(|&(a, b)| union(&parent, a, b));
        let mut label: Vec<u32> = (0..n).collect();
        loop {
            let mut moved = false;
            for &(a, b) in &pairs {
                let m = label[a as usize].min(label[b as usize]);
                for v in [a, b] {
                    if label[v as usize] != m {
                        label[v as usize] = m;
                        moved = true;
                    }
                }
            }
            if !moved {
                break;
            }
        }
        for v in 0..n {
            assert_eq!(find(&parent, v), label[v as usize], "element {v}");
        }
    }
}
