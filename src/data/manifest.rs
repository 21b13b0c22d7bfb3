//! Data manifests: which signals live on which mesh, and their labels.
//!
//! # Format
//!
//! A CSV file whose first line is exactly the header `mesh,signals,labels`, then one row per line
//! (blank lines are skipped). Fields are separated by commas; whitespace around a field is ignored; a
//! field may be double-quoted (`""` inside quotes is a quote), for paths holding commas. Paths are
//! relative to the directory of the manifest.
//!
//! * `mesh` — a primitive spec (`icosphere:3`, `grid:8x8`, … see
//!   [`crate::primitives::is_primitive`]) or the path of an `.obj` file. Each
//!   distinct mesh (same primitive spec, or same file after resolving the path) is loaded once.
//! * `signals` — a `.npy` file of dtype `float32` (nothing else), C order, of shape `[N, C]` (one sample)
//!   or `[S, N, C]` (S samples on that mesh); N is the mesh's vertex count, C the channels, equal in
//!   every row. Every value must be finite.
//! * `labels` — empty (no labels: for prediction), a class (a non-negative integer: one sample, a
//!   mesh-level class), or a `.npy` file of integers of any width (`int8` … `int64`, `uint8` … `uint64`)
//!   holding for the row's S samples either
//!   - mesh-level classes: shape `[S]` (or `[]` when S = 1), or
//!   - per-vertex classes: shape `[S, N]` (or `[N]` when S = 1).
//!
//!   Labels are non-negative and fit in `u32`. A dataset has one task: either every row has mesh-level
//!   labels, or every row per-vertex labels, or no row has labels.
//!
//! ```text
//! mesh,signals,labels
//! icosphere:3,sphere_signals.npy,sphere_labels.npy
//! meshes/bull.obj,bull.npy,4
//! ```
//!
//! # Errors
//!
//! Every defect is an [`Error::Data`] naming the manifest and the line (`train.csv line 3: …`) and, where
//! a `.npy` file is the culprit, that file and what is wrong with it (its dtype, shape, the sample and
//! vertex of a non-finite value, the element of a negative label, …). No input panics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::io::npz::{read_npy_f32_exact, read_npy_integers};
use crate::mesh::BuildOptions;
use crate::{primitives, Manifold};

/// The header a manifest's first line must hold.
pub const MANIFEST_HEADER: &str = "mesh,signals,labels";

/// Signals on meshes, with labels: the content of a manifest, checked.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Where the data came from (the manifest's path, as given), for messages.
    pub source: String,
    /// The distinct meshes, in order of first appearance in the manifest.
    pub meshes: Vec<DatasetMesh>,
    /// Every sample, in manifest order (rows in order, a stacked row's samples in array order).
    pub samples: Vec<Sample>,
    /// The task the labels define; `None` where no row has labels.
    pub task: Option<Task>,
    /// Channels per vertex, C (the same for every sample).
    pub channels: usize,
}

/// One mesh of a dataset, shared by its samples.
#[derive(Clone, Debug)]
pub struct DatasetMesh {
    /// The mesh as resolved: a primitive spec as written, or the canonical absolute path of the file.
    pub spec: String,
    /// The mesh, with every stage of [`Manifold`] built.
    pub manifold: Arc<Manifold>,
}

/// One signal on one mesh.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Index into [`Dataset::meshes`].
    pub mesh: usize,
    /// The 1-based manifest line the sample comes from.
    pub row: usize,
    /// Position in that row's signal array: `s` of `[S, N, C]`, 0 for an `[N, C]` row.
    pub index: usize,
    /// The signal, vertex-major: value of channel `c` at vertex `v` at `v * C + c` (N × C values).
    pub signal: Vec<f32>,
    /// The label, where the manifest gives one.
    pub label: Option<Label>,
}

pub use crate::nn::{Label, Task};

/// Describes a kind of label, for messages.
fn describe(task: Task) -> &'static str {
    match task {
        Task::Mesh => "mesh-level labels",
        Task::Vertex => "per-vertex labels",
    }
}

/// What a row's `labels` field holds, before reading any file.
#[derive(Debug)]
enum LabelField {
    None,
    Class(u32),
    File(PathBuf),
}

