//! Layers on gauge-equivariant feature fields ([`fields`](crate::fields)): the field convolution as
//! candle ops around the compiled [`ConvOp`]s, and the nonlinearities, normalization and invariants
//! that commute with every change of frame.
//!
//! Features are `[N, S, C]` in row layout, the channels of each vertex those of a [`FieldType`]
//! (scalars one channel, a field of order m the pair `(x, y)`), written in the vertex's frame.

use super::field_ops::{FieldNormOp, RegularOp};
use super::op::{column_sums, shape_error, ConvOp, Precision};
use super::raw::{cpu_fwd3, read};
use crate::conv::{ConvOptions, Gauge};
use crate::conv::{KernelWeights, KernelWeightsMut, Signals, SignalsMut};
use crate::error::Result;
use crate::expmap::ExpMapTable;
use crate::fields::{Field, FieldConvolution, FieldKernel, FieldType};
use crate::Manifold;
use candle_core::{CpuStorage, CustomOp3, Layout, Shape};
use candle_core::{Device, Tensor, D};
use rayon::prelude::*;
use std::f64::consts::TAU;
use std::sync::Arc;
use std::sync::OnceLock;

const EPS: f64 = 1e-6;

/// One input class of a compiled field convolution.
struct Class {
    conv: ConvOp,
    /// The class's input channels.
    channels: Vec<usize>,
    /// Per entry of the class's weights `[B, C_class, C_out]`: the parameter index and its sign
    /// (0 where no parameter goes).
    index: Vec<u32>,
    sign: Vec<i8>,
    basis: usize,
}

/// A [`FieldKernel`] compiled on one mesh level, in `f32` (and `f64` for gradient checks).
pub struct FieldOp {
    kernel: FieldKernel,
    classes: Arc<Vec<Class>>,
}

impl FieldOp {
    /// Compiles `kernel` on `m` with features in the vertices' own frames ([`Gauge::identity`]).
    ///
    /// # Errors
    /// As [`FieldConvolution::new`].
    pub fn compile(
        m: &Manifold,
        table: &ExpMapTable,
        kernel: &FieldKernel,
        f64: bool,
    ) -> Result<FieldOp> {
        let gauge = Gauge::identity(m);
        let options = ConvOptions::default();
        let c32 = FieldConvolution::<f32>::new(m, table, kernel.clone(), &gauge, &options)?;
        let c64 = if f64 {
            Some(FieldConvolution::<f64>::new(
                m,
                table,
                kernel.clone(),
                &gauge,
                &options,
            )?)
        } else {
            None
        };
        let mut ops64 = c64.map(|c| c.operators().to_vec().into_iter());
        let classes = kernel
            .classes()
            .iter()
            .zip(c32.operators())
            .zip(c32.weight_maps())
            .map(|((class, op), (index, sign))| {
                let o64 = ops64.as_mut().and_then(|o| o.next()).map(Arc::new);
                Class {
                    conv: ConvOp::new(Arc::new(op.clone()), o64),
                    channels: class.channels.clone(),
                    index: index.clone(),
                    sign: sign.clone(),
                    basis: class.basis_len,
                }
            })
            .collect();
        Ok(FieldOp {
            kernel: kernel.clone(),
            classes: Arc::new(classes),
        })
    }

    /// The kernel space compiled.
    pub fn kernel(&self) -> &FieldKernel {
        &self.kernel
    }

    /// The compiled operator of each input class ([`FieldKernel::classes`]), in `f32`.
    pub fn operators(&self) -> Vec<&crate::conv::ConvOperator<f32>> {
        self.classes.iter().map(|c| c.conv.operator()).collect()
    }

    /// The row order of the operators (that of every operator of the level).
    pub(crate) fn order(&self) -> &[u32] {
        self.classes[0].conv.operator().order()
    }

