//! Straightest geodesics on the intrinsic mesh (Polthier–Schmies), traced by unfolding faces from edge
//! lengths alone.
//!
//! # Frames
//! - **Face frame** of face `f`: origin at corner 0, x axis along halfedge `3f` (corner 0 → corner 1),
//!   y axis toward corner 2 (so the face is counter-clockwise in its own frame, as the mesh orients it).
//!   Directions at points inside a face ([`TraceResult::face_angle`], [`TraceStart::Face`]) are angles in
//!   this frame.
//! - **Halfedge frame** of halfedge `h = 3f + k` (internal, and the unit of precomputation): tail (corner
//!   `k`) at the origin, head (corner `k + 1`) at `(ℓ_h, 0)`, apex (corner `k + 2`) at `(x_h, y_h)` with
//!   `y_h > 0`. It is the face frame rotated by the angle `γ_h` of the halfedge in the face frame
//!   (`γ_0 = 0`, `γ_1 = π − α_1`, `γ_2 = π + α_0` with `α_k` the corner angles).
//! - **Vertex frame**: the angle-scaled polar frame of [`frames`](crate::frames). A scaled polar angle θ
//!   at vertex `v` is the true angle `ψ = (θ − φ_0)/s_v` (mod 2π before dividing) measured in the star's
//!   orientation from spoke 0, where `φ_0` is the polar angle of spoke 0 and `s_v` the vertex scale.
//!
//! # Tracing
//! A trace is a straight line in the plane into which the faces it crosses are unfolded. The state is a
//! halfedge `h` through which the current face was entered, the entry parameter `u ∈ [0, 1]` along it (0 at its tail, 1 at its head; every edge parameter
//! in this module is such a `u`)
//! and the unit direction `(a, b)` in the frame of `h` (`b > 0`: pointing into the face). One face
//! crossing costs about twenty flops: the sign of `c = a·y_h − b·(x_h − uℓ_h)` (the apex seen from the
//! ray) picks the exit edge, two divisions give the exit distance and parameter, and the direction is
//! re-expressed along the exit edge. Crossing to the twin maps `(u, along, perp) ↦ (1 − u, −along,
//! −perp)`; on an orientation seam of a non-orientable mesh, where the twin runs the *same* way, the
//! unfolding is mirrored: `(u, along, perp) ↦ (u, along, −perp)`, and the trace's mirror parity flips.
//!
//! **Vertices.** A trace goes *through* a vertex when its line passes within [`VERTEX_TOLERANCE`] ×
//! (local edge length) of it (the apex test), when it leaves a face within that tolerance of an end of
//! the exit edge, or when it leaves a vertex within [`ANGLE_TOLERANCE`] of a spoke (it then follows the
//! spoke's edge exactly, so grids, whose 0°, 45° and 90° lines run along edges and through vertices, are
//! traced exactly rather than slipping past one side). A length that reaches a vertex up to the same
//! tolerance lands at the vertex, in the face it arrives through. At an interior vertex `v` of angle
//! sum Θ_v the trace leaves so that the angle on both sides is Θ_v/2 (straight on where Θ_v = 2π): arriving with back direction ψ_b (true angle in the
//! star), it leaves at ψ_b + Θ_v/2 (mod Θ_v). At a boundary vertex (a wedge `[0, Θ_v]`) it goes straight
//! on, ψ_b ± π, if that direction lies in the wedge (so a trace along a straight boundary follows it), and
//! stops otherwise.
//!
//! **Boundary.** A trace that reaches a boundary edge, or a boundary vertex where it cannot go on, stops
//! there: what remains of it is *truncated*, and the stop point is reported (never wrapped or dropped).
//! From a boundary vertex, a direction outside the wedge stops at once (length 0).
//!
//! **Mirror parity.** [`TraceResult::mirrored`] says whether the orientation of the landing face,
//! carried along the trace, disagrees with the orientation of the start frame (the star of the start
//! vertex, or the start face). Always `false` on orientable meshes.

//!
//! # Layout of the code
//! The walk is a small state machine (`walk.rs`): a trace starts (`start.rs`) at a vertex or inside a
//! face, crosses faces in the hot loop until it reaches a vertex, the boundary or its last length, and
//! at a vertex applies the vertex rule and leaves again (`vertex.rs`). The precomputed unfolding data
//! and the conversions between face frames, halfedge frames and vertex frames live in `layout.rs` and
//! `angles.rs`. Corners are [`HalfedgeId`]s (corner `k` of face `f` is the tail of halfedge `3f + k`),
//! spokes are [`SpokeId`]s, and the walk moves between them with `next`/`prev`, never with index
//! arithmetic.

