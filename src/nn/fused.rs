//! Layers as single custom ops, each with a one-pass backward: the area-weighted normalization (with
//! the ReLU that usually follows it), pooling over one rings and global pooling. Written as candle's
//! elementary ops they were several passes and temporaries each, forward and backward.
//!
//! Every op works on features in row layout `[N, S, C]` (row `r` holds every signal's channels at one
//! vertex, in the order of the level's convolution operator; see [`MeshLevels`](super::MeshLevels)),
//! so a row is `S·C` contiguous values and the loops over it vectorize. What a backward pass needs
//! from its forward pass (statistics, the position of each max) is kept in the op.

use super::raw::{cpu_fwd1, cpu_fwd3, read, Float};
use super::rows;
use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;
use std::sync::{Arc, OnceLock};

const EPS: f64 = 1e-5;

/// Rows per parallel piece of a pass over features.
const CHUNK: usize = 64;

/// `Σ_r f(r)` over rows `0..n`, each `f` adding into `width` accumulators: in fixed chunks whose
/// partial sums are added in order, so the result does not depend on the number of threads.
pub(super) fn column_sums(
    n: usize,
    width: usize,
    f: impl Fn(usize, &mut [f64]) + Sync,
) -> Vec<f64> {
    let parts: Vec<Vec<f64>> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|k| {
            let mut acc = vec![0.0; width];
            for r in k * CHUNK..((k + 1) * CHUNK).min(n) {
                f(r, &mut acc);
            }
            acc
        })
        .collect();
    let mut total = vec![0.0; width];
    for p in parts {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

/// Writes every row of `out` (`width` values each) as `f(r, row)`, in parallel.
fn fill_rows<T: Send>(out: &mut [T], width: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    out.par_chunks_mut((CHUNK * width).max(1))
        .enumerate()
        .for_each(|(k, rows)| {
            for (i, row) in rows.chunks_exact_mut(width.max(1)).enumerate() {
                f(k * CHUNK + i, row);
            }
        });
}

fn to_t<T: Float>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

/// Row `r` of `[N, width]` values.
fn row_of<T>(v: &[T], r: usize, width: usize) -> &[T] {
    &v[r * width..(r + 1) * width]
}

fn tensor<T: Float>(
    v: Vec<T>,
    shape: impl Into<Shape>,
    like: &Tensor,
) -> candle_core::Result<Tensor> {
    Tensor::from_vec(v, shape, like.device())
}

/// Per sample and channel, over the vertices with area weights `a_n` (Σ a = 1):
///
/// ```text
/// μ = Σ a_n x_n,   σ² = Σ a_n (x_n − μ)²,   x̂_n = (x_n − μ) / √(σ² + ε),   y_n = γ x̂_n + β
/// ```
///
/// then `max(y, 0)` when `relu`. Backward, with `g = ∂L/∂y` (masked by `y > 0` after a ReLU) and
/// `ĝ = γ g`:
///
/// ```text
/// ∂L/∂x_n = (ĝ_n − a_n (Σ_m ĝ_m + x̂_n Σ_m ĝ_m x̂_m)) / √(σ² + ε),   ∂L/∂γ = Σ g x̂,   ∂L/∂β = Σ g
/// ```
#[derive(Clone)]
pub(crate) struct NormOp {
    /// Area weights in row order.
    pub(crate) areas: Arc<Vec<f64>>,
    pub(crate) relu: bool,
    /// μ and 1/√(σ² + ε) of every (sample, channel), from the forward pass.
    stats: OnceLock<Arc<(Vec<f64>, Vec<f64>)>>,
}

impl NormOp {
    pub(crate) fn new(areas: Arc<Vec<f64>>, relu: bool) -> NormOp {
        NormOp {
            areas,
            relu,
            stats: OnceLock::new(),
        }
    }

    /// Mean and 1/σ of every column of `[N, S·C]` features.
    fn moments<T: Float>(&self, x: &[T], width: usize) -> (Vec<f64>, Vec<f64>) {
        let (n, a) = (self.areas.len(), &self.areas[..]);
        let row = |r: usize| &x[r * width..(r + 1) * width];
        let mean = column_sums(n, width, |r, acc| rows::add_weighted(acc, row(r), a[r]));
        let var = column_sums(n, width, |r, acc| {
            rows::add_weighted_squares(acc, row(r), &mean, a[r])
        });
        let inv = var.iter().map(|v| 1.0 / (v + EPS).sqrt()).collect();
        (mean, inv)
    }

    pub(crate) fn fwd<T: Float>(
        &self,
        x: &[T],
        lx: &Layout,
        g: &[T],
        b: &[T],
    ) -> candle_core::Result<(Vec<T>, Shape)> {
        let (n, s, c) = lx.shape().dims3()?;
        let width = s * c;
        let (mean, inv) = self.moments(x, width);
        // y = scale·x + shift per column, with scale = γ/σ and shift = β − γμ/σ.
        let (scale, shift): (Vec<f64>, Vec<f64>) = (0..width)
            .map(|j| {
                let scale = g[j % c].to_f64() * inv[j];
                (scale, b[j % c].to_f64() - scale * mean[j])
            })
            .unzip();
        let (scale, shift) = (to_t::<T>(&scale), to_t::<T>(&shift));
        let relu = self.relu;
        let mut out = vec![T::default(); n * width];
        fill_rows(&mut out, width, |r, y| {
            rows::affine(y, row_of(x, r, width), &scale, &shift, relu)
        });
        let _ = self.stats.set(Arc::new((mean, inv)));
        Ok((out, Shape::from((n, s, c))))
    }

    /// The gradients `[∂L/∂x, ∂L/∂γ, ∂L/∂β]` that `want` asks for, from the input `x`, the scale
    /// `gamma`, the output `res` and `grad = ∂L/∂res`.
    pub(crate) fn backward<T: Float>(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        res: &Tensor,
        grad: &Tensor,
        want: [bool; 3],
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, s, c) = x.dims3()?;
        let width = s * c;
        let a = &self.areas[..];
        read(x, |xs: &[T]| {
            read(res, |ys: &[T]| {
                read(grad, |gs: &[T]| {
                    read(gamma, |gam: &[T]| {
                        let stats = match self.stats.get() {
                            Some(st) => st.clone(),
                            None => Arc::new(self.moments(xs, width)),
                        };
                        let (mean, inv) = (&stats.0, &stats.1);
                        let gam: Vec<f64> = (0..width).map(|j| gam[j % c].to_f64()).collect();
                        let relu = self.relu;
                        let (mean_t, inv_t) = (to_t::<T>(mean), to_t::<T>(inv));
                        let xyg = |r: usize| {
                            (
                                row_of(xs, r, width),
                                row_of(ys, r, width),
                                row_of(gs, r, width),
                            )
                        };
                        // Σ_n ĝ and Σ_n ĝ x̂ per column (in one vector), ĝ the gradient that passed
                        // the ReLU.
                        let sums = column_sums(n, 2 * width, |r, acc| {
                            let (sg, sgx) = acc.split_at_mut(width);
                            rows::add_norm_sums((sg, sgx), xyg(r), &mean_t, &inv_t, relu)
                        });
                        let (sum_g, sum_gx) = sums.split_at(width);
                        let dx = if want[0] {
                            // ∂L/∂x = p·g − a_n (q + u (x − μ)) with p = γ/σ, q = p Σg,
                            // u = p Σgx̂ / σ per column.
                            let p: Vec<f64> = (0..width).map(|j| inv[j] * gam[j]).collect();
                            let q =
                                to_t::<T>(&(0..width).map(|j| p[j] * sum_g[j]).collect::<Vec<_>>());
                            let u = to_t::<T>(
                                &(0..width)
                                    .map(|j| p[j] * sum_gx[j] * inv[j])
                                    .collect::<Vec<_>>(),
                            );
                            let p = to_t::<T>(&p);
                            let mut dx = vec![T::default(); n * width];
                            fill_rows(&mut dx, width, |r, d| {
                                let a = T::from_f64(a[r]);
                                rows::norm_input_gradient(d, xyg(r), (&p, &q, &u), &mean_t, a, relu)
                            });
                            Some(tensor(dx, (n, s, c), x)?)
                        } else {
                            None
                        };
                        // ∂L/∂γ and ∂L/∂β: the column sums added over the samples, in order.
                        let per_channel = |v: &[f64]| -> Vec<T> {
                            (0..c)
                                .map(|k| T::from_f64((0..s).map(|i| v[i * c + k]).sum()))
                                .collect()
                        };
                        let dg = if want[1] {
                            Some(tensor(per_channel(sum_gx), c, x)?)
                        } else {
                            None
                        };
                        let db = if want[2] {
                            Some(tensor(per_channel(sum_g), c, x)?)
                        } else {
                            None
                        };
                        Ok((dx, dg, db))
                    })
                })
            })
        })
    }
}

