//! Reading and writing files, and resolving mesh specs.
pub mod npz;
pub mod obj;

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
    let io_error = |e: std::io::Error| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
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
        Error::Io { path: p, message } if p == tmp.display().to_string() => Error::Io {
            path: path.display().to_string(),
            message,
        },
        e => e,
    })
}
