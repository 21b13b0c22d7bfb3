//! A network built from a [`ModelSpec`]: its layers, their weights (candle `Var`s in a `VarMap`), the
//! forward pass over a compiled mesh, and saving/loading as `model.json` + `model.safetensors`.

use super::block::BlockOp;
use super::fused::NormOp;
use super::levels::{constrained_basis, MeshLevels};
use super::op::ConvOp;
use super::spec::{FieldReluMode, GlobalPoolMode, LayerSpec, ModelSpec, PoolMode, Task};
use crate::error::{Error, Result};
use crate::fields::{Field, FieldKernel, FieldType};
use crate::holonomy::HolonomyGroup;
use crate::kernel::{RadialBasis, RadialProfile};
use crate::rng::SplitMix;
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::VarMap;
use std::collections::HashMap;
use std::path::Path;

enum Layer {
    Conv {
        w: Var,
        b: Option<Var>,
    },
    Linear {
        w: Var,
        b: Var,
    },
    Relu,
    Gelu,
    Tanh,
    Sigmoid,
    LeakyRelu(f64),
    /// With `relu`, the ReLU that followed it in the description, fused.
    Norm {
        gamma: Var,
        beta: Var,
        relu: bool,
    },
    Dropout(f64),
    Pool(PoolMode),
    Unpool,
    Residual {
        body: Vec<Layer>,
        projection: Option<Var>,
    },
    GlobalPool(GlobalPoolMode),
    Dense {
        w: Var,
        b: Var,
    },
    /// A field convolution; the bias (on the scalar outputs) as `[C_out]` pieces per run of the type.
    FieldConv {
        w: Var,
        b: Option<Var>,
        kernel: Box<FieldKernel>,
    },
    FieldRelu {
        fields: FieldType,
        /// The norm nonlinearity (with its biases, if the type has fields other than scalars), or
        /// `None` for the regular one.
        bias: Option<Option<Var>>,
        samples: usize,
    },
    FieldNorm {
        fields: FieldType,
        scale: Var,
        /// The shifts of the scalars, if there are any.
        shift: Option<Var>,
    },
    Invariant(FieldType),
    /// Mean pooling of fields, transported to the coarse vertex's frame.
    FieldPool(FieldType),
    /// A conv, the norm after it (with its ReLU) and the pooling after that (if any), run as one op
    /// ([`BlockOp`]); the same weights under the same names as the layers apart.
    Block {
        w: Var,
        b: Option<Var>,
        gamma: Var,
        beta: Var,
        relu: bool,
        pool: Option<PoolMode>,
    },
}

/// What flows between layers while the model is built: the shape of one sample's features.
#[derive(Clone)]
struct Flow {
    level: usize,
    channels: usize,
    /// After `global_pool`: one vector per sample.
    pooled: bool,
    /// The field type where it holds fields other than scalars (after a `field_conv`).
    fields: Option<FieldType>,
}

impl Flow {
    /// The field type of the features: scalars unless a field layer made them otherwise.
    fn field_type(&self) -> FieldType {
        self.fields
            .clone()
            .unwrap_or_else(|| FieldType::scalars(self.channels))
    }

    fn set_fields(&mut self, t: FieldType) {
        self.channels = t.channels();
        self.fields = (!t.is_scalar()).then_some(t);
    }
}

/// Builds layers, creating their variables with seeded initial values.
struct Builder<'a> {
    vars: &'a mut HashMap<String, Var>,
    names: Vec<String>,
    rng: SplitMix,
    basis_len: usize,
    levels: usize,
    dtype: DType,
    /// O(2)-equivariant field kernels (the group holds reflections), else SO(2).
    reflections: bool,
    /// The field convolutions built, with their levels.
    kernels: Vec<(usize, FieldKernel)>,
}