impl CustomOp3 for NormOp {
    fn name(&self) -> &'static str {
        "area-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        cpu_fwd3(
            [(s1, l1), (s2, l2), (s3, l3)],
            "norm",
            |[x, g, b]| self.fwd(x, l1, g, b),
            |[x, g, b]| self.fwd(x, l1, g, b),
        )
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let want = [x.track_op(), gamma.track_op(), beta.track_op()];
        match x.dtype() {
            candle_core::DType::F64 => self.backward::<f64>(x, gamma, res, grad, want),
            _ => self.backward::<f32>(x, gamma, res, grad, want),
        }
    }
}

/// The rows pooling reads, between a fine level and the next coarser one (all indices in row order).
pub(crate) struct Rings {
    /// Per coarse row, itself and its fine one ring, padded to `width` entries with `fine` (one past
    /// the last fine row: never the max, zero in a sum).
    pub(crate) ring: Vec<u32>,
    pub(crate) width: usize,
    /// Per coarse row, 1 / the size of its ring.
    pub(crate) inverse_size: Vec<f64>,
    /// Number of fine rows.
    pub(crate) fine: usize,
    /// Per fine row `w`, the (coarse row, ring slot) pairs whose ring holds it:
    /// `holders[holder_offsets[w]..holder_offsets[w + 1]]`, in coarse row order.
    pub(crate) holder_offsets: Vec<u32>,
    pub(crate) holders: Vec<(u32, u8)>,
}

