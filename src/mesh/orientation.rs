//! Consistent orientation of faces, disturbing the input as little as possible.
//!
//! Faces are first grouped into *patches*: maximal sets connected across edges they already traverse in
//! opposite directions (consistently oriented as given). Patches are then flipped as wholes, by a
//! breadth-first search over the patch graph, so that a mesh oriented consistently on input is never
//! touched, and the orientation seam of a non-orientable mesh stays where the input put it.

use super::build::NONE;
use std::collections::VecDeque;

pub(crate) struct Orientation {
    /// Whether each face is reversed.
    pub flip: Vec<bool>,
    /// Component of each face (components numbered by lowest face).
    pub face_components: Vec<u32>,
    /// Whether each component is orientable.
    pub component_orientable: Vec<bool>,
}

fn find(p: &mut [u32], mut x: u32) -> u32 {
    while p[x as usize] != x {
        p[x as usize] = p[p[x as usize] as usize];
        x = p[x as usize];
    }
    x
}

pub(crate) fn orient(faces: &[[u32; 3]], twin: &[u32]) -> Orientation {
    let nf = faces.len();
    let side = |s: usize| {
        let f = &faces[s / 3];
        (f[s % 3], f[(s % 3 + 1) % 3])
    };
    let mut parent: Vec<u32> = (0..nf as u32).collect();
    // Pairs of faces that meet with the same direction on their shared edge.
    let mut against = Vec::new();
    for s in 0..3 * nf {
        let t = twin[s];
        if t == NONE || (t as usize) < s {
            continue;
        }
        let (a, b) = side(s);
        let (c, d) = side(t as usize);
        let (fs, ft) = ((s / 3) as u32, t / 3);
        if a == d && b == c {
            let (x, y) = (find(&mut parent, fs), find(&mut parent, ft));
            if x != y {
                parent[x.max(y) as usize] = x.min(y);
            }
        } else {
            against.push((fs, ft));
        }
    }
    // Patch index per face, patches numbered by their lowest face.
    let mut patch_of_root = vec![NONE; nf];
    let mut face_patch = vec![0u32; nf];
    let mut patches = 0u32;
    for f in 0..nf {
        let r = find(&mut parent, f as u32) as usize;
        if patch_of_root[r] == NONE {
            patch_of_root[r] = patches;
            patches += 1;
        }
        face_patch[f] = patch_of_root[r];
    }
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
        flip: face_patch.iter().map(|&p| patch_flip[p as usize]).collect(),
        face_components: face_patch.iter().map(|&p| patch_comp[p as usize]).collect(),
        component_orientable,
    }
}
