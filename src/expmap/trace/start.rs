//! The first step of a trace: from a vertex (in a scaled polar direction) or from a point of a face (in
//! a face-frame direction) to the first face crossed or vertex left.

use super::walk::{Cursor, Walk};
use super::{Sink, SurfacePoint, TraceStop, ANGLE_TOLERANCE, BARY_VERTEX, VERTEX_TOLERANCE};
use crate::ids::{HalfedgeId, VertexId};
use std::f64::consts::TAU;

impl<S: Sink> Walk<'_, '_, S> {
    /// Starts at vertex `v` in the direction of the scaled polar angle `angle`.
    pub(super) fn start_vertex(&mut self, v: VertexId, angle: f64) -> Cursor {
        let tr = self.tracer;
        let mesh = &tr.m.mesh;
        let psi = tr.true_angle(v, angle);
        let c0 = mesh.vertex_corners(v)[0];
        if !mesh.is_boundary_vertex(v) {
            // Inside, `at` is only a stop point for the step limit, which leaving the start cannot
            // reach.
            let at = self.landing(c0, 0.0, 0.0, 1.0, 0.0);
            return Cursor::Leave {
                v,
                psi,
                star_flip: false,
                at,
            };
        }
        // The stop point if the direction is outside the wedge: the vertex, with the direction unfolded
        // through the first corner.
        let lam = psi - tr.corner_start(c0);
        let (a, b) = tr.direction_in_frame(c0, tr.star_to_face(c0, lam));
        let at = self.landing(c0, 0.0, 0.0, a, b);
        let theta = tr.m.geometry.vertex_angle_sums()[v.index()];
        let psi = if psi <= theta + ANGLE_TOLERANCE {
            psi.min(theta)
        } else if TAU - psi <= ANGLE_TOLERANCE {
            0.0
        } else {
            return self.stop(at, TraceStop::BoundaryVertex);
        };
        Cursor::Leave {
            v,
            psi,
            star_flip: false,
            at,
        }
    }

    /// Starts at point `p` in the direction of `face_angle` (face frame of `p.face`).
    pub(super) fn start_face(&mut self, p: SurfacePoint, face_angle: f64) -> Cursor {
        if let Some(k) = (0..3).find(|&k| p.bary[k] >= 1.0 - BARY_VERTEX) {
            return self.start_at_corner(HalfedgeId::from_face_side(p.face, k), face_angle);
        }
        let tr = self.tracer;
        // The face frame is the frame of side 0.
        let h0 = HalfedgeId::from_face_side(p.face, 0);
        let sides = [h0, h0.next(), h0.prev()];
        let corners = sides.map(|c| tr.corner_position(h0, c));
        let bary = p.bary;
        let px = bary[1] * corners[1].0 + bary[2] * corners[2].0;
        let py = bary[1] * corners[1].1 + bary[2] * corners[2].1;
        let (sin, cos) = face_angle.sin_cos();
        let (a, b) = (cos, sin);
        let Some((exit, s)) = self.first_exit(h0, (px, py), (a, b)) else {
            // Unreachable for a unit direction in a proper triangle; stay put.
            let at = self.landing(h0, px, py, a, b);
            return self.stop(at, TraceStop::StepLimit);
        };
        let (tail, head) = (corners[exit.side()], corners[exit.next().side()]);
        let (ex, ey) = (head.0 - tail.0, head.1 - tail.1);
        let lay = tr.layout[exit.index()];
        let (qx, qy) = (px + s * a, py + s * b);
        let u = ((qx - tail.0) * ex + (qy - tail.1) * ey) * lay.inv_len * lay.inv_len;
        if u <= VERTEX_TOLERANCE {
            return self.through_vertex(h0, px, py, a, b, exit, lay.len);
        }
        if u >= 1.0 - VERTEX_TOLERANCE {
            return self.through_vertex(h0, px, py, a, b, exit.next(), lay.len);
        }
        if self.segment(h0, px, py, a, b, s) {
            return Cursor::Done;
        }
        let along = (a * ex + b * ey) * lay.inv_len;
        let perp = (ex * b - ey * a) * lay.inv_len;
        let at = self.landing(h0, qx, qy, a, b);
        match self.cross_edge(exit, u, along, perp, at) {
            Some(entry) => Cursor::Enter(entry),
            None => Cursor::Done,
        }
    }

    /// The side through which a ray from `(px, py)` in direction `(a, b)` (frame of `h0`, side 0 of the
    /// face) leaves the face, and the distance to it: the outward-moving side reached first. A side the
    /// point lies on and the ray runs along (both within tolerance) is not an exit: the trace leaves
    /// through one of its ends instead.
    fn first_exit(
        &self,
        h0: HalfedgeId,
        (px, py): (f64, f64),
        (a, b): (f64, f64),
    ) -> Option<(HalfedgeId, f64)> {
        let tr = self.tracer;
        let mut best: Option<(HalfedgeId, f64)> = None;
        for side in [h0, h0.next(), h0.prev()] {
            let tail = tr.corner_position(h0, side);
            let head = tr.corner_position(h0, side.next());
            let (ex, ey) = (head.0 - tail.0, head.1 - tail.1);
            let cr = ex * b - ey * a; // cross(E, d) < 0: moving out through this side
            let dist = (ex * (py - tail.1) - ey * (px - tail.0)).max(0.0);
            let inv = tr.layout[side.index()].inv_len;
            let along_side = dist * inv * inv <= BARY_VERTEX && cr.abs() * inv <= ANGLE_TOLERANCE;
            if cr < 0.0 && !along_side {
                let s = dist / -cr;
                if best.is_none_or(|(_, s0)| s < s0) {
                    best = Some((side, s));
                }
            }
        }
        best
    }

    /// Starts at the vertex of corner `c`, in the direction of `face_angle` (face frame of `c`'s face)
    /// unfolded into the vertex's star through `c`.
    fn start_at_corner(&mut self, c: HalfedgeId, face_angle: f64) -> Cursor {
        let tr = self.tracer;
        let v = tr.corner_vertex(c);
        let flipped = tr.m.mesh.corner_flipped(c);
        let mut psi = tr.face_to_star(c, face_angle);
        let theta = tr.m.geometry.vertex_angle_sums()[v.index()];
        let (a, b) = tr.direction_in_frame(c, face_angle);
        let at = self.landing(c, 0.0, 0.0, a, b);
        if tr.m.mesh.is_boundary_vertex(v) {
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
        Cursor::Leave {
            v,
            psi,
            star_flip: flipped,
            at,
        }
    }
}
