//! The block most networks repeat — convolution, normalization, ReLU, pooling — as one custom op.
//!
//! Candle's backward pass gives every intermediate tensor of the graph a zero-filled gradient and adds
//! each contribution into it (two extra passes over the tensor, on its own thread pool); at batch 32
//! those passes over the convolution's and the norm's full-resolution outputs cost as much as the
//! layers themselves. As one op the block's intermediates never enter the graph: its forward keeps
//! them, its backward chains the layers' own backward passes over them.

use super::fused::{NormOp, PoolOp};
use super::op::{self, ConvOp, Precision};
use super::raw::cpu_fwd3;
use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use std::sync::OnceLock;

/// `y = pool(norm(Σ_b (A_b x) W_b + bias))` (ReLU fused into the norm when asked, pooling optional),
/// for `x` `[N, S, C_in]` in row layout, `w` `[B, C_in, C_out]` and `params` `[3·C_out]` holding the
/// convolution's bias, then the norm's scale γ and shift β. Exactly the layers one after the other
/// ([`ConvOp`], [`NormOp`], [`PoolOp`]), forward and backward.
#[derive(Clone)]
pub(crate) struct BlockOp {
    conv: ConvOp,
    norm: NormOp,
    pool: Option<PoolOp>,
    /// The convolution's output and, before pooling, the norm's: kept by the forward pass for the
    /// backward pass (without pooling the norm's output is the block's, which candle keeps).
    saved: OnceLock<(Tensor, Option<Tensor>)>,
}

impl BlockOp {
    pub(crate) fn new(conv: ConvOp, norm: NormOp, pool: Option<PoolOp>) -> BlockOp {
        BlockOp {
            conv,
            norm,
            pool,
            saved: OnceLock::new(),
        }
    }

    /// On contiguous elements: `x` and `w` with the shapes of their layouts, `p` the bias, scale and
    /// shift one after the other.
    fn fwd<T: Precision>(
        &self,
        (x, lx): (&[T], &Layout),
        (w, lw): (&[T], &Layout),
        p: &[T],
    ) -> candle_core::Result<(Vec<T>, Shape)> {
        let c_out = lw.shape().dims3()?.2;
        if p.len() != 3 * c_out {
            candle_core::bail!(
                "block: {} parameters, expected bias, scale and shift of {c_out} channels",
                p.len()
            );
        }
        let (bias, gamma, beta) = (&p[..c_out], &p[c_out..2 * c_out], &p[2 * c_out..]);
        let (z, z_shape) = op::forward(&self.conv, (x, lx), (w, lw), bias)?;
        let z_layout = Layout::contiguous(z_shape.clone());
        let (y, y_shape) = self.norm.fwd(&z, &z_layout, gamma, beta)?;
        let out = match &self.pool {
            Some(pool) => Some(pool.fwd(&y, &Layout::contiguous(y_shape.clone()))?),
            None => None,
        };
        let device = candle_core::Device::Cpu;
        let z = Tensor::from_vec(z, z_shape, &device)?;
        let (out, saved_y) = match out {
            Some((o, shape)) => ((o, shape), Some(Tensor::from_vec(y, y_shape, &device)?)),
            None => ((y, y_shape), None),
        };
        let _ = self.saved.set((z, saved_y));
        Ok(out)
    }

    fn bwd_typed<T: Precision>(
        &self,
        x: &Tensor,
        w: &Tensor,
        params: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<op::Grads> {
        let Some((z, y)) = self.saved.get() else {
            candle_core::bail!("block: backward before forward")
        };
        let c_out = w.dims3()?.2;
        let (y, gy) = match (&self.pool, y) {
            (Some(pool), Some(y)) => {
                let gy = pool
                    .bwd_typed::<T>(y, grad)?
                    .expect("pooling always gives its input's gradient");
                (y.clone(), gy)
            }
            _ => (res.clone(), grad.clone()),
        };
        let gamma = params.narrow(0, c_out, c_out)?;
        let (gz, dgamma, dbeta) =
            self.norm
                .backward::<T>(z, &gamma, &y, &gy, [true, true, true])?;
        let gz = gz.expect("asked for");
        let (gx, gw, gbias) =
            op::backward::<T>(&self.conv, x, w, &gz, [x.track_op(), w.track_op(), true])?;
        let gp = Tensor::cat(
            &[
                gbias.expect("asked for"),
                dgamma.expect("asked for"),
                dbeta.expect("asked for"),
            ],
            0,
        )?;
        Ok((gx, gw, Some(gp)))
    }
}

impl CustomOp3 for BlockOp {
    fn name(&self) -> &'static str {
        "conv-norm-pool"
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
            "block",
            |[x, w, p]| self.fwd((x, l1), (w, l2), p),
            |[x, w, p]| self.fwd((x, l1), (w, l2), p),
        )
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        params: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<op::Grads> {
        match x.dtype() {
            candle_core::DType::F64 => self.bwd_typed::<f64>(x, w, params, res, grad),
            _ => self.bwd_typed::<f32>(x, w, params, res, grad),
        }
    }
}
