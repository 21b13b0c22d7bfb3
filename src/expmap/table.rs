//! The exponential-map table: for every vertex, where exp_p(v) lands for a polar grid of tangent vectors.

use super::trace::{Landing, Sink, TraceStart, Tracer};
use crate::error::{Error, Num, Result};
use crate::ids::{FaceId, VertexId};
use crate::large_alloc::try_filled;
use crate::manifold::{Manifold, MeshIdentity};
use rayon::prelude::*;
use std::f64::consts::TAU;

pub(super) mod saved;

/// Flag bit: the sample's trace stopped before reaching the sample's radius.
pub const FLAG_TRUNCATED: u8 = 1;
/// Flag bit: the landing face's orientation, carried along the trace, disagrees with the star of the
/// start vertex (only on non-orientable meshes).
pub const FLAG_MIRRORED: u8 = 2;

/// Bytes per sample of an [`ExpMapTable`], besides the per-trace lengths (4 bytes per vertex and
/// direction, i.e. `4/R` per sample): landing face (`u32`, 4), two barycentric coordinates (`f32`, 8),
/// transported angle (`f32`, 4), flags (`u8`, 1).
pub const BYTES_PER_SAMPLE: usize = 17;

/// The largest radius accepted, in mean edge lengths (a kernel support far beyond any convolution's;
/// longer geodesics can be traced one by one with [`Tracer`]).
pub const MAX_RADIUS_EDGES: f64 = 1000.0;

/// The most samples per vertex (rings × directions) accepted.
pub const MAX_SAMPLES: usize = 1 << 16;

/// The radius ρ of the polar grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Radius {
    /// In the mesh's length unit.
    Absolute(f64),
    /// As a multiple of the mean edge length ([`Geometry::mean_edge_length`](crate::geometry::Geometry::mean_edge_length)).
    MeanEdgeLengths(f64),
}

impl Radius {
    /// The radius in the mesh's length unit.
    pub fn resolve(self, m: &Manifold) -> f64 {
        match self {
            Radius::Absolute(r) => r,
            Radius::MeanEdgeLengths(k) => k * m.geometry.mean_edge_length(),
        }
    }
}

/// What a convolution does with a truncated sample (one whose geodesic left the surface before reaching
/// the sample's radius). The table records the stop point and flags the sample either way; the policy
/// is applied by the consumer: [`ExpMapTable::padded_landing`] applies it to one sample, and the
/// operator's compile applies the same rule reading the table's flags directly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Padding {
    /// The signal is taken as zero there: the sample contributes nothing (zero padding, as in a planar
    /// CNN's `padding = 0`).
    #[default]
    Zero,
    /// The signal is taken at the stop point on the boundary (replicate padding along the geodesic).
    Clamp,
}

impl Padding {
    /// The policy's number in saved tables and cache keys: 0 zero, 1 clamp.
    pub(crate) fn code(self) -> u8 {
        match self {
            Padding::Zero => 0,
            Padding::Clamp => 1,
        }
    }

    /// The policy numbered `code` ([`code`](Self::code)), if any.
    pub(crate) fn from_code(code: u32) -> Option<Padding> {
        [Padding::Zero, Padding::Clamp]
            .into_iter()
            .find(|p| p.code() as u32 == code)
    }

    /// Parses a policy name: `zero` or `clamp` (any case).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`padding`) naming the text.
    pub fn parse(s: &str) -> Result<Padding> {
        match s.to_ascii_lowercase().as_str() {
            "zero" => Ok(Padding::Zero),
            "clamp" => Ok(Padding::Clamp),
            _ => Err(Error::InvalidParameter {
                name: "padding",
                message: format!("'{s}' is not a padding policy (zero, clamp)"),
            }),
        }
    }
}

