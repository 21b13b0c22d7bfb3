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

/// Options of [`HolonomyAnalysis::new`].
///
/// Made with [`HolonomyOptions::new`] (or `default()`) and the builder-style setters, one per field.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct HolonomyOptions {
    /// Base vertex of its component (default: the lowest-numbered vertex of each component). The
    /// other components keep their default base.
    pub base: Option<VertexId>,
    /// Tolerance and order bound of the classification.
    pub classify: ClassifyOptions,
}

impl HolonomyOptions {
    /// The default options: each component's lowest-numbered vertex as its base, the default
    /// [`ClassifyOptions`].
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::holonomy::{ClassifyOptions, HolonomyOptions};
    /// let o = HolonomyOptions::new().classify(ClassifyOptions::new().max_order(10));
    /// assert_eq!((o.base, o.classify.max_order), (None, 10));
    /// ```
    pub const fn new() -> HolonomyOptions {
        HolonomyOptions {
            base: None,
            classify: ClassifyOptions::new(),
        }
    }

    /// These options with another base vertex (`None`: the default base of every component).
    pub const fn base(mut self, base: Option<VertexId>) -> HolonomyOptions {
        self.base = base;
        self
    }

    /// These options with other classification options.
    pub const fn classify(mut self, classify: ClassifyOptions) -> HolonomyOptions {
        self.classify = classify;
        self
    }
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
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::holonomy::{HolonomyAnalysis, HolonomyOptions};
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// // A cube of 12 triangles: the cone metric turns by quarter turns at the eight corners (C4); the
    /// // vertex connection spreads them over the faces, π/3 each (C6).
    /// let m = Manifold::load("cube:1", &BuildOptions::default()).unwrap();
    /// let h = HolonomyAnalysis::new(&m, &HolonomyOptions::default()).unwrap();
    /// assert_eq!(h.group().name(), "C6");
    /// assert_eq!(h.cone_metric_group().name(), "C4");
    /// // A sphere has no non-contractible loops.
    /// assert!(h.components()[0].loops.is_empty());
    /// // Gauss–Bonnet: the defects sum to 4π.
    /// let total: f64 = h.vertex_defects().iter().sum();
    /// assert!((total - 4.0 * std::f64::consts::PI).abs() < 1e-12);
    /// ```
    pub fn new(m: &Manifold, options: &HolonomyOptions) -> Result<HolonomyAnalysis> {
        options.classify.validate()?;
        let mesh = &m.mesh;
        check_base(m, options.base)?;
        let vertex_components: Vec<u32> = mesh
            .vertices()
            .map(|v| mesh.vertex_component(v) as u32)
            .collect();
        let face_components: Vec<u32> = mesh
            .face_ids()
            .map(|f| mesh.face_component(f) as u32)
            .collect();
        let roots = component_roots(m, &vertex_components, options.base);
        let tree = TreeCotree::new(mesh, &m.connection, &roots);
        let (face_holonomies, face_generators) = face_loop_holonomies(m, tree.vertex_tree());
        let vertex_defects = m.geometry.vertex_angle_defects(&m.mesh);

        // Generators go into the builders in a fixed order (faces, vertex defects, then the loops
        // component by component), so the classification is the same run to run.
        let mut views = Views::new(&options.classify, mesh.components().len());
        let faces_per = views.add_faces(&face_generators, &face_components);
        let interior_per = views.add_vertex_defects(m, &vertex_defects, &vertex_components);
        let mut components = Vec::with_capacity(roots.len());
        for (c, comp) in mesh.components().iter().enumerate() {
            let base = roots[c];
            let base_face = mesh.vertex_corners(base)[0].face();
            let loops = generator_loops(m, &tree, c, base_face)?;
            views.add_loops(c, &loops);
            components.push(ComponentHolonomy {
                index: c,
                base,
                base_face,
                orientable: comp.orientable,
                closed: comp.boundary_loops == 0,
                faces: faces_per[c],
                interior_vertices: interior_per[c],
                loops,
                group: views.vertex[c].finish(),
                cone_group: views.cone[c].finish(),
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
            group: views.vertex_joint.finish(),
            cone_group: views.cone_joint.finish(),
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

/// [`HolonomyOptions::base`](field@HolonomyOptions::base), if given, is a vertex of the mesh.
fn check_base(m: &Manifold, base: Option<VertexId>) -> Result<()> {
    base.map_or(Ok(()), |b| m.mesh.check_vertex(b, "base"))
}

/// The base vertex of every component: `base` in its own, the lowest-numbered vertex elsewhere.
fn component_roots(
    m: &Manifold,
    vertex_components: &[u32],
    base: Option<VertexId>,
) -> Vec<VertexId> {
    let mesh = &m.mesh;
    let mut roots: Vec<Option<VertexId>> = vec![None; mesh.components().len()];
    if let Some(b) = base {
        roots[mesh.vertex_component(b)] = Some(b);
    }
    for v in mesh.vertices() {
        let c = vertex_components[v.index()] as usize;
        if roots[c].is_none() {
            roots[c] = Some(v);
        }
    }
    roots
        .into_iter()
        .map(|r| r.unwrap_or(VertexId::new(0)))
        .collect()
}

/// The holonomy angle of the vertex connection around every face, walked in the orientation of the
/// star of its corner-0 vertex, measured there and moved to the base along the vertex tree.
fn face_loop_holonomies(m: &Manifold, vt: &VertexTree) -> (Vec<f64>, Vec<f64>) {
    let mesh = &m.mesh;
    (0..mesh.face_count())
        .into_par_iter()
        .with_min_len(crate::par::CHEAP_ITEMS_PER_TASK)
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
        .unzip()
}

/// The generator loops of component `c`, one per leftover edge of the tree–cotree decomposition, in
/// both views (the cone view in the frame of `base_face`).
fn generator_loops(
    m: &Manifold,
    tree: &TreeCotree,
    c: usize,
    base_face: FaceId,
) -> Result<Vec<LoopGenerator>> {
    let mesh = &m.mesh;
    let vt = tree.vertex_tree();
    tree.leftover_edges()[c]
        .iter()
        .map(|&e| {
            let [a, b] = mesh.edge_vertices(e);
            let s = mesh
                .find_spoke(a, b)
                .ok_or(Error::Internal("an edge's ends are not adjacent".into()))?;
            let holonomy = vt
                .transport_from_root(a)
                .then(m.connection.spoke_transport(s))
                .then(vt.transport_from_root(b).inverse());
            let cycle = vt.edge_cycle(mesh, a, b);
            let cone_holonomy = cone_loop_holonomy(mesh, &m.geometry, base_face, &cycle)
                .map_err(|e| Error::Internal(format!("a tree cycle is not an edge path ({e})")))?;
            Ok(LoopGenerator {
                edge: e,
                from: a,
                to: b,
                holonomy,
                cone_holonomy,
            })
        })
        .collect()
}

/// The group builders of both views: per component and joint over all components.
struct Views {
    vertex: Vec<HolonomyGroupBuilder>,
    cone: Vec<HolonomyGroupBuilder>,
    vertex_joint: HolonomyGroupBuilder,
    cone_joint: HolonomyGroupBuilder,
}

impl Views {
    fn new(options: &ClassifyOptions, components: usize) -> Views {
        Views {
            vertex: vec![HolonomyGroupBuilder::new(options); components],
            cone: vec![HolonomyGroupBuilder::new(options); components],
            vertex_joint: HolonomyGroupBuilder::new(options),
            cone_joint: HolonomyGroupBuilder::new(options),
        }
    }

    /// The face generators (vertex view); returns the number of faces per component.
    fn add_faces(&mut self, face_generators: &[f64], face_components: &[u32]) -> Vec<usize> {
        let mut faces_per = vec![0usize; self.vertex.len()];
        for (i, &angle) in face_generators.iter().enumerate() {
            let c = face_components[i] as usize;
            faces_per[c] += 1;
            self.vertex[c].add(O2::rotation(angle));
            self.vertex_joint.add(O2::rotation(angle));
        }
        faces_per
    }

    /// The defects of the interior vertices (cone view); returns the number of interior vertices per
    /// component.
    fn add_vertex_defects(
        &mut self,
        m: &Manifold,
        vertex_defects: &[f64],
        vertex_components: &[u32],
    ) -> Vec<usize> {
        let mut interior_per = vec![0usize; self.cone.len()];
        for v in m.mesh.vertices() {
            if !m.mesh.is_boundary_vertex(v) {
                let c = vertex_components[v.index()] as usize;
                interior_per[c] += 1;
                let g = O2::rotation(vertex_defects[v.index()]);
                self.cone[c].add(g);
                self.cone_joint.add(g);
            }
        }
        interior_per
    }

    /// The generator loops of component `c`, in both views.
    fn add_loops(&mut self, c: usize, loops: &[LoopGenerator]) {
        for l in loops {
            self.vertex[c].add(l.holonomy);
            self.vertex_joint.add(l.holonomy);
            self.cone[c].add(l.cone_holonomy);
            self.cone_joint.add(l.cone_holonomy);
        }
    }
}
