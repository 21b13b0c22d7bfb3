//! The model description: what `model.json` holds.
//!
//! ```json
//! {
//!   "input_channels": 1,
//!   "outputs": 10,
//!   "task": "mesh",
//!   "group": "auto",
//!   "conv": { "basis": "harmonic:3:0", "rings": 4, "directions": 16, "radius_edges": 2.0 },
//!   "layers": [
//!     { "type": "conv", "channels": 16 }, { "type": "norm" }, { "type": "relu" },
//!     { "type": "pool", "mode": "max" },
//!     { "type": "residual", "layers": [ { "type": "conv", "channels": 16 }, { "type": "relu" } ] },
//!     { "type": "global_pool", "mode": "mean" },
//!     { "type": "dropout", "p": 0.1 },
//!     { "type": "dense", "units": 10 }
//!   ]
//! }
//! ```
//!
//! # Fields
//! - `input_channels`: C of the input signals (N × C per sample).
//! - `outputs`: K, the number of classes (or regression outputs) of the last layer.
//! - `task`: `"mesh"` (one output vector per sample: the layers must contain a `global_pool`) or
//!   `"vertex"` (one per vertex of the input mesh: the layers must end on the input's resolution).
//! - `group`: the holonomy group the kernels are constrained to: `"auto"` (the join of every mesh's
//!   measured group, fixed when training starts and written back as its name), `"trivial"`, `"SO2"`,
//!   `"O2"`, `"Z2"`, `"C<n>"`, `"D<n>"`.
//! - `conv`: the convolution shared by every `conv` layer. `basis`: `harmonic:R:M` (R Gaussian radial
//!   profiles × circular harmonics up to order M), `bins:R:A` or `gaussians:R:A` (R rings × A sectors),
//!   constrained to `group`; `rings` × `directions`: the exp-map table's polar grid; `radius_edges`: the
//!   kernel's radius in mean edge lengths *of the level it runs on* (so it doubles, in length, at each
//!   pooling); `padding`: `"zero"` or `"clamp"` for geodesics that leave the surface.
//! - `layers`, each an object with `type`:
//!   - `conv` `{channels, bias = true}`: manifold convolution, weights `[B, C_in, C_out]`;
//!   - `linear` `{channels}`: per-vertex 1×1 map;
//!   - `relu`, `gelu`, `tanh`, `sigmoid`, `leaky_relu` `{slope = 0.01}`: pointwise (candle's);
//!   - `norm`: per-channel normalization over the vertices, area-weighted, with a learned scale and
//!     shift;
//!   - `dropout` `{p}`: zeroes values with probability p while training (scaled by 1/(1 − p));
//!   - `pool` `{mode = "max"}` (`"max"` or `"mean"`): to the next coarser level of a mesh made by
//!     subdivision — each coarse vertex takes the max or mean over its one ring in the fine mesh;
//!   - `unpool`: back to the next finer level, by the subdivision's interpolation (edge midpoints);
//!   - `residual` `{layers}`: `x + f(x)`, with a learned 1×1 projection of `x` when `f` changes the
//!     number of channels (`f` must not change the level);
//!   - `global_pool` `{mode = "mean"}` (`"mean"`: area-weighted; `"max"`; `"mean_max"`: both,
//!     concatenated): per-vertex features to one vector per sample;
//!   - `dense` `{units}`: a fully connected layer on that vector.
//!
//! Gauge-equivariant layers ([`fields`](crate::fields)) carry feature fields written in each
//! vertex's frame; the input is `input_channels` scalars, and only these layers take features with
//! fields of order ≥ 1 (every other layer needs scalars: put an `invariant` first):
//!   - `field_conv` `{fields, bias = true, radial = 3}`: the convolution from the current field type
//!     to `fields` (`"8x0+8x1+4x2"`: 8 scalars, 8 fields of order 1, 4 of order 2; `0-` for
//!     pseudoscalars) with the complete basis of equivariant kernels on `radial` Gaussian profiles,
//!     using the model's `conv` table (`rings`, `directions`, `radius_edges`, `padding`; its `basis`
//!     is not used). Kernels are SO(2)-equivariant, or O(2) where `group` holds reflections
//!     (non-orientable meshes). Weights: `[P]`, the free parameters; bias on the scalars only;
//!   - `field_relu` `{mode = "norm", samples = 16}`: `"norm"`: ReLU on scalars and
//!     `ReLU(|z| + b) z/|z|` on every other field (bias `[fields that are not scalars]`);
//!     `"regular"`: for types of `k` copies of every order `0..=M`, each band sampled at `samples`
//!     directions, ReLU, projected back (exactly equivariant for rotations by multiples of
//!     2π/samples);
//!   - `field_norm`: scalars normalized as `norm` does, every other field divided by the root mean
//!     square of its length over the vertices and scaled;
//!   - `invariant`: one scalar per field (scalars kept, lengths of the others), so that any layer
//!     may follow;
//!   - `pool` `{mode = "mean"}` on fields: each coarse vertex takes the mean of its fine one ring, every
//!     value carried to the coarse vertex's frame by the transport along the fine edge (max pooling
//!     of fields is not equivariant and is refused).
//!
//! Unknown fields and layer types are errors naming them.

use serde::{Deserialize, Serialize};

/// A model description (see the [module docs](crate::nn::spec) for the schema).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Channels of the input signals.
    pub input_channels: usize,
    /// Size of the last layer's output (classes).
    pub outputs: usize,
    /// One output per sample or per vertex.
    #[serde(default)]
    pub task: Task,
    /// Holonomy group of the kernels (`"auto"` or a group name).
    #[serde(default = "auto")]
    pub group: String,
    /// The convolution every `conv` layer uses.
    #[serde(default)]
    pub conv: ConvSpec,
    /// The layers, in order.
    pub layers: Vec<LayerSpec>,
}

