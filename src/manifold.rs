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
        let geometry = Geometry::new(&built.mesh, built.edge_lengths);
        let frames = TangentFrames::new(&built.mesh, &geometry);
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

    /// 3-D frames, where the mesh has positions.
    pub fn extrinsic_frames(&self) -> Option<ExtrinsicFrames> {
        self.positions
            .as_ref()
            .map(|p| ExtrinsicFrames::new(&self.mesh, &self.geometry, p))
    }
}
