//! Subcommands of the binary. Each returns the library's [`Error`] for bad input (exit code 2).

/// `println!` that returns an error instead of panicking when stdout fails (see [`out`]).
macro_rules! outln {
    () => {
        $crate::cli::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics (see [`out`]).
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::out::diagnostic(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub mod compile;
pub mod convolve;
pub mod expmap;
pub mod holonomy;
pub mod inspect;
pub mod limits;
pub mod out;
pub mod plot;
pub mod tour;
pub mod train;

use manifold_cnn::{BuildOptions, Error, Manifold};
use std::time::Instant;

/// Loads a mesh spec, printing what took long to stderr.
pub fn load(spec: &str, repair: bool) -> Result<Manifold, Error> {
    let t = Instant::now();
    let m = Manifold::load(spec, &BuildOptions::new().repair(repair))?;
    let secs = t.elapsed().as_secs_f64();
    if secs > 1.0 {
        errln!(
            "loaded {spec}: {} vertices in {secs:.2} s",
            m.mesh.vertex_count()
        );
    }
    Ok(m)
}

/// Whether two output paths name the same file: the same directory (after resolving links) and
/// name, or, where both exist, the same file by any path.
pub fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    let resolved = |p: &std::path::Path| {
        p.canonicalize().ok().or_else(|| {
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.canonicalize().ok()?,
                _ => std::env::current_dir().ok()?,
            };
            Some(dir.join(p.file_name()?))
        })
    };
    match (resolved(a), resolved(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Writes a JSON value to stdout.
///
/// # Errors
/// If stdout fails (see [`out`]).
pub fn print_json(v: &serde_json::Value) -> Result<(), Error> {
    outln!(
        "{}",
        serde_json::to_string_pretty(v).expect("JSON values always serialize")
    )
}

/// Options of the holonomy group's classification, shared by `holonomy` and `convolve --group auto`.
#[derive(clap::Args, Debug)]
pub struct ClassifyArgs {
    /// Classification tolerance in radians: a rotation within it of a multiple of 2π/q (q ≤
    /// --max-order) counts as one. It must stay below π/max_order² (two fractions p/q with q ≤ N
    /// differ by at least 2π/N²): raise the tolerance only with a smaller --max-order.
    #[arg(long, allow_negative_numbers = true, default_value_t = manifold_cnn::holonomy::DEFAULT_TOLERANCE)]
    pub tolerance: f64,
    /// The largest order q of a cyclic rotation group the classification recognizes (larger
    /// rotation groups classify as SO(2)).
    #[arg(long, default_value_t = manifold_cnn::holonomy::DEFAULT_MAX_ORDER)]
    pub max_order: u32,
}

impl ClassifyArgs {
    /// The classification options these flags describe (checked when the analysis runs).
    pub fn options(&self) -> manifold_cnn::holonomy::ClassifyOptions {
        manifold_cnn::holonomy::ClassifyOptions::new()
            .tolerance(self.tolerance)
            .max_order(self.max_order)
    }
}

/// Exp-map table options shared by `expmap` and `convolve`.
#[derive(clap::Args, Debug)]
pub struct TableArgs {
    /// Number of rings R (radii (i − ½)·ρ/R).
    #[arg(long, default_value_t = 8)]
    pub rings: usize,
    /// Number of directions A (scaled polar angles 2πj/A).
    #[arg(long, default_value_t = 16)]
    pub directions: usize,
    /// Radius ρ in the mesh's length unit.
    #[arg(long, conflicts_with = "radius_edges")]
    pub radius: Option<f64>,
    /// Radius ρ as a multiple of the mean edge length (default 5 when neither is given).
    #[arg(long)]
    pub radius_edges: Option<f64>,
    /// What a convolution does with truncated samples: `zero` or `clamp`.
    #[arg(long, default_value = "zero")]
    pub padding: String,
}

impl TableArgs {
    /// The table parameters these options describe.
    pub fn params(&self) -> Result<manifold_cnn::expmap::ExpMapOptions, Error> {
        use manifold_cnn::expmap::{ExpMapOptions, Padding, Radius};
        let radius = match (self.radius, self.radius_edges) {
            (Some(r), _) => Radius::Absolute(r),
            (None, Some(k)) => Radius::MeanEdgeLengths(k),
            (None, None) => Radius::MeanEdgeLengths(5.0),
        };
        let padding = Padding::parse(&self.padding)?;
        Ok(ExpMapOptions::new()
            .rings(self.rings)
            .directions(self.directions)
            .radius(radius)
            .padding(padding))
    }
}
