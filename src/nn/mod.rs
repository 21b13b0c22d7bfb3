//! Networks on meshes: layers on candle tensors, with the manifold convolution as a custom op.
//!
//! A model is a list of layers ([`ModelSpec`], read from `model.json`) whose convolutions are
//!
//! ```text
//! y[p] = b + Σ_b (A_b x)[p] W_b,      A_b[p, q] = Σ_s w_s k_b(r_s, Γ_p⁻¹ θ_s) β_{s,q}
//! ```
//!
//! ([`ConvOperator`](crate::conv::ConvOperator)): the kernel `Σ_b W_b k_b` is transported to every
//! vertex and integrated against the signal pulled back by the exponential map, with the basis `k_b`
//! constrained to the holonomy group so that the transported kernel is well defined. Each mesh is
//! compiled once into [`MeshLevels`] (its operators at every resolution the model pools to) and any
//! number of signals run through it; candle's autograd chains the convolution's backward pass
//! ([`ConvOp`]) with the other layers', and its optimisers update the weights.
//!
//! Inside a model, features are `[N, S, C]` in row layout: row `r` holds every signal's channels at
//! vertex `order[r]` of the level's operator ([`MeshLevels::to_rows`]), the layout the convolution
//! gathers in, so no layer reorders them. A convolution followed by a norm (and its ReLU, and a
//! pooling) runs as one custom op whose intermediates stay out of candle's graph.

mod block;
mod field_ops;
pub mod fields;
mod fused;
mod levels;
mod model;
mod op;
mod raw;
mod rows;
pub mod spec;
mod train;

pub use levels::{coarser_levels, Level, MeshLevels};
pub use model::Model;
pub use op::ConvOp;
pub use spec::{ConvSpec, FieldReluMode, GlobalPoolMode, LayerSpec, ModelSpec, PoolMode, Task};
pub use train::{
    evaluate, predict, train, EpochStats, Label, Loss, OptimizerKind, Sample, Schedule,
    TrainOptions,
};
