//! [`HolonomyAnalysis`]: the generators of the holonomy group of every component, in both views, and
//! their classification.

use super::cone::cone_loop_holonomy;
use super::group::{ClassifyOptions, HolonomyGroup, HolonomyGroupBuilder};
use super::tree::{TreeCotree, VertexTree};
use crate::error::{Error, Result};
use crate::ids::{EdgeId, FaceId, HalfedgeId, VertexId};
use crate::manifold::Manifold;
use crate::transport::O2;
use rayon::prelude::*;
use std::f64::consts::PI;

/// Options of [`HolonomyAnalysis::new`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HolonomyOptions {
    /// Base vertex of its component (default: the lowest-numbered vertex of each component). The
    /// other components keep their default base.
    pub base: Option<VertexId>,
    /// Tolerance and order bound of the classification.
    pub classify: ClassifyOptions,
}

/// Where a generator comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GeneratorSource {
    /// The loop around a face (vertex connection), moved to the base along the vertex tree.
    Face(FaceId),
    /// The loop closed by a leftover edge of the tree–cotree decomposition, walked from its smaller
    /// vertex to its larger one.
    Loop(EdgeId),
    /// The angle defect of an interior vertex (cone metric).
    VertexDefect(VertexId),
}

impl GeneratorSource {
    /// `"face"`, `"loop"` or `"vertex_defect"`.
    pub fn kind(&self) -> &'static str {
        match self {
            GeneratorSource::Face(_) => "face",
            GeneratorSource::Loop(_) => "loop",
            GeneratorSource::VertexDefect(_) => "vertex_defect",
        }
    }
}

/// One generator of a holonomy group, as an element of O(2) acting on the tangent space at the base.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Generator {
    /// What it is.
    pub source: GeneratorSource,
    /// Its holonomy at the base (vertex frame of the base vertex in the vertex view, frame of the base
    /// face in the cone view).
    pub element: O2,
    /// The component.
    pub component: usize,
}

/// A non-contractible generator loop (one per leftover edge), measured in both views.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoopGenerator {
    /// The leftover edge that closes it.
    pub edge: EdgeId,
    /// The edge's end reached first (its smaller vertex).
    pub from: VertexId,
    /// The other end.
    pub to: VertexId,
    /// Holonomy of the vertex connection, in the frame of the base vertex.
    pub holonomy: O2,
    /// Holonomy of the cone metric along the same loop pushed off its vertices, in the frame of the
    /// base face.
    pub cone_holonomy: O2,
}

impl LoopGenerator {
    /// Whether the loop reverses orientation (its holonomy is a reflection).
    pub fn reverses_orientation(&self) -> bool {
        self.holonomy.reflect
    }
}

/// The holonomy of one connected component.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentHolonomy {
    /// Component index (as in [`Mesh::components`](crate::Mesh::components)).
    pub index: usize,
    /// The base vertex p0 (root of the vertex tree).
    pub base: VertexId,
    /// The base face of the cone view: the face of corner 0 of the base vertex.
    pub base_face: FaceId,
    /// Whether the component is orientable.
    pub orientable: bool,
    /// Whether it has no boundary.
    pub closed: bool,
    /// Number of faces (face generators).
    pub faces: usize,
    /// Number of interior vertices (vertex-defect generators of the cone view).
    pub interior_vertices: usize,
    /// The generator loops: `2 − χ` of them if closed, `1 − χ` otherwise.
    pub loops: Vec<LoopGenerator>,
    /// Holonomy group of the vertex connection at the base vertex.
    pub group: HolonomyGroup,
    /// Holonomy group of the cone metric at the base face.
    pub cone_group: HolonomyGroup,
}

/// Holonomy of a mesh in both views (see the [module docs](super)): generators per component and the
/// classified groups.
#[derive(Clone, Debug)]
pub struct HolonomyAnalysis {
    tree: TreeCotree,
    face_holonomies: Vec<f64>,
    face_generators: Vec<f64>,
    face_components: Vec<u32>,
    vertex_defects: Vec<f64>,
    vertex_components: Vec<u32>,
    components: Vec<ComponentHolonomy>,
    group: HolonomyGroup,
    cone_group: HolonomyGroup,
    options: HolonomyOptions,
}