impl Builder<'_> {
    fn var(&mut self, name: &str, shape: &[usize], std: f64, fill: f64) -> Result<Var> {
        let count: usize = shape.iter().product();
        let values: Vec<f64> = (0..count)
            .map(|_| {
                if std > 0.0 {
                    std * self.rng.normal()
                } else {
                    fill
                }
            })
            .collect();
        let t = Tensor::from_vec(values, shape, &Device::Cpu)?.to_dtype(self.dtype)?;
        let v = Var::from_tensor(&t)?;
        self.vars.insert(name.to_string(), v.clone());
        self.names.push(name.to_string());
        Ok(v)
    }

    fn layers(&mut self, specs: &[LayerSpec], prefix: &str, flow: &mut Flow) -> Result<Vec<Layer>> {
        let mut out: Vec<Layer> = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let name = format!("{prefix}{i}");
            let layer = self.layer(spec, &name, flow)?;
            match out.pop() {
                Some(last) => match fuse(last, layer) {
                    Ok(fused) => out.push(fused),
                    Err((last, layer)) => out.extend([last, layer]),
                },
                None => out.push(layer),
            }
        }
        Ok(out)
    }

    fn layer(&mut self, spec: &LayerSpec, name: &str, flow: &mut Flow) -> Result<Layer> {
        let at = LayerAt(name);
        let field_layer = matches!(
            spec,
            LayerSpec::FieldConv { .. }
                | LayerSpec::FieldRelu { .. }
                | LayerSpec::FieldNorm
                | LayerSpec::Invariant
                | LayerSpec::Pool {
                    mode: PoolMode::Mean
                }
        );
        if let (false, Some(t)) = (field_layer, &flow.fields) {
            return Err(at.bad(format!(
                "takes scalar features, but they are fields of type {t} (a pointwise map or max \
                 pooling of fields of order ≥ 1 is not equivariant): put an `invariant` layer before \
                 it, or use `field_relu`, `field_norm` or `pool` with \"mode\": \"mean\""
            )));
        }
        match spec {
            LayerSpec::FieldConv { .. }
            | LayerSpec::FieldRelu { .. }
            | LayerSpec::FieldNorm
            | LayerSpec::Invariant => self.field_layer(spec, at, flow),
            LayerSpec::Pool { .. }
            | LayerSpec::Unpool
            | LayerSpec::Residual { .. }
            | LayerSpec::GlobalPool { .. }
            | LayerSpec::Dense { .. } => self.structural_layer(spec, at, flow),
            LayerSpec::Conv { .. }
            | LayerSpec::Linear { .. }
            | LayerSpec::Relu
            | LayerSpec::Gelu
            | LayerSpec::Tanh
            | LayerSpec::Sigmoid
            | LayerSpec::LeakyRelu { .. }
            | LayerSpec::Norm
            | LayerSpec::Dropout { .. } => self.pointwise_layer(spec, at, flow),
        }
    }

    /// The layers on feature fields.
    fn field_layer(&mut self, spec: &LayerSpec, at: LayerAt, flow: &mut Flow) -> Result<Layer> {
        let (name, bad) = (at.0, |m: String| at.bad(m));
        let per_vertex = |flow: &Flow, what: &str| at.per_vertex(flow, what);
        let c_in = flow.channels;
        Ok(match spec {
            LayerSpec::FieldConv {
                fields,
                bias,
                radial,
            } => {
                per_vertex(flow, "field_conv")?;
                let output = FieldType::parse(fields).map_err(|e| bad(e.to_string()))?;
                let profiles = RadialBasis::new(RadialProfile::Gaussian, *radial)
                    .map_err(|e| bad(e.to_string()))?;
                let kernel =
                    FieldKernel::new(&flow.field_type(), &output, profiles, self.reflections)
                        .map_err(|e| bad(e.to_string()))?;
                let fan_in = (radial * c_in) as f64;
                let w = self.var(
                    &format!("{name}.weight"),
                    &[kernel.param_count()],
                    (2.0 / fan_in).sqrt(),
                    0.0,
                )?;
                let scalars = super::fields::scalar_count(&output);
                let b = if *bias && scalars > 0 {
                    Some(self.var(&format!("{name}.bias"), &[scalars], 0.0, 0.0)?)
                } else {
                    None
                };
                self.kernels.push((flow.level, kernel.clone()));
                flow.set_fields(output);
                Layer::FieldConv {
                    w,
                    b,
                    kernel: Box::new(kernel),
                }
            }
            LayerSpec::FieldRelu { mode, samples } => {
                per_vertex(flow, "field_relu")?;
                let fields = flow.field_type();
                let bias = match mode {
                    FieldReluMode::Norm => {
                        let n = super::fields::norm_relu_biases(&fields);
                        let bias = if n > 0 {
                            Some(self.var(&format!("{name}.bias"), &[n], 0.0, 0.0)?)
                        } else {
                            None
                        };
                        Some(bias)
                    }
                    FieldReluMode::Regular => {
                        super::fields::regular_bands(&fields).map_err(bad)?;
                        if *samples <= 2 * fields.max_order() as usize
                            || *samples > super::field_ops::MAX_SAMPLES
                        {
                            return Err(bad(format!(
                                "the regular nonlinearity needs more than 2M = {} samples and at most {} (got {samples})",
                                2 * fields.max_order(),
                                super::field_ops::MAX_SAMPLES
                            )));
                        }
                        None
                    }
                };
                Layer::FieldRelu {
                    fields,
                    bias,
                    samples: *samples,
                }
            }
            LayerSpec::FieldNorm => {
                per_vertex(flow, "field_norm")?;
                let fields = flow.field_type();
                let scale =
                    self.var(&format!("{name}.scale"), &[fields.field_count()], 0.0, 1.0)?;
                let n = super::fields::scalar_count(&fields);
                let shift = if n > 0 {
                    Some(self.var(&format!("{name}.shift"), &[n], 0.0, 0.0)?)
                } else {
                    None
                };
                Layer::FieldNorm {
                    fields,
                    scale,
                    shift,
                }
            }
            LayerSpec::Invariant => {
                per_vertex(flow, "invariant")?;
                let fields = flow.field_type();
                flow.set_fields(FieldType::scalars(fields.field_count()));
                Layer::Invariant(fields)
            }
            _ => unreachable!("`layer` sends only field layers here"),
        })
    }

    /// The per-vertex layers on scalar features: convolutions, maps and pointwise functions.
    fn pointwise_layer(&mut self, spec: &LayerSpec, at: LayerAt, flow: &mut Flow) -> Result<Layer> {
        let (name, bad) = (at.0, |m: String| at.bad(m));
        let per_vertex = |flow: &Flow, what: &str| at.per_vertex(flow, what);
        let positive = |c: usize, what: &str| at.positive(c, what);
        let c_in = flow.channels;
        Ok(match spec {
            LayerSpec::Conv { channels, bias } => {
                per_vertex(flow, "conv")?;
                let c = positive(*channels, "channels")?;
                let fan_in = (self.basis_len * c_in) as f64;
                let w = self.var(
                    &format!("{name}.weight"),
                    &[self.basis_len, c_in, c],
                    (2.0 / fan_in).sqrt(),
                    0.0,
                )?;
                let b = if *bias {
                    Some(self.var(&format!("{name}.bias"), &[c], 0.0, 0.0)?)
                } else {
                    None
                };
                flow.channels = c;
                Layer::Conv { w, b }
            }
            LayerSpec::Linear { channels } => {
                per_vertex(flow, "linear")?;
                let c = positive(*channels, "channels")?;
                let w = self.var(
                    &format!("{name}.weight"),
                    &[c_in, c],
                    (2.0 / c_in as f64).sqrt(),
                    0.0,
                )?;
                let b = self.var(&format!("{name}.bias"), &[c], 0.0, 0.0)?;
                flow.channels = c;
                Layer::Linear { w, b }
            }
            LayerSpec::Relu => Layer::Relu,
            LayerSpec::Gelu => Layer::Gelu,
            LayerSpec::Tanh => Layer::Tanh,
            LayerSpec::Sigmoid => Layer::Sigmoid,
            LayerSpec::LeakyRelu { slope } => Layer::LeakyRelu(*slope),
            LayerSpec::Norm => {
                per_vertex(flow, "norm")?;
                let gamma = self.var(&format!("{name}.scale"), &[c_in], 0.0, 1.0)?;
                let beta = self.var(&format!("{name}.shift"), &[c_in], 0.0, 0.0)?;
                Layer::Norm {
                    gamma,
                    beta,
                    relu: false,
                }
            }
            LayerSpec::Dropout { p } => {
                if !(0.0..1.0).contains(p) {
                    return Err(bad(format!("dropout p = {p} is not in [0, 1)")));
                }
                Layer::Dropout(*p)
            }
            _ => unreachable!("`layer` sends only pointwise layers here"),
        })
    }

    /// The layers that change the shape of the flow: pooling, unpooling, residual blocks, the global
    /// pool and the dense layers after it.
    fn structural_layer(
        &mut self,
        spec: &LayerSpec,
        at: LayerAt,
        flow: &mut Flow,
    ) -> Result<Layer> {
        let (name, bad) = (at.0, |m: String| at.bad(m));
        let per_vertex = |flow: &Flow, what: &str| at.per_vertex(flow, what);
        let positive = |c: usize, what: &str| at.positive(c, what);
        let c_in = flow.channels;
        Ok(match spec {
            LayerSpec::Pool { mode } => {
                per_vertex(flow, "pool")?;
                if flow.level + 1 >= self.levels {
                    return Err(bad("no coarser level to pool to".into()));
                }
                flow.level += 1;
                match &flow.fields {
                    Some(t) => Layer::FieldPool(t.clone()),
                    None => Layer::Pool(*mode),
                }
            }
            LayerSpec::Unpool => {
                per_vertex(flow, "unpool")?;
                if flow.level == 0 {
                    return Err(bad(
                        "unpool at the finest level: nothing finer to go to".into()
                    ));
                }
                flow.level -= 1;
                Layer::Unpool
            }
            LayerSpec::Residual { layers } => {
                let start = flow.clone();
                let body = self.layers(layers, &format!("{name}.layers."), flow)?;
                if flow.level != start.level || flow.pooled != start.pooled || flow.fields.is_some()
                {
                    return Err(bad(
                        "a residual block must end at the level and shape it started from, on scalars"
                            .into(),
                    ));
                }
                let projection = if flow.channels != start.channels {
                    let std = (1.0 / start.channels as f64).sqrt();
                    Some(self.var(
                        &format!("{name}.projection"),
                        &[start.channels, flow.channels],
                        std,
                        0.0,
                    )?)
                } else {
                    None
                };
                Layer::Residual { body, projection }
            }
            LayerSpec::GlobalPool { mode } => {
                per_vertex(flow, "global_pool")?;
                flow.pooled = true;
                if *mode == GlobalPoolMode::MeanMax {
                    flow.channels *= 2;
                }
                Layer::GlobalPool(*mode)
            }
            LayerSpec::Dense { units } => {
                if !flow.pooled {
                    return Err(bad("dense needs one vector per sample: put a global_pool before it (per-vertex maps are `linear`)".into()));
                }
                let u = positive(*units, "units")?;
                let w = self.var(
                    &format!("{name}.weight"),
                    &[c_in, u],
                    (2.0 / c_in as f64).sqrt(),
                    0.0,
                )?;
                let b = self.var(&format!("{name}.bias"), &[u], 0.0, 0.0)?;
                flow.channels = u;
                Layer::Dense { w, b }
            }
            _ => unreachable!("`layer` sends only structural layers here"),
        })
    }
}

