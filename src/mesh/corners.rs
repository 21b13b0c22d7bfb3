//! The corners of every vertex, and the pairing of face sides read from them.
//!
//! Every side of a face touching vertex `v` belongs to one of `v`'s corners (the side leaving it or the
//! side arriving at it), so the sides on an edge `{v, w}` with `v < w` are all found among the corners
//! of `v`: a few dozen entries, in cache, instead of a global sort of all sides. The lists are built by
//! a counting sort split over chunks of faces, which keeps each vertex's corners in ascending order
//! whatever the number of threads.

use super::build::NONE;
use crate::disjoint::DisjointWrites;
use crate::prefetch::prefetch;
use rayon::prelude::*;

/// Corners (`3f + k`) of each vertex in ascending order: those of `v` are
/// `corners[offsets[v]..offsets[v + 1]]`.
pub(crate) struct VertexCorners {
    pub offsets: Vec<u32>,
    pub corners: Vec<u32>,
}

/// Renumbers corners `3f + k` after the faces with `flip[f]` were reversed: flipping `[a, b, c]` to
/// `[a, c, b]` swaps corners 1 and 2.
pub(crate) fn flip_corners(corners: &mut [u32], flip: &[bool]) {
    corners
        .par_iter_mut()
        .with_min_len(crate::par::CHEAP_ITEMS_PER_TASK)
        .for_each(|c| {
            let (f, k) = (*c as usize / 3, *c % 3);
            if flip[f] && k != 0 {
                *c = 3 * f as u32 + 3 - k;
            }
        });
}

/// How many corners ahead the counting sort prefetches.
const AHEAD_CORNERS: usize = 16;

/// Vertices per parallel task.
const BLOCK: usize = 8192;
/// How many vertices ahead a pass over the lists prefetches their faces.
const AHEAD: usize = 4;

impl VertexCorners {
    /// Counting sort of the corners by vertex. Every index in `faces` must be below `vertex_count`.
    pub(crate) fn new(vertex_count: usize, faces: &[[u32; 3]]) -> VertexCorners {
        VertexCorners::in_chunks(
            vertex_count,
            faces,
            rayon::current_num_threads().clamp(1, 8),
        )
    }

    /// As [`VertexCorners::new`], counting over `chunks` parts of the faces. One count array per chunk;
    /// the chunks' corners are laid out chunk after chunk within each vertex, which keeps them
    /// ascending.
    fn in_chunks(vertex_count: usize, faces: &[[u32; 3]], chunks: usize) -> VertexCorners {
        let nc = 3 * faces.len();
        let per_chunk = faces.len().div_ceil(chunks).max(1);
        let mut counts: Vec<Vec<u32>> = faces
            .par_chunks(per_chunk)
            .map(|part| {
                let mut count = vec![0u32; vertex_count];
                let part = part.as_flattened();
                for (i, v) in part.iter().enumerate() {
                    // Vertices lie anywhere: ask for their counters a few corners ahead.
                    if let Some(&ahead) = part.get(i + 2 * AHEAD_CORNERS) {
                        prefetch(&count[ahead as usize]);
                    }
                    count[*v as usize] += 1;
                }
                count
            })
            .collect();
        // Turn the counts into each chunk's first slot per vertex.
        let mut offsets = vec![0u32; vertex_count + 1];
        let mut total = 0u32;
        for v in 0..vertex_count {
            offsets[v] = total;
            for count in counts.iter_mut() {
                let c = count[v];
                count[v] = total;
                total += c;
            }
        }
        offsets[vertex_count] = total;
        let mut corners = vec![0u32; nc];
        let out = DisjointWrites::new(&mut corners);
        faces
            .par_chunks(per_chunk)
            .zip(counts.par_iter_mut())
            .enumerate()
            .for_each(|(chunk, (part, fill))| {
                let c0 = 3 * chunk * per_chunk;
                let part = part.as_flattened();
                for (i, v) in part.iter().enumerate() {
                    // Two steps ahead: the vertex's next slot, then the place it points to.
                    if let Some(&ahead) = part.get(i + 2 * AHEAD_CORNERS) {
                        prefetch(&fill[ahead as usize]);
                    }
                    if let Some(&ahead) = part.get(i + AHEAD_CORNERS) {
                        out.prefetch(fill[ahead as usize] as usize);
                    }
                    let slot = &mut fill[*v as usize];
                    // SAFETY: each slot is handed out once, by the chunk that owns it.
                    unsafe { out.write(*slot as usize, &[(c0 + i) as u32]) };
                    *slot += 1;
                }
            });
        VertexCorners { offsets, corners }
    }

