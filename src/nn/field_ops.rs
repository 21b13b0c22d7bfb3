//! The field layers that touch every feature value, as single custom ops with one-pass backward
//! passes: the regular nonlinearity and the field normalization. Written as candle's elementary ops
//! they were a dozen passes over the features each way, and dominated a gauge-equivariant network's
//! step.

use super::raw::{cpu_fwd1, cpu_fwd3, read, Float};
use crate::fields::{Field, FieldType};
use crate::transport::O2;
use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

/// Rows per parallel piece.
const CHUNK: usize = 64;

/// The regular nonlinearity on `[N, S, C]` features whose channels hold `k` bands: band `b`'s
/// coefficients `(a_0, x_1, y_1, …, x_M, y_M)` are channels `perm[b·(2M+1)..]`. Each band is sampled
/// at N directions (`v = A c`), put through ReLU and projected back (`y = P ReLU(v)`); backward,
/// `∂L/∂c = Aᵀ (1_{v>0} ⊙ Pᵀ ∂L/∂y)`.
#[derive(Clone)]
pub(crate) struct RegularOp {
    /// Channel of each band coefficient, band-major.
    pub(crate) perm: Arc<Vec<u32>>,
    /// `2M + 1`.
    pub(crate) width: usize,
    /// `A` as `[N][2M+1]` (row k: the coefficients' values at direction k) and `P` as `[2M+1][N]`.
    pub(crate) sample: Arc<Vec<f64>>,
    pub(crate) project: Arc<Vec<f64>>,
    pub(crate) samples: usize,
}

impl RegularOp {
    /// `Aᵀ` and `P`, both `[2M+1][N]` (row j: coefficient j's values or projection weights over the
    /// directions), in `T`.
    fn matrices<T: Float>(&self) -> (Vec<T>, Vec<T>) {
        let (w, n) = (self.width, self.samples);
        let at = (0..w * n)
            .map(|i| T::from_f64(self.sample[(i % n) * w + i / n]))
            .collect();
        let p = self.project.iter().map(|&v| T::from_f64(v)).collect();
        (at, p)
    }

    /// Forward (`g` unused) or backward over all rows, in parallel pieces.
    fn run<T: Float>(&self, x: &[T], g: Option<&[T]>, c: usize) -> Vec<T> {
        let (at, p) = self.matrices::<T>();
        let (w, n) = (self.width, self.samples);
        let mut out = vec![T::default(); x.len()];
        let backward = g.is_some();
        let g = g.unwrap_or(x);
        out.par_chunks_mut(CHUNK * c)
            .zip(x.par_chunks(CHUNK * c).zip(g.par_chunks(CHUNK * c)))
            .for_each(|(o, (xs, gs))| {
                super::rows::regular_rows(xs, gs, o, (c, w, n), &self.perm, &at, &p, backward)
            });
        out
    }

    fn forward<T: Float>(&self, x: &[T], c: usize) -> Vec<T> {
        self.run(x, None, c)
    }

    /// `∂L/∂x` from `x` and `g = ∂L/∂y`, both `[N, S, C]`: `Aᵀ (1_{v>0} ⊙ Pᵀ g)` per band.
    fn backward<T: Float>(&self, x: &[T], g: &[T], c: usize) -> Vec<T> {
        self.run(x, Some(g), c)
    }
}

/// The most directions the regular nonlinearity samples.
pub(crate) const MAX_SAMPLES: usize = 256;

/// The most coefficients per band (`2M + 1`, M ≤ 16).
const _: () = assert!(2 * (crate::fields::MAX_ORDER as usize) < 33);