/// The name of the layer being built, for its errors.
#[derive(Clone, Copy)]
struct LayerAt<'a>(&'a str);

impl LayerAt<'_> {
    fn bad(self, message: String) -> Error {
        Error::InvalidParameter {
            name: "layers",
            message: format!("{}: {message}", self.0),
        }
    }

    fn per_vertex(self, flow: &Flow, what: &str) -> Result<()> {
        if flow.pooled {
            Err(self.bad(format!(
                "{what} needs per-vertex features, but they were pooled by an earlier global_pool"
            )))
        } else {
            Ok(())
        }
    }

    fn positive(self, c: usize, what: &str) -> Result<usize> {
        if c == 0 {
            Err(self.bad(format!("{what} must be at least 1")))
        } else {
            Ok(c)
        }
    }
}

/// `last` and `next` as one layer where they fuse: a ReLU into the norm before it, a norm into the
/// conv before it (a [`Layer::Block`]), then the block's ReLU and its pooling. Otherwise both back.
fn fuse(last: Layer, next: Layer) -> std::result::Result<Layer, (Layer, Layer)> {
    Ok(match (last, next) {
        (
            Layer::Norm {
                gamma,
                beta,
                relu: false,
            },
            Layer::Relu,
        ) => Layer::Norm {
            gamma,
            beta,
            relu: true,
        },
        (Layer::Conv { w, b }, Layer::Norm { gamma, beta, relu }) => Layer::Block {
            w,
            b,
            gamma,
            beta,
            relu,
            pool: None,
        },
        (
            Layer::Block {
                w,
                b,
                gamma,
                beta,
                relu: false,
                pool: None,
            },
            Layer::Relu,
        ) => Layer::Block {
            w,
            b,
            gamma,
            beta,
            relu: true,
            pool: None,
        },
        (
            Layer::Block {
                w,
                b,
                gamma,
                beta,
                relu,
                pool: None,
            },
            Layer::Pool(mode),
        ) => Layer::Block {
            w,
            b,
            gamma,
            beta,
            relu,
            pool: Some(mode),
        },
        (last, next) => return Err((last, next)),
    })
}

