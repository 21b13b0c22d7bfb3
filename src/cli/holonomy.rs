//! `manifold-cnn holonomy MESH [--json]` (to be written).

use manifold_cnn::Error;

/// Arguments of `holonomy`.
#[derive(clap::Args)]
pub struct HolonomyArgs {
    /// Mesh spec, as for `inspect`.
    pub mesh: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Repair the mesh instead of failing on the first defect.
    #[arg(long)]
    pub repair: bool,
}

/// Runs `holonomy`.
pub fn run(args: &HolonomyArgs) -> Result<(), Error> {
    let _ = super::load(&args.mesh, args.repair)?;
    Err(Error::InvalidParameter { name: "holonomy", message: "not written yet".into() })
}