impl CustomOp1 for RegularOp {
    fn name(&self) -> &'static str {
        "regular-nonlinearity"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, s, c) = l.shape().dims3()?;
        let shape = Shape::from((n, s, c));
        cpu_fwd1(
            st,
            l,
            "regular nonlinearity",
            |x| Ok((self.forward(x, c), shape.clone())),
            |x| Ok((self.forward(x, c), shape.clone())),
        )
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (_, _, c) = x.dims3()?;
        let dx = match x.dtype() {
            candle_core::DType::F64 => read(x, |xs: &[f64]| {
                read(grad, |gs: &[f64]| {
                    Tensor::from_vec(self.backward(xs, gs, c), x.shape(), x.device())
                })
            })?,
            _ => read(x, |xs: &[f32]| {
                read(grad, |gs: &[f32]| {
                    Tensor::from_vec(self.backward(xs, gs, c), x.shape(), x.device())
                })
            })?,
        };
        Ok(Some(dx))
    }
}

/// Normalization of feature fields per sample over the vertices (area weights `a_n`, Σ a = 1), for
/// `[N, S, C]` features whose channels form `groups`: a scalar channel (`dim` 1, `scalar`) is
/// centred and divided by its standard deviation, then `γ x + β`; every other field (a pseudoscalar,
/// or a pair) is divided by `r = √(Σ_n a_n |z_n|² + ε)`, then scaled by `γ`. Backward, for a field
/// with `g = ∂L/∂y`: `∂L/∂z_n = (γ/r) (g_n − a_n z_n Σ_m g_m·z_m / r²)`, `∂L/∂γ = Σ_n g_n·z_n / r`;
/// scalars as [`NormOp`](super::fused::NormOp).
#[derive(Clone)]
pub(crate) struct FieldNormOp {
    pub(crate) areas: Arc<Vec<f64>>,
    /// Per field: first channel, channel count, whether it is a scalar (centred, shifted), and its
    /// shift's index (scalars only).
    pub(crate) groups: Arc<Vec<(usize, usize, bool, usize)>>,
}

const EPS: f64 = 1e-5;

