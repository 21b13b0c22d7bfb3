//! A mesh compiled for a model: its nested resolutions, one convolution operator per resolution, the
//! vertex areas, and the maps that pool and unpool between resolutions.

use super::fused::PoolOp;
use super::op::ConvOp;
use super::spec::ConvSpec;
use crate::conv::{ConvOperator, Gauge, SpanningTree};
use crate::error::{Error, Result};
use crate::expmap::{ExpMapParams, ExpMapTable, Padding, Radius};
use crate::holonomy::HolonomyGroup;
use crate::kernel::ConstrainedBasis;
use crate::primitives::Primitive;
use crate::{BuildOptions, Manifold, MeshSource};
use candle_core::{DType, Device, Tensor};
use std::sync::Arc;

/// One resolution of a mesh: the manifold, its convolution and its normalized vertex areas.
pub struct Level {
    /// The mesh at this resolution.
    pub manifold: Arc<Manifold>,
    /// The compiled convolution.
    pub conv: ConvOp,
    /// Vertex areas divided by the total area (they sum to 1).
    pub area_weights: Arc<Vec<f64>>,
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
}

/// A mesh at every resolution a model needs, compiled once and reused for every signal on it.
pub struct MeshLevels {
    levels: Vec<Level>,
    pools: Vec<Pooling>,
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
    let rings: Vec<Vec<u32>> = (0..nc)
        .map(|v| {
            let vid = fine
                .mesh
                .vertex(v)
                .expect("coarse vertices are fine vertices");
            let mut r = vec![v as u32];
            for s in fine.mesh.vertex_spokes(vid) {
                let w = fine.mesh.spoke_target(s).raw();
                if !r.contains(&w) {
                    r.push(w);
                }
            }
            r
        })
        .collect();
    let ring_width = rings.iter().map(Vec::len).max().unwrap_or(1);
    let mut ring = Vec::with_capacity(nc * ring_width);
    for r in &rings {
        ring.extend_from_slice(r);
        ring.resize(ring.len() + ring_width - r.len(), nf as u32);
    }
    let inverse_ring_size = Arc::new(rings.iter().map(|r| 1.0 / r.len() as f64).collect());
    let mut parents = Vec::with_capacity(2 * nf);
    for v in 0..nc as u32 {
        parents.extend_from_slice(&[v, v]);
    }
    for e in &split {
        parents.extend_from_slice(e);
    }
    Ok(Pooling {
        ring: Arc::new(ring),
        ring_width,
        inverse_ring_size,
        fine: nf,
        parents,
    })
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
        let basis = constrained_basis(conv, group)?;
        let params = ExpMapParams {
            rings: conv.rings,
            directions: conv.directions,
            radius: Radius::MeanEdgeLengths(conv.radius_edges),
            padding: Padding::parse(&conv.padding)?,
        };
        let manifolds: Vec<Arc<Manifold>> = std::iter::once(finest).chain(coarser).collect();
        let mut pools = Vec::new();
        for (l, pair) in manifolds.windows(2).enumerate() {
            pools.push(pooling(&pair[0], &pair[1], l)?);
        }
        let mut levels = Vec::new();
        for m in manifolds {
            let table = ExpMapTable::build(&m, &params)?;
            let gauge = Gauge::new(&m, None, SpanningTree::Bfs)?;
            let op32 = Arc::new(ConvOperator::<f32>::new(&m, &table, &basis, &gauge)?);
            let op64 = if f64 {
                Some(Arc::new(ConvOperator::<f64>::new(
                    &m, &table, &basis, &gauge,
                )?))
            } else {
                None
            };
            let areas = m.geometry.vertex_areas();
            let total: f64 = areas.iter().sum();
            levels.push(Level {
                area_weights: Arc::new(areas.iter().map(|a| a / total).collect()),
                conv: ConvOp::new(op32, op64),
                manifold: m,
            });
        }
        Ok(MeshLevels { levels, pools })
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

    /// Area weights of level `l` as a `[1, N, 1]` tensor.
    pub fn area_tensor(
        &self,
        l: usize,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let a = &self.levels[l].area_weights;
        Tensor::from_slice(a, (1, a.len(), 1), device)?.to_dtype(dtype)
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

    /// `[S, N_l, C]` → `[S, N_{l+1}, C]`: max or mean over each coarse vertex's fine one ring.
    pub fn pool(&self, x: &Tensor, l: usize, max: bool) -> candle_core::Result<Tensor> {
        let p = self.pools.get(l).ok_or_else(|| {
            candle_core::Error::Msg(format!("no level below level {l} to pool to"))
        })?;
        x.contiguous()?.apply_op1(PoolOp {
            ring: p.ring.clone(),
            width: p.ring_width,
            pad: p.fine as u32,
            inverse_size: p.inverse_ring_size.clone(),
            max,
        })
    }

    /// `[S, N_{l+1}, C]` → `[S, N_l, C]`: coarse vertices keep their values, each edge midpoint takes the
    /// mean of its edge's two ends (the linear interpolation of midpoint subdivision).
    pub fn unpool(&self, x: &Tensor, l: usize) -> candle_core::Result<Tensor> {
        let p = self.pools.get(l).ok_or_else(|| {
            candle_core::Error::Msg(format!("no level below level {l} to unpool from"))
        })?;
        let (s, _, c) = x.dims3()?;
        let idx = Tensor::from_slice(&p.parents, p.parents.len(), x.device())?;
        x.index_select(&idx, 1)?
            .reshape((s, p.parents.len() / 2, 2, c))?
            .mean(2)
    }
}
