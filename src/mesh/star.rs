//! Ordering the corners and spokes around every vertex (see the module docs of [`super`]).

use crate::disjoint::split_lengths;
use crate::disjoint::DisjointWrites;
use crate::ids::{EdgeId, HalfedgeId, VertexId};
use crate::prefetch::prefetch;
use rayon::prelude::*;

pub(crate) struct StarContext<'a> {
    pub faces: &'a [[VertexId; 3]],
    pub halfedge_edge: &'a [EdgeId],
    pub star_offsets: &'a [u32],
    /// Corners of each vertex in no particular order, by `star_offsets`.
    pub unordered: &'a [u32],
    pub vertex_boundary: &'a [bool],
    pub reference: &'a [u32],
    /// The corner the reference was read from: the walk starts there.
    pub reference_corner: &'a [u32],
}

pub(crate) struct Stars {
    pub star_corners: Vec<HalfedgeId>,
    /// Per entry of `star_corners`: whether that corner's face is oriented against the star.
    pub star_flipped: Vec<bool>,
    pub spoke_targets: Vec<VertexId>,
    pub spoke_edges: Vec<EdgeId>,
    pub vertex_reference: Vec<u32>,
    /// The two spokes of every edge: `edge_spokes[2e]` leaves its lower vertex, `edge_spokes[2e + 1]`
    /// its higher one.
    pub edge_spokes: Vec<u32>,
}

impl Stars {
    /// The opposite of every spoke (the target's spoke along the same edge): the other spoke in its
    /// edge's entry of `edge_spokes`.
    pub(crate) fn opposite_spokes(&self) -> Vec<u32> {
        let mut opposites = vec![0; self.spoke_edges.len()];
        opposites
            .par_chunks_mut(BLOCK)
            .zip(self.spoke_edges.par_chunks(BLOCK))
            .enumerate()
            .for_each(|(chunk, (opposite, edges))| {
                // The edge's entry lies anywhere: ask for it a few spokes ahead.
                const AHEAD: usize = 16;
                for (i, e) in edges.iter().enumerate() {
                    if let Some(ahead) = edges.get(i + AHEAD) {
                        prefetch(&self.edge_spokes[2 * ahead.index()]);
                    }
                    let (s, pair) = (chunk * BLOCK + i, &self.edge_spokes[2 * e.index()..][..2]);
                    debug_assert!(
                        pair.contains(&(s as u32)),
                        "spoke {s} missing from its edge"
                    );
                    opposite[i] = if pair[0] as usize == s {
                        pair[1]
                    } else {
                        pair[0]
                    };
                }
            });
        opposites
    }
}

/// Output slices of one block of vertices.
struct Block<'a> {
    corners: &'a mut [HalfedgeId],
    flipped: &'a mut [bool],
    targets: &'a mut [VertexId],
    edges: &'a mut [EdgeId],
    reference: &'a mut [u32],
}

const BLOCK: usize = 8192;
/// How many vertices ahead the walk prefetches.
const AHEAD: usize = 4;

