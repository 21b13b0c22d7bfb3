//! The crate's one error type.
//!
//! Bad data (a file, a mesh, a parameter from a user) is reported as an [`Error`] that names where the
//! problem is: the file line, the face, the edge or the vertex. Indices in errors raised while building a
//! mesh refer to the *input* numbering (the order of `v` and `f` lines in an OBJ file, counting each
//! triangle of a fan-triangulated polygon as its own face), since that is what the user can look up.
//!
//! # Policy
//! As sprs and faer write it: bad data is an `Err` that names where it is; a caller's misuse of the
//! API (a signal of the wrong length) panics, documented under `# Panics`; an invariant of the library
//! itself that fails (a bug here, not a fault of the input) is [`Error::Internal`], never blamed on a
//! parameter or on the mesh. I/O failures keep the operating system's error as their
//! [`source`](std::error::Error::source).

use std::fmt;
use std::sync::Arc;

/// Everything that can go wrong on data supplied by a user, and [`Internal`](Error::Internal) for what
/// must not go wrong at all.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    Io {
        /// The path.
        path: String,
        /// What the operating system said (or what is wrong with the file's bytes).
        message: String,
        /// The operating system's error, where there is one: the error's
        /// [`source`](std::error::Error::source).
        source: Option<IoSource>,
    },
    /// A line of a text file could not be parsed.
    Parse {
        /// The path (or a description of the source).
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The mesh has no faces.
    EmptyMesh,
    /// Repair dropped every face of the mesh.
    AllFacesDropped {
        /// The defects that removed them: how many faces of each kind, with the first one.
        defects: String,
    },
    /// A face refers to a vertex that does not exist.
    FaceIndexOutOfRange {
        /// Input face index.
        face: usize,
        /// 1-based source line, where the mesh came from a file.
        line: Option<usize>,
        /// The offending (0-based) vertex index.
        index: i64,
        /// How many vertices there are.
        vertices: usize,
    },
    /// A vertex coordinate is NaN or infinite.
    NonFiniteCoordinate {
        /// Input vertex index.
        vertex: usize,
        /// 1-based source line, where the mesh came from a file.
        line: Option<usize>,
    },
    /// A face uses the same vertex twice.
    RepeatedVertexInFace {
        /// Input face index.
        face: usize,
        /// 1-based source line, where the mesh came from a file.
        line: Option<usize>,
        /// The repeated vertex.
        vertex: usize,
    },
    /// A face has (numerically) zero area: twice its area over its longest side squared is at most
    /// [`ZERO_AREA_RELATIVE`](crate::mesh::ZERO_AREA_RELATIVE), measured on the edge lengths.
    ZeroAreaFace {
        /// Input face index.
        face: usize,
        /// 1-based source line, where the mesh came from a file.
        line: Option<usize>,
    },
    /// A face has the same three vertices as an earlier face.
    DuplicateFace {
        /// Input face index of the later copy.
        face: usize,
        /// Input face index of the first copy.
        first: usize,
        /// 1-based source line of the later copy, where the mesh came from a file.
        line: Option<usize>,
    },
    /// An edge is shared by three or more faces.
    NonManifoldEdge {
        /// The edge's endpoints (input vertex indices, smaller first).
        edge: (usize, usize),
        /// How many faces share it.
        faces: usize,
    },
    /// The faces around a vertex form more than one fan (e.g. two cones touching at their tips).
    NonManifoldVertex {
        /// Input vertex index.
        vertex: usize,
        /// How many separate fans meet there.
        fans: usize,
    },
    /// A vertex belongs to no face.
    UnreferencedVertex {
        /// Input vertex index.
        vertex: usize,
        /// 1-based source line, where the mesh came from a file.
        line: Option<usize>,
    },
    /// An edge length is not a positive finite number.
    InvalidEdgeLength {
        /// Input face index.
        face: usize,
        /// Side of the face (0: corners 0→1, 1: 1→2, 2: 2→0).
        side: usize,
        /// The value given.
        length: f64,
    },
    /// An edge length (given, or computed from positions) lies outside
    /// [[`MIN_EDGE_LENGTH`](crate::mesh::MIN_EDGE_LENGTH), [`MAX_EDGE_LENGTH`](crate::mesh::MAX_EDGE_LENGTH)],
    /// where areas and angles would overflow or underflow double precision.
    EdgeLengthOutOfRange {
        /// Input face index.
        face: usize,
        /// 1-based source line, where the mesh came from a file.
        line: Option<usize>,
        /// Side of the face (0: corners 0→1, 1: 1→2, 2: 2→0).
        side: usize,
        /// The length (inf where it overflows).
        length: f64,
    },
    /// A face's edge lengths violate the strict triangle inequality.
    TriangleInequality {
        /// Input face index.
        face: usize,
        /// Its three edge lengths.
        lengths: [f64; 3],
    },
    /// Two faces give different lengths to the same edge.
    InconsistentEdgeLength {
        /// The edge's endpoints (input vertex indices, smaller first).
        edge: (usize, usize),
        /// The two lengths.
        lengths: (f64, f64),
    },
    /// Neither positions nor edge lengths were supplied, or their sizes do not match the faces.
    MissingGeometry {
        /// What is missing or mismatched.
        message: String,
    },
    /// A mesh specification (path or primitive like `icosphere:3`) could not be understood.
    InvalidSpec {
        /// The specification as given.
        spec: String,
        /// Why.
        message: String,
    },
    /// A data set is wrong: a row of a data manifest, or an array of a data file it names. The message
    /// names the data file where it is the culprit.
    Data {
        /// The manifest (or data file) at fault.
        path: String,
        /// 1-based line of the manifest, where one row is at fault.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A parameter is out of its valid range.
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// Why.
        message: String,
    },
    /// A request needs more memory than can be allocated: a stage's estimate checked before it runs,
    /// or one of the largest arrays (a table's, an operator's) refused when allocated.
    OutOfMemory {
        /// What needs it (a mesh spec or name and the stage, or the array and its number of values).
        what: String,
        /// The estimate or the size of the refused request, in bytes.
        bytes: u64,
    },
    /// A tensor operation failed (candle's message, which names the shapes).
    Tensor {
        /// candle's message.
        message: String,
    },
    /// A stage (an exp-map table, a gauge) built for one mesh was given with another.
    MeshMismatch {
        /// Which stage.
        stage: &'static str,
        /// The mesh it was built for.
        built_for: crate::manifold::MeshIdentity,
        /// The mesh it was given with.
        given: crate::manifold::MeshIdentity,
    },
    /// An invariant of the library failed: a bug in manifold-cnn, not a fault of the input. The message
    /// says which invariant; please report it with the input that caused it.
    Internal(String),
}

