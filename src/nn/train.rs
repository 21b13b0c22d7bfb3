//! Training: mini-batches that mix meshes, losses, optimisers (candle's AdamW; SGD with momentum),
//! learning-rate schedules, and evaluation.

use super::levels::MeshLevels;
use super::model::Model;
use super::spec::Task;
use crate::error::{Error, Result};
use crate::rng::SplitMix;
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use std::time::Instant;

/// The target of one sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Label {
    /// One class for the whole sample (mesh-level classification).
    Mesh(u32),
    /// One class per vertex (segmentation).
    Vertex(Vec<u32>),
}

impl Label {
    /// The task a label of this kind belongs to.
    pub fn task(&self) -> Task {
        match self {
            Label::Mesh(_) => Task::Mesh,
            Label::Vertex(_) => Task::Vertex,
        }
    }

    /// The largest class in the label (`None` for per-vertex labels of an empty mesh).
    pub fn max(&self) -> Option<u32> {
        match self {
            Label::Mesh(c) => Some(*c),
            Label::Vertex(v) => v.iter().copied().max(),
        }
    }
}

/// One signal on one mesh, with its target if it has one.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Index of the mesh (into the list of compiled meshes training runs over).
    pub mesh: usize,
    /// N × C values, vertex-major.
    pub signal: Vec<f32>,
    /// The target (needed to train and to measure accuracy, not to predict).
    pub label: Option<Label>,
}

/// The loss minimized.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Loss {
    /// Cross-entropy of the softmax of the outputs (per sample or per vertex, averaged).
    #[default]
    CrossEntropy,
    /// Mean squared error between the outputs and the one-hot class vector.
    Mse,
}

/// How the weights are updated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerKind {
    /// AdamW (Loshchilov and Hutter), candle's, β = (0.9, 0.999), ε = 1e-8.
    AdamW {
        /// Decoupled weight decay.
        weight_decay: f64,
    },
    /// Stochastic gradient descent with heavy-ball momentum: `v ← μ v + g`, `w ← w − η v`.
    Sgd {
        /// μ.
        momentum: f64,
    },
}

/// The learning rate over the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// η throughout.
    Constant,
    /// `η (1 + cos(π t / T)) / 2` over the T steps of the run.
    Cosine,
    /// `η · factor^⌊epoch / every⌋`.
    Step {
        /// Epochs between reductions.
        every: usize,
        /// Multiplier at each reduction.
        factor: f64,
    },
}

/// Options of [`train`].
///
/// Made with [`TrainOptions::new`] (or `default()`) and the builder-style setters, one per field.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TrainOptions {
    /// Passes over the training samples.
    pub epochs: usize,
    /// Samples per step (mixing meshes).
    pub batch_size: usize,
    /// Base learning rate η.
    pub learning_rate: f64,
    /// Seeds the shuffles and the dropout masks (the weights are seeded when the model is built).
    pub seed: u64,
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// The learning-rate schedule.
    pub schedule: Schedule,
    /// The loss.
    pub loss: Loss,
    /// Draw a progress bar with the running loss and accuracy on stderr (with the `progress` feature,
    /// part of the default `cli`; without it nothing is drawn).
    pub progress: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions::new()
    }
}

impl TrainOptions {
    /// The default options: 10 epochs, batches of 32, η = 3e-3, seed 0, AdamW with weight decay 1e-4,
    /// a cosine schedule, cross-entropy, no progress bar.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::nn::{OptimizerKind, TrainOptions};
    /// let o = TrainOptions::new()
    ///     .epochs(20)
    ///     .batch_size(4)
    ///     .learning_rate(1e-2)
    ///     .optimizer(OptimizerKind::Sgd { momentum: 0.9 });
    /// assert_eq!((o.epochs, o.batch_size, o.seed), (20, 4, 0));
    /// ```
    pub const fn new() -> TrainOptions {
        TrainOptions {
            epochs: 10,
            batch_size: 32,
            learning_rate: 3e-3,
            seed: 0,
            optimizer: OptimizerKind::AdamW { weight_decay: 1e-4 },
            schedule: Schedule::Cosine,
            loss: Loss::CrossEntropy,
            progress: false,
        }
    }

