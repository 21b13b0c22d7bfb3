//! Reading and writing files.
pub mod npz;
pub mod obj;