/// The [`std::io::Error`] behind an [`Error::Io`], shared so that the error stays `Clone`. Two are
/// equal when their kind and message are.
#[derive(Clone, Debug)]
pub struct IoSource(Arc<std::io::Error>);

impl IoSource {
    /// The operating system's error.
    pub fn get(&self) -> &std::io::Error {
        &self.0
    }
}

impl PartialEq for IoSource {
    fn eq(&self, other: &IoSource) -> bool {
        self.0.kind() == other.0.kind() && self.0.to_string() == other.0.to_string()
    }
}

impl From<std::io::Error> for IoSource {
    fn from(e: std::io::Error) -> IoSource {
        IoSource(Arc::new(e))
    }
}

impl Error {
    /// [`Error::Io`] for `path` from the operating system's error, which becomes the source.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::Error;
    /// use std::error::Error as _;
    /// use std::io::ErrorKind;
    /// let e = Error::io("absent.obj", std::io::Error::from(ErrorKind::NotFound));
    /// assert!(e.to_string().starts_with("absent.obj: "));
    /// let os = e.source().unwrap().downcast_ref::<std::io::Error>().unwrap();
    /// assert_eq!(os.kind(), ErrorKind::NotFound);
    /// ```
    pub fn io(path: impl fmt::Display, e: std::io::Error) -> Error {
        Error::Io {
            path: path.to_string(),
            message: e.to_string(),
            source: Some(e.into()),
        }
    }

    /// [`Error::Io`] for `path` without an operating-system error (a file too large, bytes that are
    /// not text, a failure another library reports as text).
    pub fn io_message(path: impl fmt::Display, message: impl Into<String>) -> Error {
        Error::Io {
            path: path.to_string(),
            message: message.into(),
            source: None,
        }
    }
}

