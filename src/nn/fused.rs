//! Layers as single custom ops, each with a one-pass backward: the area-weighted normalization (with
//! the ReLU that usually follows it) and pooling over one rings. Written as candle's elementary ops they
//! were several passes and temporaries each, forward and backward; here each is one pass over the
//! features in each direction.

use super::raw::{contiguous, read, Float};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

const EPS: f64 = 1e-5;

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
    pub(crate) areas: Arc<Vec<f64>>,
    pub(crate) relu: bool,
}

/// Mean and 1/σ of every channel of one sample `[N, C]`.
fn moments<T: Float>(x: &[T], a: &[f64], c: usize) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; c];
    for (row, &w) in x.chunks_exact(c).zip(a) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += w * v.to_f64();
        }
    }
    let mut var = vec![0.0; c];
    for (row, &w) in x.chunks_exact(c).zip(a) {
        for ((s, &v), &m) in var.iter_mut().zip(row).zip(&mean) {
            let d = v.to_f64() - m;
            *s += w * d * d;
        }
    }
    let inv = var.iter().map(|v| 1.0 / (v + EPS).sqrt()).collect();
    (mean, inv)
}

impl NormOp {
    fn fwd<T: Float>(
        &self,
        x: &[T],
        lx: &Layout,
        g: &[T],
        b: &[T],
    ) -> candle_core::Result<(Vec<T>, Shape)> {
        let (s, n, c) = lx.shape().dims3()?;
        let a = &self.areas[..];
        let mut out = vec![T::default(); s * n * c];
        out.par_chunks_mut(n * c)
            .zip(x.par_chunks(n * c))
            .for_each(|(y, x)| {
                let (mean, inv) = moments(x, a, c);
                // y = scale·x + shift per channel, with scale = γ/σ and shift = β − γμ/σ.
                let affine: Vec<(f64, f64)> = (0..c)
                    .map(|k| {
                        let scale = g[k].to_f64() * inv[k];
                        (scale, b[k].to_f64() - scale * mean[k])
                    })
                    .collect();
                let floor = if self.relu { 0.0 } else { f64::NEG_INFINITY };
                for (yr, xr) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
                    for ((yv, &xv), &(scale, shift)) in yr.iter_mut().zip(xr).zip(&affine) {
                        *yv = T::from_f64((scale * xv.to_f64() + shift).max(floor));
                    }
                }
            });
        Ok((out, Shape::from((s, n, c))))
    }

    fn bwd_typed<T: Float>(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (s, n, c) = x.dims3()?;
        let a = &self.areas[..];
        read(x, |xs: &[T]| {
            read(res, |ys: &[T]| {
                read(grad, |gs: &[T]| {
                    read(gamma, |gam: &[T]| {
                        let gam: Vec<f64> = gam.iter().map(|v| v.to_f64()).collect();
                        // Per sample: ∂L/∂x written in place, and the sample's parts of ∂L/∂γ, ∂L/∂β.
                        let mut dx = vec![T::default(); s * n * c];
                        let parts: Vec<(Vec<f64>, Vec<f64>)> = dx
                            .par_chunks_mut(n * c)
                            .enumerate()
                            .map(|(i, dx)| {
                                let r = i * n * c..(i + 1) * n * c;
                                let (x, y, g) = (&xs[r.clone()], &ys[r.clone()], &gs[r]);
                                let (mean, inv) = moments(x, a, c);
                                let mut dgamma = vec![0.0; c];
                                let mut dbeta = vec![0.0; c];
                                let relu = self.relu;
                                // 1 where the ReLU let the value through (or there is none), else 0.
                                let pass = |y: T| if !relu || y.to_f64() > 0.0 { 1.0 } else { 0.0 };
                                // First pass: ∂L/∂γ and ∂L/∂β of this sample; the second pass needs them.
                                for ((xr, yr), gr) in x
                                    .chunks_exact(c)
                                    .zip(y.chunks_exact(c))
                                    .zip(g.chunks_exact(c))
                                {
                                    let lanes = dgamma
                                        .iter_mut()
                                        .zip(dbeta.iter_mut())
                                        .zip(xr.iter().zip(yr).zip(gr))
                                        .zip(mean.iter().zip(&inv));
                                    for (((dg, db), ((&xv, &yv), &gv)), (&m, &iv)) in lanes {
                                        let gk = gv.to_f64() * pass(yv);
                                        *dg += gk * (xv.to_f64() - m) * iv;
                                        *db += gk;
                                    }
                                }
                                // Σ γg = γ ∂L/∂β and Σ γg x̂ = γ ∂L/∂γ over this sample.
                                let sum_g: Vec<f64> = (0..c).map(|k| gam[k] * dbeta[k]).collect();
                                let sum_gx: Vec<f64> = (0..c).map(|k| gam[k] * dgamma[k]).collect();
                                let per_channel: Vec<(f64, f64, f64, f64, f64)> = (0..c)
                                    .map(|k| (mean[k], inv[k], gam[k], sum_g[k], sum_gx[k]))
                                    .collect();
                                for (((dr, xr), yr), (gr, &w)) in dx
                                    .chunks_exact_mut(c)
                                    .zip(x.chunks_exact(c))
                                    .zip(y.chunks_exact(c))
                                    .zip(g.chunks_exact(c).zip(a))
                                {
                                    let lanes = dr
                                        .iter_mut()
                                        .zip(xr.iter().zip(yr).zip(gr))
                                        .zip(&per_channel);
                                    for ((d, ((&xv, &yv), &gv)), &(m, iv, gm, sg, sgx)) in lanes {
                                        let gk = gv.to_f64() * pass(yv);
                                        let xh = (xv.to_f64() - m) * iv;
                                        *d = T::from_f64(iv * (gm * gk - w * (sg + xh * sgx)));
                                    }
                                }
                                (dgamma, dbeta)
                            })
                            .collect();
                        let (mut dg, mut db) = (vec![0.0; c], vec![0.0; c]);
                        for (g, b) in parts {
                            for k in 0..c {
                                dg[k] += g[k];
                                db[k] += b[k];
                            }
                        }
                        let to_t = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect::<Vec<T>>();
                        let dx = if x.track_op() {
                            Some(Tensor::from_vec(dx, (s, n, c), x.device())?)
                        } else {
                            None
                        };
                        let dg = if gamma.track_op() {
                            Some(Tensor::from_vec(to_t(dg), c, x.device())?)
                        } else {
                            None
                        };
                        let db = if beta.track_op() {
                            Some(Tensor::from_vec(to_t(db), c, x.device())?)
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
        match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(g), CpuStorage::F32(b)) => {
                let (y, sh) = self.fwd(
                    contiguous(x, l1)?,
                    l1,
                    contiguous(g, l2)?,
                    contiguous(b, l3)?,
                )?;
                Ok((CpuStorage::F32(y), sh))
            }
            (CpuStorage::F64(x), CpuStorage::F64(g), CpuStorage::F64(b)) => {
                let (y, sh) = self.fwd(
                    contiguous(x, l1)?,
                    l1,
                    contiguous(g, l2)?,
                    contiguous(b, l3)?,
                )?;
                Ok((CpuStorage::F64(y), sh))
            }
            _ => candle_core::bail!(
                "norm: features, scale and shift must share a float dtype, got {:?}",
                s1.dtype()
            ),
        }
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        match x.dtype() {
            candle_core::DType::F64 => self.bwd_typed::<f64>(x, gamma, beta, res, grad),
            _ => self.bwd_typed::<f32>(x, gamma, beta, res, grad),
        }
    }
}

/// `[S, N_fine, C]` → `[S, N_coarse, C]`: each coarse vertex takes the max (or mean) over its ring of
/// fine vertices (`ring[v·K .. v·K + K]`, padded with `pad`). Backward: the max's gradient goes to the
/// first ring entry holding the max; the mean's is shared equally by the ring.
#[derive(Clone)]
pub(crate) struct PoolOp {
    pub(crate) ring: Arc<Vec<u32>>,
    pub(crate) width: usize,
    pub(crate) pad: u32,
    pub(crate) inverse_size: Arc<Vec<f64>>,
    pub(crate) max: bool,
}

impl PoolOp {
    fn coarse(&self) -> usize {
        self.ring.len() / self.width
    }

    /// The ring of coarse vertex `v` without its padding.
    fn ring_of(&self, v: usize) -> &[u32] {
        let r = &self.ring[v * self.width..(v + 1) * self.width];
        let len = r.iter().position(|&w| w == self.pad).unwrap_or(self.width);
        &r[..len]
    }

    fn fwd<T: Float>(&self, x: &[T], lx: &Layout) -> candle_core::Result<(Vec<T>, Shape)> {
        let (s, n, c) = lx.shape().dims3()?;
        let nc = self.coarse();
        let mut out = vec![T::default(); s * nc * c];
        out.par_chunks_mut(nc * c)
            .zip(x.par_chunks(n * c))
            .for_each(|(y, x)| {
                // Row by row over the ring (each fine row is contiguous), accumulating in f64.
                let mut acc = vec![0.0f64; c];
                for (v, yr) in y.chunks_exact_mut(c).enumerate() {
                    let ring = self.ring_of(v);
                    acc.fill(if self.max { f64::NEG_INFINITY } else { 0.0 });
                    for &w in ring {
                        let xw = &x[w as usize * c..(w as usize + 1) * c];
                        if self.max {
                            for (a, &xv) in acc.iter_mut().zip(xw) {
                                *a = a.max(xv.to_f64());
                            }
                        } else {
                            for (a, &xv) in acc.iter_mut().zip(xw) {
                                *a += xv.to_f64();
                            }
                        }
                    }
                    let scale = if self.max { 1.0 } else { self.inverse_size[v] };
                    for (yv, &a) in yr.iter_mut().zip(&acc) {
                        *yv = T::from_f64(a * scale);
                    }
                }
            });
        Ok((out, Shape::from((s, nc, c))))
    }

    fn bwd_typed<T: Float>(
        &self,
        x: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let (s, n, c) = x.dims3()?;
        let nc = self.coarse();
        read(x, |xs: &[T]| {
            read(res, |ys: &[T]| {
                read(grad, |gs: &[T]| {
                    let mut dx = vec![T::default(); s * n * c];
                    dx.par_chunks_mut(n * c).enumerate().for_each(|(i, d)| {
                        let x = &xs[i * n * c..(i + 1) * n * c];
                        let (y, g) = (
                            &ys[i * nc * c..(i + 1) * nc * c],
                            &gs[i * nc * c..(i + 1) * nc * c],
                        );
                        let mut taken = vec![false; c];
                        for v in 0..nc {
                            let ring = self.ring_of(v);
                            let (yv, gv) = (&y[v * c..(v + 1) * c], &g[v * c..(v + 1) * c]);
                            if self.max {
                                // The gradient goes to the first ring entry holding the max.
                                taken.iter_mut().for_each(|t| *t = false);
                                for &w in ring {
                                    let w = w as usize;
                                    let (xw, dw) =
                                        (&x[w * c..(w + 1) * c], &mut d[w * c..(w + 1) * c]);
                                    let lanes = taken
                                        .iter_mut()
                                        .zip(xw.iter().zip(yv))
                                        .zip(dw.iter_mut().zip(gv));
                                    for ((t, (&xv, &ym)), (dv, &gk)) in lanes {
                                        if !*t && xv == ym {
                                            *t = true;
                                            *dv = T::from_f64(dv.to_f64() + gk.to_f64());
                                        }
                                    }
                                }
                            } else {
                                let share = self.inverse_size[v];
                                for &w in ring {
                                    let dw = &mut d[w as usize * c..(w as usize + 1) * c];
                                    for (dv, &gk) in dw.iter_mut().zip(gv) {
                                        *dv = T::from_f64(dv.to_f64() + share * gk.to_f64());
                                    }
                                }
                            }
                        }
                    });
                    Ok(Some(Tensor::from_vec(dx, (s, n, c), x.device())?))
                })
            })
        })
    }
}

impl CustomOp1 for PoolOp {
    fn name(&self) -> &'static str {
        "ring-pool"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        match st {
            CpuStorage::F32(x) => {
                let (y, sh) = self.fwd(contiguous(x, l)?, l)?;
                Ok((CpuStorage::F32(y), sh))
            }
            CpuStorage::F64(x) => {
                let (y, sh) = self.fwd(contiguous(x, l)?, l)?;
                Ok((CpuStorage::F64(y), sh))
            }
            _ => candle_core::bail!("pool: features must be f32 or f64, got {:?}", st.dtype()),
        }
    }

    fn bwd(&self, x: &Tensor, res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        match x.dtype() {
            candle_core::DType::F64 => self.bwd_typed::<f64>(x, res, grad),
            _ => self.bwd_typed::<f32>(x, res, grad),
        }
    }
}