    /// The convolution of `x` (`[N, S, C_in]`, row layout) with the kernel of parameters `params`
    /// (`[P]`) plus `bias` (`[C_out]`): `[N, S, C_out]`, differentiable in all three. A training pass
    /// keeps what each class gathered for the weight gradient.
    ///
    /// # Errors
    /// If the shapes do not fit the kernel (naming them).
    pub fn apply(
        &self,
        x: &Tensor,
        params: &Tensor,
        bias: &Tensor,
        training: bool,
    ) -> candle_core::Result<Tensor> {
        let (n, _, c) = x.dims3()?;
        if n != self.classes[0].conv.vertex_count()
            || c != self.kernel.input().channels()
            || params.dims() != [self.kernel.param_count()]
            || bias.dims() != [self.kernel.output().channels()]
        {
            candle_core::bail!(
                "field conv {} → {}: input {:?}, parameters {:?} and bias {:?} do not fit ({} vertices, {} parameters)",
                self.kernel.input(),
                self.kernel.output(),
                x.dims(),
                params.dims(),
                bias.dims(),
                self.classes[0].conv.vertex_count(),
                self.kernel.param_count()
            );
        }
        x.contiguous()?.apply_op3(
            &params.contiguous()?,
            &bias.contiguous()?,
            FieldConvOp {
                classes: self.classes.clone(),
                c_out: self.kernel.output().channels(),
                keep: training,
                gathered: (0..self.classes.len()).map(|_| OnceLock::new()).collect(),
            },
        )
    }
}

/// One application of a [`FieldOp`]: `y = Σ_classes Σ_b (A_b x_class) W_b(params) + bias`, where
/// `W = sign ⊙ params[index]`. Backward: per class the operator's input and weight gradients, the
/// input gradient put back in the class's channels, the weight gradient summed into the parameters
/// (`∂L/∂p = Σ_{e: index_e = p} sign_e ∂L/∂W_e`).
struct FieldConvOp {
    classes: Arc<Vec<Class>>,
    c_out: usize,
    keep: bool,
    /// Per class, what its forward pass gathered (`keep`).
    gathered: Vec<OnceLock<Tensor>>,
}

impl FieldConvOp {
    /// A class's weights from the parameters.
    fn weights<T: Precision>(class: &Class, params: &[T]) -> Vec<T> {
        class
            .index
            .iter()
            .zip(&class.sign)
            .map(|(&i, &s)| match s {
                0 => T::default(),
                1 => params[i as usize],
                _ => T::default() - params[i as usize],
            })
            .collect()
    }

    /// A class's channels of row-layout features `[rows, C]`.
    fn channels_of<T: Precision>(class: &Class, x: &[T], c: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(x.len() / c * class.channels.len());
        for row in x.chunks_exact(c) {
            out.extend(class.channels.iter().map(|&k| row[k]));
        }
        out
    }

    fn forward<T: Precision>(
        &self,
        x: &[T],
        (n, s, c): (usize, usize, usize),
        params: &[T],
        bias: &[T],
    ) -> candle_core::Result<Vec<T>> {
        let c_out = self.c_out;
        let mut out = vec![T::default(); n * s * c_out];
        let mut part = vec![T::default(); n * s * c_out];
        for (class, kept) in self.classes.iter().zip(&self.gathered) {
            let cc = class.channels.len();
            let xc = Self::channels_of(class, x, c);
            let w = Self::weights(class, params);
            let (xs, ws) = (
                Signals::new(&xc, s, cc).map_err(shape_error)?,
                KernelWeights::new(&w, class.basis, cc, c_out).map_err(shape_error)?,
            );
            let parts = SignalsMut::new(&mut part, s, c_out).map_err(shape_error)?;
            let op = T::operator(&class.conv)?;
            if self.keep {
                let mut g = vec![T::default(); n * class.basis * s * cc];
                op.forward_rows_gathering(xs, ws, parts, &mut g);
                let _ = kept.set(Tensor::from_vec(g, n * class.basis * s * cc, &Device::Cpu)?);
            } else {
                op.forward_rows(xs, ws, parts);
            }
            out.par_chunks_mut(4096)
                .zip(part.par_chunks(4096))
                .for_each(|(o, p)| o.iter_mut().zip(p).for_each(|(o, &p)| *o += p));
        }
        out.par_chunks_mut(c_out * 256).for_each(|rows| {
            for row in rows.chunks_exact_mut(c_out) {
                row.iter_mut().zip(bias).for_each(|(y, &b)| *y += b);
            }
        });
        Ok(out)
    }

