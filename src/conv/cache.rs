//! Compiling a mesh's exp-map table and convolution operators once: a cache directory keyed by
//! everything that changes them, and a [`Compiler`] that loads from it, compiles what is missing,
//! writes it back, and reports progress.
//!
//! The key is documented on [`CompileCache`].

use super::{ConvOperator, ConvOptions, Gauge, Real, SampledBasis};
use crate::error::{Error, Result};
use crate::expmap::{ExpMapOptions, ExpMapTable, TABLE_FORMAT_VERSION};
use crate::io::saved::Checksum;
use crate::manifold::MeshIdentity;
use crate::Manifold;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::OPERATOR_FORMAT_VERSION;

/// Raised whenever a change to the library changes the tables or operators it compiles, so that
/// caches written before are not used.
pub const CACHE_VERSION: u32 = 1;

/// A directory of compiled tables and operators.
///
/// # The cache key
/// A table is stored as `table-KEY.xmap`, an operator as `operator-f32-KEY.conv` (or `f64`), in the
/// formats of [`TABLE_FORMAT_VERSION`] and [`OPERATOR_FORMAT_VERSION`]. `KEY` is a 64-bit hash of
///
/// - [`CACHE_VERSION`] and the file format's version;
/// - the mesh's [`MeshIdentity`] (counts, and a hash of the faces and edge lengths);
/// - the table's parameters: rings, directions, the radius *as resolved* (so `--radius-edges 5` and
///   the same radius given absolutely share a table) and the padding policy;
/// - for an operator, in addition: the table's key, the scalar type, the quadrature, the layout if
///   one is asked for, the kernel basis
///   (its `Debug` description, which holds the base basis and the constraint of the holonomy group,
///   and its values at fixed probe points), the gauge (every vertex's transport and the tree's order,
///   so the root and the spanning tree are covered) and the vertex positions where the mesh has them
///   (they choose the operator's row order, which changes sums by rounding).
///
/// Equal keys mean equal parameters; a file that does not load (another format version, corrupted,
/// truncated) is reported as [`CompileEvent::Rejected`], compiled again and overwritten. The key
/// cannot see the compiling code itself: a change to the library that changes compiled results must
/// raise [`CACHE_VERSION`].
#[derive(Clone, Debug)]
pub struct CompileCache {
    dir: PathBuf,
}

/// A stage of compiling a mesh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The exp-map table.
    Table,
    /// The convolution operator (with the gauge).
    Operator,
}

impl Stage {
    /// `"exp-map table"` or `"operator"`.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Table => "exp-map table",
            Stage::Operator => "operator",
        }
    }
}

/// What a [`Compiler`] tells its caller.
#[derive(Debug)]
#[non_exhaustive]
pub enum CompileEvent<'a> {
    /// A stage was loaded from the cache.
    Loaded {
        /// Which.
        stage: Stage,
        /// From where.
        path: &'a Path,
    },
    /// A cached file exists but cannot be used (another format version, truncated, corrupted): the
    /// stage is compiled again and the file overwritten.
    Rejected {
        /// Which.
        stage: Stage,
        /// The file.
        path: &'a Path,
        /// Why.
        error: &'a Error,
    },
    /// A stage is being compiled: `done` of `total` vertices where the stage counts them (the table),
    /// else `None` (reported about once a second).
    Progress {
        /// Which.
        stage: Stage,
        /// Vertices done and in all, where counted.
        done: Option<(usize, usize)>,
        /// Seconds since the stage started.
        seconds: f64,
    },
    /// A stage was compiled.
    Compiled {
        /// Which.
        stage: Stage,
        /// In how many seconds.
        seconds: f64,
    },
    /// A compiled stage was written to the cache.
    Saved {
        /// Which.
        stage: Stage,
        /// Where.
        path: &'a Path,
    },
    /// A compiled stage could not be written to the cache (the run goes on without it).
    NotSaved {
        /// Which.
        stage: Stage,
        /// Where.
        path: &'a Path,
        /// Why.
        error: &'a Error,
    },
}

fn key_of(parts: impl FnOnce(&mut Checksum)) -> u64 {
    let mut h = Checksum::new();
    parts(&mut h);
    h.finish()
}

fn put_identity(h: &mut Checksum, id: MeshIdentity) {
    h.update(&(id.vertices as u64).to_le_bytes());
    h.update(&(id.faces as u64).to_le_bytes());
    h.update(&id.fingerprint.to_le_bytes());
}

/// Radii and angles at which a basis is evaluated for its key: values that differ anywhere in the
/// disc differ at some of these in practice (and the `Debug` description is keyed too).
const PROBE_RADII: [f64; 7] = [0.0, 0.07, 0.23, 0.41, 0.62, 0.88, 0.999];
const PROBE_ANGLES: [f64; 7] = [0.0, 0.5, 1.3, 2.2, 3.1, 4.4, 5.9];