/// State of one forward pass.
struct Pass<'a> {
    mesh: &'a MeshLevels,
    level: usize,
    /// Dropout masks come from here while training; `None` evaluates.
    dropout: Option<SplitMix>,
    /// A training pass: convolutions keep what their backward pass reuses.
    training: bool,
}

impl Pass<'_> {
    /// The convolution of the current level, as this pass applies it.
    fn conv(&self) -> ConvOp {
        let conv = &self.mesh.level(self.level).conv;
        if self.training {
            conv.for_training()
        } else {
            conv.clone()
        }
    }
}

fn forward_layers(layers: &[Layer], x: Tensor, pass: &mut Pass) -> candle_core::Result<Tensor> {
    layers.iter().try_fold(x, |x, l| forward_layer(l, x, pass))
}

/// `[N, S, C] · [C, K]` as one product over all vertices.
fn per_vertex_matmul(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let (n, s, c) = x.dims3()?;
    x.reshape((n * s, c))?.matmul(w)?.reshape((n, s, ()))
}

fn forward_layer(layer: &Layer, x: Tensor, pass: &mut Pass) -> candle_core::Result<Tensor> {
    let mesh = pass.mesh;
    match layer {
        Layer::Conv { w, b } => {
            let bias = match b {
                Some(b) => b.as_tensor().clone(),
                None => Tensor::zeros(w.dims()[2], x.dtype(), x.device())?,
            };
            pass.conv().apply(&x, w.as_tensor(), &bias)
        }
        Layer::Linear { w, b } => {
            per_vertex_matmul(&x, w.as_tensor())?.broadcast_add(b.as_tensor())
        }
        Layer::Relu => x.relu(),
        Layer::Gelu => x.gelu(),
        Layer::Tanh => x.tanh(),
        Layer::Sigmoid => candle_nn::ops::sigmoid(&x),
        Layer::LeakyRelu(s) => candle_nn::ops::leaky_relu(&x, *s),
        Layer::Norm { gamma, beta, relu } => x.contiguous()?.apply_op3(
            gamma.as_tensor(),
            beta.as_tensor(),
            NormOp::new(mesh.row_areas(pass.level).clone(), *relu),
        ),
        Layer::Dropout(p) => match &mut pass.dropout {
            Some(rng) if *p > 0.0 => {
                let keep = 1.0 / (1.0 - p);
                let mask: Vec<f32> = (0..x.elem_count())
                    .map(|_| if rng.uniform() < *p { 0.0 } else { keep as f32 })
                    .collect();
                let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
                x * mask
            }
            _ => Ok(x),
        },
        Layer::Pool(mode) => {
            let y = mesh.pool_rows(&x, pass.level, *mode == PoolMode::Max)?;
            pass.level += 1;
            Ok(y)
        }
        Layer::Unpool => {
            pass.level -= 1;
            mesh.unpool_rows(&x, pass.level)
        }
        Layer::Residual { body, projection } => {
            let y = forward_layers(body, x.clone(), pass)?;
            let skip = match projection {
                Some(p) if x.rank() == 3 => per_vertex_matmul(&x, p.as_tensor())?,
                Some(p) => x.matmul(p.as_tensor())?,
                None => x,
            };
            y + skip
        }
        Layer::GlobalPool(mode) => {
            let (mean, max) = match mode {
                GlobalPoolMode::Mean => (true, false),
                GlobalPoolMode::Max => (false, true),
                GlobalPoolMode::MeanMax => (true, true),
            };
            mesh.global_pool_rows(&x, pass.level, mean, max)
        }
        Layer::Dense { w, b } => x.matmul(w.as_tensor())?.broadcast_add(b.as_tensor()),
        Layer::FieldConv { w, b, kernel } => {
            let op = mesh.field_op(pass.level, kernel).ok_or_else(|| {
                candle_core::Error::Msg(format!(
                    "the mesh has no field convolution {} → {} at level {} compiled: \
                     compile it with MeshLevels::with_fields(&model.field_kernels())",
                    kernel.input(),
                    kernel.output(),
                    pass.level
                ))
            })?;
            let bias = match b {
                Some(b) => scalar_bias(b.as_tensor(), kernel.output())?,
                None => Tensor::zeros(kernel.output().channels(), x.dtype(), x.device())?,
            };
            op.apply(&x, w.as_tensor(), &bias, pass.training)
        }
        Layer::FieldRelu {
            fields,
            bias,
            samples,
        } => match bias {
            Some(b) => super::fields::norm_relu(&x, fields, b.as_ref().map(Var::as_tensor)),
            None => super::fields::regular_relu(&x, fields, *samples),
        },
        Layer::FieldNorm {
            fields,
            scale,
            shift,
        } => {
            let areas = mesh.row_areas(pass.level);
            let shift = shift.as_ref().map(Var::as_tensor);
            super::fields::field_norm(&x, fields, areas, scale.as_tensor(), shift)
        }
        Layer::Invariant(fields) => super::fields::invariants(&x, fields),
        Layer::FieldPool(fields) => {
            let y = mesh.pool_fields_rows(&x, pass.level, fields)?;
            pass.level += 1;
            Ok(y)
        }
        Layer::Block {
            w,
            b,
            gamma,
            beta,
            relu,
            pool,
        } => {
            let (level, c) = (pass.level, w.dims()[2]);
            let bias = match b {
                Some(b) => b.as_tensor().clone(),
                None => Tensor::zeros(c, x.dtype(), x.device())?,
            };
            let conv = pass.conv();
            conv.check(&x, w.as_tensor(), &bias)?;
            let params = Tensor::cat(&[&bias, gamma.as_tensor(), beta.as_tensor()], 0)?;
            let pool = match pool {
                Some(mode) => {
                    pass.level += 1;
                    Some(mesh.pool_op(level, *mode == PoolMode::Max)?)
                }
                None => None,
            };
            let norm = NormOp::new(mesh.row_areas(level).clone(), *relu);
            x.contiguous()?.apply_op3(
                &w.as_tensor().contiguous()?,
                &params,
                BlockOp::new(conv, norm, pool),
            )
        }
    }
}

