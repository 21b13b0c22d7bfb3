//! [`MeshSource`]: a triangle list as it arrives, before validation.

/// A triangle mesh as read from a file or generated: face indices plus positions and/or edge lengths.
///
/// Nothing here is validated; [`Mesh::build`](crate::mesh::Mesh::build) does that. Faces refer to
/// vertices by 0-based index. The *reference outgoing edge* of each vertex (polar angle 0 of its tangent
/// frame, see [`frames`](crate::frames)) is read from the face order as given here: for vertex `v` it is
/// the edge from `v` to the next corner of the lowest-index face whose corner 0 is `v`, or, if `v` is
/// corner 0 of no face, of the lowest-index face containing `v`. Generators use this to give symmetric
/// primitives symmetric frames.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeshSource {
    /// A name for messages (a path or a primitive spec).
    pub name: String,
    /// Number of vertices (positions, when given, must have this length).
    pub vertex_count: usize,
    /// Triangles as vertex indices.
    pub faces: Vec<[u32; 3]>,
    /// Vertex positions in 3-D, if the mesh has an embedding.
    pub positions: Option<Vec<[f64; 3]>>,
    /// Intrinsic edge lengths per face side: entry `k` of face `f` is the length of the edge from corner
    /// `k` to corner `(k + 1) % 3`. Takes precedence over positions for all intrinsic quantities.
    pub face_edge_lengths: Option<Vec<[f64; 3]>>,
    /// 1-based source line of each face (OBJ), for error messages.
    pub face_lines: Option<Vec<usize>>,
    /// 1-based source line of each vertex (OBJ), for error messages.
    pub vertex_lines: Option<Vec<usize>>,
}

impl MeshSource {
    /// A source from positions and faces.
    pub fn from_positions(
        name: impl Into<String>,
        positions: Vec<[f64; 3]>,
        faces: Vec<[u32; 3]>,
    ) -> Self {
        MeshSource {
            name: name.into(),
            vertex_count: positions.len(),
            faces,
            positions: Some(positions),
            ..Default::default()
        }
    }

    /// A source from faces and per-face-side edge lengths only (no embedding).
    pub fn from_edge_lengths(
        name: impl Into<String>,
        vertex_count: usize,
        faces: Vec<[u32; 3]>,
        face_edge_lengths: Vec<[f64; 3]>,
    ) -> Self {
        MeshSource {
            name: name.into(),
            vertex_count,
            faces,
            face_edge_lengths: Some(face_edge_lengths),
            ..Default::default()
        }
    }

    pub(crate) fn face_line(&self, f: usize) -> Option<usize> {
        self.face_lines.as_ref().and_then(|l| l.get(f).copied())
    }

    pub(crate) fn vertex_line(&self, v: usize) -> Option<usize> {
        self.vertex_lines.as_ref().and_then(|l| l.get(v).copied())
    }

    /// [`Error::FaceIndexOutOfRange`] for the first face corner naming no vertex.
    pub(crate) fn check_face_indices(&self) -> crate::error::Result<()> {
        let n = self.vertex_count;
        match crate::par::first_where(self.faces.len(), |f| {
            self.faces[f].iter().any(|&v| v as usize >= n)
        }) {
            None => Ok(()),
            Some(face) => Err(crate::error::Error::FaceIndexOutOfRange {
                face,
                line: self.face_line(face),
                index: self.faces[face]
                    .into_iter()
                    .find(|&v| v as usize >= n)
                    .unwrap_or(0) as i64,
                vertices: n,
            }),
        }
    }
}
