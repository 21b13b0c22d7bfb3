//! Tree–cotree decomposition: a breadth-first spanning tree of the vertex graph (one per component,
//! rooted at its base vertex) and a spanning tree of the dual graph that crosses no edge of it.
//!
//! Both trees are grown by petgraph's [`Bfs`] on zero-copy views of the mesh (the graphs are never
//! built). The parent of a node is its neighbour that the search reached first, which is exactly the
//! tree petgraph's breadth-first search walks.
//!
//! **Dual graph.** Nodes are the faces plus, per component with boundary, one *outer* node standing
//! for everything beyond the boundary; an interior edge joins its two faces, a boundary edge joins its
//! face to the outer node, and the edges of the vertex tree are left out. The dual tree is rooted at the
//! outer node where there is one, else at the base face (the face of corner 0 of the base vertex).
//!
//! **Leftover edges.** An edge in neither tree closes one generator loop: vertex-tree path from the
//! root to one end, the edge, vertex-tree path back. A component has `2 − χ` of them if it is closed and
//! `1 − χ` if it has boundary: `2g` for a closed orientable surface of genus `g`, the core of a Möbius
//! strip, one around each hole but one of a surface with holes. Every closed edge path at the root is,
//! in the fundamental group of the edge graph, a product of these loops and of face loops moved to the
//! root along the tree: peel the dual tree from its leaves towards its root, and each dual-tree edge's
//! loop is its child face's loop times leftover loops.

use crate::ids::{EdgeId, FaceId, HalfedgeId, SpokeId, VertexId};
use crate::mesh::Mesh;
use crate::transport::{Connection, O2};
use petgraph::visit::{Bfs, GraphBase, GraphRef, IntoNeighbors, VisitMap, Visitable};

const NONE: u32 = u32::MAX;

/// A visit map for dense `u32` node ids.
pub(crate) struct Visited(Vec<bool>);

impl VisitMap<u32> for Visited {
    fn visit(&mut self, a: u32) -> bool {
        !std::mem::replace(&mut self.0[a as usize], true)
    }
    fn is_visited(&self, a: &u32) -> bool {
        self.0[*a as usize]
    }
}

/// The vertex graph of a mesh, as a petgraph view: node `i` is vertex `i`, neighbours are the spoke
/// targets in star order.
#[derive(Clone, Copy)]
struct VertexGraph<'a> {
    mesh: &'a Mesh,
}

impl GraphBase for VertexGraph<'_> {
    type NodeId = u32;
    type EdgeId = u32;
}
impl GraphRef for VertexGraph<'_> {}

impl<'a> IntoNeighbors for VertexGraph<'a> {
    type Neighbors = std::iter::Map<std::slice::Iter<'a, VertexId>, fn(&VertexId) -> u32>;
    fn neighbors(self, a: u32) -> Self::Neighbors {
        let r = self.mesh.vertex_spokes(VertexId::new(a as usize));
        self.mesh.spoke_targets()[r]
            .iter()
            .map(raw_vertex as fn(&VertexId) -> u32)
    }
}

impl Visitable for VertexGraph<'_> {
    type Map = Visited;
    fn visit_map(&self) -> Visited {
        Visited(vec![false; self.mesh.vertex_count()])
    }
    fn reset_map(&self, map: &mut Visited) {
        map.0.clear();
        map.0.resize(self.mesh.vertex_count(), false);
    }
}

fn raw_vertex(v: &VertexId) -> u32 {
    v.raw()
}

/// The dual graph minus the vertex-tree edges, as a petgraph view (see the module docs).
#[derive(Clone, Copy)]
struct DualGraph<'a> {
    mesh: &'a Mesh,
    in_vertex_tree: &'a [bool],
    /// Outer node id (`F + k`) of each component, or `NONE` for closed components.
    component_outer: &'a [u32],
    /// Per outer node `k`: the boundary halfedges of its component, `outer_halfedges[offsets[k]..]`.
    outer_offsets: &'a [u32],
    outer_halfedges: &'a [u32],
}

impl GraphBase for DualGraph<'_> {
    type NodeId = u32;
    type EdgeId = u32;
}
impl GraphRef for DualGraph<'_> {}

/// A dual neighbour reached across halfedge `h` (a side of the face, or a boundary halfedge of the
/// outer node's component).
#[derive(Clone, Copy, Debug)]
struct DualStep {
    node: u32,
    halfedge: u32,
}

