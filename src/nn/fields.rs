//! Layers on gauge-equivariant feature fields ([`fields`](crate::fields)): the field convolution as
//! candle ops around the compiled [`ConvOp`]s, and the nonlinearities, normalization and invariants
//! that commute with every change of frame.
//!
//! Features are `[N, S, C]` in row layout, the channels of each vertex those of a [`FieldType`]
//! (scalars one channel, a field of order m the pair `(x, y)`), written in the vertex's frame.

use super::op::ConvOp;
use crate::conv::{ConvOptions, Gauge};
use crate::error::Result;
use crate::expmap::ExpMapTable;
use crate::fields::{Field, FieldConvolution, FieldKernel, FieldType};
use crate::Manifold;
use candle_core::{DType, Device, Tensor, D};
use std::f64::consts::TAU;
use std::sync::Arc;

const EPS: f64 = 1e-6;

/// One input class of a compiled field convolution.
struct Class {
    conv: ConvOp,
    /// The class's input channels (`u32`), for `index_select` on the channel dimension.
    channels: Tensor,
    /// Per entry of the class's weights `[B, C_class, C_out]`: the parameter index (`u32`) and sign
    /// (`f64`; 0 where no parameter goes).
    index: Tensor,
    sign: Tensor,
    shape: (usize, usize, usize),
}

/// A [`FieldKernel`] compiled on one mesh level, in `f32` (and `f64` for gradient checks).
pub struct FieldOp {
    kernel: FieldKernel,
    classes: Vec<Class>,
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
        let c_out = kernel.output().channels();
        let classes = kernel
            .classes()
            .iter()
            .zip(c32.operators())
            .zip(c32.weight_maps())
            .map(|((class, op), (idx, sign))| {
                let o64 = ops64.as_mut().and_then(|o| o.next()).map(Arc::new);
                let cpu = &Device::Cpu;
                let channels: Vec<u32> = class.channels.iter().map(|&c| c as u32).collect();
                let sign: Vec<f64> = sign.iter().map(|&s| s as f64).collect();
                Ok(Class {
                    conv: ConvOp::new(Arc::new(op.clone()), o64),
                    channels: Tensor::new(channels, cpu)?,
                    index: Tensor::new(idx.as_slice(), cpu)?,
                    sign: Tensor::new(sign, cpu)?,
                    shape: (class.basis_len, class.channels.len(), c_out),
                })
            })
            .collect::<candle_core::Result<Vec<Class>>>()
            .map_err(candle_error)?;
        Ok(FieldOp {
            kernel: kernel.clone(),
            classes,
        })
    }

    /// The kernel space compiled.
    pub fn kernel(&self) -> &FieldKernel {
        &self.kernel
    }

    /// The row order of the operators (that of every operator of the level).
    pub(crate) fn order(&self) -> &[u32] {
        self.classes[0].conv.operator().order()
    }

    /// The convolution of `x` (`[N, S, C_in]`, row layout) with the kernel of parameters `params`
    /// (`[P]`): `[N, S, C_out]`, differentiable in both.
    pub fn apply(
        &self,
        x: &Tensor,
        params: &Tensor,
        training: bool,
    ) -> candle_core::Result<Tensor> {
        let mut y: Option<Tensor> = None;
        for class in &self.classes {
            let xc = x.index_select(&class.channels, 2)?;
            let w = params
                .index_select(&class.index, 0)?
                .mul(&class.sign.to_dtype(params.dtype())?)?
                .reshape(class.shape)?;
            let zero = Tensor::zeros(class.shape.2, x.dtype(), x.device())?;
            let conv = if training {
                class.conv.for_training()
            } else {
                class.conv.clone()
            };
            let part = conv.apply(&xc, &w, &zero)?;
            y = Some(match y {
                Some(y) => (y + part)?,
                None => part,
            });
        }
        Ok(y.expect("a kernel has at least one input class"))
    }
}

