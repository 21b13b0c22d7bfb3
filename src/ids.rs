//! Index newtypes for mesh elements.
//!
//! Each wraps a `u32` (big tables stay compact), converts to `usize` with `.index()`, and can only be
//! made inside the crate, so an id always refers to an element of the mesh that handed it out.

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(transparent)]
        pub struct $name(pub(crate) u32);

        impl $name {
            /// The position of this element in per-element arrays.
            #[inline]
            pub fn index(self) -> usize {
                self.0 as usize
            }

            /// The raw `u32`, as stored in tables and exported files.
            #[inline]
            pub fn raw(self) -> u32 {
                self.0
            }

            #[inline]
            pub(crate) fn new(i: usize) -> Self {
                debug_assert!(i <= u32::MAX as usize);
                Self(i as u32)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// A vertex of a [`Mesh`](crate::mesh::Mesh).
    VertexId
);
id_type!(
    /// A face (triangle) of a [`Mesh`](crate::mesh::Mesh).
    FaceId
);
id_type!(
    /// An undirected edge of a [`Mesh`](crate::mesh::Mesh).
    EdgeId
);
id_type!(
    /// A spoke: a directed edge `v → w` seen from the star of its source `v`. The spokes of a vertex are
    /// numbered contiguously in the star's order ([`Mesh::vertex_spokes`](crate::mesh::Mesh::vertex_spokes));
    /// this id is the global number, the one per-spoke arrays are indexed by.
    SpokeId
);
id_type!(
    /// A halfedge: side `k` of face `f` is halfedge `3f + k`, running from corner `k` to corner `k + 1`
    /// of the face as oriented by the mesh. It doubles as the id of corner `k` of face `f`.
    HalfedgeId
);

impl HalfedgeId {
    /// Side `k` (0, 1 or 2) of face `f`: the halfedge from corner `k` to corner `k + 1`.
    ///
    /// # Panics
    /// If `k > 2`.
    #[inline]
    pub fn from_face_side(f: FaceId, k: usize) -> HalfedgeId {
        assert!(k < 3, "a triangle has sides 0, 1 and 2");
        HalfedgeId(3 * f.0 + k as u32)
    }

    /// The face this halfedge belongs to.
    #[inline]
    pub fn face(self) -> FaceId {
        FaceId(self.0 / 3)
    }

    /// Which side of its face (0, 1 or 2).
    #[inline]
    pub fn side(self) -> usize {
        (self.0 % 3) as usize
    }

    /// The next halfedge around the same face.
    #[inline]
    pub fn next(self) -> HalfedgeId {
        let f = self.0 / 3;
        HalfedgeId(3 * f + (self.0 % 3 + 1) % 3)
    }

    /// The previous halfedge around the same face.
    #[inline]
    pub fn prev(self) -> HalfedgeId {
        let f = self.0 / 3;
        HalfedgeId(3 * f + (self.0 % 3 + 2) % 3)
    }
}