fn auto() -> String {
    "auto".into()
}

/// What a model predicts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// One output vector per sample (mesh-level classification).
    #[default]
    Mesh,
    /// One output vector per vertex (segmentation).
    Vertex,
}

/// The convolution shared by the model's `conv` layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvSpec {
    /// Kernel basis before the holonomy constraint: `harmonic:R:M`, `bins:R:A` or `gaussians:R:A`.
    pub basis: String,
    /// Rings of the exp-map table.
    pub rings: usize,
    /// Directions of the exp-map table.
    pub directions: usize,
    /// Kernel radius in mean edge lengths of the level the layer runs on.
    pub radius_edges: f64,
    /// `"zero"` or `"clamp"`.
    pub padding: String,
}

impl Default for ConvSpec {
    fn default() -> Self {
        ConvSpec {
            basis: "harmonic:3:2".into(),
            rings: 4,
            directions: 16,
            radius_edges: 2.0,
            padding: "zero".into(),
        }
    }
}

/// One layer of a [`ModelSpec`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    /// Manifold convolution.
    Conv {
        /// Output channels.
        channels: usize,
        /// Whether to add a learned bias per channel.
        #[serde(default = "yes")]
        bias: bool,
    },
    /// Per-vertex 1×1 linear map with bias.
    Linear {
        /// Output channels.
        channels: usize,
    },
    /// max(x, 0).
    Relu,
    /// Gaussian error linear unit.
    Gelu,
    /// tanh.
    Tanh,
    /// The logistic function.
    Sigmoid,
    /// max(x, slope·x).
    LeakyRelu {
        /// Slope for negative inputs.
        #[serde(default = "slope")]
        slope: f64,
    },
    /// Area-weighted per-channel normalization over the vertices, with learned scale and shift.
    Norm,
    /// Dropout while training.
    Dropout {
        /// Probability of zeroing a value.
        p: f64,
    },
    /// To the next coarser level.
    Pool {
        /// `max` or `mean` over the one ring.
        #[serde(default)]
        mode: PoolMode,
    },
    /// To the next finer level.
    Unpool,
    /// `x + f(x)`.
    Residual {
        /// The layers of `f`.
        layers: Vec<LayerSpec>,
    },
    /// Per-vertex features to one vector per sample.
    GlobalPool {
        /// `mean` (area-weighted), `max` or `mean_max`.
        #[serde(default)]
        mode: GlobalPoolMode,
    },
    /// Fully connected layer on the pooled vector.
    Dense {
        /// Output size.
        units: usize,
    },
    /// Gauge-equivariant convolution between feature fields ([`fields`](crate::fields)).
    FieldConv {
        /// The output's field type, e.g. `"8x0+8x1+4x2"` (`0-` for pseudoscalars).
        fields: String,
        /// Whether to add a learned bias to each scalar output.
        #[serde(default = "yes")]
        bias: bool,
        /// Number of Gaussian radial profiles of the kernel.
        #[serde(default = "radial")]
        radial: usize,
    },
    /// A nonlinearity that commutes with every change of frame.
    FieldRelu {
        /// `norm` or `regular`.
        #[serde(default)]
        mode: FieldReluMode,
        /// Directions sampled by the regular nonlinearity.
        #[serde(default = "samples")]
        samples: usize,
    },
    /// Normalization of feature fields that commutes with changes of frame.
    FieldNorm,
    /// Feature fields to their invariants: scalars kept, the length of every other field.
    Invariant,
}

fn radial() -> usize {
    3
}

fn samples() -> usize {
    16
}

/// Which nonlinearity `field_relu` applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldReluMode {
    /// ReLU on scalars, `ReLU(|z| + b) z/|z|` on every other field (a learned bias per field).
    #[default]
    Norm,
    /// GEM-CNN's: each band `0 ⊕ 1 ⊕ … ⊕ M` sampled at N directions, ReLU, projected back.
    Regular,
}

fn yes() -> bool {
    true
}

fn slope() -> f64 {
    0.01
}

/// How `pool` combines a coarse vertex's one ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolMode {
    /// The largest value.
    #[default]
    Max,
    /// The mean.
    Mean,
}

/// How `global_pool` reduces the vertices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GlobalPoolMode {
    /// Area-weighted mean.
    #[default]
    Mean,
    /// Maximum.
    Max,
    /// Mean and maximum, concatenated (2C values).
    MeanMax,
}

impl ModelSpec {
    /// Reads a model description from JSON text.
    ///
    /// # Errors
    /// [`Error::Parse`](crate::Error::Parse) naming the line and the unknown or missing field or layer
    /// type; `origin` names the file in the message.
    pub fn from_json(text: &str, origin: &str) -> crate::Result<ModelSpec> {
        serde_json::from_str(text).map_err(|e| crate::Error::Parse {
            path: origin.into(),
            line: e.line(),
            message: e.to_string(),
        })
    }

    /// The description as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a model spec always serializes")
    }

    /// Number of `pool` layers minus `unpool` layers on the deepest path: the coarser levels of each
    /// mesh the model needs.
    pub fn pooling_levels(&self) -> usize {
        fn walk(layers: &[LayerSpec], level: &mut i64, deepest: &mut i64) {
            for l in layers {
                match l {
                    LayerSpec::Pool { .. } => *level += 1,
                    LayerSpec::Unpool => *level -= 1,
                    LayerSpec::Residual { layers } => walk(layers, level, deepest),
                    _ => {}
                }
                *deepest = (*deepest).max(*level);
            }
        }
        let (mut level, mut deepest) = (0, 0);
        walk(&self.layers, &mut level, &mut deepest);
        deepest as usize
    }
}
