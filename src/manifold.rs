//! [`Manifold`]: every stage of the foundation, built in one call.

use crate::error::Result;
use crate::frames::{ExtrinsicFrames, TangentFrames};
use crate::geometry::Geometry;
use crate::mesh::{BuildOptions, BuildReport, Mesh, MeshSource};
use crate::transport::Connection;

/// A discrete Riemannian manifold: connectivity, intrinsic geometry, tangent frames and the connection,
/// plus the embedding where there is one. Immutable; `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Manifold {
    /// Connectivity.
    pub mesh: Mesh,
    /// Intrinsic geometry.
    pub geometry: Geometry,
    /// Polar tangent frames.
    pub frames: TangentFrames,
    /// The discrete Levi-Civita connection.
    pub connection: Connection,
    /// Vertex positions (mesh numbering), where the source had them.
    pub positions: Option<Vec<[f64; 3]>>,
    /// What building changed.
    pub report: BuildReport,
    /// Computed once when built: stages made from this manifold carry it, and consumers compare.
    identity: MeshIdentity,
}

/// Which mesh a stage was built for: its vertex and face counts, and a fingerprint (a 64-bit hash of
/// the faces' vertex indices and the edge lengths: everything the intrinsic stages depend on).
///
/// [`ExpMapTable`](crate::expmap::ExpMapTable) and [`Gauge`](crate::conv::Gauge) record the identity of
/// the manifold they were built from, so that [`ConvOperator::new`](crate::conv::ConvOperator::new)
/// can refuse a table or gauge of another mesh, even one with as many vertices.
///
/// # Example
/// ```
/// use manifold_cnn::{BuildOptions, Manifold};
/// let a = Manifold::load("icosphere:2", &BuildOptions::default()).unwrap();
/// let b = Manifold::load("grid:18x9", &BuildOptions::default()).unwrap();
/// assert_eq!(a.identity().vertices, b.identity().vertices); // 162 each
/// assert_ne!(a.identity(), b.identity());
/// let again = Manifold::load("icosphere:2", &BuildOptions::default()).unwrap();
/// assert_eq!(a.identity(), again.identity());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MeshIdentity {
    /// Number of vertices.
    pub vertices: usize,
    /// Number of faces.
    pub faces: usize,
    /// Hash of the faces (vertex indices, in order) and the edge lengths (bit patterns).
    pub fingerprint: u64,
}

impl std::fmt::Display for MeshIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} vertices, {} faces, fingerprint {:016x}",
            self.vertices, self.faces, self.fingerprint
        )
    }
}

/// SplitMix64's finalizer: a bijective mix in which every input bit affects every output bit.
pub(crate) fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// An order-sensitive hash of `words`, hashed in fixed chunks in parallel and the chunk hashes
/// combined in order, so the result does not depend on the number of threads.
fn hash_words(words: impl rayon::iter::IndexedParallelIterator<Item = u64>, seed: u64) -> u64 {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    let chunks: Vec<u64> = words
        .chunks(CHUNK)
        .map(|c| c.iter().fold(seed, |h, &w| mix(h ^ w).rotate_left(5)))
        .collect();
    chunks
        .into_iter()
        .fold(mix(seed), |h, c| mix(h.wrapping_add(c)))
}

impl MeshIdentity {
    fn of(mesh: &Mesh, geometry: &Geometry) -> MeshIdentity {
        use rayon::prelude::*;
        let faces = hash_words(
            mesh.faces().par_iter().map(|f| {
                let [a, b, c] = f.map(|v| u64::from(v.raw()));
                mix(a << 32 | b).wrapping_add(c)
            }),
            1,
        );
        let lengths = hash_words(geometry.edge_lengths().par_iter().map(|l| l.to_bits()), 2);
        MeshIdentity {
            vertices: mesh.vertex_count(),
            faces: mesh.face_count(),
            fingerprint: mix(faces ^ mix(lengths ^ mesh.vertex_count() as u64)),
        }
    }
}

impl Manifold {
    /// Builds every stage from a source.
    ///
    /// # Errors
    /// As [`Mesh::build`].
    pub fn from_source(source: &MeshSource, options: &BuildOptions) -> Result<Manifold> {
        let built = Mesh::build(source, options)?;
        let (geometry, frames) =
            crate::frames::geometry_and_frames(&built.mesh, built.edge_lengths);
        let connection = Connection::new(&built.mesh, &frames);
        let identity = MeshIdentity::of(&built.mesh, &geometry);
        Ok(Manifold {
            identity,
            mesh: built.mesh,
            geometry,
            frames,
            connection,
            positions: built.positions,
            report: built.report,
        })
    }

    /// The identity of the mesh: counts and fingerprint (see [`MeshIdentity`]).
    pub fn identity(&self) -> MeshIdentity {
        self.identity
    }

    /// Checks that a stage (`"exp-map table"`, `"gauge"`, a saved file…) was built for this mesh.
    ///
    /// # Errors
    /// [`Error::MeshMismatch`](crate::Error::MeshMismatch) naming the stage and both identities.
    pub fn check_identity(&self, stage: &'static str, built_for: MeshIdentity) -> Result<()> {
        if built_for == self.identity {
            Ok(())
        } else {
            Err(crate::Error::MeshMismatch {
                stage,
                built_for,
                given: self.identity,
            })
        }
    }

    /// Loads a mesh spec (an `.obj` path or a primitive such as `icosphere:3`) and builds every stage.
    ///
    /// # Errors
    /// Unreadable file, parse error, invalid primitive, or an invalid mesh.
    pub fn load(spec: &str, options: &BuildOptions) -> Result<Manifold> {
        Manifold::from_source(&crate::io::load_source(spec)?, options)
    }

    /// Writes the mesh arrays every export shares: `faces` (F×3) and, where positions exist,
    /// `positions`, `normals`, `frame_x` (3-D direction of polar angle 0) and `frame_y` (`normal ×
    /// frame_x`: the true right angle from `frame_x`, which is the scaled polar angle π/2 only where
    /// the vertex scale is 1; see [`ExtrinsicFrames::y`](crate::frames::ExtrinsicFrames::y)), N×3.
    ///
    /// # Errors
    /// If writing fails.
    pub fn write_mesh_arrays(&self, w: &mut crate::io::npz::NpzWriter) -> Result<()> {
        let (nv, nf) = (
            self.mesh.vertex_count() as u64,
            self.mesh.face_count() as u64,
        );
        let faces: Vec<u32> = self
            .mesh
            .faces()
            .iter()
            .flat_map(|f| f.map(|v| v.raw()))
            .collect();
        w.u32("faces", &[nf, 3], &faces)?;
        if let (Some(p), Some(ext)) = (&self.positions, self.extrinsic_frames()) {
            let vecs = |v: &[nalgebra::Vector3<f64>]| {
                v.iter().flat_map(|x| [x.x, x.y, x.z]).collect::<Vec<f64>>()
            };
            w.f64(
                "positions",
                &[nv, 3],
                &p.iter().flatten().copied().collect::<Vec<f64>>(),
            )?;
            w.f64("normals", &[nv, 3], &vecs(&ext.normals))?;
            w.f64("frame_x", &[nv, 3], &vecs(&ext.x))?;
            w.f64("frame_y", &[nv, 3], &vecs(&ext.y))?;
        }
        Ok(())
    }

    /// 3-D frames, where the mesh has positions.
    pub fn extrinsic_frames(&self) -> Option<ExtrinsicFrames> {
        self.positions
            .as_ref()
            .map(|p| ExtrinsicFrames::new(&self.mesh, &self.geometry, p))
    }
}