impl FieldNormOp {
    /// Per (sample, field): the mean (scalars) and `1/√(variance + ε)` or `1/r`.
    fn stats<T: Float>(&self, x: &[T], s: usize, c: usize) -> (Vec<f64>, Vec<f64>) {
        let f = self.groups.len();
        let n = self.areas.len();
        let sums = |centre: Option<&[f64]>| -> Vec<f64> {
            let parts: Vec<Vec<f64>> = (0..n.div_ceil(CHUNK))
                .into_par_iter()
                .map(|k| {
                    let mut acc = vec![0.0; s * f];
                    for r in k * CHUNK..((k + 1) * CHUNK).min(n) {
                        let a = self.areas[r];
                        for si in 0..s {
                            let row = &x[(r * s + si) * c..(r * s + si + 1) * c];
                            for (gi, &(start, len, scalar, _)) in self.groups.iter().enumerate() {
                                let v = &row[start..start + len];
                                acc[si * f + gi] += a * match (centre, scalar) {
                                    (None, true) => v[0].to_f64(),
                                    (Some(m), true) => (v[0].to_f64() - m[si * f + gi]).powi(2),
                                    _ => v.iter().map(|z| z.to_f64().powi(2)).sum(),
                                };
                            }
                        }
                    }
                    acc
                })
                .collect();
            let mut total = vec![0.0; s * f];
            for p in parts {
                total.iter_mut().zip(p).for_each(|(t, v)| *t += v);
            }
            total
        };
        let first = sums(None);
        let mean: Vec<f64> = first
            .iter()
            .enumerate()
            .map(|(i, &m)| if self.groups[i % f].2 { m } else { 0.0 })
            .collect();
        let second = sums(Some(&mean));
        let inv = second
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let v = if self.groups[i % f].2 { v } else { first[i] };
                1.0 / (v + EPS).sqrt()
            })
            .collect();
        (mean, inv)
    }

    fn forward<T: Float>(
        &self,
        x: &[T],
        (s, c): (usize, usize),
        gamma: &[T],
        beta: &[T],
    ) -> Vec<T> {
        let f = self.groups.len();
        let (mean, inv) = self.stats(x, s, c);
        let mut out = vec![T::default(); x.len()];
        out.par_chunks_mut(c)
            .zip(x.par_chunks(c))
            .enumerate()
            .for_each(|(row, (o, xr))| {
                let si = row % s;
                for (gi, &(start, len, scalar, shift)) in self.groups.iter().enumerate() {
                    let k = si * f + gi;
                    let scale = gamma[gi].to_f64() * inv[k];
                    for j in start..start + len {
                        o[j] = T::from_f64(if scalar {
                            scale * (xr[j].to_f64() - mean[k]) + beta[shift].to_f64()
                        } else {
                            scale * xr[j].to_f64()
                        });
                    }
                }
            });
        out
    }

    /// `(∂L/∂x, ∂L/∂γ, ∂L/∂β)`.
    fn backward<T: Float>(
        &self,
        x: &[T],
        g: &[T],
        (s, c): (usize, usize),
        gamma: &[T],
        shifts: usize,
    ) -> (Vec<T>, Vec<T>, Vec<T>) {
        let f = self.groups.len();
        let n = self.areas.len();
        let (mean, inv) = self.stats(x, s, c);
        // Per (sample, field): Σ_n g and Σ_n g·x̂ (x̂ the normalized value, before γ).
        let parts: Vec<Vec<f64>> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|k| {
                let mut acc = vec![0.0; 2 * s * f];
                for r in k * CHUNK..((k + 1) * CHUNK).min(n) {
                    for si in 0..s {
                        let o = (r * s + si) * c;
                        for (gi, &(start, len, scalar, _)) in self.groups.iter().enumerate() {
                            let q = si * f + gi;
                            for j in start..start + len {
                                let xh = if scalar {
                                    (x[o + j].to_f64() - mean[q]) * inv[q]
                                } else {
                                    x[o + j].to_f64() * inv[q]
                                };
                                let gj = g[o + j].to_f64();
                                acc[q] += gj;
                                acc[s * f + q] += gj * xh;
                            }
                        }
                    }
                }
                acc
            })
            .collect();
        let mut sums = vec![0.0; 2 * s * f];
        for p in parts {
            sums.iter_mut().zip(p).for_each(|(t, v)| *t += v);
        }
        let (sum_g, sum_gx) = sums.split_at(s * f);
        let mut dx = vec![T::default(); x.len()];
        dx.par_chunks_mut(c)
            .zip(x.par_chunks(c).zip(g.par_chunks(c)))
            .enumerate()
            .for_each(|(row, (d, (xr, gr)))| {
                let (r, si) = (row / s, row % s);
                let a = self.areas[r];
                for (gi, &(start, len, scalar, _)) in self.groups.iter().enumerate() {
                    let q = si * f + gi;
                    let p = gamma[gi].to_f64() * inv[q];
                    for j in start..start + len {
                        let xh = if scalar {
                            (xr[j].to_f64() - mean[q]) * inv[q]
                        } else {
                            xr[j].to_f64() * inv[q]
                        };
                        let gj = gr[j].to_f64();
                        // Scalars: p (g − a (Σg + x̂ Σgx̂)); fields: p (g − a x̂ Σgx̂).
                        let centre = if scalar { sum_g[q] } else { 0.0 };
                        d[j] = T::from_f64(p * (gj - a * (centre + xh * sum_gx[q])));
                    }
                }
            });
        let mut dgamma = vec![0.0; f];
        let mut dbeta = vec![0.0; shifts];
        for si in 0..s {
            for (gi, &(_, _, scalar, shift)) in self.groups.iter().enumerate() {
                dgamma[gi] += sum_gx[si * f + gi];
                if scalar {
                    dbeta[shift] += sum_g[si * f + gi];
                }
            }
        }
        let cast = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect();
        (dx, cast(dgamma), cast(dbeta))
    }
}

