//! A mesh compiled for a model: its nested resolutions, one convolution operator per resolution, the
//! vertex areas, and the maps that pool and unpool between resolutions.

use super::field_ops::{FieldPoolOp, FieldRing};
use super::fields::FieldOp;
use super::fused::{GlobalPoolOp, PoolOp, Rings};
use super::op::ConvOp;
use super::spec::ConvSpec;
use crate::conv::{
    CompileCache, CompileEvent, Compiler, ConvOperator, ConvOptions, Gauge, SpanningTree,
};
use crate::error::{Error, Result};
use crate::expmap::{ExpMapOptions, ExpMapTable, Padding, Radius};
use crate::fields::{FieldKernel, FieldType};
use crate::holonomy::HolonomyGroup;
use crate::kernel::ConstrainedBasis;
use crate::primitives::Primitive;
use crate::transport::O2;
use crate::{BuildOptions, Manifold, MeshSource};
use candle_core::Tensor;
use std::sync::Arc;

/// One resolution of a mesh: the manifold, its convolution and its normalized vertex areas.
pub struct Level {
    /// The mesh at this resolution.
    pub manifold: Arc<Manifold>,
    /// The compiled convolution.
    pub conv: ConvOp,
    /// Vertex areas divided by the total area (they sum to 1).
    pub area_weights: Arc<Vec<f64>>,
    /// The same in row order (row `r` is vertex `conv.operator().order()[r]`).
    row_areas: Arc<Vec<f64>>,
    /// The exp-map table the convolutions of this level were compiled from, unless they came from a
    /// compile cache (then [`MeshLevels::with_fields_cached`] loads or builds it if a field
    /// convolution needs it).
    table: Option<Arc<ExpMapTable>>,
}

/// Index maps between level `l` (fine) and `l + 1` (coarse); coarse vertex `v` is fine vertex `v`.
struct Pooling {
    /// Per coarse vertex, itself and its fine one ring, padded to `ring_width` entries with the index
    /// one past the fine vertices (a row that pooling appends: never the max, zero in a sum).
    ring: Arc<Vec<u32>>,
    ring_width: usize,
    /// Per coarse vertex, 1 / the size of its ring.
    inverse_ring_size: Arc<Vec<f64>>,
    /// Number of fine vertices (the padding index).
    fine: usize,
    /// Per fine vertex, the two coarse vertices it interpolates (twice itself for a coarse vertex).
    parents: Vec<u32>,
    /// The rings in row order, for the pooling op.
    rows: Option<Arc<Rings>>,
    /// `parents` in row order: per fine row, the coarse rows it interpolates.
    row_parents: Vec<u32>,
    /// Per entry of `ring`: the map of tangent directions from the fine frame of the ring vertex `w`
    /// to the coarse frame of the centre `v`: transport along the fine edge `w → v`, then the change
    /// from `v`'s fine frame to its coarse frame (identity for the padding).
    ring_frames: Vec<O2>,
    /// For pooling fields in row layout: per coarse row and ring slot, the fine row (0 for the
    /// padding), the frame map, and the weight (1 / ring size; 0 for the padding).
    field_rows: Option<Arc<FieldRing>>,
}

/// A mesh at every resolution a model needs, compiled once and reused for every signal on it.
pub struct MeshLevels {
    levels: Vec<Level>,
    pools: Vec<Pooling>,
    /// Whether the operators are also compiled in `f64`.
    f64: bool,
    /// The exp-map table's parameters (every level's).
    params: ExpMapOptions,
    /// The field convolutions compiled for a model ([`with_fields`](MeshLevels::with_fields)): level,
    /// kernel, operators.
    fields: Vec<(usize, FieldKernel, FieldOp)>,
}

/// The kernel basis a convolution spec describes, constrained to `group`.
pub fn constrained_basis(conv: &ConvSpec, group: &HolonomyGroup) -> Result<ConstrainedBasis> {
    Ok(crate::kernel::KernelBasis::parse(&conv.basis)?.constrain(group))
}

