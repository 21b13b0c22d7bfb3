//! Numbering the undirected edges: in order of their first halfedge, in parallel over chunks of faces.

use super::build::NONE;
use crate::disjoint::DisjointWrites;
use crate::ids::EdgeId;
use rayon::prelude::*;

pub(crate) struct Edges {
    pub halfedge_edge: Vec<EdgeId>,
    pub edge_halfedges: Vec<[u32; 2]>,
}

/// Faces per parallel task, and how many halfedges ahead a task prefetches its twin's slot.
const CHUNK: usize = 8192;
const AHEAD: usize = 16;

/// Numbers the edges of a mesh from its halfedge twins (`NONE` on the boundary). Edge `e` is the
/// `e`-th halfedge `h` (in halfedge order) that has no twin or a twin after it; its halfedges are
/// `[h, twin]`.
pub(crate) fn number_edges(twin: &[u32]) -> Edges {
    let nh = twin.len();
    let owns = |h: usize| twin[h] == NONE || twin[h] as usize > h;
    // Edges owned per chunk, then each chunk's first edge.
    let counts: Vec<usize> = twin
        .par_chunks(3 * CHUNK)
        .enumerate()
        .map(|(i, part)| (0..part.len()).filter(|&j| owns(3 * CHUNK * i + j)).count())
        .collect();
    let ne: usize = counts.iter().sum();
    let mut edges = Edges {
        halfedge_edge: vec![EdgeId(0); nh],
        edge_halfedges: vec![[0; 2]; ne],
    };
    let halfedges =
        crate::disjoint::split_lengths(&mut edges.edge_halfedges, counts.iter().copied());
    let mut first = 0;
    let firsts: Vec<usize> = counts
        .iter()
        .map(|&c| {
            first += c;
            first - c
        })
        .collect();
    let edge_of = DisjointWrites::new(&mut edges.halfedge_edge);
    halfedges
        .into_par_iter()
        .zip(firsts)
        .enumerate()
        .for_each(|(i, (halfedges, first))| {
            let h0 = 3 * CHUNK * i;
            let mut e = 0;
            for h in h0..(h0 + 3 * CHUNK).min(nh) {
                if h + AHEAD < nh && twin[h + AHEAD] != NONE {
                    // The twin lies anywhere.
                    edge_of.prefetch(twin[h + AHEAD] as usize);
                }
                if !owns(h) {
                    continue;
                }
                halfedges[e] = [h as u32, twin[h]];
                let id = [EdgeId::new(first + e)];
                // SAFETY: every halfedge belongs to one edge, numbered by the one task that owns it.
                unsafe {
                    edge_of.write(h, &id);
                    if twin[h] != NONE {
                        edge_of.write(twin[h] as usize, &id);
                    }
                }
                e += 1;
            }
        });
    edges
}