impl CustomOp3 for FieldNormOp {
    fn name(&self) -> &'static str {
        "field-norm"
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
        let (n, s, c) = l1.shape().dims3()?;
        cpu_fwd3(
            [(s1, l1), (s2, l2), (s3, l3)],
            "field norm",
            |[x, g, b]| Ok((self.forward(x, (s, c), g, b), (n, s, c).into())),
            |[x, g, b]| Ok((self.forward(x, (s, c), g, b), (n, s, c).into())),
        )
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (_, s, c) = x.dims3()?;
        let shifts = beta.elem_count();
        macro_rules! run {
            ($t:ty) => {
                read(x, |xs: &[$t]| {
                    read(grad, |gs: &[$t]| {
                        read(gamma, |gm: &[$t]| {
                            let (dx, dg, db) = self.backward(xs, gs, (s, c), gm, shifts);
                            Ok((
                                Some(Tensor::from_vec(dx, x.shape(), x.device())?),
                                Some(Tensor::from_vec(dg, gamma.shape(), x.device())?),
                                Some(Tensor::from_vec(db, beta.shape(), x.device())?),
                            ))
                        })
                    })
                })
            };
        }
        match x.dtype() {
            candle_core::DType::F64 => run!(f64),
            _ => run!(f32),
        }
    }
}

/// What mean pooling of feature fields reads, in row layout: per coarse row and ring slot the fine
/// row (0 for the padding), the map of directions from that row's frame to the coarse row's frame,
/// and the weight (1 / ring size, 0 for the padding); and the inverse, per fine row the (coarse row,
/// slot) pairs that read it.
pub(crate) struct FieldRing {
    rows: Vec<u32>,
    frames: Vec<O2>,
    weights: Vec<f64>,
    width: usize,
    holder_offsets: Vec<u32>,
    holders: Vec<u32>,
}

impl FieldRing {
    /// # Panics
    /// If the arrays differ in length, or a row is not below `fine`.
    pub(crate) fn new(
        rows: Vec<u32>,
        frames: Vec<O2>,
        weights: Vec<f64>,
        width: usize,
        fine: usize,
    ) -> FieldRing {
        assert!(rows.len() == frames.len() && rows.len() == weights.len());
        let mut offsets = vec![0u32; fine + 1];
        for (&r, &w) in rows.iter().zip(&weights) {
            assert!((r as usize) < fine, "ring row {r} past {fine} fine rows");
            if w != 0.0 {
                offsets[r as usize + 1] += 1;
            }
        }
        for i in 0..fine {
            offsets[i + 1] += offsets[i];
        }
        let mut next = offsets.clone();
        let mut holders = vec![0u32; offsets[fine] as usize];
        for (e, (&r, &w)) in rows.iter().zip(&weights).enumerate() {
            if w != 0.0 {
                holders[next[r as usize] as usize] = e as u32;
                next[r as usize] += 1;
            }
        }
        FieldRing {
            rows,
            frames,
            weights,
            width,
            holder_offsets: offsets,
            holders,
        }
    }
}

/// Mean pooling of fields (see [`MeshLevels::pool_fields`](super::MeshLevels::pool_fields)):
/// `y[v] = Σ_k w_k ρ(g_k) x[ring_k]`; backward `∂L/∂x[w] = Σ_{(v, k) reading w} w_k ρ(g_k)ᵀ ∂L/∂y[v]`,
/// gathered per fine row through the inverse ring.
pub(crate) struct FieldPoolOp {
    ring: Arc<FieldRing>,
    /// Per field: first channel and the field.
    fields: Vec<(usize, Field)>,
    /// Per ring entry and field order present: `(w cos mα, w sin mα, ±1)` at `coef[e·K + k]`.
    coef: Vec<(f64, f64, f64)>,
    orders: Vec<u32>,
}

impl FieldPoolOp {
    pub(crate) fn new(ring: Arc<FieldRing>, t: &FieldType) -> FieldPoolOp {
        let fields: Vec<(usize, Field)> =
            t.field_offsets().into_iter().map(|(f, c)| (c, f)).collect();
        let mut orders: Vec<u32> = fields.iter().map(|(_, f)| f.order()).collect();
        orders.sort_unstable();
        orders.dedup();
        let coef = ring
            .frames
            .iter()
            .zip(&ring.weights)
            .flat_map(|(g, &w)| {
                let sign = if g.reflect { -1.0 } else { 1.0 };
                orders.iter().map(move |&m| {
                    let (s, c) = (m as f64 * g.angle).sin_cos();
                    (w * c, w * s, sign)
                })
            })
            .collect();
        FieldPoolOp {
            ring,
            fields,
            coef,
            orders,
        }
    }