impl CompileCache {
    /// A cache in `dir`, created if missing.
    ///
    /// # Errors
    /// [`Error::Io`] naming `dir` if it cannot be created or is not a directory.
    pub fn new(dir: impl Into<PathBuf>) -> Result<CompileCache> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
            path: dir.display().to_string(),
            message: format!("cannot create the cache directory: {e}"),
            source: Some(e.into()),
        })?;
        Ok(CompileCache { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn table_key(m: &Manifold, params: &ExpMapOptions) -> Result<u64> {
        let rho = params.validate(m)?;
        Ok(key_of(|h| {
            h.update(b"table");
            h.update(&CACHE_VERSION.to_le_bytes());
            h.update(&TABLE_FORMAT_VERSION.to_le_bytes());
            put_identity(h, m.identity());
            h.update(&(params.rings as u64).to_le_bytes());
            h.update(&(params.directions as u64).to_le_bytes());
            h.update(&rho.to_bits().to_le_bytes());
            h.update(&[params.padding.code()]);
        }))
    }

    /// Where the table of `m` with `params` is kept.
    ///
    /// # Errors
    /// As [`ExpMapOptions::validate`].
    pub fn table_path(&self, m: &Manifold, params: &ExpMapOptions) -> Result<PathBuf> {
        let key = Self::table_key(m, params)?;
        Ok(self.dir.join(format!("table-{key:016x}.xmap")))
    }

    /// Where the operator of `m` with these table parameters, basis, gauge, options and scalar type
    /// `T` is kept.
    ///
    /// # Errors
    /// As [`ExpMapOptions::validate`].
    pub fn operator_path<T: Real, B: SampledBasis + std::fmt::Debug>(
        &self,
        m: &Manifold,
        params: &ExpMapOptions,
        basis: &B,
        gauge: &Gauge,
        options: &ConvOptions,
    ) -> Result<PathBuf> {
        let table = Self::table_key(m, params)?;
        let key = key_of(|h| {
            h.update(b"operator");
            h.update(&CACHE_VERSION.to_le_bytes());
            h.update(&OPERATOR_FORMAT_VERSION.to_le_bytes());
            h.update(&table.to_le_bytes());
            h.update(&(std::mem::size_of::<T>() as u32).to_le_bytes());
            h.update(&[options.quadrature.code()]);
            h.update(&[options.layout.map_or(0xff, |l| l.code() as u8)]);
            let description = format!("{basis:?}");
            h.update(&(description.len() as u64).to_le_bytes());
            h.update(description.as_bytes());
            let nb = basis.len();
            h.update(&(nb as u64).to_le_bytes());
            let mut values = vec![0.0; nb];
            for r in PROBE_RADII {
                for theta in PROBE_ANGLES {
                    basis.eval(r, theta, &mut values);
                    for v in &values {
                        h.update(&v.to_bits().to_le_bytes());
                    }
                }
            }
            put_identity(h, gauge.mesh_identity());
            for t in gauge.transports() {
                h.update(&t.angle.to_bits().to_le_bytes());
                h.update(&[t.reflect as u8]);
            }
            for v in gauge.order() {
                h.update(&v.raw().to_le_bytes());
            }
            match &m.positions {
                None => h.update(b"no positions"),
                Some(p) => {
                    h.update(b"positions");
                    for x in p.iter().flatten() {
                        h.update(&x.to_bits().to_le_bytes());
                    }
                }
            }
        });
        let scalar = if std::mem::size_of::<T>() == 4 {
            "f32"
        } else {
            "f64"
        };
        Ok(self.dir.join(format!("operator-{scalar}-{key:016x}.conv")))
    }
}

/// Compiles the table and operators of one mesh: from a [`CompileCache`] where it holds them,
/// else compiled (and then written to the cache), with progress reported to a callback. The table is
/// obtained at most once, and only if an operator is not in the cache.
///
/// # Example
/// ```
/// use manifold_cnn::conv::{CompileCache, CompileEvent, Compiler, ConvOptions, Gauge, SpanningTree};
/// use manifold_cnn::expmap::ExpMapOptions;
/// use manifold_cnn::kernel::{KernelBasis, PolarBins};
/// use manifold_cnn::{BuildOptions, Manifold};
/// let m = Manifold::load("icosphere:1", &BuildOptions::default()).unwrap();
/// let dir = std::env::temp_dir().join(format!("doc-cache-{}", std::process::id()));
/// let cache = CompileCache::new(&dir).unwrap();
/// let basis = KernelBasis::Bins(PolarBins::new(2, 4).unwrap());
/// let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
/// let mut loaded = 0;
/// for _ in 0..2 {
///     let mut report = |e: CompileEvent| loaded += matches!(e, CompileEvent::Loaded { .. }) as usize;
///     let mut c = Compiler::new(&m, ExpMapOptions::default(), Some(&cache), &mut report);
///     c.operator::<f32, _>(&basis, &gauge, &ConvOptions::default()).unwrap();
/// }
/// assert_eq!(loaded, 1); // the second time, the operator comes from the cache (the table is not needed)
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct Compiler<'a> {
    m: &'a Manifold,
    params: ExpMapOptions,
    cache: Option<&'a CompileCache>,
    table: Option<ExpMapTable>,
    report: &'a mut dyn FnMut(CompileEvent<'_>),
}

