//! Generated meshes (to be written).