/// Shorthand for results with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn at_line(line: &Option<usize>) -> String {
    match line {
        Some(l) => format!(" (line {l})"),
        None => String::new(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Error::*;
        match self {
            Io { path, message, .. } => write!(f, "{path}: {message}"),
            Parse { path, line, message } => write!(f, "{path}:{line}: {message}"),
            EmptyMesh => write!(f, "the mesh has no faces"),
            AllFacesDropped { defects } => {
                write!(f, "repair dropped every face of the mesh: {defects}")
            }
            FaceIndexOutOfRange { face, line, index, vertices } => write!(
                f,
                "face {face}{}: vertex index {index} is out of range (the mesh has {vertices} vertices)",
                at_line(line)
            ),
            NonFiniteCoordinate { vertex, line } => {
                write!(f, "vertex {vertex}{}: coordinate is NaN or infinite", at_line(line))
            }
            RepeatedVertexInFace { face, line, vertex } => write!(
                f,
                "face {face}{}: degenerate, vertex {vertex} appears twice",
                at_line(line)
            ),
            ZeroAreaFace { face, line } => write!(
                f,
                "face {face}{}: degenerate, zero area (twice the area over the longest side squared \
                 is at most {:e})",
                at_line(line),
                crate::mesh::ZERO_AREA_RELATIVE
            ),
            DuplicateFace { face, first, line } => write!(
                f,
                "face {face}{}: duplicate of face {first} (same three vertices)",
                at_line(line)
            ),
            NonManifoldEdge { edge, faces } => write!(
                f,
                "edge ({}, {}): non-manifold, shared by {faces} faces",
                edge.0, edge.1
            ),
            NonManifoldVertex { vertex, fans } => write!(
                f,
                "vertex {vertex}: non-manifold, {fans} separate fans of faces meet there"
            ),
            UnreferencedVertex { vertex, line } => {
                write!(f, "vertex {vertex}{}: belongs to no face", at_line(line))
            }
            InvalidEdgeLength { face, side, length } => write!(
                f,
                "face {face}, side {side}: edge length {length} is not positive and finite"
            ),
            EdgeLengthOutOfRange { face, line, side, length } => write!(
                f,
                "face {face}{}, side {side}: edge length {length:e} is outside [{:e}, {:e}], the range \
                 in which areas and angles are finite, normal doubles; rescale the mesh",
                at_line(line),
                crate::mesh::MIN_EDGE_LENGTH,
                crate::mesh::MAX_EDGE_LENGTH
            ),
            TriangleInequality { face, lengths } => write!(
                f,
                "face {face}: edge lengths {lengths:?} violate the triangle inequality (twice the area \
                 over the longest side squared is at most {:e})",
                crate::mesh::ZERO_AREA_RELATIVE
            ),
            InconsistentEdgeLength { edge, lengths } => write!(
                f,
                "edge ({}, {}): faces disagree on its length ({} vs {})",
                edge.0, edge.1, lengths.0, lengths.1
            ),
            MissingGeometry { message } => write!(f, "mesh geometry: {message}"),
            InvalidSpec { spec, message } => write!(f, "mesh spec '{spec}': {message}"),
            Data { path, line: Some(line), message } => write!(f, "{path} line {line}: {message}"),
            Data { path, line: None, message } => write!(f, "{path}: {message}"),
            InvalidParameter { name, message } => write!(f, "parameter {name}: {message}"),
            OutOfMemory { what, bytes } => {
                let b = *bytes as f64;
                let (value, unit) = if b >= (1u64 << 30) as f64 {
                    (b / (1u64 << 30) as f64, "GiB")
                } else {
                    (b / (1u64 << 20) as f64, "MiB")
                };
                write!(
                    f,
                    "{what} needs ~{value:.1} {unit} of memory, which cannot be allocated"
                )
            }
            Tensor { message } => write!(f, "tensor: {message}"),
            MeshMismatch { stage, built_for, given } => write!(
                f,
                "the {stage} was built for another mesh ({built_for}) than the one given ({given})"
            ),
            Internal(what) => write!(f, "internal error (a bug in manifold-cnn): {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io {
                source: Some(s), ..
            } => Some(s.get()),
            _ => None,
        }
    }
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Error {
        // candle appends a backtrace when RUST_BACKTRACE is set: the message is what names the problem.
        let text = e.to_string();
        let message = match text.find("\n   0: ") {
            Some(i) => text[..i].to_string(),
            None => text,
        };
        Error::Tensor { message }
    }
}

/// A number from a user's input, for a message: as Rust writes it where that is short, in scientific
/// notation where it is very large or very small (`1e308`, not 309 digits).
#[derive(Clone, Copy, Debug)]
pub struct Num(pub f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0.abs();
        if a == 0.0 || !a.is_finite() || (1e-4..1e15).contains(&a) {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:e}", self.0)
        }
    }
}