    fn backward<T: Precision>(
        &self,
        x: &Tensor,
        params: &Tensor,
        grad: &Tensor,
        want: [bool; 3],
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, s, c) = x.dims3()?;
        let c_out = self.c_out;
        let dev = x.device();
        read(x, |xs: &[T]| {
            read(params, |ps: &[T]| {
                read(grad, |gs: &[T]| {
                    let g = Signals::new(gs, s, c_out).map_err(shape_error)?;
                    let mut gx = want[0].then(|| vec![T::default(); n * s * c]);
                    let mut gp = vec![0.0f64; ps.len()];
                    for (class, kept) in self.classes.iter().zip(&self.gathered) {
                        let cc = class.channels.len();
                        let op = T::operator(&class.conv)?;
                        if want[1] {
                            let mut gw = vec![T::default(); class.basis * cc * c_out];
                            let gws = KernelWeightsMut::new(&mut gw, class.basis, cc, c_out)
                                .map_err(shape_error)?;
                            match kept.get() {
                                Some(k) => read(k, |ys: &[T]| {
                                    op.weight_gradient_gathered(ys, g, gws);
                                    Ok(())
                                })?,
                                None => {
                                    let xc = Self::channels_of(class, xs, c);
                                    let xc = Signals::new(&xc, s, cc).map_err(shape_error)?;
                                    op.weight_gradient_rows(xc, g, gws);
                                }
                            }
                            for ((&i, &sg), &v) in class.index.iter().zip(&class.sign).zip(&gw) {
                                gp[i as usize] += sg as f64 * crate::conv::Real::to_f64(v);
                            }
                        }
                        if let Some(gx) = gx.as_mut() {
                            let w = Self::weights(class, ps);
                            let mut gxc = vec![T::default(); n * s * cc];
                            op.input_gradient_rows(
                                g,
                                KernelWeights::new(&w, class.basis, cc, c_out)
                                    .map_err(shape_error)?,
                                SignalsMut::new(&mut gxc, s, cc).map_err(shape_error)?,
                            );
                            for (row, part) in gx.chunks_exact_mut(c).zip(gxc.chunks_exact(cc)) {
                                for (&k, &v) in class.channels.iter().zip(part) {
                                    row[k] = v;
                                }
                            }
                        }
                    }
                    let gb = if want[2] {
                        Some(Tensor::from_vec(column_sums(gs, c_out), c_out, dev)?)
                    } else {
                        None
                    };
                    let gx = match gx {
                        Some(v) => Some(Tensor::from_vec(v, (n, s, c), dev)?),
                        None => None,
                    };
                    let gp = if want[1] {
                        let gp: Vec<T> = gp
                            .into_iter()
                            .map(<T as crate::conv::Real>::from_f64)
                            .collect();
                        Some(Tensor::from_vec(gp, params.dims(), dev)?)
                    } else {
                        None
                    };
                    Ok((gx, gp, gb))
                })
            })
        })
    }
}

impl CustomOp3 for FieldConvOp {
    fn name(&self) -> &'static str {
        "field-conv"
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
        let dims = l1.shape().dims3()?;
        let shape = Shape::from((dims.0, dims.1, self.c_out));
        cpu_fwd3(
            [(s1, l1), (s2, l2), (s3, l3)],
            "field conv",
            |[x, p, b]| Ok((self.forward(x, dims, p, b)?, shape.clone())),
            |[x, p, b]| Ok((self.forward(x, dims, p, b)?, shape.clone())),
        )
    }

    fn bwd(
        &self,
        x: &Tensor,
        params: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let want = [x.track_op(), params.track_op(), bias.track_op()];
        match x.dtype() {
            candle_core::DType::F64 => self.backward::<f64>(x, params, grad, want),
            _ => self.backward::<f32>(x, params, grad, want),
        }
    }
}

/// The channels of each run of a type: `(field, first channel, channel count)`.
fn runs(t: &FieldType) -> Vec<(Field, usize, usize)> {
    let mut c = 0;
    t.runs()
        .iter()
        .map(|&(f, n)| {
            let r = (f, c, n * f.dim());
            c += n * f.dim();
            r
        })
        .collect()
}

/// `|z|` of each field of a run of fields of dimension `dim` (`[N, S, n·dim]` → `[N, S, n]`),
/// smoothed at 0 (`√(|z|² + ε²)`) so that its gradient is finite.
fn norms(x: &Tensor, dim: usize) -> candle_core::Result<Tensor> {
    let (n, s, c) = x.dims3()?;
    x.reshape((n, s, c / dim, dim))?
        .sqr()?
        .sum(D::Minus1)?
        .affine(1.0, EPS * EPS)?
        .sqrt()
}

