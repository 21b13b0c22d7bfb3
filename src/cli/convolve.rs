//! `manifold-cnn convolve MESH --signal IN.npy --kernel K.npy|random:SEED --group auto|trivial|SO2|Cn|Dn|Z2|O2
//! [--basis harmonic:R:M|bins:R:A|gaussians:R:A] [--quadrature mean|integral] [table options]
//! --out OUT.npy [--json] [--export-operator OP.npz] [--repeat K] [--backward] [--cache DIR]`
//!
//! A named group that does not contain the mesh's measured holonomy group gets a warning on stderr:
//! kernels invariant under it are not well defined on this mesh.

use super::TableArgs;
use manifold_cnn::conv::{
    CompileCache, Compiler, ConvOperator, ConvOptions, Gauge, KernelWeights, KernelWeightsMut,
    Quadrature, Signals, SignalsMut, SpanningTree,
};
use manifold_cnn::expmap::ExpMapOptions;
use manifold_cnn::holonomy::{HolonomyAnalysis, HolonomyGroup, HolonomyOptions};
use manifold_cnn::io::npz::{read_npy_f32, write_npy_f32};
use manifold_cnn::io::write_atomically;
use manifold_cnn::kernel::{ConstrainedBasis, KernelBasis};
use manifold_cnn::rng::SplitMix;
use manifold_cnn::Error;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `convolve`.
#[derive(clap::Args, Debug)]
pub struct ConvolveArgs {
    /// Mesh spec, as for `inspect`.
    pub mesh: String,
    /// Input signal: a float32 (or float64) .npy of shape N × C_in (or N).
    #[arg(long)]
    pub signal: String,
    /// Kernel coefficients: a .npy of shape B × C_in × C_out in the constrained basis (B as printed by
    /// `--json`'s `basis`), or `random:SEED` to draw them.
    #[arg(long)]
    pub kernel: String,
    /// Holonomy group the kernel is constrained to: `auto` (measured), `trivial`, `SO2`, `O2`, `Z2`,
    /// `C<n>`, `D<n>`.
    #[arg(long, default_value = "auto")]
    pub group: String,
    /// How the measured group is classified (`--group auto`, and the check of a named group).
    #[command(flatten)]
    pub classify: super::ClassifyArgs,
    /// Kernel basis before the constraint: `harmonic:R:M` (R Gaussian radial profiles × harmonics up
    /// to M), `bins:R:A` (polar bins) or `gaussians:R:A`.
    #[arg(long, default_value = "harmonic:2:3")]
    pub basis: String,
    /// Quadrature: `mean` (the kernel averages over the disc; weights over Σ w, scale-free) or
    /// `integral` (the tangent-plane integral r Δr Δθ, scaling with the mesh's units squared).
    #[arg(long, default_value = "mean")]
    pub quadrature: String,
    /// Output channels for `--kernel random:SEED` (default: C_in).
    #[arg(long)]
    pub out_channels: Option<usize>,
    #[command(flatten)]
    pub table: TableArgs,
    /// Where to write the N × C_out float32 output.
    #[arg(long)]
    pub out: Option<String>,
    /// Write the operator as compiled (one CSR matrix per basis function, float32, its coefficients
    /// under the chosen `--quadrature`) and the weights to an .npz.
    #[arg(long)]
    pub export_operator: Option<String>,
    /// Run the forward pass K times and report the median time.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Also run the backward pass (input and weight gradients, the output as the incoming gradient)
    /// and report its time.
    #[arg(long)]
    pub backward: bool,
    /// Cache directory for compiled exp-map tables and operators: one compiled before for the same
    /// mesh (its vertex and face counts and a hash of its faces and edge lengths) and the same
    /// parameters (rings, directions, radius, padding, basis, group, gauge, quadrature, f32, file
    /// format version) is loaded from there instead of compiled, and what is compiled is written
    /// there. Created if missing; a file that cannot be used is compiled again and overwritten.
    #[arg(long)]
    pub cache: Option<std::path::PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Repair the mesh instead of failing on the first defect.
    #[arg(long)]
    pub repair: bool,
}

fn bad(name: &'static str, message: String) -> Error {
    Error::InvalidParameter { name, message }
}

/// Parses a quadrature name: `mean` or `integral`.
pub fn parse_quadrature(s: &str) -> Result<Quadrature, Error> {
    match s.to_ascii_lowercase().as_str() {
        "mean" => Ok(Quadrature::Mean),
        "integral" => Ok(Quadrature::Integral),
        _ => Err(bad(
            "quadrature",
            format!("'{s}' is not a quadrature (mean, integral)"),
        )),
    }
}

