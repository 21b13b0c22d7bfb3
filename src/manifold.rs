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
        Ok(Manifold {
            mesh: built.mesh,
            geometry,
            frames,
            connection,
            positions: built.positions,
            report: built.report,
        })
    }

    /// Loads a mesh spec (an `.obj` path or a primitive such as `icosphere:3`) and builds every stage.
    ///
    /// # Errors
    /// Unreadable file, parse error, invalid primitive, or an invalid mesh.
    pub fn load(spec: &str, options: &BuildOptions) -> Result<Manifold> {
        Manifold::from_source(&crate::io::load_source(spec)?, options)
    }

    /// Writes the mesh arrays every export shares: `faces` (F×3) and, where positions exist,
    /// `positions`, `normals`, `frame_x` (3-D direction of polar angle 0) and `frame_y` (of π/2), N×3.
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