/// The meshes `levels` subdivision steps coarser than `spec`, coarsest last: for `icosphere:L`,
/// `icosphere:L−1`, `icosphere:L−2`, …
///
/// # Errors
/// [`Error::InvalidSpec`] if the spec is not an icosphere of at least `levels` levels (other meshes
/// made by subdivision enter through [`MeshLevels::compile`] with their coarse levels given).
pub fn coarser_levels(spec: &str, levels: usize) -> Result<Vec<Arc<Manifold>>> {
    if levels == 0 {
        return Ok(Vec::new());
    }
    let level = match Primitive::parse(spec)? {
        Some(Primitive::Icosphere { level }) if level as usize >= levels => level,
        _ => {
            return Err(Error::InvalidSpec {
                spec: spec.into(),
                message: format!(
                    "the model pools {levels} time(s); pooling needs a mesh made by subdivision \
                     with that many coarser levels (icosphere:L with L ≥ {levels})"
                ),
            })
        }
    };
    (1..=levels)
        .map(|k| {
            let spec = format!("icosphere:{}", level as usize - k);
            Ok(Arc::new(Manifold::load(&spec, &BuildOptions::default())?))
        })
        .collect()
}

fn source_of(m: &Manifold) -> Result<MeshSource> {
    let positions = m.positions.clone().ok_or_else(|| Error::MissingGeometry {
        message: "pooling needs vertex positions to check that the levels are nested".into(),
    })?;
    let faces = m
        .mesh
        .faces()
        .iter()
        .map(|f| [f[0].raw(), f[1].raw(), f[2].raw()])
        .collect();
    Ok(MeshSource::from_positions(String::new(), positions, faces))
}

fn pooling(fine: &Manifold, coarse: &Manifold, level: usize) -> Result<Pooling> {
    let (nf, nc) = (fine.mesh.vertex_count(), coarse.mesh.vertex_count());
    let split = crate::subdivide::split_edges(&source_of(coarse)?)?;
    let nested = nf == nc + split.len()
        && match (&fine.positions, &coarse.positions) {
            (Some(pf), Some(pc)) => pc
                .iter()
                .zip(pf)
                .all(|(a, b)| (0..3).all(|k| (a[k] - b[k]).abs() <= 1e-9 * (1.0 + a[k].abs()))),
            _ => false,
        };
    if !nested {
        return Err(Error::InvalidParameter {
            name: "levels",
            message: format!(
                "level {} ({nc} vertices) is not the subdivision parent of level {level} ({nf} vertices): \
                 a subdivided mesh keeps its parent's vertices as 0..V and adds one per edge",
                level + 1
            ),
        });
    }
    let mut parents = Vec::with_capacity(2 * nf);
    for v in 0..nc as u32 {
        parents.extend_from_slice(&[v, v]);
    }
    for e in &split {
        parents.extend_from_slice(e);
    }
    let (rings, frames): (Vec<Vec<u32>>, Vec<Vec<O2>>) = (0..nc)
        .map(|v| {
            let vid = fine
                .mesh
                .vertex(v)
                .expect("coarse vertices are fine vertices");
            let to_coarse = fine_to_coarse_frame(fine, coarse, vid, &split, nc);
            let mut r = vec![v as u32];
            let mut g = vec![to_coarse];
            for s in fine.mesh.vertex_spoke_ids(vid) {
                let w = fine.mesh.spoke_target(s).raw();
                if !r.contains(&w) {
                    r.push(w);
                    let back = fine.connection.spoke_transport(fine.mesh.spoke_opposite(s));
                    g.push(back.then(to_coarse));
                }
            }
            (r, g)
        })
        .unzip();
    let ring_width = rings.iter().map(Vec::len).max().unwrap_or(1);
    let mut ring = Vec::with_capacity(nc * ring_width);
    for r in &rings {
        ring.extend_from_slice(r);
        ring.resize(ring.len() + ring_width - r.len(), nf as u32);
    }
    let inverse_ring_size = Arc::new(rings.iter().map(|r| 1.0 / r.len() as f64).collect());
    let mut ring_frames = Vec::with_capacity(nc * ring_width);
    for g in &frames {
        ring_frames.extend_from_slice(g);
        ring_frames.resize(ring_frames.len() + ring_width - g.len(), O2::IDENTITY);
    }
    Ok(Pooling {
        ring_frames,
        field_rows: None,
        ring: Arc::new(ring),
        ring_width,
        inverse_ring_size,
        fine: nf,
        parents,
        rows: None,
        row_parents: Vec::new(),
    })
}

