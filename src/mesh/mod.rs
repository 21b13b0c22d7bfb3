//! Connectivity.
mod source;
pub use source::MeshSource;
