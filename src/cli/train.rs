//! `manifold-cnn train` and `manifold-cnn predict`: networks from a model description and data
//! manifests (CSV `mesh,signals,labels`, see [`manifold_cnn::data::manifest`]).

use super::compile::CompileReport;
use candle_core::DType;
use manifold_cnn::conv::{CompileCache, CompileEvent};
use manifold_cnn::data::Dataset;
use manifold_cnn::holonomy::{HolonomyAnalysis, HolonomyGroup, HolonomyOptions};
use manifold_cnn::io::npz::write_npy_f32;
use manifold_cnn::nn::{
    self, coarser_levels, EpochStats, Loss, MeshLevels, Model, ModelSpec, OptimizerKind, Schedule,
    Task, TrainOptions,
};
use manifold_cnn::{BuildOptions, Error, Manifold};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Arguments of `train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The model description (JSON; see the `nn` module docs for the schema).
    #[arg(long)]
    pub model: PathBuf,
    /// Training manifest: CSV with header `mesh,signals,labels`.
    #[arg(long)]
    pub train: PathBuf,
    /// Validation manifest (same format); picks the checkpoint kept.
    #[arg(long)]
    pub val: Option<PathBuf>,
    /// Passes over the training data.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Samples per step (they may lie on meshes of different sizes).
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Base learning rate.
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Seed of the initial weights, the shuffles and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `adamw` or `sgd` (with momentum).
    #[arg(long, default_value = "adamw")]
    pub optimizer: String,
    /// AdamW's decoupled weight decay.
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    /// SGD's momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Learning-rate schedule: `cosine`, `constant` or `step:EVERY:FACTOR`.
    #[arg(long, default_value = "cosine")]
    pub schedule: String,
    /// `cross-entropy` or `mse` (against one-hot classes).
    #[arg(long, default_value = "cross-entropy")]
    pub loss: String,
    /// Output directory: model.json, model.safetensors (the best epoch), log.jsonl, curves.png.
    #[arg(long)]
    pub out: PathBuf,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
    /// Cache directory for compiled exp-map tables and operators (every mesh and pooling level):
    /// one compiled before for the same mesh (vertex and face counts, a hash of faces and edge
    /// lengths) and the same parameters (the model's rings, directions, radius, padding, basis and
    /// group; gauge; f32; file format version) is loaded from there instead of compiled, and what is
    /// compiled is written there, so a data set is compiled once. Created if missing.
    #[arg(long)]
    pub cache: Option<PathBuf>,
}

/// Arguments of `predict`.
#[derive(clap::Args, Debug)]
pub struct PredictArgs {
    /// A directory written by `train` (model.json, model.safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Manifest of the samples (labels optional: accuracy is reported where given).
    #[arg(long)]
    pub data: PathBuf,
    /// Where to write the outputs: float32 [S, K] (mesh task) or [S, N, K] (vertex task).
    #[arg(long)]
    pub out: PathBuf,
    /// Samples per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
    /// Cache directory for compiled exp-map tables and operators (every mesh and pooling level):
    /// one compiled before for the same mesh (vertex and face counts, a hash of faces and edge
    /// lengths) and the same parameters (the model's rings, directions, radius, padding, basis and
    /// group; gauge; f32; file format version) is loaded from there instead of compiled, and what is
    /// compiled is written there, so a data set is compiled once. Created if missing.
    #[arg(long)]
    pub cache: Option<PathBuf>,
}

fn bad(name: &'static str, message: String) -> Error {
    Error::InvalidParameter { name, message }
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::io(path.display(), e)
}

fn options(a: &TrainArgs) -> Result<TrainOptions, Error> {
    let optimizer = match a.optimizer.to_ascii_lowercase().as_str() {
        "adamw" => OptimizerKind::AdamW {
            weight_decay: a.weight_decay,
        },
        "sgd" => OptimizerKind::Sgd {
            momentum: a.momentum,
        },
        o => return Err(bad("optimizer", format!("'{o}': expected adamw or sgd"))),
    };
    let schedule = match a.schedule.to_ascii_lowercase().as_str() {
        "cosine" => Schedule::Cosine,
        "constant" => Schedule::Constant,
        s if s.starts_with("step:") => {
            let parts: Vec<&str> = s.split(':').collect();
            match (
                parts.get(1).and_then(|p| p.parse().ok()),
                parts.get(2).and_then(|p| p.parse().ok()),
            ) {
                (Some(every), Some(factor)) if parts.len() == 3 && every > 0 => {
                    Schedule::Step { every, factor }
                }
                _ => {
                    return Err(bad(
                        "schedule",
                        format!("'{s}': expected step:EVERY:FACTOR"),
                    ))
                }
            }
        }
        s => {
            return Err(bad(
                "schedule",
                format!("'{s}': expected cosine, constant or step:EVERY:FACTOR"),
            ))
        }
    };
    let loss = match a.loss.to_ascii_lowercase().as_str() {
        "cross-entropy" | "cross_entropy" | "ce" => Loss::CrossEntropy,
        "mse" => Loss::Mse,
        l => return Err(bad("loss", format!("'{l}': expected cross-entropy or mse"))),
    };
    if a.epochs == 0 {
        return Err(bad("epochs", "must be at least 1".into()));
    }
    if a.batch_size == 0 {
        return Err(bad("batch-size", "must be at least 1".into()));
    }
    if !(a.lr > 0.0 && a.lr.is_finite()) {
        return Err(bad(
            "lr",
            format!(
                "{} is not a positive learning rate",
                manifold_cnn::error::Num(a.lr)
            ),
        ));
    }
    Ok(TrainOptions::new()
        .epochs(a.epochs)
        .batch_size(a.batch_size)
        .learning_rate(a.lr)
        .seed(a.seed)
        .optimizer(optimizer)
        .schedule(schedule)
        .loss(loss)
        .progress(!a.json))
}

fn read_spec(path: &Path) -> Result<ModelSpec, Error> {
    let bytes = manifold_cnn::io::read_input(path)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        io_error(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
    })?;
    ModelSpec::from_json(&text, &path.display().to_string())
}

/// An error about a model description, prefixed with the file it came from (the library names the
/// field, not the file).
fn in_file(path: &Path, e: Error) -> Error {
    match e {
        e @ (Error::Io { .. } | Error::Parse { .. } | Error::Data { .. }) => e,
        e => Error::Data {
            path: path.display().to_string(),
            line: None,
            message: e.to_string(),
        },
    }
}

/// A mesh of a run and where it comes from: the manifest and line of the first sample on it.
struct RunMesh {
    spec: String,
    manifold: Arc<Manifold>,
    source: String,
    line: usize,
}

impl RunMesh {
    /// An error about this mesh, naming the manifest row it comes from.
    fn error(&self, e: Error) -> Error {
        Error::Data {
            path: self.source.clone(),
            line: Some(self.line),
            message: e.to_string(),
        }
    }
}

/// The distinct meshes of `data` (each with the first manifest line using it) appended to `meshes`
/// where not there yet; returns the index into `meshes` of each of `data`'s meshes.
fn add_meshes(meshes: &mut Vec<RunMesh>, data: &Dataset) -> Vec<usize> {
    data.meshes
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if let Some(j) = meshes.iter().position(|r| r.spec == m.spec) {
                return j;
            }
            let line = data
                .samples
                .iter()
                .find(|s| s.mesh == i)
                .map_or(1, |s| s.row);
            meshes.push(RunMesh {
                spec: m.spec.clone(),
                manifold: m.manifold.clone(),
                source: data.source.clone(),
                line,
            });
            meshes.len() - 1
        })
        .collect()
}

/// The group the kernels are constrained to: the join of the meshes' measured groups for `auto`, else
/// the named group, which must contain each of them.
fn resolve_group(
    spec: &ModelSpec,
    model_path: &Path,
    meshes: &[RunMesh],
) -> Result<HolonomyGroup, Error> {
    let named = HolonomyGroup::parse(&spec.group).map_err(|e| in_file(model_path, e))?;
    let mut joined = HolonomyGroup::trivial();
    for m in meshes {
        let measured = HolonomyAnalysis::new(&m.manifold, &HolonomyOptions::default())
            .map_err(|e| m.error(e))?
            .group();
        if let Some(g) = &named {
            if !measured.is_subgroup_of(g) {
                return Err(m.error(bad(
                    "group",
                    format!(
                        "{} constrains the kernels to {}, but mesh '{}' has holonomy group {}: \
                         such kernels are not well defined there (use \"auto\" or a group containing {})",
                        model_path.display(),
                        g.name(),
                        m.spec,
                        measured.name(),
                        measured.name()
                    ),
                )));
            }
        }
        joined = joined.join(&measured);
    }
    Ok(named.unwrap_or(joined))
}

/// Compiles every mesh for the model (through the cache directory, if any), saying what it does when
/// it takes long.
fn compile(
    model: &Model,
    meshes: &[RunMesh],
    quiet: bool,
    cache: Option<&Path>,
) -> Result<Vec<MeshLevels>, Error> {
    let started = Instant::now();
    let cache = cache.map(CompileCache::new).transpose()?;
    let mut report = CompileReport::new("train");
    let out = meshes
        .iter()
        .map(|m| {
            report.set_label(format!("train: {}", m.spec));
            coarser_levels(&m.spec, model.pooling_levels())
                .and_then(|levels| {
                    MeshLevels::compile_cached(
                        m.manifold.clone(),
                        levels,
                        &model.spec().conv,
                        model.group(),
                        false,
                        cache.as_ref(),
                        &mut |e: CompileEvent| report.event(e),
                    )
                })
                .and_then(|levels| {
                    levels.with_fields_cached(
                        model.field_kernels(),
                        cache.as_ref(),
                        &mut |e: CompileEvent| report.event(e),
                    )
                })
                .map_err(|e| m.error(e))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if !quiet {
        errln!(
            "compiled {} mesh(es) at {} level(s) in {:.2} s",
            meshes.len(),
            model.pooling_levels() + 1,
            started.elapsed().as_secs_f64()
        );
        if let Some(c) = &cache {
            errln!(
                "cache {}: {} operator(s) and table(s) loaded, {} compiled and written",
                c.dir().display(),
                report.loaded,
                report.saved
            );
        }
    }
    Ok(out)
}

/// Checks a dataset against the model: its channels, the task of its labels (where it has labels)
/// and their classes; an error names the manifest line of the first sample at fault.
fn check_data(data: &Dataset, model: &Model, model_path: &Path) -> Result<(), Error> {
    let spec = model.spec();
    let at = |line: usize, message: String| Error::Data {
        path: data.source.clone(),
        line: Some(line),
        message,
    };
    let first = data.samples.first().map_or(1, |s| s.row);
    if data.channels != spec.input_channels {
        return Err(at(
            first,
            format!(
                "signals have {} channel(s), but {} takes {} (input_channels)",
                data.channels,
                model_path.display(),
                spec.input_channels
            ),
        ));
    }
    let describe = |t: Task| match t {
        Task::Mesh => "mesh-level labels (one class per sample)",
        Task::Vertex => "per-vertex labels (one class per vertex)",
    };
    if let Some(t) = data.task.filter(|&t| t != spec.task) {
        return Err(at(
            first,
            format!(
                "{}, but {} is a model for {}",
                describe(t),
                model_path.display(),
                describe(spec.task)
            ),
        ));
    }
    data.check_classes(spec.outputs)
}

/// Runs `train`.
pub fn run_train(a: &TrainArgs) -> Result<(), Error> {
    let started = Instant::now();
    let opts = options(a)?;
    let spec = read_spec(&a.model)?;
    // The model's own errors (layers, sizes) before any mesh is loaded.
    Model::new(&spec, &HolonomyGroup::trivial(), a.seed, DType::F32)
        .map_err(|e| in_file(&a.model, e))?;
    let build = BuildOptions::default();
    let train_data = Dataset::load(&a.train, &build)?;
    let val_data = a
        .val
        .as_ref()
        .map(|v| Dataset::load(v, &build))
        .transpose()?;
    if train_data.task.is_none() {
        return Err(Error::Data {
            path: train_data.source.clone(),
            line: train_data.samples.first().map(|s| s.row),
            message: "no labels: training needs a class (or a .npy of classes) in every row".into(),
        });
    }
    // Every distinct mesh of both sets, compiled once; validation samples point past the training meshes.
    let mut meshes = Vec::new();
    let train_map = add_meshes(&mut meshes, &train_data);
    let val_map = val_data.as_ref().map(|d| add_meshes(&mut meshes, d));
    let group = resolve_group(&spec, &a.model, &meshes)?;
    let model = Model::new(&spec, &group, a.seed, DType::F32).map_err(|e| in_file(&a.model, e))?;
    check_data(&train_data, &model, &a.model)?;
    if let Some(v) = &val_data {
        check_data(v, &model, &a.model)?;
    }
    let compiled = compile(&model, &meshes, a.json, a.cache.as_deref())?;
    // The signals move from the manifest's samples to the network's (no copy of the data set).
    let samples = |d: Dataset, map: &[usize]| -> Vec<nn::Sample> {
        d.samples
            .into_iter()
            .map(|s| nn::Sample {
                mesh: map[s.mesh],
                signal: s.signal,
                label: s.label,
            })
            .collect()
    };
    let train_samples = samples(train_data, &train_map);
    let val_samples = val_data.zip(val_map.as_deref()).map(|(d, m)| samples(d, m));

    std::fs::create_dir_all(&a.out).map_err(|e| io_error(&a.out, e))?;
    model.save(&a.out)?;
    let log_path = a.out.join("log.jsonl");
    let mut log = std::fs::File::create(&log_path).map_err(|e| io_error(&log_path, e))?;
    if !a.json {
        errln!(
            "training {} parameters (kernels constrained to {}, {} basis functions) on {} samples",
            model.parameter_count(),
            group.name(),
            model.basis_len(),
            train_samples.len()
        );
    }
    let mut best = f64::NEG_INFINITY;
    let weights = a.out.join("model.safetensors");
    let history = nn::train(
        &model,
        &compiled,
        &train_samples,
        val_samples.as_deref(),
        &opts,
        |e, m| {
            let line = serde_json::json!({
                "epoch": e.epoch, "train_loss": e.train_loss, "train_accuracy": e.train_accuracy,
                "val_loss": e.val_loss, "val_accuracy": e.val_accuracy,
                "learning_rate": e.learning_rate, "seconds": e.seconds,
            });
            writeln!(log, "{line}").map_err(|err| io_error(&log_path, err))?;
            // The checkpoint kept: best validation accuracy, or lowest training loss without validation.
            let score = e.val_accuracy.unwrap_or(-e.train_loss);
            if score > best {
                best = score;
                m.save_weights(&weights)?;
            }
            if !a.json {
                errln!("{}", epoch_line(e));
            }
            Ok(())
        },
    )?;
    manifold_cnn::io::write_atomically(&a.out.join("curves.png"), |tmp| {
        super::plot::curves(tmp, &history)
    })?;
    let last = history.last().expect("at least one epoch");
    let seconds = started.elapsed().as_secs_f64();
    let per_epoch = history.iter().map(|e| e.seconds).sum::<f64>() / history.len() as f64;
    if a.json {
        super::print_json(&serde_json::json!({
            "epochs": history.len(),
            "train_loss": last.train_loss,
            "train_accuracy": last.train_accuracy,
            "val_accuracy": last.val_accuracy,
            "parameters": model.parameter_count(),
            "seconds": seconds,
            "seconds_per_epoch": per_epoch,
        }))?;
    } else {
        outln!(
            "trained {} epochs in {seconds:.1} s ({per_epoch:.2} s per epoch); wrote {}",
            history.len(),
            a.out.display()
        )?;
    }
    Ok(())
}

fn epoch_line(e: &EpochStats) -> String {
    let val = match (e.val_loss, e.val_accuracy) {
        (Some(l), Some(acc)) => format!(", validation loss {l:.4} accuracy {acc:.4}"),
        _ => String::new(),
    };
    format!(
        "epoch {:>3}: loss {:.4} accuracy {:.4}{val} (lr {:.2e}, {:.1} s)",
        e.epoch, e.train_loss, e.train_accuracy, e.learning_rate, e.seconds
    )
}

/// Runs `predict`.
pub fn run_predict(a: &PredictArgs) -> Result<(), Error> {
    let started = Instant::now();
    if a.batch_size == 0 {
        return Err(bad("batch-size", "must be at least 1".into()));
    }
    let model = Model::load(&a.model)?;
    let data = Dataset::load(&a.data, &BuildOptions::default())?;
    check_data(&data, &model, &a.model.join("model.json"))?;
    let mut meshes = Vec::new();
    add_meshes(&mut meshes, &data);
    for m in &meshes {
        let measured = HolonomyAnalysis::new(&m.manifold, &HolonomyOptions::default())
            .map_err(|e| m.error(e))?
            .group();
        if !measured.is_subgroup_of(model.group()) {
            errln!(
                "warning: mesh '{}' ({} line {}) has holonomy group {}, the model's kernels are constrained to {}: its outputs depend on the gauge there",
                m.spec,
                m.source,
                m.line,
                measured.name(),
                model.group().name()
            );
        }
    }
    let k = model.spec().outputs;
    let shape: Vec<u64> = match model.spec().task {
        Task::Mesh => vec![data.samples.len() as u64, k as u64],
        Task::Vertex => {
            let n = data.samples[0].signal.len() / data.channels.max(1);
            if let Some(s) = data
                .samples
                .iter()
                .find(|s| s.signal.len() != n * data.channels)
            {
                return Err(Error::Data {
                    path: data.source.clone(),
                    line: Some(s.row),
                    message: format!(
                        "per-vertex outputs are written as one [S, N, K] array, so every sample needs the same vertex count: {} here, {n} in the first row",
                        s.signal.len() / data.channels.max(1)
                    ),
                });
            }
            vec![data.samples.len() as u64, n as u64, k as u64]
        }
    };
    let compiled = compile(&model, &meshes, a.json, a.cache.as_deref())?;
    let samples: Vec<nn::Sample> = data
        .samples
        .into_iter()
        .map(|s| nn::Sample {
            mesh: s.mesh,
            signal: s.signal,
            label: s.label,
        })
        .collect();
    let outputs = nn::predict(&model, &compiled, &samples, a.batch_size)?;
    let mut values = Vec::with_capacity(shape.iter().product::<u64>() as usize);
    for o in &outputs {
        values.extend(o.flatten_all()?.to_vec1::<f32>()?);
    }
    manifold_cnn::io::write_atomically(&a.out, |tmp| write_npy_f32(tmp, &shape, &values))?;
    // Accuracy from the outputs just computed (a second forward pass would give the same argmax).
    let accuracy = match data.task {
        Some(_) => Some(accuracy(&outputs, &samples)?),
        None => None,
    };
    let seconds = started.elapsed().as_secs_f64();
    if a.json {
        super::print_json(&serde_json::json!({
            "samples": samples.len(), "accuracy": accuracy, "seconds": seconds,
        }))?;
    } else {
        let acc = accuracy.map_or(String::new(), |x| format!(", accuracy {:.4}", x));
        outln!(
            "{} samples{acc}; wrote {} {:?} in {seconds:.2} s",
            samples.len(),
            a.out.display(),
            shape
        )?;
    }
    Ok(())
}

/// Fraction of samples (mesh task) or vertices (vertex task) whose largest output is their label;
/// `outputs[i]` is `[K]` or `[N, K]` for `samples[i]`, every sample labelled.
fn accuracy(outputs: &[candle_core::Tensor], samples: &[nn::Sample]) -> Result<f64, Error> {
    let (mut hits, mut total) = (0usize, 0usize);
    for (o, s) in outputs.iter().zip(samples) {
        let predicted: Vec<u32> = o.argmax(candle_core::D::Minus1)?.flatten_all()?.to_vec1()?;
        let labels: &[u32] = match &s.label {
            Some(nn::Label::Mesh(c)) => std::slice::from_ref(c),
            Some(nn::Label::Vertex(v)) => v,
            None => &[],
        };
        hits += predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
        total += labels.len();
    }
    Ok(hits as f64 / total.max(1) as f64)
}