impl Rings {
    /// Rings in row order, with their inverse.
    ///
    /// # Panics
    /// If a ring holds more than 255 rows, or an entry is past `fine` (the padding).
    pub(crate) fn new(ring: Vec<u32>, width: usize, inverse_size: Vec<f64>, fine: usize) -> Rings {
        assert!(width <= u8::MAX as usize, "rings of at most 255 vertices");
        let mut count = vec![0u32; fine + 1];
        for &w in &ring {
            assert!(w as usize <= fine, "ring entry {w} past {fine} fine rows");
            if (w as usize) < fine {
                count[w as usize + 1] += 1;
            }
        }
        for w in 0..fine {
            count[w + 1] += count[w];
        }
        let mut next = count.clone();
        let mut holders = vec![(0u32, 0u8); count[fine] as usize];
        for (v, r) in ring.chunks_exact(width.max(1)).enumerate() {
            for (slot, &w) in r.iter().enumerate() {
                if (w as usize) < fine {
                    holders[next[w as usize] as usize] = (v as u32, slot as u8);
                    next[w as usize] += 1;
                }
            }
        }
        Rings {
            ring,
            width,
            inverse_size,
            fine,
            holder_offsets: count,
            holders,
        }
    }

    fn coarse(&self) -> usize {
        self.inverse_size.len()
    }
}

/// `[N_fine, S, C]` → `[N_coarse, S, C]`: each coarse row takes the max (or mean) over its ring of
/// fine rows. Backward: the max's gradient goes to the first ring entry holding the max; the mean's
/// is shared equally by the ring. Each fine row's gradient is gathered from the rings that hold it.
#[derive(Clone)]
pub(crate) struct PoolOp {
    rings: Arc<Rings>,
    max: bool,
    /// Per output value, the ring slot of the max (forward pass, max pooling), as a 32-bit float so
    /// that the selects vectorize at the width of `f32` features.
    argmax: OnceLock<Arc<Vec<f32>>>,
}

impl PoolOp {
    pub(crate) fn new(rings: Arc<Rings>, max: bool) -> PoolOp {
        PoolOp {
            rings,
            max,
            argmax: OnceLock::new(),
        }
    }

    fn ring_of(&self, v: usize) -> &[u32] {
        let w = self.rings.width;
        let r = &self.rings.ring[v * w..(v + 1) * w];
        let len = r
            .iter()
            .position(|&q| q as usize == self.rings.fine)
            .unwrap_or(w);
        &r[..len]
    }