    /// These options with another number of epochs.
    pub const fn epochs(mut self, epochs: usize) -> TrainOptions {
        self.epochs = epochs;
        self
    }

    /// These options with another batch size.
    pub const fn batch_size(mut self, batch_size: usize) -> TrainOptions {
        self.batch_size = batch_size;
        self
    }

    /// These options with another base learning rate η.
    pub const fn learning_rate(mut self, learning_rate: f64) -> TrainOptions {
        self.learning_rate = learning_rate;
        self
    }

    /// These options with another seed.
    pub const fn seed(mut self, seed: u64) -> TrainOptions {
        self.seed = seed;
        self
    }

    /// These options with another optimiser.
    pub const fn optimizer(mut self, optimizer: OptimizerKind) -> TrainOptions {
        self.optimizer = optimizer;
        self
    }

    /// These options with another learning-rate schedule.
    pub const fn schedule(mut self, schedule: Schedule) -> TrainOptions {
        self.schedule = schedule;
        self
    }

    /// These options with another loss.
    pub const fn loss(mut self, loss: Loss) -> TrainOptions {
        self.loss = loss;
        self
    }

    /// These options with the progress bar drawn or not.
    pub const fn progress(mut self, progress: bool) -> TrainOptions {
        self.progress = progress;
        self
    }
}

/// What one epoch measured.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochStats {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps (weighted by their samples).
    pub train_loss: f64,
    /// Fraction of training samples (or vertices) classified right during the epoch.
    pub train_accuracy: f64,
    /// Loss on the validation samples after the epoch.
    pub val_loss: Option<f64>,
    /// Accuracy on the validation samples after the epoch.
    pub val_accuracy: Option<f64>,
    /// Learning rate at the epoch's last step.
    pub learning_rate: f64,
    /// Wall-clock seconds of the epoch (training and validation).
    pub seconds: f64,
}

/// SGD with momentum, as a candle optimiser.
struct Momentum {
    vars: Vec<(Var, Option<Tensor>)>,
    lr: f64,
    momentum: f64,
}

impl Optimizer for Momentum {
    type Config = (f64, f64);

