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
//! halfedge `h` through which the current face was entered, the entry parameter `t ∈ [0, 1]` along it
//! and the unit direction `(a, b)` in the frame of `h` (`b > 0`: pointing into the face). One face
//! crossing costs about twenty flops: the sign of `c = a·y_h − b·(x_h − tℓ_h)` (the apex seen from the
//! ray) picks the exit edge, two divisions give the exit distance and parameter, and the direction is
//! re-expressed along the exit edge. Crossing to the twin maps `(t, along, perp) ↦ (1 − t, −along,
//! −perp)`; on an orientation seam of a non-orientable mesh, where the twin runs the *same* way, the
//! unfolding is mirrored: `(t, along, perp) ↦ (t, along, −perp)`, and the trace's mirror parity flips.
//!
//! **Vertices.** A trace goes *through* a vertex when its line passes within [`VERTEX_TOLERANCE`] ×
//! (local edge length) of it (the apex test), when it leaves a face within that tolerance of an end of
//! the exit edge, or when it leaves a vertex within [`ANGLE_TOLERANCE`] of a spoke (it then follows the
//! spoke's edge exactly, so grids, whose 0°, 45° and 90° lines run along edges and through vertices, are
//! traced exactly rather than slipping past one side). A length that reaches a vertex up to the same
//! tolerance lands at the vertex, in the face it arrives through. At an interior vertex `v` of angle sum Θ_v the trace leaves so that the angle on
//! both sides is Θ_v/2 (straight on where Θ_v = 2π): arriving with back direction ψ_b (true angle in the
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

use crate::error::{Error, Result};
use crate::ids::{FaceId, HalfedgeId, VertexId};
use crate::manifold::Manifold;
use rayon::prelude::*;
use std::f64::consts::{PI, TAU};

/// A trace whose line passes within this fraction of the local edge length of a vertex goes through the
/// vertex (and leaves it by the Θ/2 rule).
pub const VERTEX_TOLERANCE: f64 = 1e-9;
/// A direction within this angle (radians) of a spoke is followed exactly along the spoke's edge.
pub const ANGLE_TOLERANCE: f64 = 1e-9;
/// A trace gives up (and is reported as [`TraceStop::StepLimit`]) after this many face crossings.
pub const MAX_STEPS: usize = 1 << 22;
/// Barycentric coordinates within this distance of 1 put a [`TraceStart::Face`] point on a vertex.
const BARY_VERTEX: f64 = 1e-12;

const NO_TWIN: u32 = u32::MAX;
const MIRROR: u32 = 1 << 31;

/// The layout of one face in the frame of one of its halfedges, with what a crossing and a landing need
/// (48 bytes, so a face's three records are contiguous: 144 bytes).
#[derive(Clone, Copy, Debug, Default)]
struct HalfedgeLayout {
    /// ℓ_h, the halfedge's length.
    len: f64,
    /// 1/ℓ_h.
    inv_len: f64,
    /// Apex (the opposite corner) in the halfedge frame: x.
    apex_x: f64,
    /// Apex y (> 0).
    apex_y: f64,
    /// γ_h, the angle of the halfedge in the face frame, in (−π, π].
    gamma: f64,
    /// The twin halfedge, with [`MIRROR`] set if it runs the same way; [`NO_TWIN`] on the boundary.
    twin: u32,
}

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
    pub fn truncated(&self) -> bool {
        self.stop != TraceStop::Complete
    }
}

/// A traced point in the internal representation: a position and direction in a halfedge frame.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Landing {
    pub(crate) h: u32,
    pub(crate) x: f64,
    pub(crate) y: f64,
    pub(crate) a: f64,
    pub(crate) b: f64,
    pub(crate) dist: f64,
    pub(crate) flip: bool,
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
    layout: Vec<HalfedgeLayout>,
    spoke_acc: Vec<f64>,
    corner_spokes: Vec<u32>,
}

/// `atan2(y, x)` to within 6e-9 rad (far below the `f32` resolution of the table's angles), about three
/// times faster than libm's: an odd minimax polynomial of degree 17 for atan on [0, 1], then octant
/// symmetries. `(0, 0)` gives 0.
#[inline(always)]
pub(crate) fn fast_atan2(y: f64, x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_886_376_766,
        -0.333_325_969_939_225_5,
        0.199_859_062_241_004_6,
        -0.141_612_253_744_408_2,
        0.104_989_319_402_717_26,
        -0.072_348_279_278_728_47,
        0.039_780_876_904_308_85,
        -0.014_401_142_682_740_706,
        0.002_456_669_863_773_675_3,
    ];
    let (ax, ay) = (x.abs(), y.abs());
    let (mx, mn) = if ay > ax { (ay, ax) } else { (ax, ay) };
    if mx == 0.0 {
        return 0.0;
    }
    let t = mn / mx;
    // Estrin's scheme in t² (short dependency chains); plain products and sums, since `mul_add` is a
    // slow library call without a target FMA feature.
    let t2 = t * t;
    let t4 = t2 * t2;
    let t8 = t4 * t4;
    let p01 = C[0] + C[1] * t2;
    let p23 = C[2] + C[3] * t2;
    let p45 = C[4] + C[5] * t2;
    let p67 = C[6] + C[7] * t2;
    let q0 = p01 + p23 * t4;
    let q1 = p45 + p67 * t4;
    let p = q0 + t8 * (q1 + C[8] * t8);
    let mut r = t * p;
    if ay > ax {
        r = std::f64::consts::FRAC_PI_2 - r;
    }
    if x < 0.0 {
        r = PI - r;
    }
    if y < 0.0 {
        -r
    } else {
        r
    }
}

