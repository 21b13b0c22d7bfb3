//! The manifold convolution as a candle custom op: forward and backward run the precompiled
//! [`ConvOperator`], candle's autograd chains them with everything else.

use super::raw::{cpu_fwd3, read, Float};
use crate::conv::{ConvOperator, KernelWeights, KernelWeightsMut, Signals, SignalsMut};
use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;
use std::sync::{Arc, OnceLock};

/// One mesh's compiled convolution in both precisions: `f32` for training, `f64` for gradient checks.
///
/// Applied to an input `x` of shape `[N, S, C_in]` (S signals on the mesh's N vertices in row layout:
/// row `r` holds vertex [`order`](ConvOperator::order)`()[r]`, see
/// [`ConvOperator::forward_rows`]), weights `w` of shape `[B, C_in, C_out]` and a bias `b` of shape
/// `[C_out]`, it gives `y[s] = Σ_b (A_b x[s]) W_b + b`, shape `[N, S, C_out]` in the same layout.
/// The backward pass computes each of
/// `∂L/∂W = Σ_s Σ_b (A_b x[s])ᵀ ∂L/∂y[s]`, `∂L/∂b = Σ_{s,p} ∂L/∂y[s, p]` and `∂L/∂x` only when that
/// operand needs it (no input gradient for a network's first layer, whose input is data). An op made
/// by [`for_training`](Self::for_training) keeps the forward pass's gathered `A_b x` so that the weight
/// gradient does not gather it again.
pub struct ConvOp {
    f32: Arc<ConvOperator<f32>>,
    f64: Option<Arc<ConvOperator<f64>>>,
    keep: bool,
    /// `A_b x` of the forward pass (`N × B × S × C_in`, row layout), when `keep`.
    gathered: OnceLock<Tensor>,
}

/// A clone is a fresh application of the same operators: nothing kept from a forward pass.
impl Clone for ConvOp {
    fn clone(&self) -> ConvOp {
        ConvOp {
            f32: self.f32.clone(),
            f64: self.f64.clone(),
            keep: self.keep,
            gathered: OnceLock::new(),
        }
    }
}

impl ConvOp {
    /// The op for an `f32` operator, with an optional `f64` twin for running the same op in `f64`.
    ///
    /// # Panics
    /// If the twin has another number of vertices or basis functions.
    pub fn new(f32: Arc<ConvOperator<f32>>, f64: Option<Arc<ConvOperator<f64>>>) -> ConvOp {
        if let Some(d) = &f64 {
            assert!(
                d.vertex_count() == f32.vertex_count() && d.basis_len() == f32.basis_len(),
                "the f64 operator must have the f32 operator's shape"
            );
        }
        ConvOp {
            f32,
            f64,
            keep: false,
            gathered: OnceLock::new(),
        }
    }

    /// The same op for a training step: its forward pass keeps what it gathers for the backward pass
    /// (`N·B·S·C_in` values per application).
    pub fn for_training(&self) -> ConvOp {
        ConvOp {
            keep: true,
            ..self.clone()
        }
    }

    /// Number of vertices N.
    pub fn vertex_count(&self) -> usize {
        self.f32.vertex_count()
    }

    /// Number of basis functions B.
    pub fn basis_len(&self) -> usize {
        self.f32.basis_len()
    }

    /// The `f32` operator.
    pub fn operator(&self) -> &ConvOperator<f32> {
        &self.f32
    }

    /// `y = Σ_b (A_b x) W_b + b` for `x` `[N, S, C_in]` (row layout), `w` `[B, C_in, C_out]` and `b`
    /// `[C_out]`, differentiable in all three.
    ///
    /// # Errors
    /// If the shapes or dtypes do not fit (naming the shapes).
    pub fn apply(&self, x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
        self.check(x, w, b)?;
        x.contiguous()?
            .apply_op3(&w.contiguous()?, &b.contiguous()?, self.clone())
    }

