//! Ordering the corners and spokes around every vertex (see the module docs of [`super`]).

use super::build::NONE;
use crate::ids::{EdgeId, HalfedgeId, VertexId};
use rayon::prelude::*;

pub(crate) struct StarContext<'a> {
    pub faces: &'a [[VertexId; 3]],
    pub halfedge_twin: &'a [u32],
    pub halfedge_edge: &'a [EdgeId],
    pub star_offsets: &'a [u32],
    /// Corners of each vertex in no particular order, by `star_offsets`.
    pub unordered: &'a [u32],
    pub vertex_boundary: &'a [bool],
    pub reference: &'a [u32],
}

pub(crate) struct Stars {
    pub star_corners: Vec<HalfedgeId>,
    /// Per entry of `star_corners`: whether that corner's face is oriented against the star.
    pub star_flipped: Vec<bool>,
    pub spoke_targets: Vec<VertexId>,
    pub spoke_edges: Vec<EdgeId>,
    pub vertex_reference: Vec<u32>,
}

#[derive(Default)]
struct Block {
    corners: Vec<HalfedgeId>,
    flipped: Vec<bool>,
    targets: Vec<VertexId>,
    edges: Vec<EdgeId>,
    reference: Vec<u32>,
}

const BLOCK: usize = 8192;

/// Walks every star. `None` if some vertex's walk does not reach all its corners (several fans).
pub(crate) fn walk_all(ctx: &StarContext) -> Option<Stars> {
    let nv = ctx.star_offsets.len() - 1;
    let blocks: Vec<Option<Block>> = (0..nv.div_ceil(BLOCK))
        .into_par_iter()
        .map(|b| {
            let mut out = Block::default();
            let span = (ctx.star_offsets[((b + 1) * BLOCK).min(nv)] - ctx.star_offsets[b * BLOCK]) as usize;
            out.corners.reserve(span);
            out.flipped.reserve(span);
            out.targets.reserve(span + BLOCK);
            out.edges.reserve(span + BLOCK);
            out.reference.reserve(BLOCK);
            let mut walk = Vec::new();
            for v in b * BLOCK..((b + 1) * BLOCK).min(nv) {
                walk_vertex(ctx, v, &mut walk, &mut out)?;
            }
            Some(out)
        })
        .collect();
    let mut stars = Stars {
        star_corners: Vec::with_capacity(ctx.unordered.len()),
        star_flipped: Vec::with_capacity(ctx.unordered.len()),
        spoke_targets: Vec::new(),
        spoke_edges: Vec::new(),
        vertex_reference: Vec::with_capacity(nv),
    };
    for b in blocks {
        let b = b?;
        stars.star_corners.extend(b.corners);
        stars.star_flipped.extend(b.flipped);
        stars.spoke_targets.extend(b.targets);
        stars.spoke_edges.extend(b.edges);
        stars.vertex_reference.extend(b.reference);
    }
    Some(stars)
}

fn walk_vertex(ctx: &StarContext, v: usize, walk: &mut Vec<(usize, bool)>, out: &mut Block) -> Option<()> {
    let faces = ctx.faces;
    let vid = VertexId::new(v);
    let mine = &ctx.unordered[ctx.star_offsets[v] as usize..ctx.star_offsets[v + 1] as usize];
    let count = mine.len();
    let corner_at = |g: usize| -> usize { (0..3).find(|&j| faces[g][j] == vid).unwrap_or(0) };
    let reference = ctx.reference[v];
    // Start from the corner holding the reference edge.
    let c0 = mine
        .iter()
        .map(|&c| c as usize)
        .find(|&c| {
            let f = &faces[c / 3];
            f[(c % 3 + 1) % 3].0 == reference || f[(c % 3 + 2) % 3].0 == reference
        })
        .unwrap_or(mine[0] as usize);
    let boundary = ctx.vertex_boundary[v];
    let mut start = (c0, false);
    if boundary {
        // Walk backwards to the first corner after the boundary.
        let mut cur = start;
        for _ in 0..count {
            let (c, fl) = cur;
            let (f, k) = (c / 3, c % 3);
            let (edge_h, w) = if !fl { (c, faces[f][(k + 1) % 3]) } else { (3 * f + (k + 2) % 3, faces[f][(k + 2) % 3]) };
            let t = ctx.halfedge_twin[edge_h];
            if t == NONE {
                break;
            }
            let g = (t / 3) as usize;
            let kg = corner_at(g);
            cur = (3 * g + kg, faces[g][(kg + 2) % 3] != w);
        }
        start = cur;
    }
    walk.clear();
    let mut cur = start;
    for _ in 0..count {
        walk.push(cur);
        let (c, fl) = cur;
        let (f, k) = (c / 3, c % 3);
        let (edge_h, w) = if !fl { (3 * f + (k + 2) % 3, faces[f][(k + 2) % 3]) } else { (c, faces[f][(k + 1) % 3]) };
        let t = ctx.halfedge_twin[edge_h];
        if t == NONE {
            break;
        }
        let g = (t / 3) as usize;
        // The twin leaves v (always so between consistently oriented faces): it is v's corner in g, and
        // its head is w, so g runs with the star (the general rule below gives the same).
        cur = if faces[g][t as usize % 3] == vid {
            (t as usize, false)
        } else {
            let kg = corner_at(g);
            (3 * g + kg, faces[g][(kg + 1) % 3] != w)
        };
        if cur.0 == start.0 {
            break;
        }
    }
    if walk.len() != count {
        return None;
    }
    let spoke_start = |&(c, fl): &(usize, bool)| {
        let (f, k) = (c / 3, c % 3);
        if !fl {
            (faces[f][(k + 1) % 3], ctx.halfedge_edge[c])
        } else {
            (faces[f][(k + 2) % 3], ctx.halfedge_edge[3 * f + (k + 2) % 3])
        }
    };
    let rot = if boundary { 0 } else { walk.iter().position(|x| spoke_start(x).0 .0 == reference).unwrap_or(0) };
    let spoke_base = out.targets.len();
    for i in 0..count {
        let x = walk[(i + rot) % count];
        out.corners.push(HalfedgeId::new(x.0));
        out.flipped.push(x.1);
        let (w, e) = spoke_start(&x);
        out.targets.push(w);
        out.edges.push(e);
    }
    if boundary {
        let &(c, fl) = walk.last()?;
        let (f, k) = (c / 3, c % 3);
        let (w, e) = if !fl {
            (faces[f][(k + 2) % 3], ctx.halfedge_edge[3 * f + (k + 2) % 3])
        } else {
            (faces[f][(k + 1) % 3], ctx.halfedge_edge[c])
        };
        out.targets.push(w);
        out.edges.push(e);
        let r = out.targets[spoke_base..].iter().position(|t| t.0 == reference).unwrap_or(0);
        out.reference.push(r as u32);
    } else {
        out.reference.push(0);
    }
    Some(())
}