mod angles;
mod layout;
mod start;
mod vertex;
mod walk;

use crate::error::{Error, Result};
use crate::ids::{FaceId, HalfedgeId, SpokeId, VertexId};
use crate::manifold::Manifold;
use layout::HalfedgeLayout;
use walk::Walk;

/// A trace whose line passes within this fraction of the local edge length of a vertex goes through the
/// vertex (and leaves it by the Θ/2 rule).
pub const VERTEX_TOLERANCE: f64 = 1e-9;
/// A direction within this angle (radians) of a spoke is followed exactly along the spoke's edge.
pub const ANGLE_TOLERANCE: f64 = 1e-9;
/// A trace gives up (and is reported as [`TraceStop::StepLimit`]) after this many face crossings.
pub const MAX_STEPS: usize = 1 << 22;
/// Barycentric coordinates within this distance of 1 put a [`TraceStart::Face`] point on a vertex.
const BARY_VERTEX: f64 = 1e-12;

/// A point on the surface: a face and the barycentric coordinates of its corners, in the face's corner
/// order (`bary[k]` belongs to `mesh.face_vertices(face)[k]`; they sum to 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SurfacePoint {
    /// The face.
    pub face: FaceId,
    /// Barycentric coordinates of its corners 0, 1, 2.
    pub bary: [f64; 3],
}

/// Where and in which direction a trace starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TraceStart {
    /// At a vertex, in the direction of a *scaled* polar angle of its tangent frame (see
    /// [`frames`](crate::frames)): the true angle inside the star is `θ / s_v` from the reference
    /// spoke.
    Vertex {
        /// The start vertex.
        vertex: VertexId,
        /// Scaled polar angle θ (any real; taken mod 2π).
        angle: f64,
    },
    /// At a point of a face (possibly on its edges or corners), in the direction of an angle in the face
    /// frame (x along halfedge `3f`, y toward corner 2). A point on a corner starts at that vertex, with
    /// the direction unfolded into its star through that corner (see [`Tracer::face_angle_to_polar`]).
    Face {
        /// The start point.
        point: SurfacePoint,
        /// Direction, in the face frame of `point.face`.
        angle: f64,
    },
}

/// Why a trace (or one of its landings) ended where it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TraceStop {
    /// It travelled the full length asked for.
    Complete,
    /// It reached a boundary edge.
    BoundaryEdge,
    /// It reached a boundary vertex where it cannot go straight on, or started at a boundary vertex in a
    /// direction outside the wedge.
    BoundaryVertex,
    /// It crossed [`MAX_STEPS`] faces without finishing (or met non-finite geometry, which a valid mesh
    /// does not have).
    StepLimit,
}

/// Where a trace ended (or landed at one of the requested lengths).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceResult {
    /// The end point. For a truncated trace, the stop point.
    pub point: SurfacePoint,
    /// Distance travelled along the surface: the length asked for, or less if truncated.
    pub length: f64,
    /// Direction of the geodesic at the end point (its tangent, pointing onward), as an angle in the
    /// face frame of `point.face`, in (−π, π]. Reversed (plus π) it traces back to the start.
    pub face_angle: f64,
    /// Whether the end face's orientation, carried along the trace, disagrees with the start frame's.
    pub mirrored: bool,
    /// Why it ended here.
    pub stop: TraceStop,
}

impl TraceResult {
    /// Whether the trace stopped before the length asked for.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::expmap::{TraceStart, TraceStop, Tracer};
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// let m = Manifold::load("grid:4x4", &BuildOptions::default()).unwrap();
    /// let tracer = Tracer::new(&m);
    /// // From the corner (0, 0) along the x axis: the grid is 3 units wide.
    /// let start = TraceStart::Vertex { vertex: m.mesh.vertex(0).unwrap(), angle: 0.0 };
    /// let r = tracer.trace(start, 5.0).unwrap();
    /// assert!(r.truncated() && r.stop == TraceStop::BoundaryVertex);
    /// assert!((r.length - 3.0).abs() < 1e-12);
    /// ```
    pub fn truncated(&self) -> bool {
        self.stop != TraceStop::Complete
    }
}