/// Applies `f` to each run of `x`'s channels and concatenates the results.
fn per_run(
    x: &Tensor,
    t: &FieldType,
    mut f: impl FnMut(Field, usize, Tensor) -> candle_core::Result<Tensor>,
) -> candle_core::Result<Tensor> {
    let parts = runs(t)
        .into_iter()
        .enumerate()
        .map(|(i, (field, start, len))| f(field, i, x.narrow(2, start, len)?))
        .collect::<candle_core::Result<Vec<_>>>()?;
    Tensor::cat(&parts, 2)
}

/// The norm nonlinearity: scalars through ReLU; every other field `z ↦ ReLU(|z| + b_f) z/|z|`
/// (its direction kept, its length through a biased ReLU), `b` one learned bias per such field
/// (`bias`: `[fields that are not scalars]`, in channel order). Commutes with every change of frame:
/// `|ρ(g) z| = |z|`.
///
/// # Errors
/// If `bias` is missing or too short for the type's fields.
pub fn norm_relu(x: &Tensor, t: &FieldType, bias: Option<&Tensor>) -> candle_core::Result<Tensor> {
    let mut used = 0;
    per_run(x, t, |field, _, part| {
        if field == Field::Scalar {
            return part.relu();
        }
        let dim = field.dim();
        let (n, s, c) = part.dims3()?;
        let fields = c / dim;
        let Some(bias) = bias else {
            candle_core::bail!("the norm nonlinearity of {t} needs biases");
        };
        let b = bias.narrow(0, used, fields)?;
        used += fields;
        let len = norms(&part, dim)?;
        let scale = len.broadcast_add(&b)?.relu()?.div(&len)?;
        part.reshape((n, s, fields, dim))?
            .broadcast_mul(&scale.unsqueeze(3)?)?
            .reshape((n, s, c))
    })
}

/// Number of biases [`norm_relu`] takes: the fields that are not scalars.
pub fn norm_relu_biases(t: &FieldType) -> usize {
    t.runs()
        .iter()
        .filter(|(f, _)| *f != Field::Scalar)
        .map(|&(_, n)| n)
        .sum()
}

/// The bands a regular nonlinearity works on: `k` copies of `0 ⊕ 1 ⊕ … ⊕ M`, as the channel of
/// each band's coefficients `(a_0, x_1, y_1, …, x_M, y_M)`.
///
/// # Errors
/// Unless the type holds scalars and orders `1..=M`, every one `k` times (in any run order), and no
/// pseudoscalars.
pub fn regular_bands(t: &FieldType) -> std::result::Result<(usize, u32, Vec<u32>), String> {
    let m = t.max_order();
    let count = |f: Field| -> usize {
        t.runs()
            .iter()
            .filter(|(g, _)| *g == f)
            .map(|&(_, n)| n)
            .sum()
    };
    let k = count(Field::Scalar);
    let ok =
        k > 0 && count(Field::Pseudoscalar) == 0 && (1..=m).all(|o| count(Field::Order(o)) == k);
    if !ok {
        return Err(format!(
            "the regular nonlinearity needs k copies of every order 0..=M and no pseudoscalars (e.g. 8x0+8x1+8x2); got {t}"
        ));
    }
    // Channels of the j-th field of each kind, in order.
    let offsets = t.field_offsets();
    let of = |f: Field| -> Vec<usize> {
        offsets
            .iter()
            .filter(|(g, _)| *g == f)
            .map(|&(_, c)| c)
            .collect()
    };
    let scalars = of(Field::Scalar);
    let orders: Vec<Vec<usize>> = (1..=m).map(|o| of(Field::Order(o))).collect();
    let mut perm = Vec::with_capacity(t.channels());
    for b in 0..k {
        perm.push(scalars[b] as u32);
        for o in &orders {
            perm.extend([o[b] as u32, o[b] as u32 + 1]);
        }
    }
    Ok((k, m, perm))
}

