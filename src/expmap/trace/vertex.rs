//! Through a vertex: arriving at it, the vertex rule (leave at Θ_v/2 from the back direction, straight
//! on at the boundary), and leaving it along a spoke's edge or through the interior of a corner.

use super::walk::{Cursor, Walk};
use super::{Landing, Sink, TraceStop, ANGLE_TOLERANCE, MAX_STEPS, VERTEX_TOLERANCE};
use crate::ids::{HalfedgeId, SpokeId, VertexId};
use std::f64::consts::PI;

/// Which way a trace leaves a vertex.
enum Heading {
    /// Along `spoke`'s edge, which is a side of `corner`.
    AlongSpoke { spoke: SpokeId, corner: HalfedgeId },
    /// Through the interior of `corner`, at angle `lam` from its first side in the star's orientation.
    InCorner { corner: HalfedgeId, lam: f64 },
}

impl<S: Sink> Walk<'_, '_, S> {
    /// Arrives through the interior of the face of `h` at its corner `corner` (position `(vx, vy)` in the
    /// frame of `h`) with direction `(a, b)`: applies the vertex rule.
    pub(super) fn arrive(
        &mut self,
        h: HalfedgeId,
        corner: HalfedgeId,
        vx: f64,
        vy: f64,
        a: f64,
        b: f64,
    ) -> Cursor {
        let tr = self.tracer;
        let alpha = tr.m.geometry.corner_angles()[corner.index()];
        let back = (-b).atan2(-a) + tr.layout[h.index()].gamma;
        let lam = tr.angle_in_corner(corner, back).clamp(0.0, alpha);
        let psi_back = tr.corner_to_star(corner, lam);
        let flipped = tr.m.mesh.corner_flipped(corner);
        let at = self.landing(h, vx, vy, a, b);
        self.sink.path(&at);
        self.turn(tr.corner_vertex(corner), psi_back, self.flip ^ flipped, at)
    }

    /// The vertex rule: from back direction `psi_back` (true star angle) to the outgoing direction.
    fn turn(&mut self, v: VertexId, psi_back: f64, star_flip: bool, at: Landing) -> Cursor {
        let tr = self.tracer;
        let theta = tr.m.geometry.vertex_angle_sums()[v.index()];
        let psi = if !tr.m.mesh.is_boundary_vertex(v) {
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
    /// corner containing the direction. `star_flip` is the star's orientation relative to the start
    /// frame; `at` is the vertex as a landing (for a stop).
    pub(super) fn leave(&mut self, v: VertexId, psi: f64, star_flip: bool, at: Landing) -> Cursor {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return self.stop(at, TraceStop::StepLimit);
        }
        match self.heading(v, psi) {
            Heading::AlongSpoke { spoke, corner } => self.walk_edge(spoke, corner, star_flip),
            Heading::InCorner { corner, lam } => self.cross_corner(corner, lam, star_flip, at),
        }
    }

    /// Which way true star angle `psi` leaves `v`: along a spoke if within [`ANGLE_TOLERANCE`] of one,
    /// through the corner containing it otherwise.
    fn heading(&mut self, v: VertexId, psi: f64) -> Heading {
        let tr = self.tracer;
        let mesh = &tr.m.mesh;
        let spokes = mesh.vertex_spokes(v);
        let corners = mesh.vertex_corners(v);
        let n = corners.len();
        let acc = &tr.spoke_acc[spokes.clone()];
        let theta = tr.m.geometry.vertex_angle_sums()[v.index()];
        // The last corner starting at or before ψ: a binary search over the ascending start angles
        // (a linear scan would make every geodesic through a vertex of valence 100k cost 100k steps).
        let i = acc[1..n].partition_point(|&a| a <= psi);
        self.search += 1 + n.ilog2() as u64;
        let lo = acc[i];
        let hi = if i + 1 < acc.len() { acc[i + 1] } else { theta };
        let spoke = |i: usize| SpokeId::new(spokes.start + i);
        let (spoke, corner) = if psi - lo <= ANGLE_TOLERANCE {
            (spoke(i), corners[i])
        } else if hi - psi <= ANGLE_TOLERANCE {
            if i + 1 < n {
                (spoke(i + 1), corners[i + 1])
            } else if i + 1 < acc.len() {
                (spoke(i + 1), corners[i]) // the last spoke of a boundary vertex
            } else {
                (spoke(0), corners[0]) // Θ ≡ 0 inside
            }
        } else {
            return Heading::InCorner {
                corner: corners[i],
                lam: psi - lo,
            };
        };
        Heading::AlongSpoke { spoke, corner }
    }

    /// Leaves the vertex of corner `c` through the corner's interior, at angle `lam` from its first side
    /// (star orientation), down to the opposite side.
    fn cross_corner(&mut self, c: HalfedgeId, lam: f64, star_flip: bool, at: Landing) -> Cursor {
        let tr = self.tracer;
        self.flip = star_flip ^ tr.m.mesh.corner_flipped(c);
        let face_angle = tr.star_to_face(c, lam);
        // The side opposite the corner; in its frame the vertex is the apex.
        let base = c.next();
        let lay = tr.layout[base.index()];
        let (sin, cos) = (face_angle - lay.gamma).sin_cos();
        let (a, b) = (cos, sin.min(-f64::MIN_POSITIVE));
        let (px, py) = (lay.apex_x, lay.apex_y);
        // Down from the apex to the base.
        let s = py / -b;
        let u = (px + s * a) * lay.inv_len;
        if !(s.is_finite() && u.is_finite()) {
            return self.stop(at, TraceStop::StepLimit);
        }
        if u <= VERTEX_TOLERANCE {
            return self.through_vertex(base, px, py, a, b, base, lay.len);
        }
        if u >= 1.0 - VERTEX_TOLERANCE {
            return self.through_vertex(base, px, py, a, b, base.next(), lay.len);
        }
        if self.segment(base, px, py, a, b, s) {
            return Cursor::Done;
        }
        let at = self.landing(base, px + s * a, 0.0, a, b);
        match self.cross_edge(base, u, a, b, at) {
            Some(entry) => Cursor::Enter(entry),
            None => Cursor::Done,
        }
    }

    /// Walks along `spoke` of its source vertex, in the face of corner `c` (which has the spoke as one of
    /// its sides), to the spoke's target, and applies the vertex rule there.
    fn walk_edge(&mut self, spoke: SpokeId, c: HalfedgeId, star_flip: bool) -> Cursor {
        let tr = self.tracer;
        let mesh = &tr.m.mesh;
        self.flip = star_flip ^ mesh.corner_flipped(c);
        let w = mesh.spoke_target(spoke);
        // The spoke is side c (forward, arriving at corner c.next()) or side c.prev() run backward
        // (arriving at its tail, corner c.prev()).
        let (h, x0, dir, arrival) = if mesh.halfedge_head(c) == w {
            (c, 0.0, 1.0, c.next())
        } else {
            let e = c.prev();
            (e, tr.layout[e.index()].len, -1.0, e)
        };
        let len = tr.layout[h.index()].len;
        if self.segment_slack(h, x0, 0.0, dir, 0.0, len, VERTEX_TOLERANCE * len) {
            return Cursor::Done;
        }
        let at = self.landing(h, x0 + dir * len, 0.0, dir, 0.0);
        self.sink.path(&at);
        let psi_back = tr.spoke_start(mesh.spoke_opposite(spoke));
        let star_flip_w = self.flip ^ mesh.corner_flipped(arrival);
        self.turn(w, psi_back, star_flip_w, at)
    }
}