/// Options of an [`ExpMapTable`]: the polar grid of samples, the radius, the padding.
///
/// Made with [`ExpMapOptions::new`] (or `default()`) and the builder-style setters, one per field.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct ExpMapOptions {
    /// Number of rings R (radii r_i = (i − ½)·ρ/R, i = 1..R). Default 8.
    pub rings: usize,
    /// Number of directions A (scaled polar angles θ_j = 2πj/A, j = 0..A−1). Default 16.
    pub directions: usize,
    /// The radius ρ. Default: 5 mean edge lengths.
    pub radius: Radius,
    /// Padding policy for truncated samples. Default: [`Padding::Zero`].
    pub padding: Padding,
}

impl Default for ExpMapOptions {
    fn default() -> Self {
        ExpMapOptions::new()
    }
}

impl ExpMapOptions {
    /// The default options: 8 rings, 16 directions, a radius of 5 mean edge lengths, zero padding.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::expmap::{ExpMapOptions, Padding, Radius};
    /// let o = ExpMapOptions::new()
    ///     .rings(4)
    ///     .directions(12)
    ///     .radius(Radius::Absolute(1.5))
    ///     .padding(Padding::Clamp);
    /// assert_eq!((o.rings, o.directions), (4, 12));
    /// assert_eq!(ExpMapOptions::new(), ExpMapOptions::default());
    /// ```
    pub const fn new() -> ExpMapOptions {
        ExpMapOptions {
            rings: 8,
            directions: 16,
            radius: Radius::MeanEdgeLengths(5.0),
            padding: Padding::Zero,
        }
    }

    /// These options with another number of rings R.
    pub const fn rings(mut self, rings: usize) -> ExpMapOptions {
        self.rings = rings;
        self
    }

    /// These options with another number of directions A.
    pub const fn directions(mut self, directions: usize) -> ExpMapOptions {
        self.directions = directions;
        self
    }

    /// These options with another radius ρ.
    pub const fn radius(mut self, radius: Radius) -> ExpMapOptions {
        self.radius = radius;
        self
    }

    /// These options with another padding policy.
    pub const fn padding(mut self, padding: Padding) -> ExpMapOptions {
        self.padding = padding;
        self
    }

    /// Checks the parameters against a manifold and returns the absolute radius.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`]: zero rings or directions, more than [`MAX_SAMPLES`] samples, a radius
    /// that is not positive and finite or exceeds [`MAX_RADIUS_EDGES`] mean edge lengths, distances
    /// outside the range of normal `f32` numbers (the radius and the first ring's, ρ/2R), or a table too
    /// large to address.
    pub fn validate(&self, m: &Manifold) -> Result<f64> {
        let bad =
            |name: &'static str, message: String| Err(Error::InvalidParameter { name, message });
        if self.rings == 0 {
            return bad("rings", "must be at least 1".into());
        }
        if self.directions == 0 {
            return bad("directions", "must be at least 1".into());
        }
        let samples = self.rings.saturating_mul(self.directions);
        if samples > MAX_SAMPLES {
            return bad(
                "rings, directions",
                format!(
                    "{} × {} samples per vertex exceeds the limit of {MAX_SAMPLES}",
                    self.rings, self.directions
                ),
            );
        }
        let (given, k) = match self.radius {
            Radius::Absolute(r) => (r, r / m.geometry.mean_edge_length()),
            Radius::MeanEdgeLengths(k) => (k, k),
        };
        if !(given.is_finite() && given > 0.0) {
            return bad(
                "radius",
                format!("must be positive and finite (got {})", Num(given)),
            );
        }
        if k.is_nan() || k > MAX_RADIUS_EDGES {
            return bad(
                "radius",
                format!(
                    "{} is {k:.3e} mean edge lengths; the limit is {MAX_RADIUS_EDGES}",
                    Num(given)
                ),
            );
        }
        let rho = self.radius.resolve(m);
        if !(rho.is_finite() && rho > 0.0) {
            return bad(
                "radius",
                format!("resolves to {}, not positive and finite", Num(rho)),
            );
        }
        // Distances are stored as f32 (`trace_lengths`): the smallest ring's radius and ρ must be
        // normal f32 numbers, or the table would hold 0 or inf.
        let smallest = rho / (2 * self.rings) as f64;
        if rho > f32::MAX as f64 || smallest < f32::MIN_POSITIVE as f64 {
            return bad(
                "radius",
                format!(
                    "{rho:e} (smallest ring {smallest:e}) is outside the range of the table's f32 \
                     distances [{:e}, {:e}]; rescale the mesh",
                    f32::MIN_POSITIVE,
                    f32::MAX
                ),
            );
        }
        let total = m
            .mesh
            .vertex_count()
            .checked_mul(samples)
            .and_then(|n| n.checked_mul(BYTES_PER_SAMPLE + 4));
        if total.is_none_or(|b| b > isize::MAX as usize) {
            return bad(
                "rings, directions",
                "the table would be too large to address".into(),
            );
        }
        Ok(rho)
    }
}