impl<'a> Compiler<'a> {
    /// A compiler for `m` with the table parameters `params`, the cache if any, and `report` to call
    /// with what happens (on the calling thread).
    pub fn new(
        m: &'a Manifold,
        params: ExpMapOptions,
        cache: Option<&'a CompileCache>,
        report: &'a mut dyn FnMut(CompileEvent<'_>),
    ) -> Compiler<'a> {
        Compiler {
            m,
            params,
            cache,
            table: None,
            report,
        }
    }

    /// Loads a cached file, reporting a file that exists but cannot be used.
    fn load<X>(
        &mut self,
        stage: Stage,
        path: &Path,
        load: impl FnOnce() -> Result<X>,
    ) -> Option<X> {
        if !path.exists() {
            return None;
        }
        match load() {
            Ok(x) => {
                (self.report)(CompileEvent::Loaded { stage, path });
                Some(x)
            }
            Err(error) => {
                (self.report)(CompileEvent::Rejected {
                    stage,
                    path,
                    error: &error,
                });
                None
            }
        }
    }

    fn save(&mut self, stage: Stage, path: &Path, save: impl FnOnce() -> Result<()>) {
        match save() {
            Ok(()) => (self.report)(CompileEvent::Saved { stage, path }),
            Err(error) => (self.report)(CompileEvent::NotSaved {
                stage,
                path,
                error: &error,
            }),
        }
    }

    /// The exp-map table: already obtained, from the cache, or built (and cached).
    ///
    /// # Errors
    /// As [`ExpMapTable::build`].
    pub fn table(&mut self) -> Result<&ExpMapTable> {
        if self.table.is_none() {
            let m = self.m;
            let path = match self.cache {
                Some(c) => Some(c.table_path(m, &self.params)?),
                None => None,
            };
            let cached = path
                .as_deref()
                .and_then(|p| self.load(Stage::Table, p, || ExpMapTable::load(p, m)));
            let table = match cached {
                Some(t) => t,
                None => {
                    let started = Instant::now();
                    let report = &mut *self.report;
                    let t = ExpMapTable::build_with_progress(m, &self.params, |done, total| {
                        report(CompileEvent::Progress {
                            stage: Stage::Table,
                            done: Some((done, total)),
                            seconds: started.elapsed().as_secs_f64(),
                        })
                    })?;
                    (self.report)(CompileEvent::Compiled {
                        stage: Stage::Table,
                        seconds: started.elapsed().as_secs_f64(),
                    });
                    if let Some(p) = &path {
                        self.save(Stage::Table, p, || t.save(p));
                    }
                    t
                }
            };
            self.table = Some(table);
        }
        Ok(self.table.as_ref().expect("just set"))
    }

    /// Gives up the table (if obtained), e.g. to free its memory once the operators are compiled.
    pub fn take_table(&mut self) -> Option<ExpMapTable> {
        self.table.take()
    }

    /// The operator for `basis`, `gauge` and `options` in scalar type `T`: from the cache, or compiled
    /// from [`table`](Self::table) (and cached). While compiling, reports
    /// [`CompileEvent::Progress`] about once a second.
    ///
    /// # Errors
    /// As [`ConvOperator::with_options`] and [`table`](Self::table).
    pub fn operator<T: Real, B: SampledBasis + std::fmt::Debug>(
        &mut self,
        basis: &B,
        gauge: &Gauge,
        options: &ConvOptions,
    ) -> Result<ConvOperator<T>> {
        let m = self.m;
        let path = match self.cache {
            Some(c) => Some(c.operator_path::<T, B>(m, &self.params, basis, gauge, options)?),
            None => None,
        };
        if let Some(p) = &path {
            if let Some(op) = self.load(Stage::Operator, p, || ConvOperator::<T>::load(p, m)) {
                return Ok(op);
            }
        }
        self.table()?;
        let table = self.table.as_ref().expect("obtained above");
        let started = Instant::now();
        let report = &mut *self.report;
        // Compiled on a helper thread (which hands the parallel work to rayon as any caller does),
        // so that this one can report progress while it runs.
        let op = std::thread::scope(|s| {
            let (done, finished) = std::sync::mpsc::channel::<()>();
            let worker = s.spawn(move || {
                let op = ConvOperator::<T>::with_options(m, table, basis, gauge, options);
                drop(done);
                op
            });
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                finished.recv_timeout(Duration::from_secs(1))
            {
                report(CompileEvent::Progress {
                    stage: Stage::Operator,
                    done: None,
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
            worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })?;
        (self.report)(CompileEvent::Compiled {
            stage: Stage::Operator,
            seconds: started.elapsed().as_secs_f64(),
        });
        if let Some(p) = &path {
            self.save(Stage::Operator, p, || op.save(p));
        }
        Ok(op)
    }
}
