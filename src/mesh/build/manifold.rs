//! Non-manifold edges and vertices: cut, split, and where that is not enough, drop.

use super::sides::{ahead_sides, group_sides, side_vertices, RUN_CHUNK};
use super::{all_dropped, Cleaning, Repair, NONE};
use crate::disjoint::DisjointWrites;
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::HashSet;

/// Rounds that cut crowded edges by splitting their vertices into fans; an edge still crowded after
/// them has its faces past the first two dropped.
const SPLIT_ROUNDS: usize = 3;
/// Rounds in all: the splits, then drops and the splits of the fans the drops leave. Running out of
/// rounds is a bug (each drop round removes every crowded edge), reported as an error, not a hang.
const MAX_ROUNDS: usize = 6;

/// Pairs the sides of every edge and makes the mesh manifold: in strict mode the first edge with three
/// or more sides, or vertex where several fans meet, is the error; with repair edges are cut and
/// vertices split (new vertices appended to `vertex_origin`), and faces dropped as a last resort.
///
/// Fans are analysed only when `check_fans` is set or a crowded edge was found. Returns the side twins
/// (`3g+j` or [`NONE`]) of the final faces.
pub(super) fn make_manifold(c: &mut Cleaning, check_fans: bool) -> Result<Vec<u32>> {
    // Once per edge and size over the rounds (a set: `repairs.contains` would be quadratic in the
    // number of crowded edges).
    let mut split_edges = HashSet::new();
    for round in 0..MAX_ROUNDS {
        let nv = c.vertex_origin.len();
        let (runs, sides) = c
            .grouped
            .take()
            .unwrap_or_else(|| group_sides(nv, &c.faces));
        let crowded = runs.par_windows(2).any(|r| r[1] - r[0] >= 3);
        let mut twin = vec![NONE; c.faces.len() * 3];
        let cut = if crowded {
            cut_crowded_edges(c, &runs, &sides, &mut twin, round, &mut split_edges)?
        } else {
            pair_runs(&runs, &sides, &mut twin);
            None
        };
        if let Some(dropped) = cut.as_ref().filter(|_| round >= SPLIT_ROUNDS) {
            drop_faces(c, dropped)?;
            continue;
        }
        let bad_edge = cut.is_some();
        // Fans: union corners of each vertex across paired sides (only when something may be wrong:
        // the mesh assembly detects a vertex with several fans by itself).
        let (fans, fan_count) = if bad_edge || check_fans {
            let fans = vertex_fans(nv, &c.faces, &twin);
            let mut fan_count = vec![0u32; nv];
            for (corner, &fan) in fans.iter().enumerate() {
                let v = c.faces[corner / 3][corner % 3] as usize;
                fan_count[v] = fan_count[v].max(fan + 1);
            }
            (fans, fan_count)
        } else {
            (Vec::new(), vec![1; nv])
        };
        let split: Vec<usize> = (0..nv).filter(|&v| fan_count[v] > 1).collect();
        if split.is_empty() && !bad_edge {
            return Ok(twin);
        }
        if let Some(&v) = split.first() {
            if !c.repair {
                return Err(Error::NonManifoldVertex {
                    vertex: c.vertex_origin[v] as usize,
                    fans: fan_count[v] as usize,
                });
            }
        }
        split_vertices(c, &split, &fans, &fan_count);
    }
    Err(Error::Internal(format!(
        "repair did not make the mesh manifold in {MAX_ROUNDS} rounds"
    )))
}

/// Pairs the two sides of every edge, in parallel (every edge has one or two sides here).
fn pair_runs(runs: &[u32], sides: &[u32], twin: &mut [u32]) {
    let nr = runs.len() - 1;
    let pairs = DisjointWrites::new(twin);
    (0..nr.div_ceil(RUN_CHUNK))
        .into_par_iter()
        .for_each(|chunk| {
            for r in chunk * RUN_CHUNK..((chunk + 1) * RUN_CHUNK).min(nr) {
                ahead_sides(runs, sides, r, |s| pairs.prefetch(s as usize));
                let run = &sides[runs[r] as usize..runs[r + 1] as usize];
                if let [a, b] = *run {
                    // SAFETY: each side belongs to exactly one run, so no other task writes twin[a]
                    // or twin[b].
                    unsafe {
                        pairs.write(a as usize, &[b]);
                        pairs.write(b as usize, &[a]);
                    }
                }
            }
        });
}