/// The regular nonlinearity (GEM-CNN's): each band `0 ⊕ 1 ⊕ … ⊕ M` is the band-limited function
/// `f(φ) = a_0 + Σ_m x_m cos mφ + y_m sin mφ` on the circle of directions; it is sampled at
/// `samples` directions `φ_k = 2πk/N`, put through ReLU, and projected back
/// (`a_0 = (1/N) Σ_k f_k`, `x_m = (2/N) Σ_k f_k cos mφ_k`, `y_m = (2/N) Σ_k f_k sin mφ_k`).
/// A rotation of the frame by γ shifts `f`: exactly equivariant for γ a multiple of 2π/N and for the
/// reflection φ ↦ −φ, approximately otherwise (the error of the ReLU's aliasing, falling with N).
///
/// # Errors
/// As [`regular_bands`], or `samples ≤ 2M`.
pub fn regular_relu(x: &Tensor, t: &FieldType, samples: usize) -> candle_core::Result<Tensor> {
    let (_, m, perm) = regular_bands(t).map_err(candle_core::Error::Msg)?;
    let width = 2 * m as usize + 1;
    if samples <= 2 * m as usize || samples > super::field_ops::MAX_SAMPLES {
        candle_core::bail!(
            "the regular nonlinearity needs more than 2M = {} samples and at most {} (got {samples})",
            2 * m,
            super::field_ops::MAX_SAMPLES
        );
    }
    // A[k][j]: coefficient j's function at direction φ_k; P[j][k]: its projection weight.
    let mut sample = vec![0.0f64; samples * width];
    let mut project = vec![0.0f64; width * samples];
    let nf = samples as f64;
    for k in 0..samples {
        let phi = TAU * k as f64 / nf;
        sample[k * width] = 1.0;
        project[k] = 1.0 / nf;
        for o in 1..=m as usize {
            let (sn, cs) = (o as f64 * phi).sin_cos();
            sample[k * width + 2 * o - 1] = cs;
            sample[k * width + 2 * o] = sn;
            project[(2 * o - 1) * samples + k] = 2.0 * cs / nf;
            project[2 * o * samples + k] = 2.0 * sn / nf;
        }
    }
    x.contiguous()?.apply_op1(RegularOp {
        perm: Arc::new(perm),
        width,
        sample: Arc::new(sample),
        project: Arc::new(project),
        samples,
    })
}

/// The invariants of a field type, one channel per field: scalars as they are, `|z|` for every
/// other field (smoothed at 0). `[N, S, C]` → `[N, S, fields]`.
pub fn invariants(x: &Tensor, t: &FieldType) -> candle_core::Result<Tensor> {
    per_run(x, t, |field, _, part| match field {
        Field::Scalar => Ok(part),
        f => norms(&part, f.dim()),
    })
}

/// Normalization that commutes with changes of frame, per sample over the vertices (area-weighted,
/// `areas` `[N]` summing to 1): scalars to zero mean and unit variance, then `γ x + β`; every other
/// field divided by the root of its mean squared length, then scaled by `γ` (no shift: a shift is not
/// equivariant). `scale` holds one γ per field, `shift` one β per scalar, in channel order (`None`
/// when there are no scalars).
///
/// # Errors
/// If `scale` or `shift` does not fit the type.
pub fn field_norm(
    x: &Tensor,
    t: &FieldType,
    areas: &[f64],
    scale: &Tensor,
    shift: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    let (n, _, c) = x.dims3()?;
    if areas.len() != n || c != t.channels() || scale.elem_count() != t.field_count() {
        candle_core::bail!(
            "field norm: features {:?}, {} areas and {} scales for type {t}",
            x.dims(),
            areas.len(),
            scale.elem_count()
        );
    }
    let mut shifts = 0;
    let groups: Vec<(usize, usize, bool, usize)> = t
        .field_offsets()
        .into_iter()
        .map(|(f, start)| {
            let scalar = f == Field::Scalar;
            shifts += scalar as usize;
            (start, f.dim(), scalar, shifts.saturating_sub(1))
        })
        .collect();
    let shift = match shift {
        Some(b) if b.elem_count() == shifts => b.clone(),
        None if shifts == 0 => Tensor::zeros(0, x.dtype(), x.device())?,
        _ => candle_core::bail!("field norm: {t} needs {shifts} shifts"),
    };
    x.contiguous()?.apply_op3(
        &scale.contiguous()?,
        &shift,
        FieldNormOp {
            areas: Arc::new(areas.to_vec()),
            groups: Arc::new(groups),
        },
    )
}

/// Number of scalars of a type (the shifts of [`field_norm`]).
pub fn scalar_count(t: &FieldType) -> usize {
    t.runs()
        .iter()
        .filter(|(f, _)| *f == Field::Scalar)
        .map(|&(_, n)| n)
        .sum()
}
