//! manifold-cnn (crate docs written later)
#![warn(missing_docs)]

pub mod error;
pub mod ids;
pub mod io;
pub mod mesh;
pub mod primitives;
pub mod subdivide;

pub use error::{Error, Result};
pub use ids::{EdgeId, FaceId, HalfedgeId, VertexId};
pub use mesh::MeshSource;