/// The map of tangent directions at coarse vertex `v` from its frame in the fine mesh to its frame
/// in the coarse mesh. The coarse edge `v → u` is split at a fine vertex whose fine edge from `v` runs
/// the same way: the map takes the fine polar angle of `v → mid(v, u)` to the coarse polar angle of
/// `v → u`, for the first coarse spoke, as a rotation or a reflection, whichever also takes the second
/// spoke's fine angle nearer its coarse one (the stars may be oriented either way).
fn fine_to_coarse_frame(
    fine: &Manifold,
    coarse: &Manifold,
    v: crate::ids::VertexId,
    split: &[[u32; 2]],
    nc: usize,
) -> O2 {
    let cv = coarse
        .mesh
        .vertex(v.index())
        .expect("coarse vertices are fine vertices");
    // The fine polar angle of v → the midpoint of the coarse edge v → u.
    let fine_angle = |u: u32| -> Option<f64> {
        fine.mesh.vertex_spoke_ids(v).find_map(|s| {
            let w = fine.mesh.spoke_target(s).index();
            (w >= nc && {
                let [a, b] = split[w - nc];
                (a == v.raw() && b == u) || (a == u && b == v.raw())
            })
            .then(|| fine.frames.spoke_angles()[s.index()])
        })
    };
    let spokes = coarse.mesh.vertex_spoke_ids(cv);
    let pair = |s: crate::ids::SpokeId| {
        let u = coarse.mesh.spoke_target(s).raw();
        fine_angle(u).map(|a| (a, coarse.frames.spoke_angles()[s.index()]))
    };
    let Some((a0, c0)) = spokes.clone().next().and_then(pair) else {
        return O2::IDENTITY;
    };
    let rotation = O2::rotation(c0 - a0);
    let reflection = O2 {
        angle: crate::transport::wrap_angle(c0 + a0),
        reflect: true,
    };
    match spokes.clone().nth(1).and_then(pair) {
        Some((a1, c1))
            if crate::transport::wrap_angle(reflection.apply(a1) - c1).abs()
                < crate::transport::wrap_angle(rotation.apply(a1) - c1).abs() =>
        {
            reflection
        }
        _ => rotation,
    }
}

impl Pooling {
    /// Fills the row-order copies, given the row orders of the fine and the coarse operator.
    fn order_rows(&mut self, fine: &ConvOperator<f32>, coarse: &ConvOperator<f32>) {
        let (fine_rank, coarse_order) = (fine.rank(), coarse.order());
        let width = self.ring_width;
        let mut ring = Vec::with_capacity(self.ring.len());
        let mut inverse = Vec::with_capacity(coarse_order.len());
        for &v in coarse_order {
            let v = v as usize;
            ring.extend(self.ring[v * width..(v + 1) * width].iter().map(|&w| {
                if w as usize == self.fine {
                    w
                } else {
                    fine_rank[w as usize]
                }
            }));
            inverse.push(self.inverse_ring_size[v]);
        }
        let (mut rows, mut frames, mut weights) = (vec![], vec![], vec![]);
        for (i, &v) in coarse_order.iter().enumerate() {
            for k in 0..width {
                let r = ring[i * width + k];
                let pad = r as usize == self.fine;
                rows.push(if pad { 0 } else { r });
                frames.push(self.ring_frames[v as usize * width + k]);
                weights.push(if pad { 0.0 } else { inverse[i] });
            }
        }
        self.field_rows = Some(Arc::new(FieldRing::new(
            rows, frames, weights, width, self.fine,
        )));
        self.rows = Some(Arc::new(Rings::new(ring, width, inverse, self.fine)));
        let coarse_rank = coarse.rank();
        self.row_parents = fine
            .order()
            .iter()
            .flat_map(|&w| {
                let w = w as usize;
                [
                    coarse_rank[self.parents[2 * w] as usize],
                    coarse_rank[self.parents[2 * w + 1] as usize],
                ]
            })
            .collect();
    }
}