/// One entry of an [`ExpMapTable`], decoded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TableEntry {
    /// The landing face (the stop point's face if truncated).
    pub face: FaceId,
    /// Barycentric coordinates of the face's corners 0, 1, 2.
    pub bary: [f32; 3],
    /// Distance travelled: the sample's radius, or the stop length if truncated.
    pub distance: f32,
    /// Direction of the geodesic at the landing point, as an angle in the landing face's frame.
    pub transported_angle: f32,
    /// Whether the trace stopped before the sample's radius.
    pub truncated: bool,
    /// Whether the landing face's orientation disagrees with the start vertex's star.
    pub mirrored: bool,
}

/// Where exp_p(v) lands, for every vertex p and every sample v = (r_i, θ_j) of a polar grid in T_p M.
///
/// # The grid
/// R rings at midpoint radii `r_i = (i − ½)·ρ/R` (`i = 1..R`), A directions at scaled polar angles
/// `θ_j = 2πj/A` (`j = 0..A−1`) of the vertex frame (see [`frames`](crate::frames)). Sample
/// index `s = j·R + (i − 1)`: direction-major, so one trace fills R consecutive entries. Quadrature
/// weight `w_s = r_i · Δr · Δθ` with `Δr = ρ/R`, `Δθ = 2π/A`: the tangent-plane measure of DESIGN.md (no
/// Jacobian of exp); the weights sum to πρ² exactly.
///
/// # Storage (structure of arrays, vertex-major: entry `p·S + s`)
/// - `landing_faces`: `u32` face index;
/// - `landing_barys`: `[f32; 2]`, barycentric coordinates of the face's corners 0 and 1 (corner 2 has
///   `1 − b0 − b1`);
/// - `transported_angles`: `f32`, the direction of the geodesic at the landing point as an angle in the
///   landing face's frame (x along halfedge `3f`, y toward corner 2; see [`trace`](super::trace));
///   [`Tracer::face_angle_to_polar`] gives it in the polar frame of each landing vertex;
/// - `flags`: `u8`, [`FLAG_TRUNCATED`] | [`FLAG_MIRRORED`];
/// - `trace_lengths`: `f32` per vertex and direction (`p·A + j`): how far that trace went (the largest
///   radius, or its stop length). The distance travelled to sample `s` is `r_i`, or the trace length if
///   the sample is truncated.
///
/// [`BYTES_PER_SAMPLE`] = 17 bytes per sample plus 4/R for the trace lengths (17.5 for R = 8; 2,240 bytes
/// per vertex for 16 × 8 samples).
///
/// # Truncated samples
/// A trace that reaches the boundary stops; its remaining samples are flagged truncated and hold the stop
/// point (face, barycentric coordinates, direction there). What a convolution makes of them is the
/// [`Padding`] policy, stored with the table.
///
/// # Example
/// ```
/// use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable, Radius};
/// use manifold_cnn::{BuildOptions, Manifold};
/// let m = Manifold::load("flat-torus:8x8", &BuildOptions::default()).unwrap();
/// let params = ExpMapOptions::new().rings(2).directions(4).radius(Radius::Absolute(2.0));
/// let t = ExpMapTable::build(&m, &params).unwrap();
/// assert_eq!(t.samples_per_vertex(), 8);
/// assert_eq!(t.sample_radii()[..2], [0.5, 1.5]);
/// assert_eq!(t.truncated_fraction(), 0.0);
/// // The weights integrate the disk: Σ w = πρ².
/// let area: f64 = t.sample_weights().iter().sum();
/// assert!((area - std::f64::consts::PI * 4.0).abs() < 1e-12);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ExpMapTable {
    /// The mesh the table was traced on (checked by its consumers).
    mesh: MeshIdentity,
    vertices: usize,
    rings: usize,
    directions: usize,
    radius: f64,
    padding: Padding,
    sample_radii: Vec<f64>,
    sample_angles: Vec<f64>,
    sample_weights: Vec<f64>,
    landing_faces: Vec<u32>,
    landing_barys: Vec<[f32; 2]>,
    transported_angles: Vec<f32>,
    flags: Vec<u8>,
    trace_lengths: Vec<f32>,
}

