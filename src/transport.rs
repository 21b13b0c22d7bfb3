//! The discrete Levi-Civita connection: one element of O(2) per directed edge.
//!
//! A tangent direction at vertex `i` is a scaled polar angle ψ in the frame of `i` (see
//! [`frames`](crate::frames)). Transport along the edge `i → j` is
//!
//! ```text
//! ψ  ↦  σ_ij (ψ − φ_ij) + φ_ji + π,      σ_ij = +1 if the stars of i and j agree, −1 if not,
//! ```
//!
//! where φ_ij is the polar angle of the edge `i → j` in the frame of `i`. It keeps the angle to the edge
//! (reflected where the orientation flips) and so is an [`O2`] element with angle `φ_ji + π − σ φ_ij`.
//! Transport `i → j → i` is the identity. Around a face (following its star orientation), the rotation is
//! `K_f = Σ_{c ∈ f} s_v α_c − π` (mod 2π); around a closed loop it is the product of the edge
//! transports, and for a loop bounding a disk, the sum of the enclosed `K_f`.

use crate::error::Error;
use crate::frames::TangentFrames;
use crate::ids::{SpokeId, VertexId};
use crate::mesh::Mesh;
use nalgebra::Vector2;
use rayon::prelude::*;
use std::f64::consts::PI;

/// Wraps an angle to `(−π, π]`.
#[inline]
pub fn wrap_angle(a: f64) -> f64 {
    const TAU: f64 = 2.0 * PI;
    // Angles here are sums of a few wrapped angles: two subtractions are the common case.
    let r = if a > PI {
        a - TAU
    } else if a <= -PI {
        a + TAU
    } else {
        return a;
    };
    if r > -PI && r <= PI {
        r
    } else {
        let r = a.rem_euclid(TAU);
        if r > PI {
            r - TAU
        } else {
            r
        }
    }
}

/// An element of O(2) acting on polar angles: `ψ ↦ ±ψ + angle` (minus when `reflect`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct O2 {
    /// Rotation angle, in `(−π, π]`.
    pub angle: f64,
    /// Whether a reflection (ψ ↦ −ψ) is applied first.
    pub reflect: bool,
}

impl O2 {
    /// The identity.
    pub const IDENTITY: O2 = O2 {
        angle: 0.0,
        reflect: false,
    };

    /// A rotation by `angle`.
    pub fn rotation(angle: f64) -> O2 {
        O2 {
            angle: wrap_angle(angle),
            reflect: false,
        }
    }

    /// The reflection `ψ ↦ 2·axis − ψ` across the line at angle `axis`.
    pub fn reflection(axis: f64) -> O2 {
        O2 {
            angle: wrap_angle(2.0 * axis),
            reflect: true,
        }
    }

    /// Applies to a polar angle.
    #[inline]
    pub fn apply(self, psi: f64) -> f64 {
        if self.reflect {
            self.angle - psi
        } else {
            self.angle + psi
        }
    }

    /// Applies to a tangent vector in polar-frame coordinates.
    pub fn apply_vector(self, v: Vector2<f64>) -> Vector2<f64> {
        let (s, c) = self.angle.sin_cos();
        let y = if self.reflect { -v.y } else { v.y };
        Vector2::new(c * v.x - s * y, s * v.x + c * y)
    }

    /// `self` first, then `next`: the map `ψ ↦ next(self(ψ))`.
    #[inline]
    pub fn then(self, next: O2) -> O2 {
        let a = if next.reflect {
            -self.angle
        } else {
            self.angle
        };
        O2 {
            angle: wrap_angle(a + next.angle),
            reflect: self.reflect ^ next.reflect,
        }
    }

    /// The inverse map.
    pub fn inverse(self) -> O2 {
        if self.reflect {
            self
        } else {
            O2 {
                angle: wrap_angle(-self.angle),
                reflect: false,
            }
        }
    }

    /// Distance to another element: angle difference (wrapped), or ∞ if one reflects and the other not.
    pub fn distance(self, other: O2) -> f64 {
        if self.reflect != other.reflect {
            f64::INFINITY
        } else {
            wrap_angle(self.angle - other.angle).abs()
        }
    }
}

/// The connection of a mesh: the O(2) transport along every spoke (directed edge), stored as its
/// angle and whether it reflects.
#[derive(Clone, Debug)]
pub struct Connection {
    spoke_angles: Vec<f64>,
    spoke_reflect: Vec<bool>,
}

