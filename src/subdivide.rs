//! Subdivision (to be written).