fn candle_error(e: candle_core::Error) -> crate::Error {
    crate::Error::InvalidParameter {
        name: "fields",
        message: e.to_string(),
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
    let (k, m, perm) = regular_bands(t).map_err(candle_core::Error::Msg)?;
    let width = 2 * m as usize + 1;
    if samples <= 2 * m as usize {
        candle_core::bail!(
            "the regular nonlinearity needs more than 2M = {} samples (got {samples})",
            2 * m
        );
    }
    let (sample, project) = regular_matrices(m, samples, x.dtype())?;
    let (n, s, c) = x.dims3()?;
    let dev = x.device();
    let mut inverse = vec![0u32; c];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p as usize] = i as u32;
    }
    let coefs = x
        .index_select(&Tensor::new(perm, dev)?, 2)?
        .reshape((n * s * k, width))?;
    let values = coefs.matmul(&sample)?.relu()?;
    values
        .matmul(&project)?
        .reshape((n, s, c))?
        .index_select(&Tensor::new(inverse, dev)?, 2)
}

/// The sampling matrix `[2M+1, N]` and the projection `[N, 2M+1]` of [`regular_relu`].
fn regular_matrices(m: u32, samples: usize, dtype: DType) -> candle_core::Result<(Tensor, Tensor)> {
    let width = 2 * m as usize + 1;
    let mut sample = vec![0.0f64; width * samples];
    let mut project = vec![0.0f64; samples * width];
    let nf = samples as f64;
    for k in 0..samples {
        let phi = TAU * k as f64 / nf;
        sample[k] = 1.0;
        project[k * width] = 1.0 / nf;
        for o in 1..=m as usize {
            let (sn, cs) = (o as f64 * phi).sin_cos();
            sample[(2 * o - 1) * samples + k] = cs;
            sample[2 * o * samples + k] = sn;
            project[k * width + 2 * o - 1] = 2.0 * cs / nf;
            project[k * width + 2 * o] = 2.0 * sn / nf;
        }
    }
    let dev = &Device::Cpu;
    Ok((
        Tensor::from_vec(sample, (width, samples), dev)?.to_dtype(dtype)?,
        Tensor::from_vec(project, (samples, width), dev)?.to_dtype(dtype)?,
    ))
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
    areas: &Tensor,
    scale: &Tensor,
    shift: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    let (n, s, _) = x.dims3()?;
    let a = areas.to_dtype(x.dtype())?.reshape((n, 1, 1))?;
    let (mut fields, mut scalars) = (0, 0);
    per_run(x, t, |field, _, part| {
        let c = part.dims()[2];
        let count = c / field.dim();
        let g = scale.narrow(0, fields, count)?;
        fields += count;
        if field == Field::Scalar {
            let Some(shift) = shift else {
                candle_core::bail!("the field norm of {t} needs the scalars' shifts");
            };
            let b = shift.narrow(0, scalars, count)?;
            scalars += count;
            let mean = part.broadcast_mul(&a)?.sum_keepdim(0)?;
            let centred = part.broadcast_sub(&mean)?;
            let var = centred.sqr()?.broadcast_mul(&a)?.sum_keepdim(0)?;
            centred
                .broadcast_div(&var.affine(1.0, 1e-5)?.sqrt()?)?
                .broadcast_mul(&g)?
                .broadcast_add(&b)
        } else {
            let dim = field.dim();
            let len2 = part
                .reshape((n, s, count, dim))?
                .sqr()?
                .sum(D::Minus1)?
                .broadcast_mul(&a)?
                .sum_keepdim(0)?; // [1, S, count]
            let inv = len2.affine(1.0, 1e-5)?.sqrt()?.recip()?.broadcast_mul(&g)?;
            part.reshape((n, s, count, dim))?
                .broadcast_mul(&inv.unsqueeze(3)?)?
                .reshape((n, s, c))
        }
    })
}

/// Number of scalars of a type (the shifts of [`field_norm`]).
pub fn scalar_count(t: &FieldType) -> usize {
    t.runs()
        .iter()
        .filter(|(f, _)| *f == Field::Scalar)
        .map(|&(_, n)| n)
        .sum()
}