/// A traced point in the internal representation: a position and a direction in the frame of a
/// halfedge (see the module docs), with what the walk knew when it got there.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Landing {
    /// The halfedge whose frame `(x, y)` and `(a, b)` are written in; the point lies in its face.
    pub(crate) h: HalfedgeId,
    /// Position along `h`, from its tail.
    pub(crate) x: f64,
    /// Position to the left of `h` (into its face), `0 ≤ y ≤` the apex height.
    pub(crate) y: f64,
    /// Direction of travel (unit vector): component along `h`.
    pub(crate) a: f64,
    /// Direction of travel: component to the left of `h`.
    pub(crate) b: f64,
    /// Distance travelled from the start: the length asked for, or the stop distance.
    pub(crate) dist: f64,
    /// Whether the face's orientation, carried along the trace, disagrees with the start frame's
    /// ([`TraceResult::mirrored`]).
    pub(crate) flip: bool,
    /// Why the trace landed here ([`TraceStop::Complete`] for every point it passed on its way).
    pub(crate) stop: TraceStop,
}

/// Receives the landings of a trace: `land(i, ..)` for each requested length in order (truncated ones
/// included), and optionally the points where the path crosses edges or passes vertices.
pub(crate) trait Sink {
    /// Whether [`path`](Sink::path) does anything (lets the hot loop skip building path points).
    const WANTS_PATH: bool = false;
    fn land(&mut self, index: usize, at: &Landing);
    fn path(&mut self, _at: &Landing) {}
}

/// Precomputed unfolding data of a manifold, for tracing straightest geodesics. Borrows the manifold;
/// `Send + Sync`.
///
/// Memory: 48 bytes per halfedge (the face's layout in the halfedge's frame, its angle in the face
/// frame, the twin), 8 per spoke and 4 per corner: about 360 bytes per vertex of a closed triangle mesh.
///
/// # Example
/// ```
/// use manifold_cnn::expmap::{TraceStart, Tracer};
/// use manifold_cnn::{BuildOptions, Manifold};
/// let m = Manifold::load("grid:8x8", &BuildOptions::default()).unwrap();
/// let tracer = Tracer::new(&m);
/// // From grid point (2, 2) at 45°: along the diagonals, through the vertices (3, 3) and (4, 4).
/// let v = m.mesh.vertex(2 + 8 * 2).unwrap();
/// let r = tracer.trace(TraceStart::Vertex { vertex: v, angle: std::f64::consts::FRAC_PI_4 }, 2.5).unwrap();
/// let p = m.positions.as_ref().unwrap();
/// let f = m.mesh.face_vertices(r.point.face);
/// let x: f64 = (0..3).map(|k| r.point.bary[k] * p[f[k].index()][0]).sum();
/// assert!((x - (2.0 + 2.5 / 2f64.sqrt())).abs() < 1e-12);
/// assert!(!r.truncated() && (r.length - 2.5).abs() < 1e-15);
/// ```
#[derive(Debug)]
pub struct Tracer<'a> {
    m: &'a Manifold,
    /// Per halfedge: its face laid out in its frame, its angle in the face frame, its twin.
    layout: Vec<HalfedgeLayout>,
    /// Per spoke: the unscaled angle at which it leaves its star's spoke 0 (the corner angles summed).
    spoke_acc: Vec<f64>,
    /// Per corner: the spoke along the corner's first side, in its star's orientation.
    corner_spokes: Vec<SpokeId>,
}

impl<'a> Tracer<'a> {
    /// Precomputes the layout of every face in the frame of each of its halfedges, the twins (with
    /// mirror flags), the angle of every halfedge in its face frame, and the unscaled cumulative angle of
    /// every spoke in its star.
    ///
    /// # Complexity
    /// O(F + V), parallel over faces.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::expmap::Tracer;
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// let m = Manifold::load("icosphere:1", &BuildOptions::default()).unwrap();
    /// let tracer = Tracer::new(&m);
    /// assert!(std::ptr::eq(tracer.manifold(), &m));
    /// ```
    pub fn new(m: &'a Manifold) -> Tracer<'a> {
        let (spoke_acc, corner_spokes) = layout::spoke_angles(m);
        Tracer {
            m,
            layout: layout::halfedge_layouts(m),
            spoke_acc,
            corner_spokes,
        }
    }

    /// The manifold this tracer unfolds.
    pub fn manifold(&self) -> &'a Manifold {
        self.m
    }

