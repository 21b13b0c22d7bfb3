//! The walk: one trace as a state machine over [`Cursor`]s, landing its lengths as it goes, and its hot
//! loop, the crossing of faces.

use super::layout::Twin;
use super::{Landing, Sink, TraceStart, TraceStop, Tracer, MAX_STEPS, VERTEX_TOLERANCE};
use crate::ids::{HalfedgeId, VertexId};

/// A face entered through a halfedge: the state of the hot loop.
#[derive(Clone, Copy, Debug)]
pub(super) struct Entry {
    /// The halfedge through which the face was entered; `(a, b)` is written in its frame.
    pub(super) h: HalfedgeId,
    /// Entry parameter along `h` (0 at its tail, 1 at its head).
    pub(super) u: f64,
    /// Direction: component along `h`.
    pub(super) a: f64,
    /// Direction: component to the left of `h` (> 0: into the face).
    pub(super) b: f64,
}

/// What the walk does next.
#[derive(Clone, Copy, Debug)]
pub(super) enum Cursor {
    /// Cross the face entered.
    Enter(Entry),
    /// Leave vertex `v` at true star angle `psi`; `star_flip` is the star's orientation relative to the
    /// start frame; `at` is the vertex as a landing (for stops).
    Leave {
        v: VertexId,
        psi: f64,
        star_flip: bool,
        at: Landing,
    },
    /// Every length has landed.
    Done,
}

/// One trace in progress: where it is in its list of lengths, how far it has come, and its mirror
/// parity.
pub(super) struct Walk<'w, 'a, S> {
    pub(super) tracer: &'w Tracer<'a>,
    /// The lengths to land at, ascending.
    radii: &'w [f64],
    /// The first of `radii` not landed yet.
    next: usize,
    /// Distance travelled so far.
    pub(super) dist: f64,
    /// Mirror parity of the current face relative to the start frame.
    pub(super) flip: bool,
    pub(super) sink: &'w mut S,
    /// Faces crossed and vertices left (bounded by [`MAX_STEPS`]).
    pub(super) steps: usize,
    /// Spokes examined locating corners (work counter).
    pub(super) search: u64,
}

impl<'w, 'a, S: Sink> Walk<'w, 'a, S> {
    pub(super) fn new(tracer: &'w Tracer<'a>, radii: &'w [f64], sink: &'w mut S) -> Self {
        Walk {
            tracer,
            radii,
            next: 0,
            dist: 0.0,
            flip: false,
            sink,
            steps: 0,
            search: 0,
        }
    }

    /// Walks from `start` until every length has landed; returns the spokes examined locating corners.
    pub(super) fn run(mut self, start: TraceStart) -> u64 {
        let mut cur = match start {
            TraceStart::Vertex { vertex, angle } => self.start_vertex(vertex, angle),
            TraceStart::Face { point, angle } => self.start_face(point, angle),
        };
        loop {
            cur = match cur {
                Cursor::Done => return self.search,
                Cursor::Enter(entry) => self.cross_faces(entry),
                Cursor::Leave {
                    v,
                    psi,
                    star_flip,
                    at,
                } => self.leave(v, psi, star_flip, at),
            };
        }
    }

    /// A point of the walk, here and now: position `(x, y)` and direction `(a, b)` in the frame of `h`.
    #[inline(always)]
    pub(super) fn landing(&self, h: HalfedgeId, x: f64, y: f64, a: f64, b: f64) -> Landing {
        Landing {
            h,
            x,
            y,
            a,
            b,
            dist: self.dist,
            flip: self.flip,
            stop: TraceStop::Complete,
        }
    }

