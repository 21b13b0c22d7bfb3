//! Exponential-map tables (to be written).