impl<'a> DualGraph<'a> {
    fn face_count(&self) -> u32 {
        self.mesh.face_count() as u32
    }

    /// The `i`-th dual step from `node`, if any; `None` entries (vertex-tree edges) are skipped by the
    /// iterator.
    fn step(&self, node: u32, i: usize) -> Option<Option<DualStep>> {
        let nf = self.face_count();
        if node < nf {
            if i >= 3 {
                return None;
            }
            let h = HalfedgeId::new(3 * node as usize + i);
            if self.in_vertex_tree[self.mesh.halfedge_edge(h).index()] {
                return Some(None);
            }
            Some(Some(match self.mesh.halfedge_twin(h) {
                Some(t) => DualStep {
                    node: t.face().raw(),
                    halfedge: h.raw(),
                },
                None => {
                    let c = self.mesh.face_component(h.face());
                    DualStep {
                        node: self.component_outer[c],
                        halfedge: h.raw(),
                    }
                }
            }))
        } else {
            let k = (node - nf) as usize;
            let (a, b) = (
                self.outer_offsets[k] as usize,
                self.outer_offsets[k + 1] as usize,
            );
            if a + i >= b {
                return None;
            }
            let h = self.outer_halfedges[a + i];
            if self.in_vertex_tree[self.mesh.halfedge_edge(HalfedgeId(h)).index()] {
                return Some(None);
            }
            Some(Some(DualStep {
                node: h / 3,
                halfedge: h,
            }))
        }
    }
}

struct DualNeighbors<'a> {
    graph: DualGraph<'a>,
    node: u32,
    i: usize,
}

impl Iterator for DualNeighbors<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        loop {
            let s = self.graph.step(self.node, self.i)?;
            self.i += 1;
            if let Some(s) = s {
                return Some(s.node);
            }
        }
    }
}

impl<'a> IntoNeighbors for DualGraph<'a> {
    type Neighbors = DualNeighbors<'a>;
    fn neighbors(self, a: u32) -> DualNeighbors<'a> {
        DualNeighbors {
            graph: self,
            node: a,
            i: 0,
        }
    }
}

impl Visitable for DualGraph<'_> {
    type Map = Visited;
    fn visit_map(&self) -> Visited {
        Visited(vec![
            false;
            self.mesh.face_count()
                + self.outer_offsets.len().saturating_sub(1)
        ])
    }
    fn reset_map(&self, map: &mut Visited) {
        let n = self.mesh.face_count() + self.outer_offsets.len().saturating_sub(1);
        map.0.clear();
        map.0.resize(n, false);
    }
}

/// Runs petgraph's BFS from each root in turn (keeping what was discovered), returning the visiting
/// order and each visited node's position in it.
fn bfs_order<G>(graph: G, roots: &[u32], node_count: usize) -> (Vec<u32>, Vec<u32>)
where
    G: IntoNeighbors<NodeId = u32> + Visitable<NodeId = u32, Map = Visited>,
{
    let mut order = Vec::with_capacity(node_count);
    let mut position = vec![NONE; node_count];
    let Some(&first) = roots.first() else {
        return (order, position);
    };
    let mut bfs = Bfs::new(graph, first);
    for (i, &r) in roots.iter().enumerate() {
        if i > 0 {
            if bfs.discovered.is_visited(&r) {
                continue;
            }
            bfs.stack.clear();
            bfs.discovered.visit(r);
            bfs.stack.push_back(r);
        }
        while let Some(n) = bfs.next(graph) {
            position[n as usize] = order.len() as u32;
            order.push(n);
        }
    }
    (order, position)
}

/// A breadth-first spanning tree of the vertex graph of every component, rooted at its base vertex,
/// with the transport from the root to every vertex along the tree (the gauge Γ_{p0→p}).
#[derive(Clone, Debug)]
pub struct VertexTree {
    roots: Vec<VertexId>,
    parent_spoke: Vec<u32>,
    depth: Vec<u32>,
    order: Vec<VertexId>,
    transports: Vec<O2>,
}