/// The most forward passes `--repeat` runs (a median of more says nothing new about the timing).
pub const MAX_REPEAT: usize = 1000;

/// Refuses a request whose memory would exceed the limit ([`super::limits`]): the exp-map table and
/// operator while compiling, then the operator, the signals, weights and gradients and the parallel
/// passes' scratch tiles while running. `entries` is the operator's size once the table is known
/// (none before: the operator is left out).
fn check_request(
    params: &manifold_cnn::expmap::ExpMapOptions,
    n: usize,
    nb: usize,
    c_in: usize,
    c_out: usize,
    operator_bytes: Option<f64>,
) -> Result<(), Error> {
    const BLOCK: f64 = 32.0; // rows per tile of the operator's passes
    let f = |x: usize| x as f64;
    let (nv, b, ci, co) = (f(n), f(nb), f(c_in), f(c_out));
    let samples = f(params.rings) * f(params.directions);
    let table = nv * samples * manifold_cnn::expmap::BYTES_PER_SAMPLE as f64
        + 4.0 * nv * f(params.directions);
    let operator = operator_bytes.unwrap_or(0.0);
    // x, out, the input gradient and the internal copies of a pass; weights and their gradient.
    let signals = 4.0 * nv * (3.0 * ci + 2.0 * co);
    let weights = 2.0 * 4.0 * b * ci * co;
    let threads = f(rayon::current_num_threads());
    let tiles = 4.0
        * [
            threads * BLOCK * (2.0 * b * ci + co),          // forward
            threads * BLOCK * (2.0 * b * co + ci),          // input gradient
            (nv / 512.0).ceil().max(threads) * b * ci * co, // weight-gradient partials
        ]
        .into_iter()
        .fold(0.0, f64::max);
    let request = format!("convolve with B = {nb}, {c_in} → {c_out} channels on {n} vertices");
    // The table is dropped once the operator is compiled: the peak is the operator plus the larger
    // of the table (compiling) and what the passes hold (running).
    let running = signals + weights + tiles;
    let phase = if table > running {
        ("exp-map table", table)
    } else {
        ("signals, weights and scratch tiles", running)
    };
    super::limits::check_memory("out_channels", &request, &[("operator", operator), phase])
}

/// How `convolve` names a coefficient layout in its report.
fn layout_name(layout: manifold_cnn::conv::Layout) -> &'static str {
    match layout {
        manifold_cnn::conv::Layout::Blocks => "blocks",
        manifold_cnn::conv::Layout::PerFunction => "per function",
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The request's own checks, before any file is read.
fn check_args(args: &ConvolveArgs) -> Result<(), Error> {
    if !(1..=MAX_REPEAT).contains(&args.repeat) {
        return Err(bad(
            "repeat",
            format!("{} runs: must be in 1..={MAX_REPEAT}", args.repeat),
        ));
    }
    if let (Some(out), Some(export)) = (&args.out, &args.export_operator) {
        if super::same_file(Path::new(out), Path::new(export)) {
            return Err(bad(
                "out, export_operator",
                format!("--out {out} and --export-operator {export} name the same file: one would overwrite the other"),
            ));
        }
    }
    Ok(())
}

/// The signal (N × C_in, finite) and its channel count.
fn read_signal(args: &ConvolveArgs, n: usize) -> Result<(Vec<f32>, usize), Error> {
    let (shape, x) = read_npy_f32(&args.signal)?;
    let c_in = match shape.as_slice() {
        [rows] if *rows as usize == n => 1,
        [rows, c] if *rows as usize == n && *c > 0 => *c as usize,
        _ => {
            return Err(bad(
                "signal",
                format!(
                    "{}: shape {shape:?}, but the mesh has {n} vertices (expected N × C_in)",
                    args.signal
                ),
            ))
        }
    };
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(bad(
            "signal",
            format!(
                "{}: value {} (vertex {}, channel {}) is not finite",
                args.signal,
                x[i],
                i / c_in,
                i % c_in
            ),
        ));
    }
    Ok((x, c_in))
}