    /// The corners of a face in its face frame: `[(0, 0), (ℓ_0, 0), (x, y)]` with `y > 0`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the face is not in the mesh.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::expmap::Tracer;
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// let m = Manifold::load("icosphere:1", &BuildOptions::default()).unwrap();
    /// let f = m.mesh.face(0).unwrap();
    /// let [p0, p1, p2] = Tracer::new(&m).face_layout(f).unwrap();
    /// // The unit icosphere's faces are nearly equilateral: side 0 lies on the x axis, corner 2 above.
    /// assert_eq!(p0, [0.0, 0.0]);
    /// assert!(p1[1] == 0.0 && p2[1] > 0.0);
    /// let side = |p: [f64; 2], q: [f64; 2]| (p[0] - q[0]).hypot(p[1] - q[1]);
    /// assert!((side(p1, p2) / side(p0, p1) - 1.0).abs() < 0.2);
    /// ```
    pub fn face_layout(&self, face: FaceId) -> Result<[[f64; 2]; 3]> {
        self.check_face(face)?;
        let l = self.layout[3 * face.index()];
        Ok([[0.0, 0.0], [l.len, 0.0], [l.apex_x, l.apex_y]])
    }

    fn check_face(&self, face: FaceId) -> Result<()> {
        if face.index() >= self.m.mesh.face_count() {
            return Err(Error::InvalidParameter {
                name: "face",
                message: format!(
                    "face {face} is not in the mesh ({} faces)",
                    self.m.mesh.face_count()
                ),
            });
        }
        Ok(())
    }

    /// Corner `corner` (0, 1 or 2) of `face`, checked, with a finite angle.
    fn check_corner(&self, face: FaceId, corner: usize, angle: f64) -> Result<HalfedgeId> {
        self.check_face(face)?;
        if corner > 2 || !angle.is_finite() {
            return Err(Error::InvalidParameter {
                name: "corner, angle",
                message: format!(
                    "corner must be 0, 1 or 2 and the angle finite (got {corner}, {angle})"
                ),
            });
        }
        Ok(HalfedgeId::from_face_side(face, corner))
    }

    /// The scaled polar angle, in the frame of vertex `face_vertices(face)[corner]`, of a direction given
    /// as an angle in the face frame. The face is unfolded into the vertex's star through that corner:
    /// a direction at angle λ from the corner's first edge (counted in the star's orientation) gets
    /// `θ = s_v (ψ_c + λ) + φ_0`, with ψ_c the unscaled angle at which the corner starts in the star.
    /// Directions outside the corner continue the same linear map (λ is taken within π of the corner's
    /// bisector). Result in (−π, π].
    ///
    /// Together with [`TraceResult::face_angle`] this expresses the transported direction in the polar
    /// frame of each corner of the landing face; the frame's handedness relative to the start frame is
    /// `mirrored` XOR [`Mesh::corner_flipped`](crate::Mesh::corner_flipped) of that corner.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a face not in the mesh, `corner > 2`, or a non-finite angle.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::expmap::Tracer;
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// let m = Manifold::load("icosphere:1", &BuildOptions::default()).unwrap();
    /// let tracer = Tracer::new(&m);
    /// let f = m.mesh.face(3).unwrap();
    /// // A direction into the face from its corner 1, there and back.
    /// let polar = tracer.face_angle_to_polar(f, 1, 2.5).unwrap();
    /// let back = tracer.polar_to_face_angle(f, 1, polar).unwrap();
    /// assert!((back - 2.5).abs() < 1e-12);
    /// ```
    pub fn face_angle_to_polar(&self, face: FaceId, corner: usize, angle: f64) -> Result<f64> {
        let c = self.check_corner(face, corner, angle)?;
        Ok(self.polar_angle_at_corner(c, angle))
    }

    /// [`face_angle_to_polar`](Self::face_angle_to_polar) for corner `c` given as its number `3f + k`
    /// (as an exp-map table's consumers hold it), unchecked.
    pub(crate) fn corner_polar_angle(&self, c: usize, angle: f64) -> f64 {
        self.polar_angle_at_corner(HalfedgeId::new(c), angle)
    }