    /// An error naming the shapes unless `x` `[N, S, C_in]`, `w` `[B, C_in, C_out]` and `b` `[C_out]`
    /// fit this operator.
    pub(crate) fn check(&self, x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<()> {
        let (n, _, c_in) = x.dims3()?;
        let (nb, wc_in, c_out) = w.dims3()?;
        if n != self.vertex_count()
            || nb != self.basis_len()
            || wc_in != c_in
            || b.dims() != [c_out]
        {
            candle_core::bail!(
                "manifold conv: input {:?}, weights {:?} and bias {:?} do not fit an operator of {} vertices and {} basis functions",
                x.dims(),
                w.dims(),
                b.dims(),
                self.vertex_count(),
                self.basis_len()
            );
        }
        Ok(())
    }
}

pub(super) fn shape_error(e: crate::Error) -> candle_core::Error {
    candle_core::Error::Msg(e.to_string())
}

/// A precision the convolution runs in.
pub(super) trait Precision: Float + crate::conv::Real {
    fn operator(op: &ConvOp) -> candle_core::Result<&ConvOperator<Self>>;
}

impl Precision for f32 {
    fn operator(op: &ConvOp) -> candle_core::Result<&ConvOperator<f32>> {
        Ok(&op.f32)
    }
}

impl Precision for f64 {
    fn operator(op: &ConvOp) -> candle_core::Result<&ConvOperator<f64>> {
        match &op.f64 {
            Some(o) => Ok(o),
            None => candle_core::bail!("manifold conv: no f64 operator was compiled for this mesh"),
        }
    }
}

/// The convolution plus bias on contiguous elements: `x` [N, S, C_in] and `w` [B, C_in, C_out] with
/// the shapes of their layouts `lx` and `lw`, and the bias `b` [C_out].
pub(super) fn forward<T: Precision>(
    op: &ConvOp,
    (x, lx): (&[T], &Layout),
    (w, lw): (&[T], &Layout),
    b: &[T],
) -> candle_core::Result<(Vec<T>, Shape)> {
    let (n, s, c_in) = lx.shape().dims3()?;
    let (nb, _, c_out) = lw.shape().dims3()?;
    let mut out = vec![T::default(); s * n * c_out];
    let (xs, ws) = (
        Signals::new(x, s, c_in).map_err(shape_error)?,
        KernelWeights::new(w, nb, c_in, c_out).map_err(shape_error)?,
    );
    let outs = SignalsMut::new(&mut out, s, c_out).map_err(shape_error)?;
    if op.keep {
        let mut gathered = vec![T::default(); n * nb * s * c_in];
        T::operator(op)?.forward_rows_gathering(xs, ws, outs, &mut gathered);
        let gathered = Tensor::from_vec(gathered, n * nb * s * c_in, &candle_core::Device::Cpu)?;
        let _ = op.gathered.set(gathered);
    } else {
        T::operator(op)?.forward_rows(xs, ws, outs);
    }
    out.par_chunks_mut(c_out * 1024).for_each(|rows| {
        for row in rows.chunks_exact_mut(c_out) {
            for (y, &bias) in row.iter_mut().zip(b) {
                *y += bias;
            }
        }
    });
    Ok((out, Shape::from((n, s, c_out))))
}

pub(super) type Grads = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

/// The gradients `(∂L/∂x, ∂L/∂w, ∂L/∂b)` that `want` asks for (in that order), from `grad = ∂L/∂y`.
pub(super) fn backward<T: Precision>(
    op: &ConvOp,
    x: &Tensor,
    w: &Tensor,
    grad: &Tensor,
    want: [bool; 3],
) -> candle_core::Result<Grads> {
    let (n, s, c_in) = x.dims3()?;
    let (nb, _, c_out) = w.dims3()?;
    let operator = T::operator(op)?;
    read(grad, |gs: &[T]| {
        let grad = Signals::new(gs, s, c_out).map_err(shape_error)?;
        let gw = if want[1] {
            let mut gw = vec![T::default(); nb * c_in * c_out];
            let gws = KernelWeightsMut::new(&mut gw, nb, c_in, c_out).map_err(shape_error)?;
            match op.gathered.get() {
                Some(kept) => read(kept, |ys: &[T]| {
                    operator.weight_gradient_gathered(ys, grad, gws);
                    Ok(())
                })?,
                None => read(x, |xs: &[T]| {
                    let xs = Signals::new(xs, s, c_in).map_err(shape_error)?;
                    operator.weight_gradient_rows(xs, grad, gws);
                    Ok(())
                })?,
            }
            Some(Tensor::from_vec(gw, (nb, c_in, c_out), w.device())?)
        } else {
            None
        };
        // A first layer's input is data: no gradient is asked of it, none is computed.
        let gx = if want[0] {
            let mut gx = vec![T::default(); s * n * c_in];
            read(w, |ws: &[T]| {
                operator.input_gradient_rows(
                    grad,
                    KernelWeights::new(ws, nb, c_in, c_out).map_err(shape_error)?,
                    SignalsMut::new(&mut gx, s, c_in).map_err(shape_error)?,
                );
                Ok(())
            })?;
            Some(Tensor::from_vec(gx, (n, s, c_in), x.device())?)
        } else {
            None
        };
        let gb = if want[2] {
            Some(Tensor::from_vec(column_sums(gs, c_out), c_out, x.device())?)
        } else {
            None
        };
        Ok((gx, gw, gb))
    })
}

impl CustomOp3 for ConvOp {
    fn name(&self) -> &'static str {
        "manifold-conv"
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
            "conv",
            |[x, w, b]| forward(self, (x, l1), (w, l2), b),
            |[x, w, b]| forward(self, (x, l1), (w, l2), b),
        )
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Grads> {
        let want = [x.track_op(), w.track_op(), b.track_op()];
        match x.dtype() {
            candle_core::DType::F64 => backward::<f64>(self, x, w, grad, want),
            _ => backward::<f32>(self, x, w, grad, want),
        }
    }
}

/// The sums of the columns of a row-major matrix of `width` columns (a bias's gradient): the
/// fused layers' [`column_sums`](super::fused::column_sums) in `f64` (fixed blocks, added in order).
pub(super) fn column_sums<T: Precision>(m: &[T], width: usize) -> Vec<T> {
    let rows = m.len().checked_div(width).unwrap_or(0);
    super::fused::column_sums(rows, width, |r, acc| {
        for (a, &g) in acc.iter_mut().zip(&m[r * width..(r + 1) * width]) {
            *a += crate::conv::Real::to_f64(g);
        }
    })
    .into_iter()
    .map(<T as crate::conv::Real>::from_f64)
    .collect()
}