/// The measured holonomy group and the one the kernel is constrained to (the named one, with a warning
/// where it does not contain the measured one, or the measured one).
fn kernel_group(
    args: &ConvolveArgs,
    m: &manifold_cnn::Manifold,
) -> Result<(HolonomyGroup, HolonomyGroup), Error> {
    let options = HolonomyOptions::new().classify(args.classify.options());
    let measured = HolonomyAnalysis::new(m, &options)?.group();
    let group = match HolonomyGroup::parse(&args.group)? {
        Some(g) => {
            if !measured.is_subgroup_of(&g) {
                errln!(
                    "warning: the named group {} does not contain the measured holonomy group {} of {}: \
                     a kernel invariant under {} is not well defined on this mesh (it depends on the \
                     spanning tree of the gauge); name {} or a group containing it",
                    g.name(),
                    measured.name(),
                    args.mesh,
                    g.name(),
                    measured.join(&g).name()
                );
            }
            g
        }
        None => measured,
    };
    Ok((measured, group))
}

/// `--basis` constrained to `group`: refused if the constraint cannot be allocated or leaves nothing.
fn constrained_basis(
    args: &ConvolveArgs,
    group: &HolonomyGroup,
) -> Result<ConstrainedBasis, Error> {
    let base = KernelBasis::parse(&args.basis)?;
    // The constraint holds its basis as a dense B × B matrix (B before the constraint).
    super::limits::check_memory(
        "basis",
        &format!("constraining {} ({} functions)", args.basis, base.len()),
        &[("the constraint", 8.0 * (base.len() as f64).powi(2))],
    )?;
    let basis = base.constrain(group);
    if basis.dimension() == 0 {
        return Err(bad(
            "group",
            format!(
                "no kernel in {} is invariant under {}",
                args.basis,
                group.name()
            ),
        ));
    }
    Ok(basis)
}

/// The weights (B × C_in × C_out) and C_out: drawn for `random:SEED` (uniform in ±1/√(B·C_in)), or
/// read, finite and of the basis's and signal's shape.
fn kernel_weights(
    args: &ConvolveArgs,
    params: &ExpMapOptions,
    n: usize,
    nb: usize,
    c_in: usize,
) -> Result<(usize, Vec<f32>), Error> {
    if let Some(seed) = args.kernel.strip_prefix("random:") {
        let seed: u64 = seed
            .parse()
            .map_err(|_| bad("kernel", format!("'{}': expected random:SEED", args.kernel)))?;
        let c_out = args.out_channels.unwrap_or(c_in);
        check_request(params, n, nb, c_in, c_out, None)?;
        if c_out == 0
            || nb
                .checked_mul(c_in)
                .and_then(|k| k.checked_mul(c_out))
                .is_none_or(|w| w > 1 << 30)
        {
            return Err(bad(
                "out_channels",
                format!(
                    "{c_out} output channels: must be at least 1 and keep B × C_in × C_out ≤ 2^30"
                ),
            ));
        }
        let scale = 1.0 / ((nb * c_in) as f64).sqrt();
        let mut rng = SplitMix(seed);
        let w = (0..nb * c_in * c_out)
            .map(|_| ((rng.uniform() * 2.0 - 1.0) * scale) as f32)
            .collect();
        return Ok((c_out, w));
    }
    let (ks, w) = read_npy_f32(&args.kernel)?;
    // NaN or inf weights would run to a NaN output with exit 0: refused as the signal's are.
    if let (Some(i), [_, ci, o]) = (w.iter().position(|v| !v.is_finite()), ks.as_slice()) {
        let (ci, o) = ((*ci as usize).max(1), (*o as usize).max(1));
        return Err(bad(
            "kernel",
            format!(
                "{}: value {} (basis function {}, input channel {}, output channel {}) is not finite",
                args.kernel,
                w[i],
                i / (ci * o),
                i / o % ci,
                i % o
            ),
        ));
    }
    match ks.as_slice() {
        [b, i, o] if *b as usize == nb && *i as usize == c_in && *o > 0 => Ok((*o as usize, w)),
        _ => Err(bad(
            "kernel",
            format!("{}: shape {ks:?}, expected {nb} × {c_in} × C_out (basis × input channels × output channels)", args.kernel),
        )),
    }
}

/// The compiled operator, with where the cache keeps it and whether it was loaded from there.
struct Compiled {
    op: ConvOperator<f32>,
    path: Option<PathBuf>,
    loaded: bool,
    seconds: f64,
}

