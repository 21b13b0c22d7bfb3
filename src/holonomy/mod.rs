//! Holonomy of the connection: generators, the holonomy group and its classification (to be written).
