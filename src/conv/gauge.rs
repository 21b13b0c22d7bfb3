//! The gauge Γ_{p0→p}: transport from a reference vertex of each component to every vertex, along a
//! spanning tree of the vertex graph.
//!
//! A kernel given in the frame of the reference vertex `p0` is moved to `p` by Γ_{p0→p}. Two spanning
//! trees differ by loops, so the transported kernel differs by the holonomy of those loops: a kernel
//! invariant under the holonomy group (see [`kernel`](crate::kernel)) gives the same convolution for
//! every tree, and an unconstrained kernel on a curved mesh does not. That is the seed's "sweep under
//! the rug", made checkable.

use crate::error::{Error, Result};
use crate::holonomy::VertexTree;
use crate::ids::{SpokeId, VertexId};
use crate::manifold::MeshIdentity;
use crate::rng::SplitMix;
use crate::transport::O2;
use crate::Manifold;

/// Which spanning tree of the vertex graph carries the gauge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpanningTree {
    /// Breadth-first from the root (petgraph's BFS, as used by the holonomy analysis).
    #[default]
    Bfs,
    /// A random spanning tree: grown from the root by attaching a uniformly chosen frontier vertex at
    /// each step, from a seeded generator (reproducible).
    Random {
        /// Seed of the generator.
        seed: u64,
    },
}

/// Γ_{p0→p} for every vertex `p`, one reference vertex `p0` per component.
#[derive(Clone, Debug)]
pub struct Gauge {
    /// The mesh the gauge was built for (checked by its consumers).
    mesh: MeshIdentity,
    roots: Vec<VertexId>,
    transports: Vec<O2>,
    order: Vec<VertexId>,
}

impl Gauge {
    /// The default reference vertex of each component: its lowest-numbered vertex.
    pub fn default_roots(m: &Manifold) -> Vec<VertexId> {
        let mut roots: Vec<Option<VertexId>> = vec![None; m.mesh.components().len()];
        for v in m.mesh.vertices() {
            let c = m.mesh.vertex_component(v);
            roots[c].get_or_insert(v);
        }
        roots
            .into_iter()
            .map(|r| r.expect("every component has a vertex"))
            .collect()
    }

    /// Builds the gauge from one root per component (`None`: [`Gauge::default_roots`]).
    ///
    /// # Errors
    /// If `roots` does not hold exactly one vertex of each component, in component order.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::conv::{Gauge, SpanningTree};
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// let m = Manifold::load("icosphere:1", &BuildOptions::default()).unwrap();
    /// let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    /// // One component, rooted at vertex 0, whose own frame is carried by the identity.
    /// let root = m.mesh.vertex(0).unwrap();
    /// assert_eq!(gauge.roots(), &[root]);
    /// assert_eq!(gauge.transports().len(), m.mesh.vertex_count());
    /// assert!(gauge.transports()[0].angle.abs() < 1e-15 && !gauge.transports()[0].reflect);
    /// // Another tree gives another gauge: the sphere is curved.
    /// let random = Gauge::new(&m, None, SpanningTree::Random { seed: 7 }).unwrap();
    /// assert_ne!(random.transports(), gauge.transports());
    /// ```
    pub fn new(m: &Manifold, roots: Option<&[VertexId]>, tree: SpanningTree) -> Result<Gauge> {
        let roots = match roots {
            Some(r) => r.to_vec(),
            None => Gauge::default_roots(m),
        };
        if roots.len() != m.mesh.components().len() {
            return Err(Error::InvalidParameter {
                name: "gauge roots",
                message: format!(
                    "{} roots for {} components",
                    roots.len(),
                    m.mesh.components().len()
                ),
            });
        }
        for (c, r) in roots.iter().enumerate() {
            if r.index() >= m.mesh.vertex_count() || m.mesh.vertex_component(*r) != c {
                return Err(Error::InvalidParameter {
                    name: "gauge roots",
                    message: format!("root {r} is not a vertex of component {c}"),
                });
            }
        }
        let bfs = VertexTree::new(&m.mesh, &m.connection, &roots);
        let transports = match tree {
            SpanningTree::Bfs => bfs.transports().to_vec(),
            SpanningTree::Random { seed } => random_tree_transports(m, &roots, seed),
        };
        Ok(Gauge {
            mesh: m.identity(),
            roots,
            transports,
            order: bfs.order().to_vec(),
        })
    }

    /// The gauge of the vertices' own frames: Γ_p the identity at every vertex. Feature fields
    /// ([`fields`](crate::fields)) are written in it by default.
    pub fn identity(m: &Manifold) -> Gauge {
        Gauge::from_frames(m, vec![O2::IDENTITY; m.mesh.vertex_count()])
            .expect("one frame per vertex")
    }

    /// A gauge of arbitrary frames: `frames[p]` maps a polar angle in the frame of gauge `p` to one in
    /// the vertex's own frame (a rotation, or on non-orientable meshes possibly a reflection). For
    /// feature fields this is a change of frame at every vertex; for the constrained kernels of
    /// [`ConvOperator::new`](super::ConvOperator::new) it is the transport of the kernel from a
    /// reference frame, which gives a tree-independent convolution only when it is the transport
    /// along some spanning tree ([`new`](Self::new)).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless there is one finite frame per vertex.
    pub fn from_frames(m: &Manifold, frames: Vec<O2>) -> Result<Gauge> {
        let n = m.mesh.vertex_count();
        if frames.len() != n || frames.iter().any(|g| !g.angle.is_finite()) {
            return Err(Error::InvalidParameter {
                name: "frames",
                message: format!("{} frames (finite angles) for {n} vertices", frames.len()),
            });
        }
        let roots = Gauge::default_roots(m);
        let order = VertexTree::new(&m.mesh, &m.connection, &roots)
            .order()
            .to_vec();
        Ok(Gauge {
            mesh: m.identity(),
            roots,
            transports: frames,
            order,
        })
    }

    /// Every vertex in breadth-first order from the roots (component by component). On meshes without
    /// positions, [`ConvOperator`](super::ConvOperator) stores its rows in this order, so that a row's
    /// neighbours sit within a few fronts of it.
    pub fn order(&self) -> &[VertexId] {
        &self.order
    }

    /// The identity of the mesh the gauge was built for.
    pub fn mesh_identity(&self) -> MeshIdentity {
        self.mesh
    }

    /// The reference vertex of each component.
    pub fn roots(&self) -> &[VertexId] {
        &self.roots
    }

    /// Γ_{p0→p} for every vertex `p` (identity at the roots).
    pub fn transports(&self) -> &[O2] {
        &self.transports
    }
}

fn random_tree_transports(m: &Manifold, roots: &[VertexId], seed: u64) -> Vec<O2> {
    let mesh = &m.mesh;
    let mut rng = SplitMix(seed);
    let mut transports = vec![O2::IDENTITY; mesh.vertex_count()];
    let mut reached = vec![false; mesh.vertex_count()];
    // Frontier of spokes from reached vertices; attach the target of a random one.
    let mut frontier: Vec<SpokeId> = Vec::new();
    for &r in roots {
        reached[r.index()] = true;
        frontier.extend(mesh.vertex_spoke_ids(r));
        while !frontier.is_empty() {
            let s = frontier.swap_remove(rng.below(frontier.len()));
            let w = mesh.spoke_target(s);
            if reached[w.index()] {
                continue;
            }
            reached[w.index()] = true;
            let u = mesh.spoke_target(mesh.spoke_opposite(s));
            transports[w.index()] = transports[u.index()].then(m.connection.spoke_transport(s));
            frontier.extend(mesh.vertex_spoke_ids(w));
        }
    }
    transports
}