/// Writes one trace's landings into a vertex's slices.
struct TableSink<'s, 't> {
    tracer: &'s Tracer<'t>,
    faces: &'s mut [u32],
    barys: &'s mut [[f32; 2]],
    angles: &'s mut [f32],
    flags: &'s mut [u8],
    length: f64,
}

impl Sink for TableSink<'_, '_> {
    #[inline(always)]
    fn land(&mut self, i: usize, at: &Landing) {
        let (face, bary, angle) = self.tracer.table_landing(at);
        self.faces[i] = face;
        self.barys[i] = bary;
        self.angles[i] = angle;
        let truncated = at.stop != super::trace::TraceStop::Complete;
        self.flags[i] = (truncated as u8 * FLAG_TRUNCATED) | (at.flip as u8 * FLAG_MIRRORED);
        self.length = at.dist;
    }
}

/// The vertices sorted by their lowest-numbered face (ties by index): the order in which the table is
/// traced.
fn locality_order(m: &Manifold) -> Vec<u32> {
    let mesh = &m.mesh;
    let mut key: Vec<(u32, u32)> = (0..mesh.vertex_count())
        .into_par_iter()
        .map(|v| {
            let f = mesh
                .vertex_corners(VertexId::new(v))
                .iter()
                .map(|c| c.face().raw())
                .min()
                .unwrap_or(0);
            (f, v as u32)
        })
        .collect();
    key.par_sort_unstable();
    key.into_iter().map(|(_, v)| v).collect()
}

/// Rows `order[0], order[1], …` of a row-major array with rows of `width`, as disjoint mutable borrows.
fn rows_in_order<'d, T>(data: &'d mut [T], width: usize, order: &[u32]) -> Vec<&'d mut [T]> {
    let mut rows: Vec<Option<&'d mut [T]>> = data.chunks_mut(width.max(1)).map(Some).collect();
    order
        .iter()
        .filter_map(|&v| rows.get_mut(v as usize).and_then(Option::take))
        .collect()
}