    /// The corners of vertex `v`.
    #[inline]
    pub(crate) fn of(&self, v: usize) -> &[u32] {
        &self.corners[self.offsets[v] as usize..self.offsets[v + 1] as usize]
    }

    /// Number of vertices.
    pub(crate) fn vertex_count(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Renumbers corners after faces were flipped (`[a, b, c]` → `[a, c, b]` swaps corners 1 and 2).
    /// The order within each list is kept: faces keep their order and a vertex has one corner per face.
    pub(crate) fn flip(&mut self, flip: &[bool]) {
        flip_corners(&mut self.corners, flip);
    }

    /// Runs `f(v, corners of v, scratch)` for every vertex, in parallel over blocks of vertices;
    /// `scratch` is one buffer per block. The corners of the vertex `AHEAD` places on are handed to
    /// `ahead` first, to prefetch what `f` will read of them. `f` returns `false` to stop early; the
    /// result is whether every call returned `true`.
    pub(crate) fn all_vertices<S: Default>(
        &self,
        ahead: impl Fn(usize) + Sync,
        f: impl Fn(usize, &[u32], &mut S) -> bool + Sync,
    ) -> bool {
        let nv = self.vertex_count();
        (0..nv.div_ceil(BLOCK)).into_par_iter().all(|b| {
            let end = ((b + 1) * BLOCK).min(nv);
            let mut scratch = S::default();
            (b * BLOCK..end).all(|v| {
                if v + AHEAD < end {
                    self.of(v + AHEAD).iter().for_each(|&c| ahead(c as usize));
                }
                f(v, self.of(v), &mut scratch)
            })
        })
    }
}

/// The reference of every vertex (see [`MeshSource`](super::MeshSource)): the next corner of the
/// first face in which it is corner 0, else of the first face it is in.
pub(crate) struct References {
    /// The vertex the reference spoke points to.
    pub target: Vec<u32>,
    /// The corner it was read from (numbered as the faces it was read from).
    pub corner: Vec<u32>,
}

impl References {
    fn new(vertex_count: usize) -> References {
        References {
            target: vec![0; vertex_count],
            corner: vec![0; vertex_count],
        }
    }

    /// Reads the reference of vertex `v` from its corners (ascending, so the first face comes first)
    /// into `target` and `corner`.
    ///
    /// # Safety
    /// No other task writes index `v` of either array while they are shared.
    #[inline]
    unsafe fn read(
        target: &DisjointWrites<u32>,
        corner: &DisjointWrites<u32>,
        v: usize,
        mine: &[u32],
        faces: &[[u32; 3]],
    ) {
        // An unreferenced vertex has none (and is reported or dropped after this pass).
        let Some(&first) = mine.first() else { return };
        let c = *mine.iter().find(|&&c| c % 3 == 0).unwrap_or(&first);
        let (f, k) = (c as usize / 3, c as usize % 3);
        target.write(v, &[faces[f][(k + 1) % 3]]);
        corner.write(v, &[c]);
    }