    /// `out += ρ(g_e) x` (or `ρ(g_e)ᵀ x` when `transpose`) weighted, over one row's `S·C` values.
    fn accumulate<T: Float>(&self, e: usize, x: &[T], out: &mut [f64], c: usize, transpose: bool) {
        let k = self.orders.len();
        for (xs, os) in x.chunks_exact(c).zip(out.chunks_exact_mut(c)) {
            for &(start, f) in &self.fields {
                let o = self.orders.binary_search(&f.order()).expect("order listed");
                let (wc, ws, sign) = self.coef[e * k + o];
                match f {
                    Field::Scalar => os[start] += wc * xs[start].to_f64(),
                    Field::Pseudoscalar => os[start] += sign * wc * xs[start].to_f64(),
                    Field::Order(_) => {
                        let (a, b) = (xs[start].to_f64(), xs[start + 1].to_f64());
                        if transpose {
                            // (R S^r)ᵀ = S^r R(−α): rotate back, then reflect.
                            os[start] += wc * a + ws * b;
                            os[start + 1] += sign * (wc * b - ws * a);
                        } else {
                            let b = sign * b;
                            os[start] += wc * a - ws * b;
                            os[start + 1] += ws * a + wc * b;
                        }
                    }
                }
            }
        }
    }

    fn forward<T: Float>(&self, x: &[T], (s, c): (usize, usize)) -> Vec<T> {
        let row = s * c;
        let coarse = self.ring.rows.len() / self.ring.width;
        let mut out = vec![T::default(); coarse * row];
        out.par_chunks_mut(row).enumerate().for_each(|(v, o)| {
            let mut acc = vec![0.0; row];
            for e in v * self.ring.width..(v + 1) * self.ring.width {
                if self.ring.weights[e] != 0.0 {
                    let r = self.ring.rows[e] as usize;
                    self.accumulate(e, &x[r * row..(r + 1) * row], &mut acc, c, false);
                }
            }
            o.iter_mut()
                .zip(&acc)
                .for_each(|(o, &a)| *o = T::from_f64(a));
        });
        out
    }

    fn backward<T: Float>(&self, g: &[T], fine: usize, (s, c): (usize, usize)) -> Vec<T> {
        let row = s * c;
        let mut out = vec![T::default(); fine * row];
        let r = &self.ring;
        out.par_chunks_mut(row).enumerate().for_each(|(w, o)| {
            let mut acc = vec![0.0; row];
            for &e in &r.holders[r.holder_offsets[w] as usize..r.holder_offsets[w + 1] as usize] {
                let v = e as usize / r.width;
                self.accumulate(e as usize, &g[v * row..(v + 1) * row], &mut acc, c, true);
            }
            o.iter_mut()
                .zip(&acc)
                .for_each(|(o, &a)| *o = T::from_f64(a));
        });
        out
    }
}

impl CustomOp1 for FieldPoolOp {
    fn name(&self) -> &'static str {
        "field-pool"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, s, c) = l.shape().dims3()?;
        if n + 1 != self.ring.holder_offsets.len() {
            candle_core::bail!(
                "field pooling: {n} rows, the ring reads {}",
                self.ring.holder_offsets.len() - 1
            );
        }
        let coarse = self.ring.rows.len() / self.ring.width;
        let shape = Shape::from((coarse, s, c));
        cpu_fwd1(
            st,
            l,
            "field pooling",
            |x| Ok((self.forward(x, (s, c)), shape.clone())),
            |x| Ok((self.forward(x, (s, c)), shape.clone())),
        )
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (n, s, c) = x.dims3()?;
        let dx = match x.dtype() {
            candle_core::DType::F64 => read(grad, |gs: &[f64]| {
                Tensor::from_vec(self.backward(gs, n, (s, c)), x.shape(), x.device())
            })?,
            _ => read(grad, |gs: &[f32]| {
                Tensor::from_vec(self.backward(gs, n, (s, c)), x.shape(), x.device())
            })?,
        };
        Ok(Some(dx))
    }
}
