//! Directions between the three kinds of frame: the face frame, the star of a vertex (true angles
//! from spoke 0, unscaled) and the vertex's polar frame (scaled angles), each unfolded through one
//! corner.

use super::Tracer;
use crate::ids::{HalfedgeId, SpokeId, VertexId};
use crate::transport::wrap_angle;
use std::f64::consts::{PI, TAU};

impl Tracer<'_> {
    /// The unscaled star angle at which spoke `s` leaves spoke 0 of its star.
    #[inline(always)]
    pub(super) fn spoke_start(&self, s: SpokeId) -> f64 {
        self.spoke_acc[s.index()]
    }

    /// The unscaled star angle at which corner `c` starts (its first side in the star's orientation).
    #[inline(always)]
    pub(super) fn corner_start(&self, c: HalfedgeId) -> f64 {
        self.spoke_start(self.corner_spokes[c.index()])
    }

    /// The vertex at corner `c`.
    #[inline(always)]
    pub(super) fn corner_vertex(&self, c: HalfedgeId) -> VertexId {
        self.m.mesh.halfedge_tail(c)
    }

    /// [`face_angle_to_polar`](Self::face_angle_to_polar) at corner `c`, unchecked.
    pub(super) fn polar_angle_at_corner(&self, c: HalfedgeId, face_angle: f64) -> f64 {
        let psi = self.face_to_star(c, face_angle);
        let v = self.corner_vertex(c);
        let spokes = self.m.mesh.vertex_spokes(v);
        let scale = self.m.frames.vertex_scales()[v.index()];
        wrap_angle(scale * psi + self.m.frames.spoke_angles()[spokes.start])
    }

    /// [`polar_to_face_angle`](Self::polar_to_face_angle) at corner `c`, unchecked.
    pub(super) fn face_angle_at_corner(&self, c: HalfedgeId, polar: f64) -> f64 {
        let v = self.corner_vertex(c);
        let psi = self.true_angle(v, polar);
        let theta = self.m.geometry.vertex_angle_sums()[v.index()];
        let alpha = self.m.geometry.corner_angles()[c.index()];
        let mut lam = psi - self.corner_start(c);
        if !self.m.mesh.is_boundary_vertex(v) {
            lam = (lam - 0.5 * alpha + 0.5 * theta).rem_euclid(theta) + 0.5 * alpha - 0.5 * theta;
        }
        wrap_angle(self.star_to_face(c, lam))
    }

    /// True (unscaled) angle from spoke 0 of a scaled polar angle at `v`, in [0, Θ_v) inside and
    /// [0, 2π) on the boundary (where it may lie outside the wedge [0, Θ_v]).
    pub(super) fn true_angle(&self, v: VertexId, polar: f64) -> f64 {
        let spokes = self.m.mesh.vertex_spokes(v);
        let phi0 = self.m.frames.spoke_angles()[spokes.start];
        let scale = self.m.frames.vertex_scales()[v.index()];
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
            let psi = r / scale;
            if psi >= theta {
                psi - theta
            } else {
                psi
            }
        }
    }

    /// Angle λ ∈ [α/2 − π, α/2 + π) of a face-frame direction from the side `c → c.next()` of corner
    /// `c` (angle α), counter-clockwise in the face: within π of the corner's bisector.
    #[inline]
    pub(super) fn angle_in_corner(&self, c: HalfedgeId, face_angle: f64) -> f64 {
        let alpha = self.m.geometry.corner_angles()[c.index()];
        wrap_angle(face_angle - self.layout[c.index()].gamma - 0.5 * alpha) + 0.5 * alpha
    }

    /// The star angle of λ ([`angle_in_corner`](Self::angle_in_corner), counted in the face's
    /// orientation) at corner `c`: counted from the corner's start in the star's orientation.
    #[inline]
    pub(super) fn corner_to_star(&self, c: HalfedgeId, lam: f64) -> f64 {
        let alpha = self.m.geometry.corner_angles()[c.index()];
        let flipped = self.m.mesh.corner_flipped(c);
        self.corner_start(c) + if flipped { alpha - lam } else { lam }
    }

    /// Unscaled star angle (from spoke 0) of a face-frame direction, unfolded through corner `c`.
    pub(super) fn face_to_star(&self, c: HalfedgeId, face_angle: f64) -> f64 {
        self.corner_to_star(c, self.angle_in_corner(c, face_angle))
    }

    /// Face-frame angle of the direction at star angle `ψ_c + lam` (lam from the corner's first spoke in
    /// the star's orientation), unfolded through corner `c`.
    #[inline]
    pub(super) fn star_to_face(&self, c: HalfedgeId, lam: f64) -> f64 {
        if self.m.mesh.corner_flipped(c) {
            // The corner's first spoke is the side c → c.prev(), the reverse of halfedge c.prev().
            self.layout[c.prev().index()].gamma + PI - lam
        } else {
            self.layout[c.index()].gamma + lam
        }
    }
}