/// A path that is not a sequence of adjacent vertices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotAdjacent {
    /// Position in the path of the first vertex of the missing edge.
    pub position: usize,
    /// The two vertices.
    pub vertices: (VertexId, VertexId),
}

impl std::fmt::Display for NotAdjacent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "path step {}: vertices {} and {} share no edge",
            self.position, self.vertices.0, self.vertices.1
        )
    }
}
impl std::error::Error for NotAdjacent {}

impl NotAdjacent {
    /// The error of a loop (both `loop_holonomy` functions) with this gap in it.
    pub(crate) fn in_loop(self) -> Error {
        Error::InvalidParameter {
            name: "loop",
            message: self.to_string(),
        }
    }
}

impl Connection {
    /// Builds the transport of every spoke from the polar angles of both ends.
    pub fn new(mesh: &Mesh, frames: &TangentFrames) -> Connection {
        let phi = frames.spoke_angles();
        let ns = mesh.spoke_count();
        let spoke_reflect: Vec<bool> = (0..ns)
            .into_par_iter()
            .map(|s| mesh.spoke_reflects(SpokeId::new(s)))
            .collect();
        let mut spoke_angles = vec![0.0; ns];
        const CHUNK: usize = crate::par::CHEAP_ITEMS_PER_TASK;
        // The opposite spoke's angle lies anywhere: ask for it a few spokes ahead.
        const AHEAD: usize = 16;
        spoke_angles
            .par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(chunk, angles)| {
                let s0 = chunk * CHUNK;
                for (i, angle) in angles.iter_mut().enumerate() {
                    let s = s0 + i;
                    if s + AHEAD < ns {
                        let ahead = mesh.spoke_opposite(SpokeId::new(s + AHEAD));
                        crate::prefetch::prefetch(&phi[ahead.index()]);
                    }
                    let sigma = if spoke_reflect[s] { -1.0 } else { 1.0 };
                    let back = mesh.spoke_opposite(SpokeId::new(s)).index();
                    *angle = wrap_angle(phi[back] + PI - sigma * phi[s]);
                }
            });
        Connection {
            spoke_angles,
            spoke_reflect,
        }
    }

    /// Transport along every spoke, indexed by spoke.
    pub fn spoke_transports(&self) -> impl ExactSizeIterator<Item = O2> + '_ {
        (0..self.spoke_angles.len()).map(|s| self.spoke_transport(SpokeId::new(s)))
    }

    /// The rotation angle of the transport along every spoke, indexed by spoke.
    pub fn spoke_angles(&self) -> &[f64] {
        &self.spoke_angles
    }

    /// Transport along one spoke.
    #[inline]
    pub fn spoke_transport(&self, s: SpokeId) -> O2 {
        O2 {
            angle: self.spoke_angles[s.index()],
            reflect: self.spoke_reflect[s.index()],
        }
    }

    /// The composed transport along a vertex path `p[0] → p[1] → … → p[n]`.
    ///
    /// # Errors
    /// If two consecutive vertices are not adjacent (a vertex the mesh lacks is adjacent to none).
    pub fn path_transport(&self, mesh: &Mesh, path: &[VertexId]) -> Result<O2, NotAdjacent> {
        let mut g = O2::IDENTITY;
        let n = mesh.vertex_count();
        for (i, w) in path.windows(2).enumerate() {
            let spoke = (w[0].index() < n && w[1].index() < n)
                .then(|| mesh.find_spoke(w[0], w[1]))
                .flatten();
            let s = spoke.ok_or(NotAdjacent {
                position: i,
                vertices: (w[0], w[1]),
            })?;
            g = g.then(self.spoke_transport(s));
        }
        Ok(g)
    }

    /// Holonomy of a closed vertex loop `p[0] → … → p[n−1] → p[0]` (the last vertex need not repeat the
    /// first), as a map of the tangent space at `p[0]` to itself. The transport alone: the free function
    /// [`holonomy::loop_holonomy`](crate::holonomy::loop_holonomy) also finds the region the loop
    /// encloses, and checks more: it refuses an empty cycle (here the identity) and a cycle that
    /// repeats its first vertex at the end (here closed as given).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (named `"loop"`) if two consecutive vertices are not adjacent.
    pub fn loop_holonomy(&self, mesh: &Mesh, cycle: &[VertexId]) -> crate::Result<O2> {
        let mut path = cycle.to_vec();
        if path.len() > 1 && path.first() != path.last() {
            path.push(path[0]);
        }
        self.path_transport(mesh, &path)
            .map_err(NotAdjacent::in_loop)
    }
}
