//! `manifold-cnn expmap MESH ...` (to be written).

use manifold_cnn::Error;

/// Arguments of `expmap`.
#[derive(clap::Args)]
pub struct ExpmapArgs {
    /// Mesh spec, as for `inspect`.
    pub mesh: String,
}

/// Runs `expmap`.
pub fn run(args: &ExpmapArgs) -> Result<(), Error> {
    let _ = super::load(&args.mesh, false)?;
    Err(Error::InvalidParameter { name: "expmap", message: "not written yet".into() })
}