    pub(crate) fn fwd<T: Float>(
        &self,
        x: &[T],
        lx: &Layout,
    ) -> candle_core::Result<(Vec<T>, Shape)> {
        let (n, s, c) = lx.shape().dims3()?;
        if n != self.rings.fine {
            candle_core::bail!("pool: {n} rows, but the rings are over {}", self.rings.fine);
        }
        let (nc, width) = (self.rings.coarse(), s * c);
        let row = |w: u32| &x[w as usize * width..(w as usize + 1) * width];
        let mut out = vec![T::default(); nc * width];
        if self.max {
            let mut slot = vec![0f32; nc * width];
            out.par_chunks_mut((CHUNK * width).max(1))
                .zip(slot.par_chunks_mut((CHUNK * width).max(1)))
                .enumerate()
                .for_each(|(k, (ys, ks))| {
                    let rows = ys
                        .chunks_exact_mut(width.max(1))
                        .zip(ks.chunks_exact_mut(width.max(1)));
                    for (i, (y, ks)) in rows.enumerate() {
                        let ring = self.ring_of(k * CHUNK + i);
                        y.copy_from_slice(row(ring[0]));
                        ks.fill(0.0);
                        for (j, &w) in ring.iter().enumerate().skip(1) {
                            rows::max_into(y, ks, row(w), j as f32);
                        }
                    }
                });
            let _ = self.argmax.set(Arc::new(slot));
        } else {
            fill_rows(&mut out, width, |v, y| {
                y.fill(T::default());
                let share = T::from_f64(self.rings.inverse_size[v]);
                for &w in self.ring_of(v) {
                    rows::add_scaled(y, row(w), share);
                }
            });
        }
        Ok((out, Shape::from((nc, s, c))))
    }

    /// `∂L/∂x` from `grad = ∂L/∂y`, for the input `x` of the forward pass.
    pub(crate) fn bwd_typed<T: Float>(
        &self,
        x: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let (n, s, c) = x.dims3()?;
        let width = s * c;
        let rings = &*self.rings;
        let slots = if self.max {
            Some(match self.argmax.get() {
                Some(a) => a.clone(),
                None => candle_core::bail!("pool: backward before forward"),
            })
        } else {
            None
        };
        read(grad, |gs: &[T]| {
            let mut dx = vec![T::default(); n * width];
            fill_rows(&mut dx, width, |w, d| {
                let holders =
                    rings.holder_offsets[w] as usize..rings.holder_offsets[w + 1] as usize;
                let d = &mut d[..width];
                for &(v, slot) in &rings.holders[holders] {
                    let v = v as usize;
                    let g = row_of(gs, v, width);
                    match &slots {
                        Some(k) => rows::add_where_slot(d, row_of(k, v, width), g, slot as f32),
                        None => rows::add_scaled(d, g, T::from_f64(rings.inverse_size[v])),
                    }
                }
            });
            Ok(Some(tensor(dx, (n, s, c), x)?))
        })
    }
}

impl CustomOp1 for PoolOp {
    fn name(&self) -> &'static str {
        "ring-pool"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        cpu_fwd1(st, l, "pool", |x| self.fwd(x, l), |x| self.fwd(x, l))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        match x.dtype() {
            candle_core::DType::F64 => self.bwd_typed::<f64>(x, grad),
            _ => self.bwd_typed::<f32>(x, grad),
        }
    }
}

/// `[N, S, C]` → `[S, C]` (area-weighted mean `Σ_n a_n x_n`, or max over the vertices) or `[S, 2C]`
/// (both, mean first). Backward: `a_n g` to every vertex for the mean; the max's gradient to the first
/// vertex (in row order) holding it.
#[derive(Clone)]
pub(crate) struct GlobalPoolOp {
    /// Area weights in row order (Σ = 1).
    areas: Arc<Vec<f64>>,
    mean: bool,
    max: bool,
    /// Per (sample, channel), the row of the max (forward pass).
    argmax: OnceLock<Arc<Vec<u32>>>,
}