    /// Lands every pending radius within the segment from `(x0, y0)` along `(a, b)` of length `s` in the
    /// frame of `h`, then advances the distance. Returns true when all radii have landed.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn segment(
        &mut self,
        h: HalfedgeId,
        x0: f64,
        y0: f64,
        a: f64,
        b: f64,
        s: f64,
    ) -> bool {
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
    pub(super) fn segment_slack(
        &mut self,
        h: HalfedgeId,
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
            let step = (r - self.dist).clamp(0.0, s);
            let mut at = self.landing(h, x0 + step * a, y0 + step * b, a, b);
            at.dist = r;
            self.sink.land(self.next, &at);
            self.next += 1;
        }
        self.dist = end;
        self.next == self.radii.len()
    }

    /// Lands every remaining radius at `at` (a stop point), truncated with `stop`.
    pub(super) fn stop(&mut self, mut at: Landing, stop: TraceStop) -> Cursor {
        at.dist = self.dist;
        at.flip = self.flip;
        at.stop = stop;
        while self.next < self.radii.len() {
            self.sink.land(self.next, &at);
            self.next += 1;
        }
        Cursor::Done
    }

    /// Goes straight from `(x0, y0)` (frame of `h`, direction `(a, b)`) to the vertex at corner `corner`
    /// of the same face, landing the lengths that reach it up to [`VERTEX_TOLERANCE`] × `local_len`,
    /// and applies the vertex rule there. The trace's line passes within tolerance of that vertex.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn through_vertex(
        &mut self,
        h: HalfedgeId,
        x0: f64,
        y0: f64,
        a: f64,
        b: f64,
        corner: HalfedgeId,
        local_len: f64,
    ) -> Cursor {
        let (vx, vy) = self.tracer.corner_position(h, corner);
        let s = ((vx - x0) * a + (vy - y0) * b).max(0.0);
        if self.segment_slack(h, x0, y0, a, b, s, VERTEX_TOLERANCE * local_len) {
            return Cursor::Done;
        }
        self.arrive(h, corner, vx, vy, a, b)
    }

    /// Leaves the face through halfedge `exit` at parameter `u` (from its tail) with direction components
    /// `along` the edge and `perp` to its left (negative: outward), into the twin's face. `at` is the exit
    /// point (a path point; the stop point on the boundary, where every remaining length lands and
    /// `None` is returned).
    #[inline(always)]
    pub(super) fn cross_edge(
        &mut self,
        exit: HalfedgeId,
        u: f64,
        along: f64,
        perp: f64,
        at: Landing,
    ) -> Option<Entry> {
        let (h, mirrored) = match self.tracer.layout[exit.index()].twin() {
            Twin::Boundary => {
                self.stop(at, TraceStop::BoundaryEdge);
                return None;
            }
            Twin::Opposite(h) => (h, false),
            Twin::Mirrored(h) => (h, true),
        };
        if S::WANTS_PATH {
            self.sink.path(&at);
        }
        let u = u.clamp(0.0, 1.0);
        Some(if mirrored {
            self.flip = !self.flip;
            Entry {
                h,
                u,
                a: along,
                b: -perp,
            }
        } else {
            Entry {
                h,
                u: 1.0 - u,
                a: -along,
                b: -perp,
            }
        })
    }

    /// The hot loop: crosses faces until a vertex is hit, the boundary is reached or all radii landed.
    pub(super) fn cross_faces(&mut self, entry: Entry) -> Cursor {
        let tr = self.tracer;
        let Entry {
            mut h,
            mut u,
            mut a,
            mut b,
        } = entry;
        loop {
            self.steps += 1;
            let lay = tr.layout[h.index()];
            let x0 = u * lay.len;
            if self.steps > MAX_STEPS {
                let at = self.landing(h, x0, 0.0, a, b);
                return self.stop(at, TraceStop::StepLimit);
            }
            let (px, py) = (lay.apex_x, lay.apex_y);
            let wx = px - x0;
            // c = cross(d, apex − P): > 0 when the apex is to the left of the ray.
            let c = a * py - b * wx;
            if c.abs() <= VERTEX_TOLERANCE * lay.len {
                return self.through_vertex(h, x0, 0.0, a, b, h.prev(), lay.len);
            }
            // The exit edge, the distance to it, the exit parameter along it, and the direction in its
            // frame.
            let (exit, s, u_exit, along, perp) = if c > 0.0 {
                // Exit through the next edge, head → apex: E = (px − ℓ, py).
                let exit = h.next();
                let ex = px - lay.len;
                let den = a * py - b * ex;
                let rest = lay.len - x0;
                let inv = tr.layout[exit.index()].inv_len;
                (
                    exit,
                    rest * py / den,
                    b * rest / den,
                    (a * ex + b * py) * inv,
                    (ex * b - py * a) * inv,
                )
            } else {
                // Exit through the previous edge, apex → tail: E = (−px, −py).
                let exit = h.prev();
                let den = b * px - a * py;
                let inv = tr.layout[exit.index()].inv_len;
                (
                    exit,
                    x0 * py / den,
                    -c / den,
                    -(a * px + b * py) * inv,
                    (py * a - px * b) * inv,
                )
            };
            if !(s >= 0.0 && s.is_finite() && u_exit.is_finite()) {
                let at = self.landing(h, x0, 0.0, a, b);
                return self.stop(at, TraceStop::StepLimit);
            }
            if u_exit <= VERTEX_TOLERANCE {
                // The exit point is within tolerance of an end of the exit edge: through that vertex.
                return self.through_vertex(h, x0, 0.0, a, b, exit, lay.len);
            }
            if u_exit >= 1.0 - VERTEX_TOLERANCE {
                return self.through_vertex(h, x0, 0.0, a, b, exit.next(), lay.len);
            }
            if self.segment(h, x0, 0.0, a, b, s) {
                return Cursor::Done;
            }
            let at = self.landing(h, x0 + s * a, s * b, a, b);
            match self.cross_edge(exit, u_exit, along, perp, at) {
                Some(next) => Entry { h, u, a, b } = next,
                None => return Cursor::Done,
            }
        }
    }
}