impl ExpMapTable {
    /// Builds the table: one straightest-geodesic trace per vertex and direction, landing at every ring.
    ///
    /// # Errors
    /// As [`ExpMapOptions::validate`], or [`Error::OutOfMemory`] naming the array of the table that
    /// cannot be allocated.
    ///
    /// # Complexity
    /// O(V·A·(faces crossed per trace + R)), parallel over vertices with rayon; deterministic (the
    /// output does not depend on the number of threads). Vertices are traced in the order of their
    /// lowest-numbered face, which keeps the faces that neighbouring traces cross in cache on meshes whose
    /// faces are numbered coherently (subdivided, scanned); the output is in vertex order regardless.
    /// Memory: [`BYTES_PER_SAMPLE`] per sample plus the [`Tracer`]'s ≈ 360 bytes per vertex.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable, Radius};
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// use std::f64::consts::PI;
    /// let m = Manifold::load("icosphere:1", &BuildOptions::default()).unwrap();
    /// let params = ExpMapOptions::new().rings(2).directions(8).radius(Radius::Absolute(0.5));
    /// let table = ExpMapTable::build(&m, &params).unwrap();
    /// assert_eq!((table.vertex_count(), table.samples_per_vertex()), (42, 16));
    /// // A closed sphere truncates nothing; every sample travels its ring's radius, r_i = (i − ½)ρ/R.
    /// let e = table.entry(7, table.sample_index(1, 3));
    /// assert!(!e.truncated && (e.distance - 0.375).abs() < 1e-6);
    /// // The quadrature weights integrate the tangent disk: their sum is πρ².
    /// let area: f64 = table.sample_weights().iter().sum();
    /// assert!((area - PI * 0.25).abs() < 1e-12);
    /// ```
    pub fn build(m: &Manifold, params: &ExpMapOptions) -> Result<ExpMapTable> {
        Self::build_with_progress(m, params, |_, _| {})
    }

    /// As [`build`](Self::build), calling `progress(done, total)` (vertices) after each batch of about
    /// 2% of the vertices.
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub fn build_with_progress(
        m: &Manifold,
        params: &ExpMapOptions,
        progress: impl FnMut(usize, usize),
    ) -> Result<ExpMapTable> {
        params.validate(m)?;
        let tracer = Tracer::new(m);
        Self::build_with_tracer(&tracer, params, progress)
    }

