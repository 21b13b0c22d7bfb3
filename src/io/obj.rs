//! OBJ reading (to be written).
