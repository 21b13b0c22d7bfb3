//! What must hold before any face is looked at: sizes within the index range, geometry for every
//! vertex or face, face indices in range.

use super::super::MeshSource;
use crate::error::{Error, Result};

/// Checks the source's shape: faces present, counts within the `u32` numbering (with room for split
/// vertices and halfedge ids), positions or lengths of the right count, every face index in range.
pub(super) fn check_source(source: &MeshSource) -> Result<()> {
    let n = source.vertex_count;
    if source.faces.is_empty() {
        return Err(Error::EmptyMesh);
    }
    if n > (u32::MAX / 2) as usize || source.faces.len() > (u32::MAX / 4) as usize {
        return Err(Error::InvalidParameter {
            name: "mesh size",
            message: format!(
                "{} vertices and {} faces exceed the u32 index range",
                n,
                source.faces.len()
            ),
        });
    }
    if let Some(p) = &source.positions {
        if p.len() != n {
            return Err(Error::MissingGeometry {
                message: format!("{} positions for {} vertices", p.len(), n),
            });
        }
    }
    if let Some(l) = &source.face_edge_lengths {
        if l.len() != source.faces.len() {
            return Err(Error::MissingGeometry {
                message: format!(
                    "edge lengths for {} faces, but {} faces",
                    l.len(),
                    source.faces.len()
                ),
            });
        }
    } else if source.positions.is_none() {
        return Err(Error::MissingGeometry {
            message: "neither positions nor edge lengths were given".into(),
        });
    }
    source.check_face_indices()
}