/// The table, gauge and operator (from the cache where `--cache` has it), refusing a request whose
/// operator and buffers cannot be allocated before allocating them.
fn compile(
    args: &ConvolveArgs,
    m: &manifold_cnn::Manifold,
    params: ExpMapOptions,
    basis: &ConstrainedBasis,
    quadrature: Quadrature,
    (c_in, c_out): (usize, usize),
) -> Result<Compiled, Error> {
    let (n, nb) = (m.mesh.vertex_count(), basis.dimension());
    check_request(&params, n, nb, c_in, c_out, None)?;
    let t0 = Instant::now();
    let cache = args.cache.as_ref().map(CompileCache::new).transpose()?;
    let gauge = Gauge::new(m, None, SpanningTree::Bfs)?;
    let options = ConvOptions::new().quadrature(quadrature);
    let path = match &cache {
        Some(c) => Some(c.operator_path::<f32, _>(m, &params, basis, &gauge, &options)?),
        None => None,
    };
    let mut report = super::compile::CompileReport::new("convolve");
    let mut on_event = |e: manifold_cnn::conv::CompileEvent| report.event(e);
    let mut compiler = Compiler::new(m, params, cache.as_ref(), &mut on_event);
    let cached = path.as_ref().is_some_and(|p| p.exists());
    if !cached {
        let bytes =
            ConvOperator::estimated_bytes(m, compiler.table()?, basis, &gauge, &options)? as f64;
        check_request(&params, n, nb, c_in, c_out, Some(bytes))?;
    }
    let op = compiler.operator::<f32, _>(basis, &gauge, &options)?;
    drop(compiler);
    if cached {
        check_request(&params, n, nb, c_in, c_out, Some(op.bytes() as f64))?;
    }
    Ok(Compiled {
        op,
        path,
        loaded: report.operator_loaded,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// `len` zeros, or an error naming the buffer where they cannot be allocated (large channel counts
/// are a user's choice: refused instead of aborting).
fn zeros(len: usize, what: &str) -> Result<Vec<f32>, Error> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        bad(
            "out_channels",
            format!("cannot allocate the {what} ({len} values)"),
        )
    })?;
    v.resize(len, 0.0);
    Ok(v)
}

/// What the passes measured.
struct Timings {
    forward: f64,
    backward: Option<f64>,
}

/// The forward pass `--repeat` times into `out` (the median time kept), then with `--backward` both
/// gradients in one pass, the output as the incoming gradient: what a hidden layer's backward pass
/// costs.
fn run_passes(
    args: &ConvolveArgs,
    op: &ConvOperator<f32>,
    x: &[f32],
    weights: &[f32],
    (nb, c_in, c_out): (usize, usize, usize),
    out: &mut [f32],
) -> Result<Timings, Error> {
    let n = op.vertex_count();
    let mut times = Vec::with_capacity(args.repeat);
    for _ in 0..args.repeat {
        let t = Instant::now();
        op.forward(
            Signals::new(x, 1, c_in)?,
            KernelWeights::new(weights, nb, c_in, c_out)?,
            SignalsMut::new(out, 1, c_out)?,
        );
        times.push(t.elapsed().as_secs_f64());
    }
    let mut backward = None;
    if args.backward {
        let (mut gx, mut gw) = (
            zeros(n * c_in, "input gradient")?,
            vec![0f32; weights.len()],
        );
        let t = Instant::now();
        op.backward(
            Signals::new(x, 1, c_in)?,
            Signals::new(out, 1, c_out)?,
            KernelWeights::new(weights, nb, c_in, c_out)?,
            SignalsMut::new(&mut gx, 1, c_in)?,
            KernelWeightsMut::new(&mut gw, nb, c_in, c_out)?,
        );
        backward = Some(t.elapsed().as_secs_f64());
    }
    Ok(Timings {
        forward: median(times),
        backward,
    })
}

/// Runs `convolve`.
pub fn run(args: &ConvolveArgs) -> Result<(), Error> {
    check_args(args)?;
    let m = super::load(&args.mesh, args.repair)?;
    let n = m.mesh.vertex_count();
    let (x, c_in) = read_signal(args, n)?;
    let params = args.table.params()?;
    params.validate(&m)?;
    let quadrature = parse_quadrature(&args.quadrature)?;
    let (measured, group) = kernel_group(args, &m)?;
    let basis = constrained_basis(args, &group)?;
    let nb = basis.dimension();
    let (c_out, weights) = kernel_weights(args, &params, n, nb, c_in)?;
    let compiled = compile(args, &m, params, &basis, quadrature, (c_in, c_out))?;
    let op = &compiled.op;
    let mut out = zeros(n * c_out, "output")?;
    let timings = run_passes(args, op, &x, &weights, (nb, c_in, c_out), &mut out)?;
    if let Some(path) = &args.out {
        write_atomically(Path::new(path), |tmp| {
            write_npy_f32(tmp, &[n as u64, c_out as u64], &out)
        })?;
    }
    if let Some(path) = &args.export_operator {
        write_atomically(Path::new(path), |tmp| {
            op.write_npz(tmp, &weights, c_in, c_out)
        })?;
    }
    let summary = Summary {
        args,
        n,
        samples: params.rings * params.directions,
        basis: &basis,
        group: &group,
        measured: &measured,
        channels: (c_in, c_out),
        compiled: &compiled,
        timings: &timings,
    };
    if args.json {
        summary.print_json()
    } else {
        summary.print_text()
    }
}

