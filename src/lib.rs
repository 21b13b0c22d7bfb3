//! manifold-cnn (crate docs written later)
#![warn(missing_docs)]

pub mod error;
pub mod expmap;
pub mod frames;
pub mod geometry;
pub mod holonomy;
pub mod manifold;
pub mod transport;
pub mod ids;
pub mod io;
pub mod kernel;
pub mod mesh;
pub mod primitives;
pub mod subdivide;

pub use error::{Error, Result};
pub use ids::{EdgeId, FaceId, HalfedgeId, VertexId};
pub use manifold::Manifold;
pub use mesh::{BuildOptions, Mesh, MeshSource};
pub use transport::O2;