    /// The inverse of [`face_angle_to_polar`](Self::face_angle_to_polar): the face-frame angle of a
    /// direction given as a scaled polar angle at corner `corner` of `face`. The true angle is taken within
    /// Θ_v/2 of the corner's bisector (interior vertices, whose angles are periodic) and as is on the
    /// boundary. Result in (−π, π].
    ///
    /// # Errors
    /// As [`face_angle_to_polar`](Self::face_angle_to_polar).
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::expmap::Tracer;
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// let m = Manifold::load("grid:3x3", &BuildOptions::default()).unwrap();
    /// let tracer = Tracer::new(&m);
    /// let f = m.mesh.face(0).unwrap();
    /// // On a flat grid the polar frames are the plane's: a polar angle is a face angle.
    /// for corner in 0..3 {
    ///     let beta = tracer.polar_to_face_angle(f, corner, 0.3).unwrap();
    ///     assert!((tracer.face_angle_to_polar(f, corner, beta).unwrap() - 0.3).abs() < 1e-12);
    /// }
    /// ```
    pub fn polar_to_face_angle(&self, face: FaceId, corner: usize, polar: f64) -> Result<f64> {
        let c = self.check_corner(face, corner, polar)?;
        Ok(self.face_angle_at_corner(c, polar))
    }

    /// Traces the straightest geodesic of length `length` from `start`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an element not in the mesh, a non-finite angle, barycentric
    /// coordinates that are not finite, not ≥ 0 or do not sum to 1 (within 1e-9), or a length that is
    /// negative or not finite.
    ///
    /// # Complexity
    /// O(number of faces crossed); no allocation.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::expmap::{SurfacePoint, TraceStart, Tracer};
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// use std::f64::consts::PI;
    /// let m = Manifold::load("icosphere:1", &BuildOptions::default()).unwrap();
    /// let tracer = Tracer::new(&m);
    /// // From the middle of a face, a quarter of a great circle (the unit sphere's circumference is 2π).
    /// let f = m.mesh.face(0).unwrap();
    /// let point = SurfacePoint { face: f, bary: [1.0 / 3.0; 3] };
    /// let r = tracer.trace(TraceStart::Face { point, angle: 0.0 }, PI / 2.0).unwrap();
    /// assert!(!r.truncated() && r.point.face != f && !r.mirrored);
    /// assert!((r.point.bary.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    /// ```
    pub fn trace(&self, start: TraceStart, length: f64) -> Result<TraceResult> {
        let mut out = [None];
        self.trace_into(start, &[length], &mut out, None)?;
        Ok(out[0].expect("a trace lands at every length"))
    }

    /// One trace from `start`, landing at each of `lengths` (ascending): the result for length `r_i` is
    /// where the geodesic is after travelling `r_i` (or its stop point, if it stopped earlier).
    ///
    /// # Errors
    /// As [`trace`](Self::trace), and if `lengths` is not ascending.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::expmap::{TraceStart, Tracer};
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// let m = Manifold::load("grid:4x4", &BuildOptions::default()).unwrap();
    /// let tracer = Tracer::new(&m);
    /// // Along the x axis from (0, 0): the third length runs past the edge of the grid at x = 3.
    /// let start = TraceStart::Vertex { vertex: m.mesh.vertex(0).unwrap(), angle: 0.0 };
    /// let rs = tracer.trace_lengths(start, &[0.5, 1.5, 4.0]).unwrap();
    /// let lengths: Vec<f64> = rs.iter().map(|r| r.length).collect();
    /// assert!((lengths[0] - 0.5).abs() < 1e-12 && (lengths[1] - 1.5).abs() < 1e-12);
    /// assert!(!rs[1].truncated() && rs[2].truncated() && (lengths[2] - 3.0).abs() < 1e-12);
    /// ```
    pub fn trace_lengths(&self, start: TraceStart, lengths: &[f64]) -> Result<Vec<TraceResult>> {
        let mut out = vec![None; lengths.len()];
        self.trace_into(start, lengths, &mut out, None)?;
        Ok(out
            .into_iter()
            .map(|r| r.expect("a trace lands at every length"))
            .collect())
    }