    /// As [`build_with_progress`](Self::build_with_progress), with a tracer already built for the
    /// manifold.
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub fn build_with_tracer(
        tracer: &Tracer<'_>,
        params: &ExpMapOptions,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<ExpMapTable> {
        let m = tracer.manifold();
        let rho = params.validate(m)?;
        let (nr, na) = (params.rings, params.directions);
        let ns = nr * na;
        let nv = m.mesh.vertex_count();
        let dr = rho / nr as f64;
        let dtheta = TAU / na as f64;
        let radii: Vec<f64> = (1..=nr).map(|i| (i as f64 - 0.5) * dr).collect();
        let thetas: Vec<f64> = (0..na).map(|j| TAU * j as f64 / na as f64).collect();
        let mut sample_radii = Vec::with_capacity(ns);
        let mut sample_angles = Vec::with_capacity(ns);
        let mut sample_weights = Vec::with_capacity(ns);
        for &th in &thetas {
            for &r in &radii {
                sample_radii.push(r);
                sample_angles.push(th);
                sample_weights.push(r * dr * dtheta);
            }
        }
        let n = nv * ns;
        let mut landing_faces = try_filled(n, 0u32, "the table's landing faces")?;
        let mut landing_barys = try_filled(n, [0f32; 2], "the table's barycentric coordinates")?;
        let mut transported_angles = try_filled(n, 0f32, "the table's transported angles")?;
        let mut flags = try_filled(n, 0u8, "the table's flags")?;
        let mut trace_lengths = try_filled(nv * na, 0f32, "the table's trace lengths")?;

        // Vertices are traced in order of their lowest-numbered face, so that consecutive traces cross
        // the same faces while they are in cache (meshes from subdivision or scanning number faces with
        // spatial coherence; the vertex numbering of a subdivided mesh has much less). Each vertex still
        // writes its own rows of the index-ordered output, reached through disjoint row borrows.
        let order = locality_order(m);
        let mut faces_rows = rows_in_order(&mut landing_faces, ns, &order);
        let mut barys_rows = rows_in_order(&mut landing_barys, ns, &order);
        let mut angles_rows = rows_in_order(&mut transported_angles, ns, &order);
        let mut flags_rows = rows_in_order(&mut flags, ns, &order);
        let mut lengths_rows = rows_in_order(&mut trace_lengths, na, &order);
        const CHUNK: usize = 32;
        let batch = (nv / 50).max(4096).div_ceil(CHUNK) * CHUNK;
        let mut done = 0;
        while done < nv {
            let end = (done + batch).min(nv);
            order[done..end]
                .par_chunks(CHUNK)
                .zip(faces_rows[done..end].par_chunks_mut(CHUNK))
                .zip(barys_rows[done..end].par_chunks_mut(CHUNK))
                .zip(angles_rows[done..end].par_chunks_mut(CHUNK))
                .zip(flags_rows[done..end].par_chunks_mut(CHUNK))
                .zip(lengths_rows[done..end].par_chunks_mut(CHUNK))
                .for_each(|(((((vs, faces), barys), angles), flags), lengths)| {
                    let mut search = 0;
                    for k in 0..vs.len() {
                        let v = VertexId::new(vs[k] as usize);
                        for (j, &theta) in thetas.iter().enumerate() {
                            let o = j * nr;
                            let mut sink = TableSink {
                                tracer,
                                faces: &mut faces[k][o..o + nr],
                                barys: &mut barys[k][o..o + nr],
                                angles: &mut angles[k][o..o + nr],
                                flags: &mut flags[k][o..o + nr],
                                length: 0.0,
                            };
                            search += tracer.run(
                                TraceStart::Vertex {
                                    vertex: v,
                                    angle: theta,
                                },
                                &radii,
                                &mut sink,
                            );
                            lengths[k][j] = sink.length as f32;
                        }
                    }
                    crate::mesh::work::add(crate::mesh::work::Work::Leave, search);
                });
            done = end;
            progress(done, nv);
        }
        drop((
            faces_rows,
            barys_rows,
            angles_rows,
            flags_rows,
            lengths_rows,
        ));
        Ok(ExpMapTable {
            mesh: m.identity(),
            vertices: nv,
            rings: nr,
            directions: na,
            radius: rho,
            padding: params.padding,
            sample_radii,
            sample_angles,
            sample_weights,
            landing_faces,
            landing_barys,
            transported_angles,
            flags,
            trace_lengths,
        })
    }

    /// The identity of the mesh the table was built for.
    pub fn mesh_identity(&self) -> MeshIdentity {
        self.mesh
    }
    /// Number of vertices N.
    pub fn vertex_count(&self) -> usize {
        self.vertices
    }
    /// Number of rings R.
    pub fn rings(&self) -> usize {
        self.rings
    }
    /// Number of directions A.
    pub fn directions(&self) -> usize {
        self.directions
    }
    /// Samples per vertex S = R·A.
    pub fn samples_per_vertex(&self) -> usize {
        self.rings * self.directions
    }
    /// The radius ρ (absolute).
    pub fn radius(&self) -> f64 {
        self.radius
    }
    /// The padding policy for truncated samples.
    pub fn padding(&self) -> Padding {
        self.padding
    }
    /// Sample index of ring `i` (0-based, radius `r_{i+1}`) and direction `j`: `j·R + i`.
    pub fn sample_index(&self, ring: usize, direction: usize) -> usize {
        direction * self.rings + ring
    }
    /// Radius of every sample (S).
    pub fn sample_radii(&self) -> &[f64] {
        &self.sample_radii
    }
    /// Scaled polar angle of every sample (S).
    pub fn sample_angles(&self) -> &[f64] {
        &self.sample_angles
    }
    /// Quadrature weight `r_i Δr Δθ` of every sample (S).
    pub fn sample_weights(&self) -> &[f64] {
        &self.sample_weights
    }
    /// Landing face of every entry (N·S, vertex-major).
    pub fn landing_faces(&self) -> &[u32] {
        &self.landing_faces
    }
    /// Barycentric coordinates of corners 0 and 1 of every entry (N·S).
    pub fn landing_barys(&self) -> &[[f32; 2]] {
        &self.landing_barys
    }
    /// Transported angle (in the landing face's frame) of every entry (N·S).
    pub fn transported_angles(&self) -> &[f32] {
        &self.transported_angles
    }
    /// Flags ([`FLAG_TRUNCATED`], [`FLAG_MIRRORED`]) of every entry (N·S).
    pub fn flags(&self) -> &[u8] {
        &self.flags
    }
    /// Length of every trace (N·A, `p·A + j`).
    pub fn trace_lengths(&self) -> &[f32] {
        &self.trace_lengths
    }

    /// Entry `sample` of vertex `vertex`, decoded.
    ///
    /// # Panics
    /// If `vertex ≥ N` or `sample ≥ S`.
    pub fn entry(&self, vertex: usize, sample: usize) -> TableEntry {
        let s = self.samples_per_vertex();
        assert!(
            vertex < self.vertices && sample < s,
            "entry ({vertex}, {sample}) out of range"
        );
        let e = vertex * s + sample;
        let [b0, b1] = self.landing_barys[e];
        let fl = self.flags[e];
        let truncated = fl & FLAG_TRUNCATED != 0;
        let distance = if truncated {
            self.trace_lengths[vertex * self.directions + sample / self.rings]
        } else {
            self.sample_radii[sample] as f32
        };
        TableEntry {
            face: FaceId::new(self.landing_faces[e] as usize),
            bary: [b0, b1, 1.0 - b0 - b1],
            distance,
            transported_angle: self.transported_angles[e],
            truncated,
            mirrored: fl & FLAG_MIRRORED != 0,
        }
    }

    /// The point at which a convolution evaluates the signal for this entry under the table's
    /// [`Padding`] policy: the landing face and barycentric coordinates, or `None` for a truncated
    /// sample under [`Padding::Zero`] (the signal counts as zero there).
    ///
    /// # Panics
    /// If `vertex ≥ N` or `sample ≥ S`.
    pub fn padded_landing(&self, vertex: usize, sample: usize) -> Option<(FaceId, [f32; 3])> {
        let e = self.entry(vertex, sample);
        if e.truncated && self.padding == Padding::Zero {
            None
        } else {
            Some((e.face, e.bary))
        }
    }

    /// The transported direction of an entry as a scaled polar angle in the frame of corner `corner` of
    /// its landing face (see [`Tracer::face_angle_to_polar`]; `tracer` must be built for the same
    /// manifold as the table).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `vertex ≥ N`, `sample ≥ S`, `corner > 2`, or a table that does not
    /// fit the tracer's mesh.
    pub fn transported_polar_angle(
        &self,
        tracer: &Tracer<'_>,
        vertex: usize,
        sample: usize,
        corner: usize,
    ) -> Result<f64> {
        if vertex >= self.vertices || sample >= self.samples_per_vertex() {
            return Err(Error::InvalidParameter {
                name: "vertex, sample",
                message: format!(
                    "entry ({vertex}, {sample}) is out of range ({} vertices, {} samples)",
                    self.vertices,
                    self.samples_per_vertex()
                ),
            });
        }
        let e = self.entry(vertex, sample);
        tracer.face_angle_to_polar(e.face, corner, e.transported_angle as f64)
    }

    /// Fraction of all entries that are truncated.
    pub fn truncated_fraction(&self) -> f64 {
        if self.flags.is_empty() {
            return 0.0;
        }
        let n = self
            .flags
            .par_iter()
            .filter(|&&f| f & FLAG_TRUNCATED != 0)
            .count();
        n as f64 / self.flags.len() as f64
    }

    /// Memory held by the table's arrays, in bytes.
    pub fn bytes(&self) -> usize {
        self.landing_faces.len() * BYTES_PER_SAMPLE
            + self.trace_lengths.len() * 4
            + self.sample_radii.len() * 24
    }
}