/// Walks every star, in parallel over blocks of vertices, writing straight into the final arrays.
/// `None` if some vertex's walk does not reach all its corners (several fans).
pub(crate) fn walk_all(
    ctx: &StarContext,
    spoke_offsets: &[u32],
    edge_count: usize,
) -> Option<Stars> {
    let nv = ctx.star_offsets.len() - 1;
    let nc = ctx.star_offsets[nv] as usize;
    let ns = spoke_offsets[nv] as usize;
    let mut stars = Stars {
        star_corners: vec![HalfedgeId(0); nc],
        star_flipped: vec![false; nc],
        spoke_targets: vec![VertexId(0); ns],
        spoke_edges: vec![EdgeId(0); ns],
        vertex_reference: vec![0; nv],
        edge_spokes: vec![0; 2 * edge_count],
    };
    let edge_spokes = DisjointWrites::new(&mut stars.edge_spokes);
    let bounds: Vec<(usize, usize)> = (0..nv.div_ceil(BLOCK))
        .map(|b| (b * BLOCK, ((b + 1) * BLOCK).min(nv)))
        .collect();
    let span = |off: &[u32]| {
        bounds
            .iter()
            .map(|&(a, b)| (off[b] - off[a]) as usize)
            .collect::<Vec<_>>()
    };
    let (cs, ss) = (span(ctx.star_offsets), span(spoke_offsets));
    let blocks: Vec<Block> = split_lengths(&mut stars.star_corners, cs.iter().copied())
        .into_iter()
        .zip(split_lengths(&mut stars.star_flipped, cs.iter().copied()))
        .zip(split_lengths(&mut stars.spoke_targets, ss.iter().copied()))
        .zip(split_lengths(&mut stars.spoke_edges, ss.iter().copied()))
        .zip(split_lengths(
            &mut stars.vertex_reference,
            bounds.iter().map(|&(a, b)| b - a),
        ))
        .map(
            |((((corners, flipped), targets), edges), reference)| Block {
                corners,
                flipped,
                targets,
                edges,
                reference,
            },
        )
        .collect();
    let ok = blocks
        .into_par_iter()
        .zip(bounds.par_iter())
        .all(|(mut out, &(v0, v1))| {
            let mut scratch = Scratch::default();
            let (c0, s0) = (ctx.star_offsets[v0] as usize, spoke_offsets[v0] as usize);
            let ok = (v0..v1).all(|v| {
                // A vertex's faces lie anywhere; ask for the faces and edges of a vertex a few places
                // ahead so their misses overlap instead of queueing.
                if v + AHEAD < v1 {
                    let u = v + AHEAD;
                    let star = ctx.star_offsets[u] as usize..ctx.star_offsets[u + 1] as usize;
                    for &c in &ctx.unordered[star] {
                        let c = c as usize;
                        prefetch(&ctx.faces[c / 3]);
                        prefetch(&ctx.halfedge_edge[c]);
                    }
                }
                // Halfway there, their edges are in: ask for the edges' spoke entries (written at
                // the end of the walk).
                if v + AHEAD / 2 < v1 {
                    let u = v + AHEAD / 2;
                    let star = ctx.star_offsets[u] as usize..ctx.star_offsets[u + 1] as usize;
                    for &c in &ctx.unordered[star] {
                        edge_spokes.prefetch(2 * ctx.halfedge_edge[c as usize].index());
                    }
                }
                let c = ctx.star_offsets[v] as usize - c0;
                let spokes = Spokes {
                    first: spoke_offsets[v] as usize,
                    local: spoke_offsets[v] as usize - s0,
                    of_edges: &edge_spokes,
                };
                walk_vertex(ctx, v, &mut scratch, &mut out, c, spokes, v - v0).is_some()
            });
            super::work::add(super::work::Work::Stars, scratch.steps);
            ok
        });
    ok.then_some(stars)
}

/// Where a vertex's spokes go: its first spoke's global index and its index in the block's slices, and
/// the edges' spoke table.
struct Spokes<'a, 'b> {
    first: usize,
    local: usize,
    of_edges: &'a DisjointWrites<'b, u32>,
}

impl Spokes<'_, '_> {
    /// Records spoke `i` of vertex `v`, pointing to `w` along `e`, in the edge's table entry.
    #[inline]
    fn record(&self, i: usize, v: usize, w: VertexId, e: EdgeId) {
        let slot = 2 * e.index() + (v > w.index()) as usize;
        // SAFETY: an edge is one spoke at each of its two (distinct) ends, so each slot is written once.
        unsafe { self.of_edges.write(slot, &[(self.first + i) as u32]) };
    }
}

/// Buffers reused from vertex to vertex: the corners around the vertex, (corner, vertex after, vertex
/// before), and the walk, (corner, whether its face runs against the star).
#[derive(Default)]
struct Scratch {
    around: Vec<(usize, u32, u32)>,
    walk: Vec<(usize, bool)>,
    /// (neighbour, corner index in `around`) for both neighbours of every corner, sorted: the index
    /// that finds the face across an edge of a high-valence vertex by binary search.
    by_neighbour: Vec<(u32, u32)>,
    /// Entries examined (work counter), summed over the block.
    steps: u64,
}

/// Up to this many corners, the face across an edge is found by a linear search (a few dozen entries,
/// in cache: faster than building an index); past it, through a sorted index (O(log k) per step, so a
/// vertex of valence 100k does not cost 10¹⁰ steps).
const LINEAR_STAR: usize = 32;

