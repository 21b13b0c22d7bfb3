//! Kernels on tangent planes and the holonomy constraint (to be written).