    /// The references of every vertex of `faces` (each vertex in at least one face).
    pub(crate) fn of_faces(faces: &[[u32; 3]], corners: &VertexCorners) -> References {
        let mut refs = References::new(corners.vertex_count());
        let (target, corner) = (
            DisjointWrites::new(&mut refs.target),
            DisjointWrites::new(&mut refs.corner),
        );
        corners.all_vertices(
            |c| prefetch(&faces[c / 3]),
            |v, mine, _: &mut ()| {
                // SAFETY: each vertex is visited once.
                unsafe { References::read(&target, &corner, v, mine, faces) };
                true
            },
        );
        refs
    }
}

/// Face sides paired across shared edges, where every edge has at most two sides, and the vertices'
/// references, read in the same pass over the faces.
pub(crate) struct Pairing {
    /// `twin[3f + k]`: the other side on the same edge, or `NONE` on the boundary.
    pub twin: Vec<u32>,
    pub references: References,
}

/// Pairs the sides of `faces` (no repeated vertex in any face) through the corner lists. `None` if an
/// edge has three or more sides, or two sides of an edge share their third vertex (duplicate faces):
/// those need the general pass, which names and repairs them.
pub(crate) fn pair_sides(faces: &[[u32; 3]], corners: &VertexCorners) -> Option<Pairing> {
    let mut twin = vec![NONE; 3 * faces.len()];
    let mut references = References::new(corners.vertex_count());
    let out = DisjointWrites::new(&mut twin);
    let (target, corner) = (
        DisjointWrites::new(&mut references.target),
        DisjointWrites::new(&mut references.corner),
    );
    // A corner's face and its sides' twins lie anywhere: ask for both ahead.
    let ahead = |c: usize| {
        prefetch(&faces[c / 3]);
        out.prefetch(c - c % 3);
    };
    let ok = corners.all_vertices(ahead, |v, mine, sides: &mut Vec<(u32, u32, u32)>| {
        // SAFETY: each vertex is visited once.
        unsafe { References::read(&target, &corner, v, mine, faces) };
        // (other end w > v, side, third vertex) of every side on an edge where v is the lower end.
        sides.clear();
        for &c in mine {
            let (f, k) = (c as usize / 3, c as usize % 3);
            let face = &faces[f];
            let (next, prev) = (face[(k + 1) % 3], face[(k + 2) % 3]);
            // Side c runs v → next; side 3f + k + 2 runs prev → v.
            for (w, side, third) in [(next, c, prev), (prev, (3 * f + (k + 2) % 3) as u32, next)] {
                if w as usize > v {
                    sides.push((w, side, third));
                }
            }
        }
        sides.sort_unstable();
        sides.chunk_by(|a, b| a.0 == b.0).all(|run| match run {
            [_] => true,
            [a, b] if a.2 != b.2 => {
                // SAFETY: a side is written only by the task of the lower end of its edge.
                unsafe {
                    out.write(a.1 as usize, &[b.1]);
                    out.write(b.1 as usize, &[a.1]);
                }
                true
            }
            _ => false,
        })
    });
    ok.then_some(Pairing { twin, references })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::build::group_sides;
    use crate::primitives;

    fn sources() -> Vec<(&'static str, Vec<[u32; 3]>, usize)> {
        [
            "icosphere:2",
            "grid:5x4",
            "torus:7x5",
            "mobius:12x3",
            "flat-mobius:9x4",
            "cube:3",
            "cone:5",
        ]
        .iter()
        .map(|spec| {
            let src = primitives::generate(spec).unwrap().unwrap();
            (*spec, src.faces, src.vertex_count)
        })
        .collect()
    }

    #[test]
    fn corner_lists_are_complete_and_ascending_for_any_chunking() {
        for (spec, faces, nv) in sources() {
            // Reference: every corner, visited in order, appended to its vertex's list.
            let mut expected = vec![Vec::new(); nv];
            for (c, &v) in faces.iter().flatten().enumerate() {
                expected[v as usize].push(c as u32);
            }
            for chunks in [1, 2, 3, 8] {
                let lists = VertexCorners::in_chunks(nv, &faces, chunks);
                for (v, want) in expected.iter().enumerate() {
                    assert_eq!(
                        lists.of(v),
                        &want[..],
                        "{spec}, {chunks} chunks, vertex {v}"
                    );
                }
            }
        }
    }

    #[test]
    fn pairing_agrees_with_the_sorted_side_runs() {
        for (spec, faces, nv) in sources() {
            let lists = VertexCorners::new(nv, &faces);
            let pairing = pair_sides(&faces, &lists).expect(spec);
            // Reference: the general pass's runs of sides per undirected edge.
            let (runs, sides) = group_sides(nv, &faces);
            let mut twin = vec![NONE; 3 * faces.len()];
            for r in runs.windows(2) {
                if let [a, b] = sides[r[0] as usize..r[1] as usize] {
                    (twin[a as usize], twin[b as usize]) = (b, a);
                }
            }
            assert_eq!(pairing.twin, twin, "{spec}");
            // Reference: the rule of `MeshSource`, read face by face.
            for v in 0..nv {
                let first = |zero_only: bool| {
                    (0..3 * faces.len())
                        .find(|&c| faces[c / 3][c % 3] as usize == v && (!zero_only || c % 3 == 0))
                };
                let c = first(true).or_else(|| first(false)).unwrap();
                assert_eq!(
                    pairing.references.corner[v] as usize, c,
                    "{spec}, vertex {v}"
                );
                assert_eq!(
                    pairing.references.target[v],
                    faces[c / 3][(c + 1) % 3],
                    "{spec}, vertex {v}"
                );
            }
        }
    }

    #[test]
    fn pairing_declines_crowded_edges_and_duplicate_faces() {
        // Two triangles on the edge (0, 1), then a third face on it; then a copy of a face reversed.
        let fan = vec![[0, 1, 2], [1, 0, 3]];
        let lists = VertexCorners::new(4, &fan);
        assert!(pair_sides(&fan, &lists).is_some());
        let crowded = vec![[0, 1, 2], [1, 0, 3], [0, 1, 4]];
        assert!(pair_sides(&crowded, &VertexCorners::new(5, &crowded)).is_none());
        let duplicate = vec![[0, 1, 2], [2, 1, 0]];
        assert!(pair_sides(&duplicate, &VertexCorners::new(3, &duplicate)).is_none());
    }
}