/// A row of the manifest after parsing its fields.
#[derive(Debug)]
struct Row {
    line: usize,
    /// The mesh field as written.
    mesh_field: String,
    /// Index into the distinct meshes.
    mesh: usize,
    signals: PathBuf,
    labels: LabelField,
}

/// How a distinct mesh is loaded.
#[derive(Debug)]
enum MeshRef {
    Primitive(String),
    File(PathBuf),
}

/// A distinct mesh of the manifest and the index of the first row naming it.
#[derive(Debug)]
struct DistinctMesh {
    how: MeshRef,
    first_row: usize,
}

impl Dataset {
    /// Reads and checks a manifest (see the [module docs](self) for the format), loading each distinct
    /// mesh once (in parallel) with `options`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the manifest cannot be read; otherwise [`Error::Data`] naming the manifest, the
    /// line and what is wrong: a missing or wrong header, a wrong number of fields, an empty field, a
    /// missing file, a mesh that does not load (with its error), signals that are not `float32` (the
    /// dtype is named), of the wrong rank, with N differing from the mesh's vertex count or C from
    /// other rows', holding NaN or ±∞ (sample, vertex and channel named); labels that are negative, not
    /// integers, of a shape that fits neither S nor S × N; mesh-level and per-vertex labels mixed
    /// across rows, or some rows labelled and others not; a manifest without rows.
    ///
    /// # Example
    ///
    /// ```
    /// use manifold_cnn::data::{Dataset, Label, Task};
    /// use manifold_cnn::io::npz::write_npy_f32;
    /// use manifold_cnn::BuildOptions;
    ///
    /// let dir = std::env::temp_dir().join(format!("manifest-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// // Two samples with 2 channels on a 3 × 3 grid (9 vertices), class 1.
    /// write_npy_f32(dir.join("grid.npy"), &[9, 2], &[0.5; 18]).unwrap();
    /// std::fs::write(dir.join("train.csv"), "mesh,signals,labels\ngrid:3x3,grid.npy,1\n").unwrap();
    /// let data = Dataset::load(dir.join("train.csv"), &BuildOptions::default()).unwrap();
    /// assert_eq!((data.meshes.len(), data.samples.len(), data.channels), (1, 1, 2));
    /// assert_eq!(data.samples[0].label, Some(Label::Mesh(1)));
    /// assert_eq!(data.task, Some(Task::Mesh));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn load(manifest: impl AsRef<Path>, options: &BuildOptions) -> Result<Dataset> {
        let manifest = manifest.as_ref();
        let source = manifest.display().to_string();
        let at = |line, message| row_error(&source, line, message);
        let bytes = crate::io::read_input(manifest)?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            at(line, "not valid UTF-8 text".into())
        })?;
        let dir = match manifest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };

        let (rows, mesh_refs) = parse_rows(text, dir, &source)?;
        if rows.is_empty() {
            return Err(Error::Data {
                path: source,
                line: None,
                message: format!("no data rows (a manifest is the header `{MANIFEST_HEADER}` then one row per line)"),
            });
        }

        let meshes = load_meshes(&rows, &mesh_refs, options, &source)?;
        let (samples, task, channels) = read_samples(&rows, &meshes, &source)?;
        Ok(Dataset {
            source,
            meshes,
            samples,
            task,
            channels,
        })
    }

    /// The largest class of any label; `None` without labels.
    pub fn max_label(&self) -> Option<u32> {
        self.samples
            .iter()
            .filter_map(|s| s.label.as_ref().and_then(Label::max))
            .max()
    }

    /// Checks that every label is a class below `classes`.
    ///
    /// # Errors
    ///
    /// [`Error::Data`] naming the source, the line, the sample (and vertex) and the label of the first
    /// label out of range.
    pub fn check_classes(&self, classes: usize) -> Result<()> {
        for s in &self.samples {
            let bad = match &s.label {
                Some(Label::Mesh(c)) if *c as usize >= classes => Some((None, *c)),
                Some(Label::Vertex(v)) => v
                    .iter()
                    .position(|&c| c as usize >= classes)
                    .map(|i| (Some(i), v[i])),
                _ => None,
            };
            if let Some((vertex, class)) = bad {
                let at_vertex = vertex.map_or(String::new(), |v| format!(", vertex {v}"));
                return Err(Error::Data {
                    path: self.source.clone(),
                    line: Some(s.row),
                    message: format!(
                        "sample {}{at_vertex}: label {class} is out of range for {classes} classes (0..{classes})",
                        s.index
                    ),
                });
            }
        }
        Ok(())
    }
}

