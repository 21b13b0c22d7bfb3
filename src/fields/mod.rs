//! Gauge-equivariant feature fields: features that carry a rotation order, and the convolutions
//! between them.
//!
//! Every real mesh measures SO(2) or O(2) as its holonomy group, so a kernel that must be invariant
//! under it ([`kernel`](crate::kernel)) is radial: blind to direction. The seed's cure is to lift the
//! signal to a space where the constraint is trivial. Here, as in gauge-equivariant mesh CNNs, a
//! feature at vertex `p` is written in `p`'s own frame and carries a [`Field`] type — a scalar, a
//! pseudoscalar, or a pair of channels of order m that rotates by mγ when the frame rotates by γ —
//! and a layer maps a direct sum of fields ([`FieldType`]) to another. Its kernel `K` is not
//! constrained to be invariant but to be *equivariant*,
//!
//! ```text
//! K(θ + γ) = ρ_out(γ) K(θ) ρ_in(γ)⁻¹,
//! ```
//!
//! and the value of a field at a landing point of the exponential map is carried to `p` by
//! Levi-Civita transport along the traced geodesic before `K` weighs it:
//!
//! ```text
//! (K ⋆ f)(p) = Σ_s ω_s Σ_{q ∈ corners} β_{s,q} K(r_s, θ_s) ρ_in(T_{q→p}) f(q).
//! ```
//!
//! A change of frame `g_p` at every vertex then changes the output exactly as its type says,
//! `out'(p) = ρ_out(g_p)⁻¹ out(p)`, whatever the frames: the network is well defined on every mesh
//! with anisotropic kernels. [`FieldKernel`] is the complete basis of such kernels for two types;
//! [`FieldConvolution`] compiles it on a mesh (one [`ConvOperator`](crate::conv::ConvOperator) per
//! kind of input field) and runs it.
//!
//! # Frames
//! Features are written in the frames of a [`Gauge`](crate::conv::Gauge): by default
//! ([`Gauge::identity`](crate::conv::Gauge::identity)) each vertex's angle-scaled polar frame
//! ([`frames`](crate::frames)); any other gauge gives the same network up to the change of frame.

mod conv;
mod kernel;
mod types;

pub use conv::FieldConvolution;
pub use kernel::{FieldKernel, InputClass, MAX_PARAMS};
pub use types::{Field, FieldType, MAX_CHANNELS, MAX_ORDER};
