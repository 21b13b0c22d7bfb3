//! NPZ/NPY writing and reading (to be written).