/// The error for line `line` of the manifest `source`.
fn row_error(source: &str, line: usize, message: String) -> Error {
    Error::Data {
        path: source.to_string(),
        line: Some(line),
        message,
    }
}

/// Loads the distinct meshes (in parallel); an error names the first row naming the mesh.
fn load_meshes(
    rows: &[Row],
    distinct: &[DistinctMesh],
    options: &BuildOptions,
    source: &str,
) -> Result<Vec<DatasetMesh>> {
    let at = |line, message| row_error(source, line, message);
    let loaded: Vec<Result<Manifold>> = distinct
        .par_iter()
        .map(|d| match &d.how {
            MeshRef::Primitive(spec) => Manifold::load(spec, options),
            MeshRef::File(path) => Manifold::from_source(&crate::io::obj::read_obj(path)?, options),
        })
        .collect();
    let mut meshes = Vec::with_capacity(loaded.len());
    for (d, m) in distinct.iter().zip(loaded) {
        let row = &rows[d.first_row];
        let manifold = m.map_err(|e| {
            at(
                row.line,
                format!("mesh '{}' does not load: {e}", row.mesh_field),
            )
        })?;
        let spec = match &d.how {
            MeshRef::Primitive(s) => s.clone(),
            MeshRef::File(p) => p.display().to_string(),
        };
        meshes.push(DatasetMesh {
            spec,
            manifold: Arc::new(manifold),
        });
    }

    Ok(meshes)
}

/// Reads every row's signals and labels, checking them against the row's mesh and the rows before:
/// returns the samples, the task and the channels.
fn read_samples(
    rows: &[Row],
    meshes: &[DatasetMesh],
    source: &str,
) -> Result<(Vec<Sample>, Option<Task>, usize)> {
    let at = |line, message| row_error(source, line, message);
    let mut samples = Vec::new();
    // The first row's channels and label kind, with its line: every later row must agree.
    let mut channels: Option<(usize, usize)> = None;
    let mut task: Option<(Option<Task>, usize)> = None;
    for row in rows {
        let n = meshes[row.mesh].manifold.mesh.vertex_count();
        let signals = read_signals(row, n).map_err(|m| at(row.line, m))?;
        match channels {
                None => channels = Some((signals.channels, row.line)),
                Some((c0, line0)) if c0 != signals.channels => {
                    return Err(at(
                        row.line,
                        format!(
                            "signals {}: {} channel(s), but line {line0} has {c0} (every row must have the same channels)",
                            row.signals.display(),
                            signals.channels
                        ),
                    ))
                }
                Some(_) => {}
            }
        let labels = read_labels(row, signals.samples, n).map_err(|m| at(row.line, m))?;
        let kind = labels.first().and_then(|l| l.as_ref().map(Label::task));
        match task {
            None => task = Some((kind, row.line)),
            Some((k0, line0)) if k0 != kind => {
                let describe = |k: Option<Task>| k.map_or("no labels", describe);
                return Err(at(
                        row.line,
                        format!(
                            "{}, but line {line0} has {} (a dataset has one task: label every row the same way, or none)",
                            describe(kind),
                            describe(k0)
                        ),
                    ));
            }
            Some(_) => {}
        }
        let len = n * signals.channels;
        for (index, (signal, label)) in signals.data.chunks_exact(len).zip(labels).enumerate() {
            samples.push(Sample {
                mesh: row.mesh,
                row: row.line,
                index,
                signal: signal.to_vec(),
                label,
            });
        }
    }
    Ok((
        samples,
        task.and_then(|(k, _)| k),
        channels.map_or(0, |(c, _)| c),
    ))
}