/// Everything `convolve` reports.
struct Summary<'a> {
    args: &'a ConvolveArgs,
    n: usize,
    samples: usize,
    basis: &'a ConstrainedBasis,
    group: &'a HolonomyGroup,
    measured: &'a HolonomyGroup,
    channels: (usize, usize),
    compiled: &'a Compiled,
    timings: &'a Timings,
}

impl Summary<'_> {
    fn print_json(&self) -> Result<(), Error> {
        let (args, n, op) = (self.args, self.n, &self.compiled.op);
        let (c_in, c_out) = self.channels;
        let flops = op.forward_flops(c_in, c_out);
        let seconds_forward = self.timings.forward;
        // The passes ran on the default path (the fastest, or what MANIFOLD_CNN_SIMD names).
        let simd = manifold_cnn::conv::SimdPath::Auto.resolve()?;
        let mut summary = json!({
            "mesh": args.mesh,
            "vertices": n,
            "basis": self.basis.dimension(),
            "basis_exact": self.basis.is_exact(),
            "group": self.group.name(),
            "measured_group": self.measured.name(),
            "quadrature": args.quadrature.to_ascii_lowercase(),
            "in_channels": c_in,
            "out_channels": c_out,
            "samples": self.samples,
            "nnz": op.nnz(),
            "operator_layout": layout_name(op.layout()),
            "operator_bytes": op.bytes(),
            "operator_bytes_per_vertex": op.bytes() as f64 / n as f64,
            "seconds_precompile": self.compiled.seconds,
            "operator_cache": match (&self.compiled.path, self.compiled.loaded) {
                (None, _) => json!(null),
                (Some(p), loaded) => json!({ "path": p, "hit": loaded }),
            },
            "seconds_forward": seconds_forward,
            "forward_flops": flops,
            "forward_gflops_per_second": flops / seconds_forward / 1e9,
            "simd_path": simd.name(),
            "out": args.out,
        });
        // Only what ran is reported.
        if let Some(s) = self.timings.backward {
            summary["seconds_backward"] = json!(s);
        }
        super::print_json(&summary)
    }

    fn print_text(&self) -> Result<(), Error> {
        let (args, n, op) = (self.args, self.n, &self.compiled.op);
        let (c_in, c_out) = self.channels;
        let flops = op.forward_flops(c_in, c_out);
        let seconds_forward = self.timings.forward;
        let simd = manifold_cnn::conv::SimdPath::Auto.resolve()?;
        outln!("mesh               {} ({n} vertices)", args.mesh)?;
        outln!(
            "kernel             {} constrained to {}: {} basis functions{}",
            args.basis,
            self.group.name(),
            self.basis.dimension(),
            if self.basis.is_exact() {
                ""
            } else {
                " (approximately invariant: the Gaussians' ripple under rotations off their grid)"
            }
        )?;
        outln!("channels           {c_in} → {c_out}")?;
        outln!(
            "operator           {} entries ({}), {:.1} MiB ({:.0} bytes/vertex)",
            op.nnz(),
            layout_name(op.layout()),
            op.bytes() as f64 / 1048576.0,
            op.bytes() as f64 / n as f64
        )?;
        let seconds_precompile = self.compiled.seconds;
        if self.compiled.loaded {
            outln!("precompile         {seconds_precompile:.3} s (gauge; operator loaded from the cache)")?;
        } else {
            outln!(
                "precompile         {seconds_precompile:.3} s (exp-map table, gauge, operator)"
            )?;
        }
        if let Some(p) = &self.compiled.path {
            let what = if self.compiled.loaded {
                "hit"
            } else {
                "miss, compiled and written"
            };
            outln!("cache              {what}: {}", p.display())?;
        }
        outln!("simd path          {simd}")?;
        outln!(
            "forward            {seconds_forward:.4} s (median of {}; {:.1} GFLOP/s)",
            args.repeat,
            flops / seconds_forward / 1e9
        )?;
        if let Some(s) = self.timings.backward {
            outln!("backward           {s:.4} s")?;
        }
        if let Some(path) = &args.out {
            outln!("wrote              {path}")?;
        }
        Ok(())
    }
}
