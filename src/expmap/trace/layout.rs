//! The tracer's precomputed unfolding data (every face laid out in the frame of each of its halfedges,
//! the twins, the spokes' start angles) and the conversions out of a halfedge frame: surface points,
//! face-frame angles and table entries.

use super::{Landing, SurfacePoint, TraceResult, Tracer};
use crate::ids::{HalfedgeId, SpokeId};
use crate::manifold::Manifold;
use crate::transport::wrap_angle;
use rayon::prelude::*;
use std::f64::consts::{PI, TAU};

/// [`HalfedgeLayout::twin`] of a boundary halfedge.
const NO_TWIN: u32 = u32::MAX;
/// Set in [`HalfedgeLayout::twin`] when the twin runs the same way (an orientation seam).
const MIRROR: u32 = 1 << 31;

/// The layout of one face in the frame of one of its halfedges, with what a crossing and a landing need
/// (48 bytes, so a face's three records are contiguous: 144 bytes).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct HalfedgeLayout {
    /// ℓ_h, the halfedge's length.
    pub(super) len: f64,
    /// 1/ℓ_h.
    pub(super) inv_len: f64,
    /// Apex (the opposite corner) in the halfedge frame: x.
    pub(super) apex_x: f64,
    /// Apex y (> 0).
    pub(super) apex_y: f64,
    /// γ_h, the angle of the halfedge in the face frame, in (−π, π].
    pub(super) gamma: f64,
    /// The twin halfedge, with [`MIRROR`] set if it runs the same way; [`NO_TWIN`] on the boundary.
    /// Read it with [`twin`](Self::twin).
    twin: u32,
}

/// What lies across a halfedge.
#[derive(Clone, Copy, Debug)]
pub(super) enum Twin {
    /// The boundary.
    Boundary,
    /// The twin halfedge, running the other way (the usual case).
    Opposite(HalfedgeId),
    /// The twin halfedge, running the same way: an orientation seam, where the unfolding is mirrored.
    Mirrored(HalfedgeId),
}

impl HalfedgeLayout {
    /// What lies across this halfedge.
    #[inline(always)]
    pub(super) fn twin(&self) -> Twin {
        if self.twin == NO_TWIN {
            Twin::Boundary
        } else if self.twin & MIRROR != 0 {
            Twin::Mirrored(HalfedgeId(self.twin & !MIRROR))
        } else {
            Twin::Opposite(HalfedgeId(self.twin))
        }
    }
}

/// Every face laid out in the frame of each of its halfedges (indexed by halfedge), in parallel over
/// faces.
pub(super) fn halfedge_layouts(m: &Manifold) -> Vec<HalfedgeLayout> {
    let mesh = &m.mesh;
    let lengths = m.geometry.edge_lengths();
    let areas = m.geometry.face_areas();
    let mut layout = vec![HalfedgeLayout::default(); 3 * mesh.face_count()];
    layout
        .par_chunks_mut(3)
        .with_min_len(crate::par::CHEAP_ITEMS_PER_TASK)
        .enumerate()
        .for_each(|(f, lay)| {
            let first = HalfedgeId::new(3 * f);
            let sides = [first, first.next(), first.prev()];
            let l = sides.map(|h| lengths[mesh.halfedge_edge(h).index()]);
            let area = areas[f];
            for h in sides {
                // Tail corner k, head k+1 at distance ℓ_h, apex k+2 at distances ℓ_prev (the previous
                // side runs from the apex to the tail) and ℓ_next (head to apex); height 2·area/ℓ_h
                // (Kahan's stable area).
                let (len, len_next, len_prev) =
                    (l[h.side()], l[h.next().side()], l[h.prev().side()]);
                let x = (len * len + len_prev * len_prev - len_next * len_next) / (2.0 * len);
                let twin = match mesh.halfedge_twin(h) {
                    None => NO_TWIN,
                    Some(t) if mesh.halfedge_tail(t) == mesh.halfedge_tail(h) => t.raw() | MIRROR,
                    Some(t) => t.raw(),
                };
                lay[h.side()] = HalfedgeLayout {
                    len,
                    inv_len: 1.0 / len,
                    apex_x: x,
                    apex_y: 2.0 * area / len,
                    gamma: 0.0,
                    twin,
                };
            }
            // γ of sides 1 and 2: the directions head → apex and apex → tail of side 0.
            let (x0, y0) = (lay[0].apex_x, lay[0].apex_y);
            lay[1].gamma = y0.atan2(x0 - lay[0].len);
            lay[2].gamma = (-y0).atan2(-x0);
        });
    layout
}