/// Parses the header and rows; resolves every mesh field to a distinct mesh (returned with the index
/// of the first row naming it).
fn parse_rows(text: &str, dir: &Path, source: &str) -> Result<(Vec<Row>, Vec<DistinctMesh>)> {
    let at = |line, message| row_error(source, line, message);
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(Error::Data {
            path: source.to_string(),
            line: None,
            message: format!(
                "the manifest is empty (expected the header `{MANIFEST_HEADER}` then one row per line)"
            ),
        });
    }
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let header_ok = match lines.next() {
        None => false,
        Some((_, l)) => split_fields(l).is_ok_and(|f| f == ["mesh", "signals", "labels"]),
    };
    if !header_ok {
        let found = text.lines().next().unwrap_or("");
        return Err(at(
            1,
            format!("the header must be exactly `{MANIFEST_HEADER}`, found `{found}`"),
        ));
    }
    let mut rows = Vec::new();
    let mut meshes: Vec<DistinctMesh> = Vec::new();
    let mut mesh_index: HashMap<String, usize> = HashMap::new();
    for (line, l) in lines {
        if l.trim().is_empty() {
            continue;
        }
        let fields = split_fields(l).map_err(|m| at(line, m))?;
        let [mesh_field, signals, labels] = <[String; 3]>::try_from(fields).map_err(|f| {
            at(
                line,
                format!("expected 3 fields ({MANIFEST_HEADER}), found {}", f.len()),
            )
        })?;
        if mesh_field.is_empty() {
            return Err(at(line, "the mesh field is empty".into()));
        }
        if signals.is_empty() {
            return Err(at(line, "the signals field is empty".into()));
        }
        let (key, mesh_ref) = resolve_mesh(&mesh_field, dir).map_err(|m| at(line, m))?;
        let mesh = *mesh_index.entry(key).or_insert_with(|| {
            meshes.push(DistinctMesh {
                how: mesh_ref,
                first_row: rows.len(),
            });
            meshes.len() - 1
        });
        let labels = parse_label_field(&labels, dir).map_err(|m| at(line, m))?;
        rows.push(Row {
            line,
            mesh_field,
            mesh,
            signals: dir.join(signals),
            labels,
        });
    }
    Ok((rows, meshes))
}

/// Splits one CSV line into fields: unquoted fields trimmed, quoted ones verbatim with `""` → `"`.
fn split_fields(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false; // inside quotes
    let mut closed = false; // after the closing quote of this field
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c != '"' {
                field.push(c);
            } else if chars.peek() == Some(&'"') {
                field.push('"');
                chars.next();
            } else {
                quoted = false;
                closed = true;
            }
            continue;
        }
        match c {
            ',' => {
                fields.push(if closed {
                    std::mem::take(&mut field)
                } else {
                    std::mem::take(&mut field).trim().to_string()
                });
                closed = false;
            }
            '"' if !closed && field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            c if closed && !c.is_whitespace() => {
                return Err(format!(
                    "field {}: text after its closing quote",
                    fields.len() + 1
                ))
            }
            _ if closed => {}
            c => field.push(c),
        }
    }
    if quoted {
        return Err(format!("field {}: unterminated quote", fields.len() + 1));
    }
    fields.push(if closed {
        field
    } else {
        field.trim().to_string()
    });
    Ok(fields)
}

/// A primitive spec stays as written; a path is resolved against `dir` and canonicalised (so that two
/// spellings of one file are one mesh). Returns the key that identifies the mesh and how to load it.
fn resolve_mesh(field: &str, dir: &Path) -> std::result::Result<(String, MeshRef), String> {
    if primitives::is_primitive(field) {
        return Ok((field.to_string(), MeshRef::Primitive(field.to_string())));
    }
    let path = dir.join(field);
    if !path.is_file() {
        return Err(format!(
            "mesh '{field}' is not a primitive, and the file {} does not exist",
            path.display()
        ));
    }
    let path = path
        .canonicalize()
        .map_err(|e| format!("mesh file {}: {e}", path.display()))?;
    Ok((path.display().to_string(), MeshRef::File(path)))
}

fn parse_label_field(field: &str, dir: &Path) -> std::result::Result<LabelField, String> {
    if field.is_empty() {
        return Ok(LabelField::None);
    }
    if field.to_ascii_lowercase().ends_with(".npy") {
        return Ok(LabelField::File(dir.join(field)));
    }
    match field.parse::<i64>() {
        Ok(k) if k < 0 => Err(format!("label {k} is negative (classes are 0, 1, 2, …)")),
        Ok(k) => u32::try_from(k)
            .map(LabelField::Class)
            .map_err(|_| format!("label {k} is larger than {}", u32::MAX)),
        Err(_) if field.parse::<f64>().is_ok() => Err(format!(
            "label '{field}' is not an integer (classes are 0, 1, 2, …)"
        )),
        Err(_) => Err(format!(
            "label '{field}' is neither a class (a non-negative integer) nor a .npy file"
        )),
    }
}

