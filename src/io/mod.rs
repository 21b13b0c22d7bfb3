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