fn walk_vertex(
    ctx: &StarContext,
    v: usize,
    scratch: &mut Scratch,
    out: &mut Block,
    corner_base: usize,
    spokes: Spokes,
    local: usize,
) -> Option<()> {
    let spoke_base = spokes.local;
    let faces = ctx.faces;
    let mine = &ctx.unordered[ctx.star_offsets[v] as usize..ctx.star_offsets[v + 1] as usize];
    let count = mine.len();
    // Each corner with the vertices after and before v in its face. Pairing left at most two sides on
    // every edge, so the face across the edge {v, w} from corner i is the one other corner whose face
    // holds w: the walk never leaves these few entries (no twin lookups).
    let around = &mut scratch.around;
    around.clear();
    around.extend(mine.iter().map(|&c| {
        let (f, k) = (c as usize / 3, c as usize % 3);
        (c as usize, faces[f][(k + 1) % 3].0, faces[f][(k + 2) % 3].0)
    }));
    let index = &mut scratch.by_neighbour;
    index.clear();
    let mut steps = 0u64;
    if count > LINEAR_STAR {
        index.extend(
            around
                .iter()
                .enumerate()
                .flat_map(|(j, x)| [(x.1, j as u32), (x.2, j as u32)]),
        );
        index.sort_unstable_by(|a, b| {
            steps += 1;
            a.cmp(b)
        });
    }
    let index = &*index;
    let across = |i: usize, w: u32, steps: &mut u64| {
        if count <= LINEAR_STAR {
            let found = (0..count).find(|&j| j != i && (around[j].1 == w || around[j].2 == w));
            *steps += found.map_or(count, |j| j + 1) as u64;
            found
        } else {
            // Pairing left at most two sides on every edge: at most two entries hold w.
            let lo = index.partition_point(|e| e.0 < w);
            *steps += 1 + count.ilog2() as u64;
            index[lo..]
                .iter()
                .take(2)
                .take_while(|e| e.0 == w)
                .map(|e| e.1 as usize)
                .find(|&j| j != i)
        }
    };
    let reference = ctx.reference[v];
    // Start from the corner holding the reference edge.
    let c0 = ctx.reference_corner[v] as usize;
    let boundary = ctx.vertex_boundary[v];
    let mut start = (around.iter().position(|x| x.0 == c0)?, false);
    if boundary {
        // Walk backwards (across the side leaving v, or arriving where the face runs against the
        // star) to the first corner after the boundary.
        let mut cur = start;
        for _ in 0..count {
            let (i, fl) = cur;
            let w = if fl { around[i].2 } else { around[i].1 };
            let Some(j) = across(i, w, &mut steps) else {
                break;
            };
            cur = (j, around[j].2 != w);
        }
        start = cur;
    }
    let walk = &mut scratch.walk;
    walk.clear();
    let mut cur = start;
    for _ in 0..count {
        walk.push((around[cur.0].0, cur.1));
        let (i, fl) = cur;
        let w = if fl { around[i].1 } else { around[i].2 };
        let Some(j) = across(i, w, &mut steps) else {
            break;
        };
        // The next face runs with the star if w follows v in it.
        cur = (j, around[j].1 != w);
        if cur.0 == start.0 {
            break;
        }
    }
    scratch.steps += steps;
    if walk.len() != count {
        return None;
    }
    let spoke_start = |&(c, fl): &(usize, bool)| {
        let (f, k) = (c / 3, c % 3);
        if !fl {
            (faces[f][(k + 1) % 3], ctx.halfedge_edge[c])
        } else {
            (
                faces[f][(k + 2) % 3],
                ctx.halfedge_edge[3 * f + (k + 2) % 3],
            )
        }
    };
    let rot = if boundary {
        0
    } else {
        walk.iter()
            .position(|x| spoke_start(x).0 .0 == reference)
            .unwrap_or(0)
    };
    for i in 0..count {
        let x = walk[(i + rot) % count];
        out.corners[corner_base + i] = HalfedgeId::new(x.0);
        out.flipped[corner_base + i] = x.1;
        let (w, e) = spoke_start(&x);
        out.targets[spoke_base + i] = w;
        out.edges[spoke_base + i] = e;
        spokes.record(i, v, w, e);
    }
    if boundary {
        let &(c, fl) = walk.last()?;
        let (f, k) = (c / 3, c % 3);
        let (w, e) = if !fl {
            (
                faces[f][(k + 2) % 3],
                ctx.halfedge_edge[3 * f + (k + 2) % 3],
            )
        } else {
            (faces[f][(k + 1) % 3], ctx.halfedge_edge[c])
        };
        out.targets[spoke_base + count] = w;
        out.edges[spoke_base + count] = e;
        spokes.record(count, v, w, e);
        let r = out.targets[spoke_base..=spoke_base + count]
            .iter()
            .position(|t| t.0 == reference)
            .unwrap_or(0);
        out.reference[local] = r as u32;
    }
    Some(())
}