impl HolonomyAnalysis {
    /// Computes the tree–cotree decomposition, every generator and both classifications.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the options are invalid (see [`ClassifyOptions::validate`]) or the
    /// base vertex does not exist.
    ///
    /// # Complexity
    /// O(V + F) for the trees and the face generators (parallel over faces), plus O(length) per
    /// generator loop for the cone view.
    pub fn new(m: &Manifold, options: &HolonomyOptions) -> Result<HolonomyAnalysis> {
        options.classify.validate()?;
        let mesh = &m.mesh;
        if let Some(b) = options.base {
            if b.index() >= mesh.vertex_count() {
                return Err(Error::InvalidParameter {
                    name: "base",
                    message: format!(
                        "vertex {b} does not exist (the mesh has {} vertices)",
                        mesh.vertex_count()
                    ),
                });
            }
        }
        let nc = mesh.components().len();
        let mut roots: Vec<Option<VertexId>> = vec![None; nc];
        if let Some(b) = options.base {
            roots[mesh.vertex_component(b)] = Some(b);
        }
        let vertex_components: Vec<u32> = mesh
            .vertices()
            .map(|v| mesh.vertex_component(v) as u32)
            .collect();
        for v in mesh.vertices() {
            let c = vertex_components[v.index()] as usize;
            if roots[c].is_none() {
                roots[c] = Some(v);
            }
        }
        let roots: Vec<VertexId> = roots
            .into_iter()
            .map(|r| r.unwrap_or(VertexId::new(0)))
            .collect();
        let tree = TreeCotree::new(mesh, &m.connection, &roots);
        let vt = tree.vertex_tree();

        // Face loops, in the orientation of the star of each face's corner-0 vertex.
        let (face_holonomies, face_generators): (Vec<f64>, Vec<f64>) = (0..mesh.face_count())
            .into_par_iter()
            .with_min_len(4096)
            .map(|i| {
                let f = FaceId::new(i);
                let [a, b, c] = mesh.face_vertices(f);
                let order = if mesh.corner_flipped(HalfedgeId::from_face_side(f, 0)) {
                    [a, c, b, a]
                } else {
                    [a, b, c, a]
                };
                let hol = m
                    .connection
                    .path_transport(mesh, &order)
                    .unwrap_or(O2::IDENTITY);
                let ta = vt.transport_from_root(a);
                let at_base = ta.then(hol).then(ta.inverse());
                (hol.angle, at_base.angle)
            })
            .unzip();
        let face_components: Vec<u32> = mesh
            .face_ids()
            .map(|f| mesh.face_component(f) as u32)
            .collect();
        let vertex_defects: Vec<f64> = mesh
            .vertices()
            .map(|v| {
                if mesh.is_boundary_vertex(v) {
                    0.0
                } else {
                    2.0 * PI - m.geometry.vertex_angle_sums()[v.index()]
                }
            })
            .collect();

        let opts = &options.classify;
        let mut builders = vec![HolonomyGroupBuilder::new(opts); nc];
        let mut cone_builders = vec![HolonomyGroupBuilder::new(opts); nc];
        let mut joint = HolonomyGroupBuilder::new(opts);
        let mut cone_joint = HolonomyGroupBuilder::new(opts);
        let mut faces_per = vec![0usize; nc];
        for (i, &angle) in face_generators.iter().enumerate() {
            let c = face_components[i] as usize;
            faces_per[c] += 1;
            builders[c].add(O2::rotation(angle));
            joint.add(O2::rotation(angle));
        }
        let mut interior_per = vec![0usize; nc];
        for v in mesh.vertices() {
            if !mesh.is_boundary_vertex(v) {
                let c = vertex_components[v.index()] as usize;
                interior_per[c] += 1;
                let g = O2::rotation(vertex_defects[v.index()]);
                cone_builders[c].add(g);
                cone_joint.add(g);
            }
        }
        let mut components = Vec::with_capacity(nc);
        for (c, comp) in mesh.components().iter().enumerate() {
            let base = roots[c];
            let base_face = mesh.vertex_corners(base)[0].face();
            let mut loops = Vec::new();
            for &e in &tree.leftover_edges()[c] {
                let [a, b] = mesh.edge_vertices(e);
                let s = mesh
                    .find_spoke(a, b)
                    .ok_or_else(|| internal("an edge's ends are not adjacent"))?;
                let holonomy = vt
                    .transport_from_root(a)
                    .then(m.connection.spoke_transport(s))
                    .then(vt.transport_from_root(b).inverse());
                let cycle = vt.edge_cycle(mesh, a, b);
                let cone_holonomy = cone_loop_holonomy(mesh, &m.geometry, base_face, &cycle)
                    .map_err(|e| internal(&format!("a tree cycle is not an edge path ({e})")))?;
                builders[c].add(holonomy);
                joint.add(holonomy);
                cone_builders[c].add(cone_holonomy);
                cone_joint.add(cone_holonomy);
                loops.push(LoopGenerator {
                    edge: e,
                    from: a,
                    to: b,
                    holonomy,
                    cone_holonomy,
                });
            }
            components.push(ComponentHolonomy {
                index: c,
                base,
                base_face,
                orientable: comp.orientable,
                closed: comp.boundary_loops == 0,
                faces: faces_per[c],
                interior_vertices: interior_per[c],
                loops,
                group: builders[c].finish(),
                cone_group: cone_builders[c].finish(),
            });
        }
        Ok(HolonomyAnalysis {
            tree,
            face_holonomies,
            face_generators,
            face_components,
            vertex_defects,
            vertex_components,
            components,
            group: joint.finish(),
            cone_group: cone_joint.finish(),
            options: *options,
        })
    }