/// Per spoke, the unscaled angle at which it leaves spoke 0 of its star (the corner angles walked);
/// per corner, the spoke along its first side in the star's orientation.
pub(super) fn spoke_angles(m: &Manifold) -> (Vec<f64>, Vec<SpokeId>) {
    let mesh = &m.mesh;
    let angles = m.geometry.corner_angles();
    let mut spoke_acc = vec![0.0; mesh.spoke_count()];
    let mut corner_spokes = vec![SpokeId(0); 3 * mesh.face_count()];
    for v in mesh.vertices() {
        let spokes = mesh.vertex_spokes(v);
        let mut acc = 0.0;
        for (i, c) in mesh.vertex_corners(v).iter().enumerate() {
            spoke_acc[spokes.start + i] = acc;
            corner_spokes[c.index()] = SpokeId::new(spokes.start + i);
            acc += angles[c.index()];
        }
        if mesh.is_boundary_vertex(v) {
            // The last spoke of a boundary star closes the wedge at Θ_v.
            spoke_acc[spokes.end - 1] = acc;
        }
    }
    (spoke_acc, corner_spokes)
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
    let q = mn / mx;
    // Estrin's scheme in q² (short dependency chains); plain products and sums, since `mul_add` is a
    // slow library call without a target FMA feature.
    let q2 = q * q;
    let q4 = q2 * q2;
    let q8 = q4 * q4;
    let p01 = C[0] + C[1] * q2;
    let p23 = C[2] + C[3] * q2;
    let p45 = C[4] + C[5] * q2;
    let p67 = C[6] + C[7] * q2;
    let r0 = p01 + p23 * q4;
    let r1 = p45 + p67 * q4;
    let p = r0 + q8 * (r1 + C[8] * q8);
    let mut r = q * p;
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

impl Tracer<'_> {
    /// The position of corner `corner` of the face of `h` (the tail of that halfedge) in the frame of
    /// `h`.
    #[inline(always)]
    pub(super) fn corner_position(&self, h: HalfedgeId, corner: HalfedgeId) -> (f64, f64) {
        let l = &self.layout[h.index()];
        if corner == h {
            (0.0, 0.0)
        } else if corner == h.next() {
            (l.len, 0.0)
        } else {
            (l.apex_x, l.apex_y)
        }
    }

    /// The surface point of a position in the frame of halfedge `h`.
    #[inline]
    pub(crate) fn point_of(&self, h: HalfedgeId, x: f64, y: f64) -> SurfacePoint {
        let (b_tail, b_head, b_apex) = self.barycentric(h, x, y);
        let mut bary = [0.0; 3];
        bary[h.side()] = b_tail;
        bary[h.next().side()] = b_head;
        bary[h.prev().side()] = b_apex;
        SurfacePoint {
            face: h.face(),
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
    fn barycentric(&self, h: HalfedgeId, x: f64, y: f64) -> (f64, f64, f64) {
        let l = self.layout[h.index()];
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
    pub(crate) fn angle_of(&self, h: HalfedgeId, a: f64, b: f64) -> f64 {
        wrap_angle(b.atan2(a) + self.layout[h.index()].gamma)
    }

    /// A face-frame angle as a unit direction in the frame of halfedge `h`.
    #[inline]
    pub(super) fn direction_in_frame(&self, h: HalfedgeId, face_angle: f64) -> (f64, f64) {
        let (sin, cos) = (face_angle - self.layout[h.index()].gamma).sin_cos();
        (cos, sin)
    }

    /// A landing as stored in an [`ExpMapTable`](crate::expmap::ExpMapTable): face, barycentric
    /// coordinates of corners 0 and 1 (`f32`), and the face-frame angle of the direction (`f32`, via
    /// [`fast_atan2`]).
    #[inline(always)]
    pub(crate) fn table_landing(&self, at: &Landing) -> (u32, [f32; 2], f32) {
        let l = self.layout[at.h.index()];
        let (b_tail, b_head, b_apex) = self.barycentric(at.h, at.x, at.y);
        let (b0, b1) = match at.h.side() {
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
        (at.h.face().raw(), [b0 as f32, b1 as f32], angle as f32)
    }

    /// A landing as the public [`TraceResult`].
    pub(crate) fn result_of(&self, l: &Landing) -> TraceResult {
        TraceResult {
            point: self.point_of(l.h, l.x, l.y),
            length: l.dist,
            face_angle: self.angle_of(l.h, l.a, l.b),
            mirrored: l.flip,
            stop: l.stop,
        }
    }
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
