//! The `manifold-cnn` command line. `cargo run --release` with no arguments runs a short tour on the
//! embedded default mesh.

// Training allocates and frees large tensors every step; mimalloc keeps the pages instead of handing
// them back to the OS (page faults were a fifth of a training step with the system allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[macro_use]
mod cli;

#[derive(Parser)]
#[command(
    name = "manifold-cnn",
    version,
    about = "Convolutional neural networks on triangle-mesh manifolds",
    after_help = "Environment:\n  MANIFOLD_CNN_MAX_INPUT_BYTES  largest input file read, in bytes (default 1073741824: 1 GiB)\n  \
                  MANIFOLD_CNN_MAX_MEMORY       memory a request may use, in bytes or with a K/M/G/T suffix \
                  (default: what the system can allocate: available memory, cgroup and address-space limits)\n\n\
                  Exit status: 0 success, 2 bad input or a failed write, 141 stdout closed early (e.g. | head)."
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// A short tour of the pipeline on a mesh (default: the embedded eight.obj).
    Tour(cli::tour::TourArgs),
    /// Topology, defects, curvature and connection of a mesh.
    Inspect(cli::inspect::InspectArgs),
    /// The holonomy group of a mesh (both views), its generators and the allowed kernel harmonics.
    Holonomy(cli::holonomy::HolonomyArgs),
    /// Exponential-map tables: where exp_p(v) lands for a polar grid of tangent vectors at every vertex.
    Expmap(cli::expmap::ExpmapArgs),
    /// Manifold convolution of a vertex signal with a transported, holonomy-constrained kernel.
    Convolve(cli::convolve::ConvolveArgs),
    /// Train a network (model.json) on data manifests (CSV mesh,signals,labels).
    Train(cli::train::TrainArgs),
    /// Run a trained network on a data manifest and write its outputs.
    Predict(cli::train::PredictArgs),
}

fn main() -> ExitCode {
    // Keep freed pages (mimalloc purges them after a second by default, and every training step then
    // faults its tensors back in); `mi_option_purge_delay` is 15 in mimalloc.h's `mi_option_e`.
    // SAFETY: sets a plain option value; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(15, -1) };
    let args = Args::parse();
    let result = match args.command {
        None => cli::tour::run(&cli::tour::TourArgs::default()),
        Some(Command::Tour(a)) => cli::tour::run(&a),
        Some(Command::Inspect(a)) => cli::inspect::run(&a),
        Some(Command::Holonomy(a)) => cli::holonomy::run(&a),
        Some(Command::Expmap(a)) => cli::expmap::run(&a),
        Some(Command::Convolve(a)) => cli::convolve::run(&a),
        Some(Command::Train(a)) => cli::train::run_train(&a),
        Some(Command::Predict(a)) => cli::train::run_predict(&a),
    };
    // Text still buffered is written (and may fail) here, while the failure can be reported.
    let result = result.and_then(|()| cli::out::flush());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of stdout went away (`| head`): nothing is wrong, the rest is not wanted.
        Err(_) if cli::out::broken_pipe() => ExitCode::from(141),
        Err(e) => {
            errln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