impl MeshLevels {
    /// Compiles a mesh and its coarser levels (each the subdivision parent of the one before, as
    /// [`coarser_levels`] gives) for the convolution `conv` constrained to `group`; with `f64` the
    /// operators are also compiled in `f64` (for gradient checks).
    ///
    /// # Errors
    /// A bad convolution spec (basis, table parameters), or levels that are not nested.
    pub fn compile(
        finest: Arc<Manifold>,
        coarser: Vec<Arc<Manifold>>,
        conv: &ConvSpec,
        group: &HolonomyGroup,
        f64: bool,
    ) -> Result<MeshLevels> {
        Self::compile_cached(finest, coarser, conv, group, f64, None, &mut |_| {})
    }

    /// As [`compile`](Self::compile), with each level's exp-map table and operators taken from
    /// `cache` where it holds them (and written there once compiled), and what happens (cache hits,
    /// progress) reported to `report`.
    ///
    /// # Errors
    /// As [`compile`](Self::compile).
    pub fn compile_cached(
        finest: Arc<Manifold>,
        coarser: Vec<Arc<Manifold>>,
        conv: &ConvSpec,
        group: &HolonomyGroup,
        f64: bool,
        cache: Option<&CompileCache>,
        report: &mut dyn FnMut(CompileEvent<'_>),
    ) -> Result<MeshLevels> {
        let basis = constrained_basis(conv, group)?;
        let params = ExpMapOptions::new()
            .rings(conv.rings)
            .directions(conv.directions)
            .radius(Radius::MeanEdgeLengths(conv.radius_edges))
            .padding(Padding::parse(&conv.padding)?);
        let manifolds: Vec<Arc<Manifold>> = std::iter::once(finest).chain(coarser).collect();
        let mut pools = Vec::new();
        for (l, pair) in manifolds.windows(2).enumerate() {
            pools.push(pooling(&pair[0], &pair[1], l)?);
        }
        let mut levels = Vec::new();
        for m in manifolds {
            let gauge = Gauge::new(&m, None, SpanningTree::Bfs)?;
            let options = ConvOptions::default();
            let mut compiler = Compiler::new(&m, params, cache, &mut *report);
            let op32 = Arc::new(compiler.operator::<f32, _>(&basis, &gauge, &options)?);
            let op64 = if f64 {
                Some(Arc::new(
                    compiler.operator::<f64, _>(&basis, &gauge, &options)?,
                ))
            } else {
                None
            };
            // The field convolutions of a model compile from the same table later (`with_fields`);
            // none was built or loaded if the operators came from the cache.
            let table = compiler.take_table();
            drop(compiler);
            let areas = m.geometry.vertex_areas();
            let total: f64 = areas.iter().sum();
            let area_weights: Vec<f64> = areas.iter().map(|a| a / total).collect();
            let row_areas = op32.order().iter().map(|&v| area_weights[v as usize]);
            levels.push(Level {
                table: table.map(Arc::new),
                row_areas: Arc::new(row_areas.collect()),
                area_weights: Arc::new(area_weights),
                conv: ConvOp::new(op32, op64),
                manifold: m,
            });
        }
        for (l, p) in pools.iter_mut().enumerate() {
            p.order_rows(levels[l].conv.operator(), levels[l + 1].conv.operator());
        }
        Ok(MeshLevels {
            levels,
            pools,
            f64,
            params,
            fields: Vec::new(),
        })
    }

    /// These levels with the field convolutions `kernels` compiled (`(level, kernel)` pairs, as
    /// [`Model::field_kernels`](super::Model::field_kernels) lists them; pairs already compiled are
    /// kept).
    ///
    /// # Errors
    /// A level that does not exist, or a compile error ([`FieldConvolution`](crate::fields::FieldConvolution)).
    pub fn with_fields(self, kernels: &[(usize, FieldKernel)]) -> Result<MeshLevels> {
        self.with_fields_cached(kernels, None, &mut |_| {})
    }

    /// As [`with_fields`](Self::with_fields), with a level's exp-map table, where the scalar
    /// operators came from the cache without it, taken from `cache` (or built and written there);
    /// the field operators themselves are compiled each time. What happens is reported to `report`.
    ///
    /// # Errors
    /// As [`with_fields`](Self::with_fields).
    pub fn with_fields_cached(
        mut self,
        kernels: &[(usize, FieldKernel)],
        cache: Option<&CompileCache>,
        report: &mut dyn FnMut(CompileEvent<'_>),
    ) -> Result<MeshLevels> {
        for (level, kernel) in kernels {
            if self.field_op(*level, kernel).is_some() {
                continue;
            }
            let l = self
                .levels
                .get(*level)
                .ok_or_else(|| Error::InvalidParameter {
                    name: "levels",
                    message: format!(
                        "a field convolution at level {level}, but the mesh has {} level(s)",
                        self.levels.len()
                    ),
                })?;
            if !kernel.reflections() && !l.manifold.mesh.is_orientable() {
                return Err(Error::InvalidParameter {
                    name: "group",
                    message: format!(
                        "level {level} is non-orientable: its field convolutions need O(2) kernels \
                         (a model group with reflections)"
                    ),
                });
            }
            let table = match &l.table {
                Some(t) => t.clone(),
                None => {
                    let mut compiler = Compiler::new(&l.manifold, self.params, cache, &mut *report);
                    compiler.table()?;
                    Arc::new(compiler.take_table().expect("just obtained"))
                }
            };
            let op = FieldOp::compile(&l.manifold, &table, kernel, self.f64)?;
            // Both operators order their rows by the same rule from the same mesh; the features
            // between them are in that order.
            assert_eq!(
                op.order(),
                l.conv.operator().order(),
                "field and scalar convolutions share the row order"
            );
            // Built once per level, for the level's other field convolutions.
            self.levels[*level].table = Some(table);
            self.fields.push((*level, kernel.clone(), op));
        }
        Ok(self)
    }

    /// The compiled field convolution of `kernel` at `level`, if [`with_fields`](Self::with_fields)
    /// compiled it.
    pub fn field_op(&self, level: usize, kernel: &FieldKernel) -> Option<&FieldOp> {
        self.fields
            .iter()
            .find(|(l, k, _)| *l == level && k == kernel)
            .map(|(_, _, op)| op)
    }

    /// Number of levels (1 + the coarser ones).
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// Never: there is always the finest level.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Level `l` (0 = the finest).
    ///
    /// # Panics
    /// If `l >= len()`.
    pub fn level(&self, l: usize) -> &Level {
        &self.levels[l]
    }

    /// Number of vertices of the finest level.
    pub fn vertex_count(&self) -> usize {
        self.levels[0].conv.vertex_count()
    }

    /// Area weights of level `l` (summing to 1).
    pub fn area_weights(&self, l: usize) -> &Arc<Vec<f64>> {
        &self.levels[l].area_weights
    }

    /// Area weights of level `l` in row order (the order of the level's operator rows).
    pub fn row_areas(&self, l: usize) -> &Arc<Vec<f64>> {
        &self.levels[l].row_areas
    }

    /// `[S, N, C]` (signals in the finest level's vertex order) → `[N, S, C]` in row layout: row `r`
    /// holds every signal's channels at vertex `order[r]` of the finest level's operator, the layout
    /// a [`Model`](super::Model) runs in (the convolution's own, so no layer reorders).
    pub fn to_rows(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.to_rows_at(x, 0)
    }

    fn to_rows_at(&self, x: &Tensor, l: usize) -> candle_core::Result<Tensor> {
        let order = self.levels[l].conv.operator().order();
        let idx = Tensor::from_slice(order, order.len(), x.device())?;
        x.transpose(0, 1)?.contiguous()?.index_select(&idx, 0)
    }

    /// The inverse of [`to_rows`](Self::to_rows): `[N, S, C]` in the finest level's row layout →
    /// `[S, N, C]` in vertex order.
    pub fn to_vertices(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.to_vertices_at(x, 0)
    }

    fn to_vertices_at(&self, x: &Tensor, l: usize) -> candle_core::Result<Tensor> {
        let rank = self.levels[l].conv.operator().rank();
        let idx = Tensor::from_slice(rank, rank.len(), x.device())?;
        x.contiguous()?
            .index_select(&idx, 0)?
            .transpose(0, 1)?
            .contiguous()
    }

    /// Mean pooling of feature fields of type `t` from level `l` to `l + 1`, row layout: each coarse
    /// vertex `v` takes `(1/|ring|) Σ_w ρ(g_{w→v}) x(w)` over itself and its fine one ring, `g_{w→v}`
    /// the transport along the fine edge `w → v` followed by the change from `v`'s fine frame to its
    /// coarse frame. A change of frame at the fine vertices is undone by the transports, so the result
    /// commutes with every change of frame (max pooling of fields would not).
    pub(crate) fn pool_fields_rows(
        &self,
        x: &Tensor,
        l: usize,
        t: &FieldType,
    ) -> candle_core::Result<Tensor> {
        let ring = self.pools[l]
            .field_rows
            .clone()
            .expect("rows are ordered when the levels are compiled");
        x.contiguous()?.apply_op1(FieldPoolOp::new(ring, t))
    }

    /// `[N, S, C]` → `[S, C]` (area-weighted mean or max over the vertices of level `l`) or `[S, 2C]`
    /// (both, mean first); row layout.
    pub(crate) fn global_pool_rows(
        &self,
        x: &Tensor,
        l: usize,
        mean: bool,
        max: bool,
    ) -> candle_core::Result<Tensor> {
        x.contiguous()?.apply_op1(GlobalPoolOp::new(
            self.levels[l].row_areas.clone(),
            mean,
            max,
        ))
    }

    /// Writes every level for other frameworks, into an open `.npz`: per level `l` the operator in CSR
    /// form (`op{l}_indptr`, `op{l}_indices` uint32; `op{l}_data` float32 `[nnz, B]`, entry `j` of
    /// `A_b` at `[j, b]`; mesh numbering), the area weights `area{l}` (float64, summing to 1), and per
    /// pooling step `ring{l}` (uint32 `[N_{l+1}, K]`, padded with `N_l`) with `ring_inverse_size{l}`
    /// and `parents{l}` (uint32 `[N_l, 2]`), so the same network can be rebuilt anywhere.
    ///
    /// # Errors
    /// If writing fails.
    pub fn write_npz(&self, w: &mut crate::io::npz::NpzWriter) -> Result<()> {
        for (l, level) in self.levels.iter().enumerate() {
            let op = level.conv.operator();
            let (indptr, indices, data) = op.csr();
            let n = op.vertex_count() as u64;
            w.u32(&format!("op{l}_indptr"), &[n + 1], &indptr)?;
            w.u32(&format!("op{l}_indices"), &[indices.len() as u64], &indices)?;
            w.f32(
                &format!("op{l}_data"),
                &[indices.len() as u64, op.basis_len() as u64],
                &data,
            )?;
            w.f64(&format!("area{l}"), &[n], &level.area_weights)?;
        }
        for (l, p) in self.pools.iter().enumerate() {
            let nc = (p.ring.len() / p.ring_width) as u64;
            w.u32(&format!("ring{l}"), &[nc, p.ring_width as u64], &p.ring)?;
            w.f64(
                &format!("ring_inverse_size{l}"),
                &[nc],
                &p.inverse_ring_size,
            )?;
            w.u32(
                &format!("parents{l}"),
                &[(p.parents.len() / 2) as u64, 2],
                &p.parents,
            )?;
        }
        Ok(())
    }

    /// `[S, N_l, C]` → `[S, N_{l+1}, C]` (vertex order): max or mean over each coarse vertex's fine
    /// one ring.
    pub fn pool(&self, x: &Tensor, l: usize, max: bool) -> candle_core::Result<Tensor> {
        let y = self.pool_rows(&self.to_rows_at(x, l)?, l, max)?;
        self.to_vertices_at(&y, l + 1)
    }

    /// Mean pooling of feature fields of type `t` (each vertex's values in its own frame; see
    /// [`fields`](crate::fields)), `[S, N_l, C]` → `[S, N_{l+1}, C]` in vertex order: each coarse vertex
    /// takes the mean over its fine one ring of the values carried to its coarse frame (transport
    /// along the fine edge, then the change from the vertex's fine frame to its coarse one).
    ///
    /// # Errors
    /// If `x` does not fit level `l` and `t`, or there is no level `l + 1`.
    pub fn pool_fields(&self, x: &Tensor, l: usize, t: &FieldType) -> candle_core::Result<Tensor> {
        if l + 1 >= self.levels.len() || x.dims3()?.2 != t.channels() {
            candle_core::bail!(
                "pool_fields: {:?} at level {l} of {} with type {t}",
                x.dims(),
                self.levels.len()
            );
        }
        let y = self.pool_fields_rows(&self.to_rows_at(x, l)?, l, t)?;
        self.to_vertices_at(&y, l + 1)
    }

    /// [`pool`](Self::pool) in row layout: `[N_l, S, C]` → `[N_{l+1}, S, C]`.
    pub(crate) fn pool_rows(&self, x: &Tensor, l: usize, max: bool) -> candle_core::Result<Tensor> {
        x.contiguous()?.apply_op1(self.pool_op(l, max)?)
    }

    /// The op that pools level `l` to level `l + 1` (row layout).
    pub(crate) fn pool_op(&self, l: usize, max: bool) -> candle_core::Result<PoolOp> {
        let rings = self
            .pools
            .get(l)
            .and_then(|p| p.rows.clone())
            .ok_or_else(|| {
                candle_core::Error::Msg(format!("no level below level {l} to pool to"))
            })?;
        Ok(PoolOp::new(rings, max))
    }

    /// `[S, N_{l+1}, C]` → `[S, N_l, C]` (vertex order): coarse vertices keep their values, each
    /// edge midpoint takes the mean of its edge's two ends (the linear interpolation of midpoint
    /// subdivision).
    pub fn unpool(&self, x: &Tensor, l: usize) -> candle_core::Result<Tensor> {
        if l + 1 >= self.levels.len() {
            candle_core::bail!("no level below level {l} to unpool from");
        }
        let y = self.unpool_rows(&self.to_rows_at(x, l + 1)?, l)?;
        self.to_vertices_at(&y, l)
    }

    /// [`unpool`](Self::unpool) in row layout: `[N_{l+1}, S, C]` → `[N_l, S, C]`.
    pub(crate) fn unpool_rows(&self, x: &Tensor, l: usize) -> candle_core::Result<Tensor> {
        let p = self.pools.get(l).ok_or_else(|| {
            candle_core::Error::Msg(format!("no level below level {l} to unpool from"))
        })?;
        let (_, s, c) = x.dims3()?;
        let idx = Tensor::from_slice(&p.row_parents, p.row_parents.len(), x.device())?;
        x.contiguous()?
            .index_select(&idx, 0)?
            .reshape((p.row_parents.len() / 2, 2, s, c))?
            .mean(1)
    }
}
