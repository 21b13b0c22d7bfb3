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
/// # Errors
/// `write`'s error, or an [`Error::Io`] naming `path` if the rename fails.
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
    match write(&tmp) {
        Ok(()) => std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            }
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