impl VertexTree {
    /// Grows the tree from one root per component (`roots[c]` must lie in component `c`).
    ///
    /// # Panics
    /// If `roots` does not hold exactly one vertex of each component, in component order.
    ///
    /// # Complexity
    /// O(V + E).
    pub fn new(mesh: &Mesh, connection: &Connection, roots: &[VertexId]) -> VertexTree {
        assert_eq!(
            roots.len(),
            mesh.components().len(),
            "one root per component"
        );
        for (c, r) in roots.iter().enumerate() {
            assert_eq!(
                mesh.vertex_component(*r),
                c,
                "root {r} must lie in component {c}"
            );
        }
        let nv = mesh.vertex_count();
        let graph = VertexGraph { mesh };
        let raw: Vec<u32> = roots.iter().map(|r| r.raw()).collect();
        let (order, position) = bfs_order(graph, &raw, nv);
        let mut parent_spoke = vec![NONE; nv];
        let mut depth = vec![0u32; nv];
        let mut transports = vec![O2::IDENTITY; nv];
        for &v in &order {
            let vid = VertexId::new(v as usize);
            // The neighbour the search reached first discovered v.
            let mut best = (position[v as usize], NONE);
            for s in mesh.vertex_spoke_ids(vid) {
                let p = position[mesh.spoke_target(s).index()];
                if p < best.0 {
                    best = (p, mesh.spoke_opposite(s).raw());
                }
            }
            if best.1 != NONE {
                let s = SpokeId(best.1);
                let u = mesh.spoke_target(mesh.spoke_opposite(s));
                parent_spoke[v as usize] = s.raw();
                depth[v as usize] = depth[u.index()] + 1;
                transports[v as usize] = transports[u.index()].then(connection.spoke_transport(s));
            }
        }
        VertexTree {
            roots: roots.to_vec(),
            parent_spoke,
            depth,
            order: order
                .into_iter()
                .map(|v| VertexId::new(v as usize))
                .collect(),
            transports,
        }
    }

    /// The root (base vertex) of each component.
    pub fn roots(&self) -> &[VertexId] {
        &self.roots
    }

    /// The spoke from the parent of `v` to `v`, or `None` at a root.
    pub fn parent_spoke(&self, v: VertexId) -> Option<SpokeId> {
        let s = self.parent_spoke[v.index()];
        (s != NONE).then_some(SpokeId(s))
    }

    /// Number of tree edges between `v` and its root.
    pub fn depth(&self, v: VertexId) -> usize {
        self.depth[v.index()] as usize
    }

    /// Vertices in the order the search visited them (component by component).
    pub fn order(&self) -> &[VertexId] {
        &self.order
    }

    /// Transport from the root of `v`'s component to `v` along the tree.
    pub fn transport_from_root(&self, v: VertexId) -> O2 {
        self.transports[v.index()]
    }

    /// Transport from the root of every vertex's component to the vertex, indexed by vertex.
    pub fn transports(&self) -> &[O2] {
        &self.transports
    }

    /// The tree path from the root to `v`, both included.
    pub fn path_from_root(&self, mesh: &Mesh, v: VertexId) -> Vec<VertexId> {
        let mut path = Vec::with_capacity(self.depth(v) + 1);
        let mut w = v;
        path.push(w);
        while let Some(s) = self.parent_spoke(w) {
            w = mesh.spoke_target(mesh.spoke_opposite(s));
            path.push(w);
        }
        path.reverse();
        path
    }

    /// The closed vertex cycle of the edge `a → b`: tree path root → `a`, the edge, tree path `b` →
    /// root, without repeating the root at the end.
    pub fn edge_cycle(&self, mesh: &Mesh, a: VertexId, b: VertexId) -> Vec<VertexId> {
        let mut cycle = self.path_from_root(mesh, a);
        let back = self.path_from_root(mesh, b);
        cycle.extend(back.iter().rev().take(back.len().saturating_sub(1)));
        cycle
    }
}

/// A tree–cotree decomposition (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct TreeCotree {
    vertex_tree: VertexTree,
    in_vertex_tree: Vec<bool>,
    in_dual_tree: Vec<bool>,
    /// Halfedge of each face crossed towards its dual parent (`NONE` at a root face).
    dual_parent: Vec<u32>,
    leftover: Vec<Vec<EdgeId>>,
}

