//! Exponential maps: straightest geodesics from every vertex, and the table of where they land.
//!
//! The convolution of the seed integrates over the tangent plane,
//!
//! ```text
//! (k ⋆ f)(p) = ∫_{T_p M} (Γ_{p0→p} k)(v) f(exp_p(v)) dμ(v),
//! ```
//!
//! so for every vertex p it needs exp_p(v) at the nodes of a quadrature grid in T_p M. This module
//! computes them on the intrinsic mesh (edge lengths only; positions are never used):
//!
//! - [`Tracer`] traces straightest geodesics (Polthier–Schmies): from a vertex in a scaled polar
//!   direction, or from any point of a face in a face-frame direction, unfolding faces into the plane and
//!   following a straight line. Vertices are passed with equal angles Θ/2 on both sides; the boundary
//!   stops a trace and says so; orientation seams of non-orientable meshes mirror the unfolding. See
//!   [`trace`] for the frames, the vertex rule and the tolerances.
//! - [`ExpMapTable`] holds, for every vertex and every sample `(r_i, θ_j)` of a polar grid, the landing
//!   face, barycentric coordinates, the transported direction and flags; one trace per direction lands
//!   at every ring. See [`table`] for the grid, the quadrature weights, the layout and its bytes per
//!   sample, and [`Padding`] for truncated samples.
//! - [`write_npz`] exports a table for Python; [`ExpMapTable::save`] and [`ExpMapTable::load`] keep
//!   it in a versioned binary file carrying the mesh's identity (format: [`TABLE_FORMAT_VERSION`]).
//!
//! # Accuracy
//! - On flat meshes (grids, the flat torus, the flat Möbius strip, and every cone away from its apex) a
//!   trace is exactly a straight line of the development: landing points agree with the straight-line
//!   points to rounding (1e-12 in the tests), including directions that run through vertices or along
//!   edges.
//! - On the unit icosphere, the end point of exp_p(v) for |v| = 1 agrees with the sphere's
//!   `cos|v| p + sin|v| v/|v|` to an error that falls linearly with the edge length (tests and
//!   `benches/expmap.rs`).
//! - Reversal: tracing back from the end point in the reversed transported direction returns to the
//!   start.

pub mod export;
pub mod table;
pub mod trace;

pub use export::write_npz;
pub use table::saved::{TABLE_FORMAT_VERSION, TABLE_MAGIC};
pub use table::{
    ExpMapOptions, ExpMapTable, Padding, Radius, TableEntry, BYTES_PER_SAMPLE, FLAG_MIRRORED,
    FLAG_TRUNCATED, MAX_RADIUS_EDGES, MAX_SAMPLES,
};
pub use trace::{
    SurfacePoint, TraceResult, TraceStart, TraceStop, Tracer, ANGLE_TOLERANCE, MAX_STEPS,
    VERTEX_TOLERANCE,
};
