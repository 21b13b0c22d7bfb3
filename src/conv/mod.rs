//! Manifold convolution: transported, holonomy-constrained kernels integrated against vertex signals.
//!
//! ```text
//! (k ⋆ f)(p) = ∫_{T_p M} (Γ_{p0→p} k)(v) f(exp_p v) dμ(v)
//!            ≈ Σ_s w_s · k(r_s/ρ, Γ_p⁻¹ θ_s) · f(exp_p(r_s, θ_s))
//! ```
//!
//! The pieces: an exp-map table ([`expmap`](crate::expmap)) gives the samples `(r_s, θ_s)`, their
//! quadrature weights `w_s` and where they land; the [`Gauge`] gives Γ_{p0→p}; a kernel basis
//! ([`kernel`](crate::kernel)) constrained by the holonomy group gives the `k_b`; `f` at a landing point
//! is the barycentric interpolation of its vertex values. [`ConvOperator`] compiles all of it into one
//! sparse operator per basis function and runs forward and backward passes over many channels and
//! batches of signals, which travel as shape-carrying views ([`Signals`], [`KernelWeights`]):
//! [`ConvOperator::forward`], [`ConvOperator::weight_gradient`] and [`ConvOperator::input_gradient`]
//! (each gradient on its own, so a first layer skips the input gradient).
//!
//! By default ([`Quadrature::Mean`]) the weights are divided by `Σ_s w_s`, the quadrature of the disc's
//! area, so the sum above is the kernel-weighted *mean* of `f` over the disc: a constant kernel
//! averages, and the same weights mean the same on meshes of any size. [`Quadrature::Integral`] keeps
//! the integral itself.

mod cache;
mod gather;
mod gauge;
mod operator;
mod real;
mod shape;

pub use cache::{CompileCache, CompileEvent, Compiler, Stage, CACHE_VERSION};
pub use gather::{SimdPath, SIMD_ENV};
pub use gauge::{Gauge, SpanningTree};
pub use operator::saved::{OPERATOR_FORMAT_VERSION, OPERATOR_MAGIC};
pub use operator::simd::SimdOperator;
pub use operator::{ConvOperator, ConvOptions, Layout, Quadrature, SampledBasis, TransportedBasis};
pub use real::Real;
pub use shape::{KernelWeights, KernelWeightsMut, Signals, SignalsMut};