/// Pairs the first two sides of every edge and handles the edges with three or more: the error in
/// strict mode; with repair, a recorded cut (rounds before [`SPLIT_ROUNDS`]; the vertex split that
/// follows detaches the other pages) or the faces past the first two to drop (later rounds). `None`
/// if no edge had three sides after all.
fn cut_crowded_edges(
    c: &mut Cleaning,
    runs: &[u32],
    sides: &[u32],
    twin: &mut [u32],
    round: usize,
    split_edges: &mut HashSet<(usize, usize, usize)>,
) -> Result<Option<Vec<usize>>> {
    let mut dropped = Vec::new();
    let mut bad_edge = false;
    for r in runs.windows(2) {
        let run = &sides[r[0] as usize..r[1] as usize];
        if run.len() >= 3 {
            let (a, b) = side_vertices(&c.faces, run[0]);
            let (a, b) = (
                c.vertex_origin[a as usize] as usize,
                c.vertex_origin[b as usize] as usize,
            );
            let edge = (a.min(b), a.max(b));
            if !c.repair {
                return Err(Error::NonManifoldEdge {
                    edge,
                    faces: run.len(),
                });
            }
            bad_edge = true;
            if round < SPLIT_ROUNDS {
                if split_edges.insert((edge.0, edge.1, run.len())) {
                    c.repairs.push(Repair::SplitNonManifoldEdge {
                        edge,
                        faces: run.len(),
                    });
                }
            } else {
                dropped.extend(run[2..].iter().map(|&s| (s / 3) as usize));
            }
        }
        if run.len() >= 2 {
            twin[run[0] as usize] = run[1];
            twin[run[1] as usize] = run[0];
        }
    }
    Ok(bad_edge.then_some(dropped))
}

/// Drops the faces `dropped` (indices into the current faces, repeats allowed), recording each.
fn drop_faces(c: &mut Cleaning, dropped: &[usize]) -> Result<()> {
    let mut dropped = dropped.to_vec();
    dropped.sort_unstable();
    dropped.dedup();
    for &f in &dropped {
        c.repairs.push(Repair::DroppedNonManifoldFace {
            face: c.face_origin[f] as usize,
        });
        c.faces.to_mut()[f] = [NONE; 3];
    }
    let kept: Vec<usize> = (0..c.faces.len())
        .filter(|&f| c.faces[f][0] != NONE)
        .collect();
    c.face_origin = kept.iter().map(|&f| c.face_origin[f]).collect();
    c.faces = Cow::Owned(kept.iter().map(|&f| c.faces[f]).collect());
    if c.faces.is_empty() {
        return Err(all_dropped(&c.repairs));
    }
    Ok(())
}

/// Splits each vertex of `split` into one vertex per fan: fan 0 keeps the vertex, fan k > 0 gets a new
/// copy (appended to `vertex_origin`).
fn split_vertices(c: &mut Cleaning, split: &[usize], fans: &[u32], fan_count: &[u32]) {
    let mut copy_base = vec![NONE; c.vertex_origin.len()];
    for &v in split {
        c.repairs.push(Repair::SplitNonManifoldVertex {
            vertex: c.vertex_origin[v] as usize,
            fans: fan_count[v] as usize,
        });
        copy_base[v] = c.vertex_origin.len() as u32;
        for _ in 1..fan_count[v] {
            c.vertex_origin.push(c.vertex_origin[v]);
        }
    }
    let faces = c.faces.to_mut();
    for (corner, &fan) in fans.iter().enumerate() {
        let v = faces[corner / 3][corner % 3] as usize;
        if fan > 0 {
            faces[corner / 3][corner % 3] = copy_base[v] + fan - 1;
        }
    }
}
/// For each corner (3f+k), the index of its fan among the fans of its vertex (0 for the fan of the
/// vertex's lowest corner, then in order of lowest corner).
fn vertex_fans(nv: usize, faces: &[[u32; 3]], twin: &[u32]) -> Vec<u32> {
    // Union-find over corners: corners of the same vertex in faces adjacent across a paired side.
    let nc = faces.len() * 3;
    let mut parent: Vec<u32> = (0..nc as u32).collect();
    fn find(p: &mut [u32], mut x: u32) -> u32 {
        while p[x as usize] != x {
            p[x as usize] = p[p[x as usize] as usize];
            x = p[x as usize];
        }
        x
    }
    for s in 0..nc {
        let t = twin[s];
        if t == NONE || (t as usize) < s {
            continue;
        }
        let (fs, ks) = (s / 3, s % 3);
        let (ft, kt) = ((t / 3) as usize, (t % 3) as usize);
        for kk in [ks, (ks + 1) % 3] {
            let v = faces[fs][kk];
            let j = (0..3).find(|&j| faces[ft][j] == v).unwrap_or(kt);
            let (a, b) = (
                find(&mut parent, (3 * fs + kk) as u32),
                find(&mut parent, (3 * ft + j) as u32),
            );
            if a != b {
                let (lo, hi) = (a.min(b), a.max(b));
                parent[hi as usize] = lo;
            }
        }
    }
    let mut fan = vec![0u32; nc];
    let mut next_fan = vec![0u32; nv];
    let mut root_fan = vec![NONE; nc];
    for c in 0..nc {
        let r = find(&mut parent, c as u32) as usize;
        if root_fan[r] == NONE {
            let v = faces[c / 3][c % 3] as usize;
            root_fan[r] = next_fan[v];
            next_fan[v] += 1;
        }
        fan[c] = root_fan[r];
    }
    fan
}