    /// As [`trace`](Self::trace), also returning the path: the start point, every point where the trace
    /// crosses an edge or passes through a vertex, and the end point.
    ///
    /// # Errors
    /// As [`trace`](Self::trace).
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::expmap::{TraceStart, Tracer};
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// let m = Manifold::load("grid:4x4", &BuildOptions::default()).unwrap();
    /// let tracer = Tracer::new(&m);
    /// // Along the x axis from (0, 0) for 2.5: through the grid vertices (1, 0) and (2, 0).
    /// let start = TraceStart::Vertex { vertex: m.mesh.vertex(0).unwrap(), angle: 0.0 };
    /// let (r, path) = tracer.trace_path(start, 2.5).unwrap();
    /// assert_eq!(path.len(), 4);
    /// assert_eq!(path.last(), Some(&r.point));
    /// ```
    pub fn trace_path(
        &self,
        start: TraceStart,
        length: f64,
    ) -> Result<(TraceResult, Vec<SurfacePoint>)> {
        let mut out = [None];
        let mut path = Vec::new();
        match self.validate(start)? {
            TraceStart::Vertex { vertex, .. } => {
                let c = self.m.mesh.vertex_corners(vertex)[0];
                let mut bary = [0.0; 3];
                bary[c.side()] = 1.0;
                path.push(SurfacePoint {
                    face: c.face(),
                    bary,
                });
            }
            TraceStart::Face { point, .. } => path.push(point),
        }
        self.trace_into(start, &[length], &mut out, Some(&mut path))?;
        let r = out[0].expect("a trace lands at every length");
        path.push(r.point);
        Ok((r, path))
    }

    fn trace_into(
        &self,
        start: TraceStart,
        lengths: &[f64],
        out: &mut [Option<TraceResult>],
        path: Option<&mut Vec<SurfacePoint>>,
    ) -> Result<()> {
        if lengths.iter().any(|l| !l.is_finite() || *l < 0.0)
            || lengths.windows(2).any(|w| w[1] < w[0])
        {
            return Err(Error::InvalidParameter {
                name: "length",
                message: "trace lengths must be finite, non-negative and ascending".into(),
            });
        }
        let start = self.validate(start)?;
        struct Collect<'t, 'o, 'p> {
            tracer: &'t Tracer<'t>,
            out: &'o mut [Option<TraceResult>],
            path: Option<&'p mut Vec<SurfacePoint>>,
        }
        impl Sink for Collect<'_, '_, '_> {
            const WANTS_PATH: bool = true;
            fn land(&mut self, i: usize, at: &Landing) {
                self.out[i] = Some(self.tracer.result_of(at));
            }
            fn path(&mut self, at: &Landing) {
                if let Some(p) = self.path.as_mut() {
                    p.push(self.tracer.point_of(at.h, at.x, at.y));
                }
            }
        }
        let mut sink = Collect {
            tracer: self,
            out,
            path,
        };
        self.run(start, lengths, &mut sink);
        Ok(())
    }

    fn validate(&self, start: TraceStart) -> Result<TraceStart> {
        let bad = |message: String| Error::InvalidParameter {
            name: "start",
            message,
        };
        match start {
            TraceStart::Vertex { vertex, angle } => {
                self.m.mesh.check_vertex(vertex, "vertex")?;
                if !angle.is_finite() {
                    return Err(bad(format!("angle {angle} is not finite")));
                }
                Ok(start)
            }
            TraceStart::Face { point, angle } => {
                self.check_face(point.face)?;
                let b = point.bary;
                let sum: f64 = b.iter().sum();
                if !angle.is_finite()
                    || b.iter().any(|x| !x.is_finite() || *x < -1e-9)
                    || (sum - 1.0).abs() > 1e-9
                {
                    return Err(bad(format!(
                        "barycentric coordinates {b:?} must be finite, non-negative and sum to 1, and the angle \
                         finite (got {angle})"
                    )));
                }
                let b = b.map(|x| x.max(0.0) / sum);
                Ok(TraceStart::Face {
                    point: SurfacePoint {
                        face: point.face,
                        bary: b,
                    },
                    angle,
                })
            }
        }
    }

    /// Runs one trace, reporting every landing (and path point) to `sink`. `start` must be valid and
    /// `radii` ascending, finite, non-negative. Returns the spokes examined locating corners (for the
    /// [`Work::Leave`](crate::mesh::work::Work::Leave) counter).
    pub(crate) fn run<S: Sink>(&self, start: TraceStart, radii: &[f64], sink: &mut S) -> u64 {
        if radii.is_empty() {
            return 0;
        }
        Walk::new(self, radii, sink).run(start)
    }
}