/// Wraps an angle into (−π, π].
#[inline]
fn wrap_pi(a: f64) -> f64 {
    let r = a.rem_euclid(TAU);
    if r > PI {
        r - TAU
    } else {
        r
    }
}

#[inline]
fn idx3(k: usize) -> (usize, usize, usize) {
    (k, (k + 1) % 3, (k + 2) % 3)
}

impl<'a> Tracer<'a> {
    /// Precomputes the layout of every face in the frame of each of its halfedges, the twins (with
    /// mirror flags), the angle of every halfedge in its face frame, and the unscaled cumulative angle of
    /// every spoke in its star.
    ///
    /// # Complexity
    /// O(F + V), parallel over faces and vertices.
    pub fn new(m: &'a Manifold) -> Tracer<'a> {
        let mesh = &m.mesh;
        let lengths = m.geometry.edge_lengths();
        let areas = m.geometry.face_areas();
        let nf = mesh.face_count();
        let mut layout = vec![HalfedgeLayout::default(); 3 * nf];
        layout
            .par_chunks_mut(3)
            .with_min_len(4096)
            .enumerate()
            .for_each(|(f, lay)| {
                let h = |k: usize| HalfedgeId::new(3 * f + k);
                let l = [0, 1, 2].map(|k| lengths[mesh.halfedge_edge(h(k)).index()]);
                let area = areas[f];
                for k in 0..3 {
                    let (_, k1, k2) = idx3(k);
                    // Tail corner k, head k+1 at distance l[k], apex k+2 at distances l[k2] (side k+2 runs from
                    // the apex to the tail) and l[k1] (head to apex); height 2·area/ℓ (Kahan's stable area).
                    let len = l[k];
                    let x = (len * len + l[k2] * l[k2] - l[k1] * l[k1]) / (2.0 * len);
                    let twin = match mesh.halfedge_twin(h(k)) {
                        None => NO_TWIN,
                        Some(t) => {
                            t.raw()
                                | if mesh.halfedge_tail(t) == mesh.halfedge_tail(h(k)) {
                                    MIRROR
                                } else {
                                    0
                                }
                        }
                    };
                    lay[k] = HalfedgeLayout {
                        len,
                        inv_len: 1.0 / len,
                        apex_x: x,
                        apex_y: 2.0 * area / len,
                        gamma: 0.0,
                        twin,
                    };
                }
                let (x0, y0) = (lay[0].apex_x, lay[0].apex_y);
                lay[1].gamma = y0.atan2(x0 - lay[0].len);
                lay[2].gamma = (-y0).atan2(-x0);
            });
        let angles = m.geometry.corner_angles();
        let mut spoke_acc = vec![0.0; mesh.spoke_count()];
        let mut corner_spokes = vec![0u32; 3 * nf];
        for v in mesh.vertices() {
            let sp = mesh.vertex_spokes(v);
            let mut acc = 0.0;
            for (i, c) in mesh.vertex_corners(v).iter().enumerate() {
                spoke_acc[sp.start + i] = acc;
                corner_spokes[c.index()] = (sp.start + i) as u32;
                acc += angles[c.index()];
            }
            if mesh.is_boundary_vertex(v) {
                spoke_acc[sp.end - 1] = acc;
            }
        }
        Tracer {
            m,
            layout,
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

    fn check_vertex(&self, v: VertexId) -> Result<()> {
        if v.index() >= self.m.mesh.vertex_count() {
            return Err(Error::InvalidParameter {
                name: "vertex",
                message: format!(
                    "vertex {v} is not in the mesh ({} vertices)",
                    self.m.mesh.vertex_count()
                ),
            });
        }
        Ok(())
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
    pub fn face_angle_to_polar(&self, face: FaceId, corner: usize, angle: f64) -> Result<f64> {
        self.check_face(face)?;
        if corner > 2 || !angle.is_finite() {
            return Err(Error::InvalidParameter {
                name: "corner, angle",
                message: format!(
                    "corner must be 0, 1 or 2 and the angle finite (got {corner}, {angle})"
                ),
            });
        }
        Ok(self.corner_polar_angle(3 * face.index() + corner, angle))
    }

    /// [`face_angle_to_polar`](Self::face_angle_to_polar) for corner `c` (halfedge index `3f + k`),
    /// unchecked.
    pub(crate) fn corner_polar_angle(&self, c: usize, angle: f64) -> f64 {
        let psi = self.face_to_star(c, angle);
        let v = self.m.mesh.face_vertices(FaceId::new(c / 3))[c % 3];
        let sp = self.m.mesh.vertex_spokes(v);
        let s = self.m.frames.vertex_scales()[v.index()];
        wrap_pi(s * psi + self.m.frames.spoke_angles()[sp.start])
    }

    /// The inverse of [`face_angle_to_polar`](Self::face_angle_to_polar): the face-frame angle of a
    /// direction given as a scaled polar angle at corner `corner` of `face`. The true angle is taken within
    /// Θ_v/2 of the corner's bisector (interior vertices, whose angles are periodic) and as is on the
    /// boundary. Result in (−π, π].
    ///
    /// # Errors
    /// As [`face_angle_to_polar`](Self::face_angle_to_polar).
    pub fn polar_to_face_angle(&self, face: FaceId, corner: usize, polar: f64) -> Result<f64> {
        self.check_face(face)?;
        if corner > 2 || !polar.is_finite() {
            return Err(Error::InvalidParameter {
                name: "corner, angle",
                message: format!(
                    "corner must be 0, 1 or 2 and the angle finite (got {corner}, {polar})"
                ),
            });
        }
        let c = 3 * face.index() + corner;
        let v = self.m.mesh.face_vertices(face)[corner];
        let psi = self.true_angle(v, polar);
        let theta = self.m.geometry.vertex_angle_sums()[v.index()];
        let alpha = self.m.geometry.corner_angles()[c];
        let mut lam = psi - self.spoke_acc[self.corner_spokes[c] as usize];
        if !self.m.mesh.is_boundary_vertex(v) {
            lam = (lam - 0.5 * alpha + 0.5 * theta).rem_euclid(theta) + 0.5 * alpha - 0.5 * theta;
        }
        Ok(wrap_pi(self.star_to_face(c, lam)))
    }

    /// True (unscaled) angle from spoke 0 of a scaled polar angle at `v`, in [0, Θ_v) inside and
    /// [0, 2π) on the boundary (where it may lie outside the wedge [0, Θ_v]).
    fn true_angle(&self, v: VertexId, polar: f64) -> f64 {
        let sp = self.m.mesh.vertex_spokes(v);
        let phi0 = self.m.frames.spoke_angles()[sp.start];
        let s = self.m.frames.vertex_scales()[v.index()];
        let d = polar - phi0;
        let r = if (0.0..TAU).contains(&d) {
            d
        } else {
            d.rem_euclid(TAU)
        };
        if self.m.mesh.is_boundary_vertex(v) {
            r
        } else {
            let theta = self.m.geometry.vertex_angle_sums()[v.index()];
            let psi = r / s;
            if psi >= theta {
                psi - theta
            } else {
                psi
            }
        }
    }

    /// Unscaled star angle (from spoke 0) of a face-frame direction, unfolded through corner `c`.
    fn face_to_star(&self, c: usize, beta: f64) -> f64 {
        let alpha = self.m.geometry.corner_angles()[c];
        // λ from the edge c → c+1, counter-clockwise in the face, within π of the corner's bisector.
        let lam = wrap_pi(beta - self.layout[c].gamma - 0.5 * alpha) + 0.5 * alpha;
        let flipped = self.m.mesh.corner_flipped(HalfedgeId::new(c));
        self.spoke_acc[self.corner_spokes[c] as usize] + if flipped { alpha - lam } else { lam }
    }

    /// Face-frame angle of the direction at star angle `ψ_c + lam` (lam from the corner's first spoke in
    /// the star's orientation), unfolded through corner `c`.
    #[inline]
    fn star_to_face(&self, c: usize, lam: f64) -> f64 {
        let (f, j) = (c / 3, c % 3);
        if self.m.mesh.corner_flipped(HalfedgeId::new(c)) {
            // The corner's first spoke is the edge j → j+2, the reverse of halfedge j+2.
            self.layout[3 * f + (j + 2) % 3].gamma + PI - lam
        } else {
            self.layout[c].gamma + lam
        }
    }

    /// The surface point of a position in the frame of halfedge `h`.
    #[inline]
    pub(crate) fn point_of(&self, h: u32, x: f64, y: f64) -> SurfacePoint {
        let (b_tail, b_head, b_apex) = self.barycentric(h, x, y);
        let (k, k1, k2) = idx3(h as usize % 3);
        let mut bary = [0.0; 3];
        bary[k] = b_tail;
        bary[k1] = b_head;
        bary[k2] = b_apex;
        SurfacePoint {
            face: FaceId::new(h as usize / 3),
            bary,
        }
    }

    /// Barycentric coordinates (tail, head, apex) of a point `(x, y)` in the frame of halfedge `h`,
    /// projected onto the face. Landings lie in their face by construction (between the edges the
    /// trace entered and left by), but rounding puts the computed point a few ulps of the edge length
    /// off: on a thin face (height down to [`ZERO_AREA_RELATIVE`](crate::mesh::ZERO_AREA_RELATIVE)
    /// × length) that is a visible fraction of the height. Negative coordinates become 0 and the rest
    /// are rescaled to sum to 1, which moves the point by no more than that rounding. NaN stays NaN.
    #[inline(always)]
    fn barycentric(&self, h: u32, x: f64, y: f64) -> (f64, f64, f64) {
        let l = self.layout[h as usize];
        let b_apex = y / l.apex_y;
        let b_head = (x - b_apex * l.apex_x) * l.inv_len;
        // `if` rather than `max`, which would turn NaN into 0 and hide it.
        let apex = if b_apex < 0.0 { 0.0 } else { b_apex };
        let head = if b_head < 0.0 { 0.0 } else { b_head };
        let sum = apex + head;
        if sum > 1.0 {
            (0.0, head / sum, apex / sum)
        } else {
            (1.0 - sum, head, apex)
        }
    }

    /// Face-frame angle of a direction `(a, b)` in the frame of halfedge `h`, in (−π, π].
    #[inline]
    pub(crate) fn angle_of(&self, h: u32, a: f64, b: f64) -> f64 {
        wrap_pi(b.atan2(a) + self.layout[h as usize].gamma)
    }

    /// A landing as stored in an [`ExpMapTable`](super::ExpMapTable): face, barycentric coordinates of
    /// corners 0 and 1 (`f32`), and the face-frame angle of the direction (`f32`, via [`fast_atan2`]).
    #[inline(always)]
    pub(crate) fn table_landing(&self, at: &Landing) -> (u32, [f32; 2], f32) {
        let h = at.h as usize;
        let l = self.layout[h];
        let (b_tail, b_head, b_apex) = self.barycentric(at.h, at.x, at.y);
        let (b0, b1) = match h % 3 {
            0 => (b_tail, b_head),
            1 => (b_apex, b_tail),
            _ => (b_head, b_apex),
        };
        // atan2 and γ are both in [−π, π]: one correction either way wraps the sum into (−π, π].
        let mut angle = fast_atan2(at.b, at.a) + l.gamma;
        if angle > PI {
            angle -= TAU;
        } else if angle <= -PI {
            angle += TAU;
        }
        ((h / 3) as u32, [b0 as f32, b1 as f32], angle as f32)
    }

    pub(crate) fn result_of(&self, l: &Landing) -> TraceResult {
        TraceResult {
            point: self.point_of(l.h, l.x, l.y),
            length: l.dist,
            face_angle: self.angle_of(l.h, l.a, l.b),
            mirrored: l.flip,
            stop: l.stop,
        }
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
                self.check_vertex(vertex)?;
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
        let mut w = Walk {
            t: self,
            radii,
            next: 0,
            dist: 0.0,
            flip: false,
            sink,
            steps: 0,
            search: 0,
        };
        let mut cur = match start {
            TraceStart::Vertex { vertex, angle } => w.start_vertex(vertex, angle),
            TraceStart::Face { point, angle } => w.start_face(point, angle),
        };
        loop {
            cur = match cur {
                Cursor::Done => return w.search,
                Cursor::Enter { h, t, a, b } => w.cross_faces(h, t, a, b),
                Cursor::Leave {
                    v,
                    psi,
                    star_flip,
                    at,
                } => w.leave(v, psi, star_flip, at),
            };
        }
    }
}

/// What the walk does next.
#[derive(Clone, Copy, Debug)]
enum Cursor {
    /// Cross the face of `h`, entered through `h` at parameter `t` with direction `(a, b)` in its frame.
    Enter { h: u32, t: f64, a: f64, b: f64 },
    /// Leave vertex `v` at true star angle `psi`; `star_flip` is the star's orientation relative to the
    /// start frame; `at` is the vertex as a landing (for stops).
    Leave {
        v: u32,
        psi: f64,
        star_flip: bool,
        at: Landing,
    },
    /// Every length has landed.
    Done,
}

struct Walk<'w, 'a, S> {
    t: &'w Tracer<'a>,
    radii: &'w [f64],
    next: usize,
    dist: f64,
    flip: bool,
    sink: &'w mut S,
    steps: usize,
    /// Spokes examined locating corners (work counter).
    search: u64,
}

impl<S: Sink> Walk<'_, '_, S> {
    /// Lands every pending radius within the segment from `(x0, y0)` along `(a, b)` of length `s` in the
    /// frame of `h`, then advances the distance. Returns true when all radii have landed.
    #[inline(always)]
    fn segment(&mut self, h: u32, x0: f64, y0: f64, a: f64, b: f64, s: f64) -> bool {
        let end = self.dist + s;
        if self.next < self.radii.len() && self.radii[self.next] > end {
            self.dist = end;
            return false;
        }
        self.segment_slack(h, x0, y0, a, b, s, 0.0)
    }

    /// As [`segment`](Self::segment), also landing radii up to `slack` beyond its end at the end: used for
    /// segments that end at a vertex, so that a length that reaches the vertex up to rounding lands there
    /// (in the arriving face, with the arriving direction) rather than a hair past it.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn segment_slack(
        &mut self,
        h: u32,
        x0: f64,
        y0: f64,
        a: f64,
        b: f64,
        s: f64,
        slack: f64,
    ) -> bool {
        let end = self.dist + s;
        while self.next < self.radii.len() && self.radii[self.next] <= end + slack {
            let r = self.radii[self.next];
            let sigma = (r - self.dist).clamp(0.0, s);
            let at = Landing {
                h,
                x: x0 + sigma * a,
                y: y0 + sigma * b,
                a,
                b,
                dist: r,
                flip: self.flip,
                stop: TraceStop::Complete,
            };
            self.sink.land(self.next, &at);
            self.next += 1;
        }
        self.dist = end;
        self.next == self.radii.len()
    }

    /// Lands every remaining radius at `at` (a stop point), truncated with `stop`.
    fn stop(&mut self, mut at: Landing, stop: TraceStop) -> Cursor {
        at.dist = self.dist;
        at.flip = self.flip;
        at.stop = stop;
        while self.next < self.radii.len() {
            self.sink.land(self.next, &at);
            self.next += 1;
        }
        Cursor::Done
    }

    fn start_vertex(&mut self, v: VertexId, angle: f64) -> Cursor {
        let t = self.t;
        let mesh = &t.m.mesh;
        let psi = t.true_angle(v, angle);
        let c0 = mesh.vertex_corners(v)[0].index();
        if mesh.is_boundary_vertex(v) {
            // The stop point if the direction is outside the wedge: the vertex, with the direction unfolded
            // through the first corner.
            let lam = psi - t.spoke_acc[t.corner_spokes[c0] as usize];
            let at = self.vertex_landing(c0, angle_in_corner_frame(t, c0, t.star_to_face(c0, lam)));
            let theta = t.m.geometry.vertex_angle_sums()[v.index()];
            let psi = if psi <= theta + ANGLE_TOLERANCE {
                psi.min(theta)
            } else if TAU - psi <= ANGLE_TOLERANCE {
                0.0
            } else {
                return self.stop(at, TraceStop::BoundaryVertex);
            };
            return Cursor::Leave {
                v: v.raw(),
                psi,
                star_flip: false,
                at,
            };
        }
        // Inside, `at` is only a stop point for the step limit, which leaving the start cannot reach.
        let at = self.vertex_landing(c0, (1.0, 0.0));
        Cursor::Leave {
            v: v.raw(),
            psi,
            star_flip: false,
            at,
        }
    }

    /// The vertex at corner `c` as a landing in the frame of halfedge `c` (the vertex is its tail), with
    /// direction `dir` (in that frame).
    fn vertex_landing(&self, c: usize, dir: (f64, f64)) -> Landing {
        Landing {
            h: c as u32,
            x: 0.0,
            y: 0.0,
            a: dir.0,
            b: dir.1,
            dist: self.dist,
            flip: self.flip,
            stop: TraceStop::Complete,
        }
    }

    fn start_face(&mut self, p: SurfacePoint, beta: f64) -> Cursor {
        let t = self.t;
        let f = p.face.index();
        let b = p.bary;
        if let Some(k) = (0..3).find(|&k| b[k] >= 1.0 - BARY_VERTEX) {
            let c = 3 * f + k;
            let v = t.m.mesh.face_vertices(p.face)[k];
            let flipped = t.m.mesh.corner_flipped(HalfedgeId::new(c));
            let mut psi = t.face_to_star(c, beta);
            let theta = t.m.geometry.vertex_angle_sums()[v.index()];
            let at = self.vertex_landing(c, angle_in_corner_frame(t, c, beta));
            if t.m.mesh.is_boundary_vertex(v) {
                if psi < -ANGLE_TOLERANCE || psi > theta + ANGLE_TOLERANCE {
                    return self.stop(at, TraceStop::BoundaryVertex);
                }
                psi = psi.clamp(0.0, theta);
            } else {
                psi = psi.rem_euclid(theta);
                if psi >= theta {
                    psi -= theta;
                }
            }
            // Starting frame: the face; the star relative to it is flipped iff the corner is.
            return Cursor::Leave {
                v: v.raw(),
                psi,
                star_flip: flipped,
                at,
            };
        }
        // Face frame = frame of halfedge 3f.
        let l0 = t.layout[3 * f];
        let corners = [(0.0, 0.0), (l0.len, 0.0), (l0.apex_x, l0.apex_y)];
        let px = b[1] * corners[1].0 + b[2] * corners[2].0;
        let py = b[1] * corners[1].1 + b[2] * corners[2].1;
        let (sb, cb) = beta.sin_cos();
        let (a, bb) = (cb, sb);
        // Exit: the outward-moving edge reached first.
        let mut best: Option<(usize, f64)> = None;
        for k in 0..3 {
            let (ck, ck1) = (corners[k], corners[(k + 1) % 3]);
            let (ex, ey) = (ck1.0 - ck.0, ck1.1 - ck.1);
            let cr = ex * bb - ey * a; // cross(E, d) < 0: moving out through this edge
            let dist = (ex * (py - ck.1) - ey * (px - ck.0)).max(0.0);
            let inv = t.layout[3 * f + k].inv_len;
            // On this edge and (within tolerance) parallel to it: the trace runs along the edge and leaves
            // through one of its ends, not through the edge itself.
            let along_edge = dist * inv * inv <= BARY_VERTEX && cr.abs() * inv <= ANGLE_TOLERANCE;
            if cr < 0.0 && !along_edge {
                let s = dist / -cr;
                if best.is_none_or(|(_, s0)| s < s0) {
                    best = Some((k, s));
                }
            }
        }
        let h0 = 3 * f as u32;
        let Some((k, s)) = best else {
            // Unreachable for a unit direction in a proper triangle; stay put.
            let at = Landing {
                h: h0,
                x: px,
                y: py,
                a,
                b: bb,
                dist: 0.0,
                flip: false,
                stop: TraceStop::Complete,
            };
            return self.stop(at, TraceStop::StepLimit);
        };
        let (ck, ck1) = (corners[k], corners[(k + 1) % 3]);
        let (ex, ey) = (ck1.0 - ck.0, ck1.1 - ck.1);
        let lk = t.layout[3 * f + k];
        let (qx, qy) = (px + s * a, py + s * bb);
        let u = ((qx - ck.0) * ex + (qy - ck.1) * ey) * lk.inv_len * lk.inv_len;
        let hit = if u <= VERTEX_TOLERANCE {
            Some(k)
        } else if u >= 1.0 - VERTEX_TOLERANCE {
            Some((k + 1) % 3)
        } else {
            None
        };
        if let Some(j) = hit {
            let (vx, vy) = corners[j];
            let sv = ((vx - px) * a + (vy - py) * bb).max(0.0);
            if self.segment_slack(h0, px, py, a, bb, sv, VERTEX_TOLERANCE * lk.len) {
                return Cursor::Done;
            }
            return self.arrive(h0, j, vx, vy, a, bb);
        }
        if self.segment(h0, px, py, a, bb, s) {
            return Cursor::Done;
        }
        let along = (a * ex + bb * ey) * lk.inv_len;
        let perp = (ex * bb - ey * a) * lk.inv_len;
        let at = Landing {
            h: h0,
            x: qx,
            y: qy,
            a,
            b: bb,
            dist: self.dist,
            flip: self.flip,
            stop: TraceStop::Complete,
        };
        self.cross_edge(3 * f as u32 + k as u32, u, along, perp, at)
    }

    /// Leaves the face through halfedge `e` at parameter `u` (from its tail) with direction components
    /// `along` the edge and `perp` to its left (negative: outward). `at` is the exit point (for a stop).
    #[inline]
    fn cross_edge(&mut self, e: u32, u: f64, along: f64, perp: f64, at: Landing) -> Cursor {
        let tw = self.t.layout[e as usize].twin;
        if tw == NO_TWIN {
            return self.stop(at, TraceStop::BoundaryEdge);
        }
        self.sink.path(&at);
        let u = u.clamp(0.0, 1.0);
        if tw & MIRROR != 0 {
            self.flip = !self.flip;
            Cursor::Enter {
                h: tw & !MIRROR,
                t: u,
                a: along,
                b: -perp,
            }
        } else {
            Cursor::Enter {
                h: tw,
                t: 1.0 - u,
                a: -along,
                b: -perp,
            }
        }
    }

    /// The hot loop: crosses faces until a vertex is hit, the boundary is reached or all radii landed.
    fn cross_faces(&mut self, mut h: u32, mut t: f64, mut a: f64, mut b: f64) -> Cursor {
        let tr = self.t;
        loop {
            self.steps += 1;
            let lay = tr.layout[h as usize];
            let x0 = t * lay.len;
            if self.steps > MAX_STEPS {
                let at = Landing {
                    h,
                    x: x0,
                    y: 0.0,
                    a,
                    b,
                    dist: self.dist,
                    flip: self.flip,
                    stop: TraceStop::Complete,
                };
                return self.stop(at, TraceStop::StepLimit);
            }
            let (px, py) = (lay.apex_x, lay.apex_y);
            let wx = px - x0;
            // c = cross(d, apex − P): > 0 when the apex is to the left of the ray.
            let c = a * py - b * wx;
            if c.abs() <= VERTEX_TOLERANCE * lay.len {
                let s = (a * wx + b * py).max(0.0);
                if self.segment_slack(h, x0, 0.0, a, b, s, VERTEX_TOLERANCE * lay.len) {
                    return Cursor::Done;
                }
                return self.arrive(h, (h as usize % 3 + 2) % 3, px, py, a, b);
            }
            let base = h - h % 3;
            let (e, s, u, along, perp) = if c > 0.0 {
                // Exit through the next edge, head → apex: E = (px − ℓ, py).
                let e = base + (h + 1) % 3;
                let ex = px - lay.len;
                let den = a * py - b * ex;
                let rest = lay.len - x0;
                let inv = tr.layout[e as usize].inv_len;
                (
                    e,
                    rest * py / den,
                    b * rest / den,
                    (a * ex + b * py) * inv,
                    (ex * b - py * a) * inv,
                )
            } else {
                // Exit through the previous edge, apex → tail: E = (−px, −py).
                let e = base + (h + 2) % 3;
                let den = b * px - a * py;
                let inv = tr.layout[e as usize].inv_len;
                (
                    e,
                    x0 * py / den,
                    -c / den,
                    -(a * px + b * py) * inv,
                    (py * a - px * b) * inv,
                )
            };
            if !(s >= 0.0 && s.is_finite() && u.is_finite()) {
                let at = Landing {
                    h,
                    x: x0,
                    y: 0.0,
                    a,
                    b,
                    dist: self.dist,
                    flip: self.flip,
                    stop: TraceStop::Complete,
                };
                return self.stop(at, TraceStop::StepLimit);
            }
            if u <= VERTEX_TOLERANCE || u >= 1.0 - VERTEX_TOLERANCE {
                // The exit point is within tolerance of an end of the exit edge: through that vertex.
                let k = h as usize % 3;
                let j = if u <= VERTEX_TOLERANCE {
                    e as usize % 3
                } else {
                    (e as usize + 1) % 3
                };
                let (vx, vy) = if j == k {
                    (0.0, 0.0)
                } else if j == (k + 1) % 3 {
                    (lay.len, 0.0)
                } else {
                    (px, py)
                };
                let sv = ((vx - x0) * a + vy * b).max(0.0);
                if self.segment_slack(h, x0, 0.0, a, b, sv, VERTEX_TOLERANCE * lay.len) {
                    return Cursor::Done;
                }
                return self.arrive(h, j, vx, vy, a, b);
            }
            if self.segment(h, x0, 0.0, a, b, s) {
                return Cursor::Done;
            }
            let tw = tr.layout[e as usize].twin;
            if tw == NO_TWIN {
                let at = Landing {
                    h,
                    x: x0 + s * a,
                    y: s * b,
                    a,
                    b,
                    dist: self.dist,
                    flip: self.flip,
                    stop: TraceStop::Complete,
                };
                return self.stop(at, TraceStop::BoundaryEdge);
            }
            let u = u.clamp(0.0, 1.0);
            if S::WANTS_PATH {
                let at = Landing {
                    h,
                    x: x0 + s * a,
                    y: s * b,
                    a,
                    b,
                    dist: self.dist,
                    flip: self.flip,
                    stop: TraceStop::Complete,
                };
                self.sink.path(&at);
            }
            if tw & MIRROR != 0 {
                self.flip = !self.flip;
                h = tw & !MIRROR;
                t = u;
                a = along;
                b = -perp;
            } else {
                h = tw;
                t = 1.0 - u;
                a = -along;
                b = -perp;
            }
        }
    }

    /// Arrives through the interior of the face of `h` at its corner `j` (position `(vx, vy)` in the frame
    /// of `h`) with direction `(a, b)`: applies the vertex rule.
    fn arrive(&mut self, h: u32, j: usize, vx: f64, vy: f64, a: f64, b: f64) -> Cursor {
        let t = self.t;
        let f = h as usize / 3;
        let c = 3 * f + j;
        let v = t.m.mesh.face_vertices(FaceId::new(f))[j];
        let alpha = t.m.geometry.corner_angles()[c];
        let beta_back = (-b).atan2(-a) + t.layout[h as usize].gamma;
        let mut lam = wrap_pi(beta_back - t.layout[c].gamma - 0.5 * alpha) + 0.5 * alpha;
        lam = lam.clamp(0.0, alpha);
        let flipped = t.m.mesh.corner_flipped(HalfedgeId::new(c));
        let psi_back =
            t.spoke_acc[t.corner_spokes[c] as usize] + if flipped { alpha - lam } else { lam };
        let at = Landing {
            h,
            x: vx,
            y: vy,
            a,
            b,
            dist: self.dist,
            flip: self.flip,
            stop: TraceStop::Complete,
        };
        self.sink.path(&at);
        self.turn(v.raw(), psi_back, self.flip ^ flipped, at)
    }

    /// The vertex rule: from back direction `psi_back` (true star angle) to the outgoing direction.
    fn turn(&mut self, v: u32, psi_back: f64, star_flip: bool, at: Landing) -> Cursor {
        let t = self.t;
        let vid = VertexId::new(v as usize);
        let theta = t.m.geometry.vertex_angle_sums()[v as usize];
        let psi = if !t.m.mesh.is_boundary_vertex(vid) {
            let p = psi_back + 0.5 * theta;
            if p >= theta {
                p - theta
            } else {
                p
            }
        } else if psi_back + PI <= theta + ANGLE_TOLERANCE {
            (psi_back + PI).min(theta)
        } else if psi_back - PI >= -ANGLE_TOLERANCE {
            (psi_back - PI).max(0.0)
        } else {
            return self.stop(at, TraceStop::BoundaryVertex);
        };
        Cursor::Leave {
            v,
            psi,
            star_flip,
            at,
        }
    }

    /// Leaves vertex `v` at true star angle `psi`: along a spoke's edge, or through the interior of the
    /// corner containing the direction.
    fn leave(&mut self, v: u32, psi: f64, star_flip: bool, at: Landing) -> Cursor {
        let t = self.t;
        let mesh = &t.m.mesh;
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return self.stop(at, TraceStop::StepLimit);
        }
        let vid = VertexId::new(v as usize);
        let sp = mesh.vertex_spokes(vid);
        let corners = mesh.vertex_corners(vid);
        let n = corners.len();
        let acc = &t.spoke_acc[sp.clone()];
        let theta = t.m.geometry.vertex_angle_sums()[v as usize];
        // The last corner starting at or before ψ: a binary search over the ascending start angles
        // (a linear scan would make every geodesic through a vertex of valence 100k cost 100k steps).
        let i = acc[1..n].partition_point(|&a| a <= psi);
        self.search += 1 + n.ilog2() as u64;
        let lo = acc[i];
        let hi = if i + 1 < acc.len() { acc[i + 1] } else { theta };
        // Along a spoke: (global spoke, the corner whose face carries the walk).
        let spoke = if psi - lo <= ANGLE_TOLERANCE {
            Some((sp.start + i, i))
        } else if hi - psi <= ANGLE_TOLERANCE {
            if i + 1 < n {
                Some((sp.start + i + 1, i + 1))
            } else if i + 1 < acc.len() {
                Some((sp.start + i + 1, i)) // the last spoke of a boundary vertex
            } else {
                Some((sp.start, 0)) // Θ ≡ 0 inside
            }
        } else {
            None
        };
        if let Some((sg, ci)) = spoke {
            return self.walk_edge(sg, corners[ci].index(), star_flip);
        }
        let c = corners[i].index();
        let lam = psi - lo;
        let (g, j) = (c / 3, c % 3);
        let flipped = mesh.corner_flipped(HalfedgeId::new(c));
        self.flip = star_flip ^ flipped;
        let beta = t.star_to_face(c, lam);
        let hb = 3 * g + (j + 1) % 3;
        let lay = t.layout[hb];
        let (sb, cb) = (beta - t.layout[hb].gamma).sin_cos();
        let (a, b) = (cb, sb.min(-f64::MIN_POSITIVE));
        let (px, py) = (lay.apex_x, lay.apex_y);
        // Down from the apex to the base (halfedge hb).
        let s = py / -b;
        let u = (px + s * a) * lay.inv_len;
        if !(s.is_finite() && u.is_finite()) {
            return self.stop(at, TraceStop::StepLimit);
        }
        if u <= VERTEX_TOLERANCE || u >= 1.0 - VERTEX_TOLERANCE {
            let (jv, vx) = if u <= VERTEX_TOLERANCE {
                ((j + 1) % 3, 0.0)
            } else {
                ((j + 2) % 3, lay.len)
            };
            let sv = ((vx - px) * a - py * b).max(0.0);
            if self.segment_slack(hb as u32, px, py, a, b, sv, VERTEX_TOLERANCE * lay.len) {
                return Cursor::Done;
            }
            return self.arrive(hb as u32, jv, vx, 0.0, a, b);
        }
        if self.segment(hb as u32, px, py, a, b, s) {
            return Cursor::Done;
        }
        let at = Landing {
            h: hb as u32,
            x: px + s * a,
            y: 0.0,
            a,
            b,
            dist: self.dist,
            flip: self.flip,
            stop: TraceStop::Complete,
        };
        self.cross_edge(hb as u32, u, a, b, at)
    }

    /// Walks along spoke `sg` (global index) of its source vertex, in the face of corner `c` (which has the
    /// spoke as one of its sides), to the spoke's target, and applies the vertex rule there.
    fn walk_edge(&mut self, sg: usize, c: usize, star_flip: bool) -> Cursor {
        let t = self.t;
        let mesh = &t.m.mesh;
        let (g, j) = (c / 3, c % 3);
        let flipped = mesh.corner_flipped(HalfedgeId::new(c));
        self.flip = star_flip ^ flipped;
        let w = mesh.spoke_target(sg);
        let fv = mesh.face_vertices(FaceId::new(g));
        let (h, x0, dir, jw) = if fv[(j + 1) % 3] == w {
            (3 * g + j, 0.0, 1.0, (j + 1) % 3)
        } else {
            let e = 3 * g + (j + 2) % 3;
            (e, t.layout[e].len, -1.0, (j + 2) % 3)
        };
        let len = t.layout[h].len;
        if self.segment_slack(h as u32, x0, 0.0, dir, 0.0, len, VERTEX_TOLERANCE * len) {
            return Cursor::Done;
        }
        let cw = 3 * g + jw;
        let at = Landing {
            h: h as u32,
            x: x0 + dir * len,
            y: 0.0,
            a: dir,
            b: 0.0,
            dist: self.dist,
            flip: self.flip,
            stop: TraceStop::Complete,
        };
        self.sink.path(&at);
        let psi_back = t.spoke_acc[mesh.spoke_opposite(sg)];
        let star_flip_w = self.flip ^ mesh.corner_flipped(HalfedgeId::new(cw));
        self.turn(w.raw(), psi_back, star_flip_w, at)
    }
}

/// A face-frame angle as a direction in the frame of halfedge `c`.
#[inline]
fn angle_in_corner_frame(t: &Tracer<'_>, c: usize, beta: f64) -> (f64, f64) {
    let (s, co) = (beta - t.layout[c].gamma).sin_cos();
    (co, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_atan2_is_within_1e_8_of_libm() {
        let mut worst: f64 = 0.0;
        for i in 0..20_000 {
            let a = -PI + TAU * i as f64 / 20_000.0;
            for r in [1e-300, 1e-3, 1.0, 7.5e200] {
                let (y, x) = (r * a.sin(), r * a.cos());
                worst = worst.max((fast_atan2(y, x) - y.atan2(x)).abs());
            }
        }
        for (y, x) in [
            (0.0, 1.0),
            (1.0, 0.0),
            (0.0, -1.0),
            (-1.0, 0.0),
            (1.0, 1.0),
            (-1.0, -1.0),
        ] {
            worst = worst.max((fast_atan2(y, x) - f64::atan2(y, x)).abs());
        }
        assert!(worst < 1e-8, "{worst:e}");
        assert_eq!(fast_atan2(0.0, 0.0), 0.0);
    }
}
