//! Data for training and prediction: data manifests, images projected onto the sphere, MNIST.
//!
//! * [`manifest`] — a CSV manifest `mesh,signals,labels` becomes a [`Dataset`]: every distinct mesh
//!   loaded once, every signal checked against its mesh, every label against the task. Every defect is
//!   an [`Error::Data`](crate::Error::Data) naming the manifest, the line and the `.npy` file at fault.
//! * [`sphere`] — planar images on the unit sphere by stereographic projection (as in the spherical-CNN
//!   literature), uniformly random rotations of SO(3), the 60 rotations of the icosahedron and the
//!   vertex permutations they induce on icospheres.
//! * [`mnist`] — the MNIST digits of `data/mnist10k.npz` (see `data/SOURCES.md`).

pub mod manifest;
pub mod mnist;
pub mod sphere;

pub use manifest::{Dataset, DatasetMesh, Label, Sample, Task};
pub use mnist::{load_mnist, Mnist};
