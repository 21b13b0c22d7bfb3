//! # manifold-cnn
//!
//! Convolutional neural networks on Riemannian manifolds given as triangle meshes.
//!
//! The seed of this library derives why CNN layers must be equivariant and generalizes
//! cross-correlation from the plane to the sphere, to homogeneous spaces, and finally to Riemannian
//! manifolds:
//!
//! ```text
//! (k ⋆ f)(p) = ∫_{T_p M} (Γ_{p0→p} k)(v) f(exp_p(v)) dμ(v)
//! ```
//!
//! A kernel `k` lives on the tangent plane at a reference point `p0`, is moved to `p` by Levi-Civita
//! parallel transport Γ, and is integrated against the signal `f` pulled back through the exponential
//! map. It is well defined only when `k` is invariant under the holonomy group: trivial on the plane,
//! SO(2) on the sphere, a reflection on the Möbius strip.
//!
//! # A guided tour of the pipeline
//!
//! Data flows one way; each stage is an immutable, `Send + Sync` value computed from the ones before.
//!
//! 1. [`MeshSource`] — faces plus positions and/or intrinsic edge lengths, from an OBJ file
//!    ([`io::obj`]), a generated primitive ([`primitives`]), or by hand. Finer meshes by
//!    [`subdivide`].
//! 2. [`Mesh`] — connectivity only: validated (errors name the file line, face, edge or vertex) or
//!    repaired ([`BuildOptions::repair`](field@BuildOptions::repair)), oriented where possible, with per-vertex stars whose own
//!    orientation makes non-orientable surfaces work.
//! 3. [`geometry::Geometry`] — corner angles, areas, angle sums Θ_v and defects from edge lengths alone.
//!    Discrete Gauss–Bonnet `Σ (2π − Θ_v) + Σ_∂ (π − Θ_v) = 2πχ` holds to rounding.
//! 4. [`frames::TangentFrames`] — per-vertex polar frames: spoke angles `φ = s_v · (angle walked)`,
//!    `s_v = 2π/Θ_v` inside, 1 on the boundary.
//! 5. [`transport::Connection`] — one O(2) element per directed edge,
//!    `ψ ↦ σ(ψ − φ_ij) + φ_ji + π`, a reflection where the stars disagree.
//! 6. [`holonomy`] — transport around loops, generators (faces, tree–cotree loops, vertex defects),
//!    and the classification of the holonomy group: trivial, C_n, SO(2), Z2, D_n, O(2).
//! 7. [`kernel`] — kernel bases on the tangent plane and the subspace invariant under the holonomy
//!    group.
//! 8. [`expmap`] — straightest-geodesic exponential-map tables: for every vertex, where a polar grid of
//!    tangent vectors lands.
//! 9. [`conv`] — the gauge Γ_{p0→p} along a spanning tree and the convolution as a precompiled operator,
//!    forward and backward.
//! 10. [`fields`] — gauge-equivariant feature fields: features of rotation order m written in each
//!     vertex's frame, the complete basis of equivariant kernels between field types, and their
//!     convolution with each value carried to `p` by the transport along its geodesic (anisotropic
//!     kernels on meshes whose holonomy is SO(2) or O(2)).
//! 11. [`nn`] — layers on candle tensors (the convolutions as custom ops), pooling between nested
//!     resolutions, training, `model.json` + safetensors.
//!
//! [`Manifold`] builds stages 2–5 in one call:
//!
//! ```
//! use manifold_cnn::{BuildOptions, Manifold};
//! use std::f64::consts::PI;
//!
//! let m = Manifold::load("flat-mobius:12x5", &BuildOptions::default()).unwrap();
//! assert!(!m.mesh.is_orientable());
//! // The core of the strip (the middle row) comes back mirrored: its holonomy is a reflection.
//! let core: Vec<_> = (0..12).map(|x| m.mesh.vertex(x + 12 * 2).unwrap()).collect();
//! assert!(m.connection.loop_holonomy(&m.mesh, &core).unwrap().reflect);
//! // The strip is flat: Gauss–Bonnet with χ = 0.
//! assert!(m.geometry.gauss_bonnet_residual(&m.mesh).abs() < 1e-12);
//! # let _ = PI;
//! ```
//!
//! # Conventions
//! Geometry in `f64`; signals and weights in `f32` (or `f64` for gradient checks); `u32` indices in
//! big tables. Bad data is an [`Error`] naming where it is; misuse (a signal of the wrong length) panics
//! with a message, documented under `# Panics`. No input makes the library hang or abort.
#![warn(missing_docs)]
// Numerical code here walks several per-element arrays with one index; index loops say that best.
#![allow(clippy::needless_range_loop)]

pub mod conv;
pub mod data;
mod disjoint;
pub mod error;
pub mod expmap;
pub mod fields;
pub mod frames;
pub mod geometry;
pub mod holonomy;
pub mod ids;
pub mod io;
pub mod kernel;
mod large_alloc;
pub mod manifold;
pub mod mesh;
pub mod nn;
mod par;
mod prefetch;
pub mod primitives;
pub mod rng;
pub mod subdivide;
pub mod transport;

pub use error::{Error, Result};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
pub use ids::{EdgeId, FaceId, HalfedgeId, SpokeId, VertexId};
pub use manifold::Manifold;
pub use mesh::{BuildOptions, Mesh, MeshSource};
pub use transport::O2;