impl TreeCotree {
    /// Builds both trees; `roots[c]` is the base vertex of component `c`.
    ///
    /// # Panics
    /// As [`VertexTree::new`].
    ///
    /// # Complexity
    /// O(V + F).
    pub fn new(mesh: &Mesh, connection: &Connection, roots: &[VertexId]) -> TreeCotree {
        let vertex_tree = VertexTree::new(mesh, connection, roots);
        let ne = mesh.edge_count();
        let nf = mesh.face_count();
        let mut in_vertex_tree = vec![false; ne];
        for v in mesh.vertices() {
            if let Some(s) = vertex_tree.parent_spoke(v) {
                in_vertex_tree[mesh.spoke_edge(s).index()] = true;
            }
        }
        // Outer nodes and their boundary halfedges.
        let nc = mesh.components().len();
        let mut component_outer = vec![NONE; nc];
        let mut outer_components = Vec::new();
        for (c, comp) in mesh.components().iter().enumerate() {
            if comp.boundary_loops > 0 {
                component_outer[c] = (nf + outer_components.len()) as u32;
                outer_components.push(c);
            }
        }
        let mut outer_offsets = vec![0u32; outer_components.len() + 1];
        let mut boundary: Vec<(u32, u32)> = Vec::new();
        for h in 0..mesh.halfedge_count() {
            let hid = HalfedgeId::new(h);
            if mesh.halfedge_twin(hid).is_none() {
                let k = component_outer[mesh.face_component(hid.face())] - nf as u32;
                boundary.push((k, h as u32));
                outer_offsets[k as usize + 1] += 1;
            }
        }
        for k in 0..outer_components.len() {
            outer_offsets[k + 1] += outer_offsets[k];
        }
        boundary.sort_unstable();
        let outer_halfedges: Vec<u32> = boundary.into_iter().map(|(_, h)| h).collect();
        let graph = DualGraph {
            mesh,
            in_vertex_tree: &in_vertex_tree,
            component_outer: &component_outer,
            outer_offsets: &outer_offsets,
            outer_halfedges: &outer_halfedges,
        };
        let dual_roots: Vec<u32> = (0..nc)
            .map(|c| {
                if component_outer[c] != NONE {
                    component_outer[c]
                } else {
                    mesh.vertex_corners(roots[c])[0].face().raw()
                }
            })
            .collect();
        let node_count = nf + outer_components.len();
        let (order, position) = bfs_order(graph, &dual_roots, node_count);
        let mut dual_parent = vec![NONE; nf];
        let mut in_dual_tree = vec![false; ne];
        for &n in &order {
            if n as usize >= nf {
                continue;
            }
            let mut best = (position[n as usize], NONE);
            let mut i = 0;
            while let Some(s) = graph.step(n, i) {
                i += 1;
                if let Some(s) = s {
                    let p = position[s.node as usize];
                    if p < best.0 {
                        best = (p, s.halfedge);
                    }
                }
            }
            if best.1 != NONE {
                dual_parent[n as usize] = best.1;
                in_dual_tree[mesh.halfedge_edge(HalfedgeId(best.1)).index()] = true;
            }
        }
        let mut leftover = vec![Vec::new(); nc];
        for e in 0..ne {
            if !in_vertex_tree[e] && !in_dual_tree[e] {
                let eid = EdgeId::new(e);
                let (h, _) = mesh.edge_halfedges(eid);
                leftover[mesh.face_component(h.face())].push(eid);
            }
        }
        TreeCotree {
            vertex_tree,
            in_vertex_tree,
            in_dual_tree,
            dual_parent,
            leftover,
        }
    }

    /// The vertex tree.
    pub fn vertex_tree(&self) -> &VertexTree {
        &self.vertex_tree
    }

    /// Consumes the decomposition, keeping the vertex tree.
    pub fn into_vertex_tree(self) -> VertexTree {
        self.vertex_tree
    }

    /// Whether an edge belongs to the vertex tree.
    pub fn is_vertex_tree_edge(&self, e: EdgeId) -> bool {
        self.in_vertex_tree[e.index()]
    }

    /// Whether an edge is crossed by the dual tree.
    pub fn is_dual_tree_edge(&self, e: EdgeId) -> bool {
        self.in_dual_tree[e.index()]
    }

    /// The side of `f` through which the dual tree reaches its parent (a face, or the outer node if the
    /// side is a boundary edge); `None` at the root face of a closed component.
    pub fn dual_parent(&self, f: FaceId) -> Option<HalfedgeId> {
        let h = self.dual_parent[f.index()];
        (h != NONE).then_some(HalfedgeId(h))
    }

    /// The leftover edges of each component, in edge order.
    pub fn leftover_edges(&self) -> &[Vec<EdgeId>] {
        &self.leftover
    }
}