impl GlobalPoolOp {
    pub(crate) fn new(areas: Arc<Vec<f64>>, mean: bool, max: bool) -> GlobalPoolOp {
        GlobalPoolOp {
            areas,
            mean,
            max,
            argmax: OnceLock::new(),
        }
    }

    fn parts(&self) -> usize {
        self.mean as usize + self.max as usize
    }

    fn fwd<T: Float>(&self, x: &[T], lx: &Layout) -> candle_core::Result<(Vec<T>, Shape)> {
        let (n, s, c) = lx.shape().dims3()?;
        if n != self.areas.len() {
            candle_core::bail!("global pool: {n} rows, but {} areas", self.areas.len());
        }
        let width = s * c;
        let row = |r: usize| &x[r * width..(r + 1) * width];
        let parts = self.parts();
        let mut out = vec![T::default(); s * parts * c];
        // out[i, part·C + k] for sample i, channel k.
        let mut put = |part: usize, v: &dyn Fn(usize) -> T| {
            for i in 0..s {
                for k in 0..c {
                    out[(i * parts + part) * c + k] = v(i * c + k);
                }
            }
        };
        if self.mean {
            let a = &self.areas[..];
            let m = column_sums(n, width, |r, acc| rows::add_weighted(acc, row(r), a[r]));
            put(0, &|j| T::from_f64(m[j]));
        }
        if self.max && n > 0 {
            // Per chunk each column's max and the first row holding it (as a slot within the chunk,
            // exact in f32), the chunks combined in order: ties keep the earlier row.
            let parts_max: Vec<(Vec<T>, Vec<u32>)> = (0..n.div_ceil(CHUNK))
                .into_par_iter()
                .map(|k| {
                    let r0 = k * CHUNK;
                    let mut value = row(r0).to_vec();
                    let mut slot = vec![0f32; width];
                    for r in r0 + 1..((k + 1) * CHUNK).min(n) {
                        rows::max_into(&mut value, &mut slot, row(r), (r - r0) as f32);
                    }
                    (value, slot.iter().map(|&q| r0 as u32 + q as u32).collect())
                })
                .collect();
            let (mut value, mut best) = parts_max[0].clone();
            for (v, b) in &parts_max[1..] {
                for j in 0..width {
                    if v[j] > value[j] {
                        value[j] = v[j];
                        best[j] = b[j];
                    }
                }
            }
            put(self.mean as usize, &|j| x[best[j] as usize * width + j]);
            let _ = self.argmax.set(Arc::new(best));
        }
        Ok((out, Shape::from((s, parts * c))))
    }

    fn bwd_typed<T: Float>(&self, x: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor> {
        let (n, s, c) = x.dims3()?;
        let (width, parts) = (s * c, self.parts());
        let a = &self.areas[..];
        let best = match (self.max, self.argmax.get()) {
            (true, Some(b)) => Some(b.clone()),
            (true, None) => candle_core::bail!("global pool: backward before forward"),
            _ => None,
        };
        read(grad, |gs: &[T]| {
            // The gradient of each part as a row of S·C.
            let part = |p: usize| -> Vec<f64> {
                (0..width)
                    .map(|j| gs[((j / c) * parts + p) * c + j % c].to_f64())
                    .collect()
            };
            let g_mean = if self.mean { part(0) } else { vec![0.0; width] };
            let g_max = if self.max {
                part(self.mean as usize)
            } else {
                Vec::new()
            };
            let mut dx = vec![T::default(); n * width];
            fill_rows(&mut dx, width, |r, d| {
                for (dv, &g) in d.iter_mut().zip(&g_mean) {
                    *dv = T::from_f64(a[r] * g);
                }
            });
            if let Some(best) = best {
                for (j, &r) in best.iter().enumerate() {
                    let at = r as usize * width + j;
                    dx[at] = T::from_f64(dx[at].to_f64() + g_max[j]);
                }
            }
            tensor(dx, (n, s, c), x)
        })
    }
}

impl CustomOp1 for GlobalPoolOp {
    fn name(&self) -> &'static str {
        "global-pool"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        cpu_fwd1(st, l, "global pool", |x| self.fwd(x, l), |x| self.fwd(x, l))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(match x.dtype() {
            candle_core::DType::F64 => self.bwd_typed::<f64>(x, grad)?,
            _ => self.bwd_typed::<f32>(x, grad)?,
        }))
    }
}