    fn new(vars: Vec<Var>, (lr, momentum): (f64, f64)) -> candle_core::Result<Self> {
        Ok(Momentum {
            vars: vars.into_iter().map(|v| (v, None)).collect(),
            lr,
            momentum,
        })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        for (var, velocity) in &mut self.vars {
            if let Some(g) = grads.get(var) {
                let v = match velocity.take() {
                    Some(v) => ((v * self.momentum)? + g)?,
                    None => g.clone(),
                };
                var.set(&var.sub(&(&v * self.lr)?)?)?;
                *velocity = Some(v);
            }
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr
    }
}

enum AnyOptimizer {
    AdamW(AdamW),
    Momentum(Momentum),
}

impl AnyOptimizer {
    fn step(&mut self, grads: &GradStore, lr: f64) -> candle_core::Result<()> {
        match self {
            AnyOptimizer::AdamW(o) => {
                o.set_learning_rate(lr);
                o.step(grads)
            }
            AnyOptimizer::Momentum(o) => {
                o.set_learning_rate(lr);
                o.step(grads)
            }
        }
    }
}

fn learning_rate(o: &TrainOptions, epoch: usize, step: usize, total_steps: usize) -> f64 {
    match o.schedule {
        Schedule::Constant => o.learning_rate,
        Schedule::Cosine => {
            let t = step as f64 / total_steps.max(1) as f64;
            o.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
        }
        Schedule::Step { every, factor } => {
            o.learning_rate * factor.powi((epoch / every.max(1)) as i32)
        }
    }
}

/// Outputs and targets of a batch, as rows: `[R, K]` outputs and R classes, R = samples (mesh task)
/// or vertices of all samples (vertex task).
struct BatchOutput {
    rows: Tensor,
    targets: Option<Vec<u32>>,
    /// Outputs per sample, in the batch's order.
    per_sample: Vec<Tensor>,
}

/// Runs the model over `batch` (indices into `samples`), one forward per mesh in the batch.
fn run_batch(
    model: &Model,
    meshes: &[MeshLevels],
    samples: &[Sample],
    batch: &[usize],
    dropout_seed: Option<u64>,
) -> Result<BatchOutput> {
    // Positions in the batch grouped by mesh (a stable sort keeps the shuffled order within a mesh).
    let mut positions: Vec<usize> = (0..batch.len()).collect();
    positions.sort_by_key(|&j| samples[batch[j]].mesh);
    let order: Vec<usize> = positions.iter().map(|&j| batch[j]).collect();
    let k = model.spec().outputs;
    let c = model.spec().input_channels;
    let mut rows = Vec::new();
    let mut per_sample = Vec::new();
    let mut targets = Some(Vec::new());
    let mut start = 0;
    while start < order.len() {
        let mesh_index = samples[order[start]].mesh;
        let end = start
            + order[start..]
                .iter()
                .take_while(|&&i| samples[i].mesh == mesh_index)
                .count();
        let mesh = meshes
            .get(mesh_index)
            .ok_or_else(|| Error::InvalidParameter {
                name: "samples",
                message: format!(
                    "sample on mesh {mesh_index}, but {} meshes were compiled",
                    meshes.len()
                ),
            })?;
        let n = mesh.vertex_count();
        let mut data = Vec::with_capacity((end - start) * n * c);
        for &i in &order[start..end] {
            let s = &samples[i];
            if s.signal.len() != n * c {
                return Err(Error::InvalidParameter {
                    name: "samples",
                    message: format!(
                        "sample {i}: {} values, expected {n} vertices × {c} channels",
                        s.signal.len()
                    ),
                });
            }
            data.extend_from_slice(&s.signal);
            match (&s.label, &mut targets, model.spec().task) {
                (Some(Label::Mesh(l)), Some(t), Task::Mesh) => t.push(*l),
                (Some(Label::Vertex(l)), Some(t), Task::Vertex) if l.len() == n => {
                    t.extend_from_slice(l)
                }
                (None, _, _) => targets = None,
                (Some(_), _, _) => {
                    return Err(Error::InvalidParameter {
                        name: "samples",
                        message: format!(
                            "sample {i}: its label does not fit a {:?} task on {n} vertices",
                            model.spec().task
                        ),
                    })
                }
            }
        }
        let x = Tensor::from_vec(data, (end - start, n, c), &Device::Cpu)?;
        let y = model.forward(
            &x,
            mesh,
            dropout_seed.map(|s| s ^ (mesh_index as u64) << 32),
        )?;
        for j in 0..end - start {
            per_sample.push(y.get(j)?);
        }
        rows.push(match model.spec().task {
            Task::Mesh => y,
            Task::Vertex => y.reshape(((end - start) * n, k))?,
        });
        start = end;
    }
    // Back to the batch's order for the per-sample outputs.
    let mut back = vec![0; order.len()];
    for (pos, &j) in positions.iter().enumerate() {
        back[j] = pos;
    }
    let per_sample = back.iter().map(|&p| per_sample[p].clone()).collect();
    Ok(BatchOutput {
        rows: Tensor::cat(&rows, 0)?,
        targets,
        per_sample,
    })
}

/// The loss of `rows` against `targets` and how many rows are classified right.
fn loss_and_hits(rows: &Tensor, targets: &[u32], loss: Loss) -> Result<(Tensor, usize)> {
    let (r, k) = rows.dims2()?;
    let t = Tensor::from_slice(targets, r, rows.device())?;
    let value = match loss {
        Loss::CrossEntropy => candle_nn::loss::cross_entropy(rows, &t)?,
        Loss::Mse => {
            let mut onehot = vec![0f32; r * k];
            for (i, &c) in targets.iter().enumerate() {
                onehot[i * k + c as usize] = 1.0;
            }
            let onehot = Tensor::from_vec(onehot, (r, k), rows.device())?.to_dtype(rows.dtype())?;
            candle_nn::loss::mse(rows, &onehot)?
        }
    };
    let predicted: Vec<u32> = rows.argmax(D::Minus1)?.to_vec1()?;
    let hits = predicted
        .iter()
        .zip(targets)
        .filter(|(a, b)| a == b)
        .count();
    Ok((value, hits))
}

fn check_labels(model: &Model, samples: &[Sample], what: &str) -> Result<()> {
    let k = model.spec().outputs as u32;
    for (i, s) in samples.iter().enumerate() {
        let bad = |message: String| Error::InvalidParameter {
            name: "samples",
            message: format!("{what} sample {i}: {message}"),
        };
        match &s.label {
            None => return Err(bad("has no label".into())),
            Some(Label::Mesh(l)) if *l >= k => {
                return Err(bad(format!(
                    "class {l} is out of range (the model has {k} outputs)"
                )))
            }
            Some(Label::Vertex(v)) => {
                if let Some((j, l)) = v.iter().enumerate().find(|(_, &l)| l >= k) {
                    return Err(bad(format!(
                        "vertex {j}: class {l} is out of range (the model has {k} outputs)"
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Loss and accuracy of `model` on labelled samples (dropout off).
///
/// # Errors
/// A sample without a label or with a class ≥ the model's outputs, or one that does not fit its mesh.
pub fn evaluate(
    model: &Model,
    meshes: &[MeshLevels],
    samples: &[Sample],
    batch_size: usize,
    loss: Loss,
) -> Result<(f64, f64)> {
    check_labels(model, samples, "evaluation")?;
    let (mut total, mut hits, mut rows) = (0.0, 0usize, 0usize);
    let idx: Vec<usize> = (0..samples.len()).collect();
    for batch in idx.chunks(batch_size.max(1)) {
        let out = run_batch(model, meshes, samples, batch, None)?;
        let targets = out.targets.expect("checked: every sample is labelled");
        let (l, h) = loss_and_hits(&out.rows, &targets, loss)?;
        total += l.to_dtype(DType::F64)?.to_scalar::<f64>()? * targets.len() as f64;
        hits += h;
        rows += targets.len();
    }
    Ok((total / rows.max(1) as f64, hits as f64 / rows.max(1) as f64))
}

/// The model's outputs for every sample (`[K]` or `[N, K]` each), dropout off.
///
/// # Errors
/// A sample that does not fit its mesh.
pub fn predict(
    model: &Model,
    meshes: &[MeshLevels],
    samples: &[Sample],
    batch_size: usize,
) -> Result<Vec<Tensor>> {
    let idx: Vec<usize> = (0..samples.len()).collect();
    let mut out = Vec::with_capacity(samples.len());
    for batch in idx.chunks(batch_size.max(1)) {
        out.extend(run_batch(model, meshes, samples, batch, None)?.per_sample);
    }
    Ok(out)
}

/// Trains `model` on `train` (every sample labelled; `meshes[s.mesh]` compiled for the model), for
/// `options.epochs` epochs of shuffled mini-batches. After each epoch `on_epoch` receives the epoch's
/// figures (validation ones when `val` is given) and the model, to log or keep a checkpoint; an error
/// from it stops training.
///
/// Same seed, same samples, same number of threads: the same loss curve.
///
/// # Errors
/// Unlabelled samples, classes out of range, samples that do not fit their mesh, zero batch size or
/// epochs, a loss that stops being finite (naming the epoch and step), or `on_epoch`'s error.
pub fn train(
    model: &Model,
    meshes: &[MeshLevels],
    train: &[Sample],
    val: Option<&[Sample]>,
    options: &TrainOptions,
    mut on_epoch: impl FnMut(&EpochStats, &Model) -> Result<()>,
) -> Result<Vec<EpochStats>> {
    if options.batch_size == 0 || options.epochs == 0 || train.is_empty() {
        return Err(Error::InvalidParameter {
            name: "train",
            message: "needs at least one sample, one epoch and a batch size of at least 1".into(),
        });
    }
    check_labels(model, train, "training")?;
    if let Some(v) = val {
        check_labels(model, v, "validation")?;
    }
    let vars = model.vars();
    let mut optimizer = match options.optimizer {
        OptimizerKind::AdamW { weight_decay } => AnyOptimizer::AdamW(AdamW::new(
            vars,
            ParamsAdamW {
                lr: options.learning_rate,
                weight_decay,
                ..Default::default()
            },
        )?),
        OptimizerKind::Sgd { momentum } => {
            AnyOptimizer::Momentum(Momentum::new(vars, (options.learning_rate, momentum))?)
        }
    };
    let mut rng = SplitMix(options.seed);
    let steps_per_epoch = train.len().div_ceil(options.batch_size);
    let total_steps = steps_per_epoch * options.epochs;
    let mut history = Vec::new();
    let mut order: Vec<usize> = (0..train.len()).collect();
    for epoch in 0..options.epochs {
        let started = Instant::now();
        rng.shuffle(&mut order);
        let bar = progress_bar(options.progress, steps_per_epoch, epoch + 1, options.epochs);
        let (mut total, mut hits, mut rows) = (0.0, 0usize, 0usize);
        let mut lr = options.learning_rate;
        for (step, batch) in order.chunks(options.batch_size).enumerate() {
            let global = epoch * steps_per_epoch + step;
            let out = run_batch(model, meshes, train, batch, Some(rng.next_u64()))?;
            let targets = out.targets.expect("checked: every sample is labelled");
            let (loss, h) = loss_and_hits(&out.rows, &targets, options.loss)?;
            let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            if !value.is_finite() {
                return Err(Error::InvalidParameter {
                    name: "learning rate",
                    message: format!(
                        "the loss became {value} at epoch {}, step {}: lower the learning rate",
                        epoch + 1,
                        step + 1
                    ),
                });
            }
            lr = learning_rate(options, epoch, global, total_steps);
            optimizer.step(&loss.backward()?, lr)?;
            total += value * targets.len() as f64;
            hits += h;
            rows += targets.len();
            bar.set_message(format!(
                "loss {:.4} accuracy {:.3}",
                total / rows as f64,
                hits as f64 / rows as f64
            ));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let (val_loss, val_accuracy) = match val {
            Some(v) => {
                let (l, a) = evaluate(model, meshes, v, options.batch_size, options.loss)?;
                (Some(l), Some(a))
            }
            None => (None, None),
        };
        let stats = EpochStats {
            epoch: epoch + 1,
            train_loss: total / rows as f64,
            train_accuracy: hits as f64 / rows as f64,
            val_loss,
            val_accuracy,
            learning_rate: lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        on_epoch(&stats, model)?;
        history.push(stats);
    }
    Ok(history)
}

#[cfg(feature = "progress")]
fn progress_bar(show: bool, steps: usize, epoch: usize, epochs: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} steps {elapsed} {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}

/// Without the `progress` feature nothing is drawn.
#[cfg(not(feature = "progress"))]
fn progress_bar(_show: bool, _steps: usize, _epoch: usize, _epochs: usize) -> NoProgress {
    NoProgress
}

#[cfg(not(feature = "progress"))]
struct NoProgress;

#[cfg(not(feature = "progress"))]
impl NoProgress {
    fn set_message(&self, _message: String) {}
    fn inc(&self, _steps: u64) {}
    fn finish_and_clear(&self) {}
}