/// The signals of one row, checked.
struct Signals {
    samples: usize,
    channels: usize,
    /// S × N × C values.
    data: Vec<f32>,
}

/// Reads and checks a row's signals against a mesh of `n` vertices; the error is the message.
fn read_signals(row: &Row, n: usize) -> std::result::Result<Signals, String> {
    let file = row.signals.display();
    let (shape, data) = read_npy_f32_exact(&row.signals).map_err(|e| format!("signals {e}"))?;
    let (samples, rows, channels) = match shape.as_slice() {
        [rows, c] => (1, *rows, *c),
        [s, rows, c] => (*s, *rows, *c),
        _ => {
            return Err(format!(
                "signals {file}: shape {shape:?} has rank {}; expected [N, C] (one sample) or [S, N, C] (S samples)",
                shape.len()
            ))
        }
    };
    if rows != n as u64 {
        return Err(format!(
            "signals {file}: shape {shape:?} has N = {rows}, but mesh '{}' has {n} vertices",
            row.mesh_field
        ));
    }
    if channels == 0 {
        return Err(format!("signals {file}: shape {shape:?} has no channels"));
    }
    if samples == 0 {
        return Err(format!("signals {file}: shape {shape:?} holds no samples"));
    }
    // The reader returned exactly the product of the shape, so these fit in usize.
    let (samples, channels) = (samples as usize, channels as usize);
    if let Some(i) = data.iter().position(|x| !x.is_finite()) {
        return Err(format!(
            "signals {file}: sample {}, vertex {}, channel {}: value {} is not finite",
            i / (n * channels),
            (i / channels) % n,
            i % channels,
            data[i]
        ));
    }
    Ok(Signals {
        samples,
        channels,
        data,
    })
}

/// Reads and checks a row's labels for `samples` samples on a mesh of `n` vertices: one entry per
/// sample, all `None` or all of one kind.
fn read_labels(
    row: &Row,
    samples: usize,
    n: usize,
) -> std::result::Result<Vec<Option<Label>>, String> {
    let path = match &row.labels {
        LabelField::None => return Ok(vec![None; samples]),
        LabelField::Class(k) if samples == 1 => return Ok(vec![Some(Label::Mesh(*k))]),
        LabelField::Class(k) => {
            return Err(format!(
                "label {k} is one class, but signals {} hold {samples} samples (give their labels as a .npy of shape [{samples}])",
                row.signals.display()
            ))
        }
        LabelField::File(path) => path,
    };
    let file = path.display();
    let (shape, values) = read_npy_integers(path).map_err(|e| format!("labels {e}"))?;
    let (s, n64) = (samples as u64, n as u64);
    let per_vertex = match shape.as_slice() {
        [] if samples == 1 => false,
        [len] if *len == s => false,
        [len] if samples == 1 && *len == n64 => true,
        [a, b] if *a == s && *b == n64 => true,
        _ => {
            let single = if samples == 1 {
                format!(" (or [] / [{n}])")
            } else {
                String::new()
            };
            return Err(format!(
                "labels {file}: shape {shape:?} fits neither mesh-level labels [{samples}] nor per-vertex labels [{samples}, {n}]{single} for {samples} sample(s) on a mesh of {n} vertices"
            ));
        }
    };
    let mut classes = Vec::with_capacity(values.len());
    for (i, &x) in values.iter().enumerate() {
        let element = if per_vertex {
            format!("sample {}, vertex {}", i / n, i % n)
        } else {
            format!("sample {i}")
        };
        if x < 0 {
            return Err(format!(
                "labels {file}: {element}: label {x} is negative (classes are 0, 1, 2, …)"
            ));
        }
        classes.push(u32::try_from(x).map_err(|_| {
            format!(
                "labels {file}: {element}: label {x} is larger than {}",
                u32::MAX
            )
        })?);
    }
    Ok(if per_vertex {
        classes
            .chunks_exact(n)
            .map(|c| Some(Label::Vertex(c.to_vec())))
            .collect()
    } else {
        classes.into_iter().map(|c| Some(Label::Mesh(c))).collect()
    })
}