    /// The holonomy group of the vertex connection, joint over all components (each measured at its
    /// own base vertex, the base frames identified): the group kernels must be invariant under. For a
    /// single component it is that component's group.
    pub fn group(&self) -> HolonomyGroup {
        self.group
    }

    /// The holonomy group of the exact piecewise-flat (cone) metric, joint over all components.
    pub fn cone_metric_group(&self) -> HolonomyGroup {
        self.cone_group
    }

    /// Per-component results.
    pub fn components(&self) -> &[ComponentHolonomy] {
        &self.components
    }

    /// The options used.
    pub fn options(&self) -> &HolonomyOptions {
        &self.options
    }

    /// The tree–cotree decomposition.
    pub fn tree_cotree(&self) -> &TreeCotree {
        &self.tree
    }

    /// The vertex tree: the gauge Γ_{p0→p} is [`VertexTree::transport_from_root`].
    pub fn vertex_tree(&self) -> &VertexTree {
        self.tree.vertex_tree()
    }

    /// Holonomy angle of the vertex connection around every face, walked in the orientation of the
    /// star of its corner-0 vertex and measured there (the face curvature `K_f`).
    pub fn face_holonomies(&self) -> &[f64] {
        &self.face_holonomies
    }

    /// The same, moved to the base vertex of the face's component (`±K_f`: the sign flips where the
    /// tree path to the face reverses orientation).
    pub fn face_generator_angles(&self) -> &[f64] {
        &self.face_generators
    }

    /// Angle defect `2π − Θ_v` of every interior vertex (0 on the boundary).
    pub fn vertex_defects(&self) -> &[f64] {
        &self.vertex_defects
    }

    /// Every generator of the vertex-connection view: one per face, then the loops of each component.
    pub fn generators(&self) -> impl Iterator<Item = Generator> + '_ {
        let faces = self
            .face_generators
            .iter()
            .enumerate()
            .map(|(i, &a)| Generator {
                source: GeneratorSource::Face(FaceId::new(i)),
                element: O2::rotation(a),
                component: self.face_components[i] as usize,
            });
        faces.chain(self.loop_generators(false))
    }

    /// Every generator of the cone-metric view: one per interior vertex with a nonzero defect (a zero
    /// defect generates nothing), then the loops.
    pub fn cone_generators(&self) -> impl Iterator<Item = Generator> + '_ {
        let vertices = self
            .vertex_defects
            .iter()
            .enumerate()
            .filter(|(i, _)| self.vertex_interior(*i))
            .map(|(i, &k)| Generator {
                source: GeneratorSource::VertexDefect(VertexId::new(i)),
                element: O2::rotation(k),
                component: self.vertex_components[i] as usize,
            });
        vertices.chain(self.loop_generators(true))
    }

    fn vertex_interior(&self, i: usize) -> bool {
        // Boundary vertices carry a defect of exactly 0.0 and are skipped; so are interior vertices
        // whose defect is exactly 0, which generate nothing.
        self.vertex_defects[i] != 0.0
    }

    fn loop_generators(&self, cone: bool) -> impl Iterator<Item = Generator> + '_ {
        self.components.iter().flat_map(move |c| {
            c.loops.iter().map(move |l| Generator {
                source: GeneratorSource::Loop(l.edge),
                element: if cone { l.cone_holonomy } else { l.holonomy },
                component: c.index,
            })
        })
    }

    /// The vertex cycle of a generator loop: tree path from the base to `from`, the edge, tree path from
    /// `to` back to the base (not repeated).
    pub fn loop_cycle(&self, m: &Manifold, l: &LoopGenerator) -> Vec<VertexId> {
        self.vertex_tree().edge_cycle(&m.mesh, l.from, l.to)
    }
}

fn internal(what: &str) -> Error {
    Error::InvalidParameter {
        name: "mesh",
        message: format!("internal error: {what}"),
    }
}