/// A bias on the scalar channels of a field type, zero on the others: `[C]` from `[scalars]`.
fn scalar_bias(b: &Tensor, t: &FieldType) -> candle_core::Result<Tensor> {
    let mut used = 0;
    let parts = t
        .runs()
        .iter()
        .map(|&(f, n)| {
            if f == Field::Scalar {
                used += n;
                b.narrow(0, used - n, n)
            } else {
                Tensor::zeros(n * f.dim(), b.dtype(), b.device())
            }
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    Tensor::cat(&parts, 0)
}

/// A network: layers with their weights, built from a [`ModelSpec`] for one holonomy group.
pub struct Model {
    spec: ModelSpec,
    group: HolonomyGroup,
    basis_len: usize,
    layers: Vec<Layer>,
    varmap: VarMap,
    names: Vec<String>,
    dtype: DType,
    kernels: Vec<(usize, FieldKernel)>,
}

impl Model {
    /// Builds the layers of `spec` for kernels constrained to `group`, with weights drawn from `seed`
    /// (Kaiming-normal: standard deviation √(2 / fan-in), fan-in = B·C_in for a convolution; biases and
    /// shifts 0, scales 1), in `dtype` (`F32` to train, `F64` for gradient checks).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the layer (`layers[i]`, nested `layers[i].layers[j]`) whose
    /// shape does not fit: a `dense` before `global_pool`, a `pool` with no coarser level, a residual
    /// block that changes level, a mesh task without `global_pool`, a last layer whose width is not
    /// `outputs`, …
    pub fn new(spec: &ModelSpec, group: &HolonomyGroup, seed: u64, dtype: DType) -> Result<Model> {
        if spec.input_channels == 0 || spec.outputs == 0 {
            return Err(Error::InvalidParameter {
                name: "model",
                message: "input_channels and outputs must be at least 1".into(),
            });
        }
        let basis_len = constrained_basis(&spec.conv, group)?.dimension();
        let varmap = VarMap::new();
        let mut vars = varmap.data().lock().expect("a new VarMap is not poisoned");
        let mut builder = Builder {
            vars: &mut vars,
            names: Vec::new(),
            rng: SplitMix(seed),
            basis_len,
            levels: spec.pooling_levels() + 1,
            dtype,
            reflections: group.has_reflections(),
            kernels: Vec::new(),
        };
        let mut flow = Flow {
            level: 0,
            channels: spec.input_channels,
            pooled: false,
            fields: None,
        };
        let layers = builder.layers(&spec.layers, "layers.", &mut flow)?;
        let names = std::mem::take(&mut builder.names);
        let kernels = std::mem::take(&mut builder.kernels);
        drop(vars);
        let end = |message: String| Error::InvalidParameter {
            name: "layers",
            message,
        };
        match spec.task {
            Task::Mesh if !flow.pooled => {
                return Err(end("a \"mesh\" task needs a global_pool (one output per sample)".into()))
            }
            Task::Vertex if flow.pooled || flow.level != 0 => {
                return Err(end("a \"vertex\" task must end per vertex on the input's level (no global_pool; unpool what was pooled)".into()))
            }
            _ => {}
        }
        if let Some(t) = &flow.fields {
            return Err(end(format!(
                "the last layer gives fields of type {t}: end on scalars (an `invariant` layer)"
            )));
        }
        if flow.channels != spec.outputs {
            return Err(end(format!(
                "the last layer gives {} values, but outputs = {}",
                flow.channels, spec.outputs
            )));
        }
        let mut spec = spec.clone();
        spec.group = group.spec();
        Ok(Model {
            spec,
            group: *group,
            basis_len,
            layers,
            varmap,
            names,
            dtype,
            kernels,
        })
    }

    /// The field convolutions of the model with the level each runs on: what
    /// [`MeshLevels::with_fields`] must compile on a mesh before the model runs on it.
    pub fn field_kernels(&self) -> &[(usize, FieldKernel)] {
        &self.kernels
    }

    /// The description, with `group` the name of the group the model was built for.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The holonomy group the kernels are constrained to.
    pub fn group(&self) -> &HolonomyGroup {
        &self.group
    }

    /// Basis functions B per convolution.
    pub fn basis_len(&self) -> usize {
        self.basis_len
    }

    /// The numeric type of the weights.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The trainable variables, in layer order.
    pub fn vars(&self) -> Vec<Var> {
        let data = self.varmap.data().lock().expect("not poisoned");
        self.names.iter().map(|n| data[n].clone()).collect()
    }

    /// The variables' names (`layers.0.weight`, …), in layer order.
    pub fn var_names(&self) -> &[String] {
        &self.names
    }

    /// Number of trainable numbers.
    pub fn parameter_count(&self) -> usize {
        self.vars().iter().map(|v| v.elem_count()).sum()
    }

    /// Number of coarser levels the model needs of each mesh.
    pub fn pooling_levels(&self) -> usize {
        self.spec.pooling_levels()
    }

    /// Runs the model on `x` (`[S, N, C_in]`, S signals on `mesh`'s finest level): `[S, K]` for a
    /// mesh task, `[S, N, K]` for a vertex task. `dropout_seed` is `Some` while training (dropout
    /// active, masks drawn from it; the convolutions keep what they gathered, `N·B·S·C_in` values
    /// each, for a faster backward pass) and `None` to evaluate (gradients still flow, without that
    /// memory).
    ///
    /// # Errors
    /// If `x` does not fit the mesh or the model (candle's error, naming the shapes).
    pub fn forward(
        &self,
        x: &Tensor,
        mesh: &MeshLevels,
        dropout_seed: Option<u64>,
    ) -> candle_core::Result<Tensor> {
        if mesh.len() <= self.pooling_levels() {
            candle_core::bail!(
                "the model pools {} time(s) but the mesh was compiled with {} level(s)",
                self.pooling_levels(),
                mesh.len()
            );
        }
        let (_, n, c) = x.dims3()?;
        if n != mesh.vertex_count() || c != self.spec.input_channels {
            candle_core::bail!(
                "input {:?}: expected [S, {}, {}] (the mesh's vertices × the model's input channels)",
                x.dims(),
                mesh.vertex_count(),
                self.spec.input_channels
            );
        }
        let mut pass = Pass {
            mesh,
            level: 0,
            dropout: dropout_seed.map(SplitMix),
            training: dropout_seed.is_some(),
        };
        // The layers run in row layout ([`MeshLevels::to_rows`]): the convolution's own order, so
        // no layer reorders features.
        let x = mesh.to_rows(&x.to_dtype(self.dtype)?)?;
        let y = forward_layers(&self.layers, x, &mut pass)?;
        match self.spec.task {
            Task::Mesh => Ok(y),
            Task::Vertex => mesh.to_vertices(&y),
        }
    }

    /// Writes `dir/model.json` (the description, group resolved) and `dir/model.safetensors` (the
    /// weights, which PyTorch's `safetensors` reads), each complete or not at all.
    ///
    /// # Errors
    /// If the directory cannot be created or a file written.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let json = dir.join("model.json");
        crate::io::write_atomically(&json, |tmp| {
            std::fs::write(tmp, self.spec.to_json() + "\n").map_err(|e| io(&json, e))
        })?;
        self.save_weights(&dir.join("model.safetensors"))
    }

    /// Writes the weights alone (complete or not at all: a failed write leaves the previous file).
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn save_weights(&self, path: &Path) -> Result<()> {
        crate::io::write_atomically(path, |tmp| {
            self.varmap
                .save(tmp)
                .map_err(|e| Error::io_message(path.display(), e.to_string()))
        })
    }

    /// Reads a model saved by [`save`](Self::save).
    ///
    /// # Errors
    /// A missing or unreadable file; a description that does not parse (naming the field); a weights
    /// file with a missing, extra or wrongly shaped tensor (naming it and both shapes).
    pub fn load(dir: &Path) -> Result<Model> {
        let json = dir.join("model.json");
        let bytes = crate::io::read_input(&json)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::io_message(json.display(), "not valid UTF-8 text"))?;
        let spec = ModelSpec::from_json(&text, &json.display().to_string())?;
        let group = HolonomyGroup::parse(&spec.group)?.ok_or_else(|| Error::InvalidParameter {
            name: "group",
            message: format!(
                "{}: a saved model names its group (found \"auto\")",
                json.display()
            ),
        })?;
        let model = Model::new(&spec, &group, 0, DType::F32)?;
        model.load_weights(&dir.join("model.safetensors"))?;
        Ok(model)
    }

    /// Replaces the weights with those of a safetensors file.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_weights(&self, path: &Path) -> Result<()> {
        let shown = path.display().to_string();
        let bad = |message: String| Error::InvalidParameter {
            name: "weights",
            message: format!("{shown}: {message}"),
        };
        let tensors = candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| Error::io_message(&shown, e.to_string()))?;
        let data = self.varmap.data().lock().expect("not poisoned");
        for name in tensors.keys() {
            if !data.contains_key(name) {
                return Err(bad(format!(
                    "tensor '{name}' belongs to no layer of this model"
                )));
            }
        }
        for name in &self.names {
            let var = &data[name];
            let t = tensors
                .get(name)
                .ok_or_else(|| bad(format!("tensor '{name}' is missing")))?;
            if t.dims() != var.dims() {
                return Err(bad(format!(
                    "tensor '{name}' has shape {:?}, the model needs {:?}",
                    t.dims(),
                    var.dims()
                )));
            }
            var.set(&t.to_dtype(self.dtype)?)?;
        }
        Ok(())
    }

    /// Softmax probabilities over the last dimension of the model's output.
    pub fn probabilities(logits: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::softmax(logits, D::Minus1)
    }
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::io(path.display(), e)
}
