//! Reading and writing files, and resolving mesh specs.
pub mod npz;
pub mod obj;
pub mod saved;

use crate::error::{Error, Result};
use crate::mesh::MeshSource;

/// The default mesh compiled into the library (`meshes/eight.obj`: a closed genus-2 surface, 315
/// vertices), so the tour runs from any directory.
pub const DEFAULT_MESH_NAME: &str = "eight.obj";
const DEFAULT_MESH: &[u8] = include_bytes!("../../meshes/eight.obj");

/// Resolves a mesh spec: a generated primitive (`icosphere:3`, `grid:8x8`, … see
/// [`primitives`](crate::primitives)), `default` for the embedded default mesh, or a path to an `.obj`
/// file.
///
/// # Errors
/// An unknown primitive or bad parameters, an unreadable file, or a parse error naming the line.
pub fn load_source(spec: &str) -> Result<MeshSource> {
    if spec == "default" {
        return obj::parse_obj(DEFAULT_MESH, DEFAULT_MESH_NAME);
    }
    if let Some(src) = crate::primitives::generate(spec)? {
        return Ok(src);
    }
    if spec.contains(':') && !std::path::Path::new(spec).exists() {
        return Err(Error::InvalidSpec {
            spec: spec.into(),
            message: "neither a known primitive nor an existing file".into(),
        });
    }
    obj::read_obj(spec)
}

/// Environment variable that overrides [`DEFAULT_MAX_INPUT_BYTES`] (a number of bytes).
pub const MAX_INPUT_BYTES_VAR: &str = "MANIFOLD_CNN_MAX_INPUT_BYTES";

/// The largest input file read (meshes, arrays, specs), in bytes: 1 GiB, some 10 million triangles of
/// OBJ text. A file past it, or a stream that does not end (`/dev/zero`), is an error rather than an
/// allocation that grows until the process aborts. [`MAX_INPUT_BYTES_VAR`] overrides it.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 1 << 30;

/// The input limit in force: [`MAX_INPUT_BYTES_VAR`] if set, else [`DEFAULT_MAX_INPUT_BYTES`].
///
/// # Errors
/// [`Error::InvalidParameter`] if the variable is set but not a number of bytes.
pub fn max_input_bytes() -> Result<u64> {
    match std::env::var(MAX_INPUT_BYTES_VAR) {
        Err(_) => Ok(DEFAULT_MAX_INPUT_BYTES),
        Ok(v) => v.trim().parse().map_err(|_| Error::InvalidParameter {
            name: MAX_INPUT_BYTES_VAR,
            message: format!("'{v}' is not a number of bytes"),
        }),
    }
}

fn too_large(path: &std::path::Path, limit: u64, var: &str) -> Error {
    Error::io_message(
        path.display(),
        format!(
            "larger than the input limit of {limit} bytes ({:.2} GiB); set {var} to raise it",
            limit as f64 / (1u64 << 30) as f64
        ),
    )
}

/// An input file that fails (with [`Error::Io`] naming it) once more than the input limit has been
/// read from it; see [`open_input`].
pub struct InputFile {
    file: std::fs::File,
    left: u64,
    limit: u64,
    /// The environment variable that sets the limit.
    var: &'static str,
}

impl std::io::Read for InputFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // At the limit: fine if the file ends here.
            let mut probe = [0u8; 1];
            return match self.file.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::other(format!(
                    "larger than the input limit of {} bytes; set {} to raise it",
                    self.limit, self.var
                ))),
            };
        }
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let got = self.file.read(&mut buf[..n])?;
        self.left -= got as u64;
        Ok(got)
    }
}

/// Opens an input file under the input limit ([`max_input_bytes`]): a regular file larger than the
/// limit is refused before anything is read; any other file (a pipe, a device) fails on reading
/// past it.
///
/// # Errors
/// [`Error::Io`] naming the path if it cannot be opened or is too large.
pub fn open_input(path: &std::path::Path) -> Result<InputFile> {
    open_limited(path, max_input_bytes()?, MAX_INPUT_BYTES_VAR)
}

/// [`open_input`] under another limit, set by the environment variable `var`.
fn open_limited(path: &std::path::Path, limit: u64, var: &'static str) -> Result<InputFile> {
    let io = |e: std::io::Error| Error::io(path.display(), e);
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.is_file() && meta.len() > limit {
        return Err(too_large(path, limit, var));
    }
    Ok(InputFile {
        file,
        left: limit,
        limit,
        var,
    })
}

/// Reads a whole input file under the input limit (see [`open_input`]).
///
/// # Errors
/// As [`open_input`], or if reading fails.
pub fn read_input(path: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let io = |message: String| Error::io_message(path.display(), message);
    let mut input = open_input(path)?;
    // In chunks, growing with try_reserve: a stream at the limit costs about the limit in memory,
    // and a failed allocation is an error instead of an abort.
    let mut chunk = vec![0u8; 1 << 20];
    let mut bytes = Vec::new();
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => return Ok(bytes),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path.display(), e)),
        };
        bytes.try_reserve(n).map_err(|_| {
            io(format!(
                "cannot allocate {} bytes to read it",
                bytes.len() + n
            ))
        })?;
        bytes.extend_from_slice(&chunk[..n]);
    }
}

/// Refuses a file larger than the input limit (for readers that open the file themselves).
///
/// # Errors
/// As [`open_input`].
pub fn check_input_size(path: &std::path::Path) -> Result<()> {
    open_input(path).map(drop)
}

/// Writes a file so that it is either complete or not there: `write` fills a temporary file beside
/// `path` (same directory, so the rename cannot cross devices), which is renamed over `path` only when
/// `write` succeeded. On failure the temporary file is removed and whatever `path` held before is
/// untouched.
///
/// The temporary file is flushed to the device before the rename, so that after a crash `path` holds
/// the old file or the new one, never a file the rename made visible before its data.
///
/// # Errors
/// `write`'s error (an [`Error::Io`] about the temporary file names `path` instead: that is the file
/// the user asked for), or an [`Error::Io`] naming `path` if the rename fails.
pub fn write_atomically(
    path: &std::path::Path,
    write: impl FnOnce(&std::path::Path) -> Result<()>,
) -> Result<()> {
    // The extension stays last: some writers (PNG) choose the format from it.
    let stem = path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{stem}.partial-{}{ext}", std::process::id()));
    let io_error = |e: std::io::Error| Error::io(path.display(), e);
    let written = write(&tmp).and_then(|()| {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io_error)
    });
    let result = written.and_then(|()| std::fs::rename(&tmp, path).map_err(io_error));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| match e {
        Error::Io {
            path: p,
            message,
            source,
        } if p == tmp.display().to_string() => Error::Io {
            path: path.display().to_string(),
            message,
            source,
        },
        e => e,
    })
}
