//! What compiling a convolution operator costs against building the exp-map table it reads, in one
//! run, and the memory the compile takes against the finished operator.
//!
//! ```text
//! cargo run --release --example compile_cost [-- MESH… [--basis SPEC] [--runs N]]
//! ```
//!
//! MESH defaults to `icosphere:8 bull_loop4` (bull_loopK: meshes/bull.obj after K Loop
//! subdivisions; K = 4 has 1,586,690 vertices); SPEC to `bins:2:8` (16 basis functions).
//! `--write-obj PATH` writes the first mesh as an OBJ file (for a build that lacks `bull_loopK`)
//! and stops. The table has the
//! defaults of `convolve`: 8 rings × 16 directions, radius 5 mean edge lengths. For each mesh, `N`
//! times (default 1) in turn: build the table, then compile (gauge + operator, the table excluded);
//! the figures are the medians. Memory: a counting allocator wraps the system's, and the peak of the
//! bytes allocated during the compile, above what was allocated when it started, is compared with
//! [`ConvOperator::bytes`] (the operator stays allocated at the end, so the ratio is at least 1).
//! Each stage's CPU time is split into user code and the kernel (Linux): the kernel's share is
//! mostly the page faults of first touching the memory the stage allocates.

use manifold_cnn::conv::{ConvOperator, Gauge, SpanningTree};
use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable};
use manifold_cnn::kernel::KernelBasis;
use manifold_cnn::{io, BuildOptions, Manifold};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

#[path = "../benches/support/mod.rs"]
mod support;

/// The system allocator, counting the bytes held now and their peak.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let now = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            let now = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = HELD.fetch_add(new_size - layout.size(), Ordering::Relaxed)
                    + (new_size - layout.size());
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                HELD.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// This process's CPU seconds so far, in user code and in the kernel (on Linux, from
/// /proc/self/stat; zeros elsewhere). The kernel's share of a stage is mostly page faults: the
/// first touch of the memory it allocates.
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th, in
    // clock ticks (100 a second on Linux).
    let rest = stat.rsplit(')').next().unwrap_or("");
    let field = |i: usize| -> f64 {
        rest.split_whitespace()
            .nth(i)
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (field(11), field(12))
}

/// Wall, user and kernel seconds of `f`.
fn timed<R>(f: impl FnOnce() -> R) -> (R, [f64; 3]) {
    let (u0, s0) = cpu_seconds();
    let t = Instant::now();
    let r = f();
    let wall = t.elapsed().as_secs_f64();
    let (u1, s1) = cpu_seconds();
    (r, [wall, u1 - u0, s1 - s0])
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let spec = value("--basis").unwrap_or_else(|| "bins:2:8".into());
    let runs: usize = value("--runs").and_then(|r| r.parse().ok()).unwrap_or(1);
    let mut meshes: Vec<String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i].starts_with("--") {
            i += 2;
        } else {
            meshes.push(args[i].clone());
            i += 1;
        }
    }
    if meshes.is_empty() {
        meshes = vec!["icosphere:8".into(), "bull_loop4".into()];
    }
    if let Some(path) = value("--write-obj") {
        let src = support::source(&meshes[0]);
        let positions = src.positions.expect("positions");
        io::obj::write_obj(&path, &positions, &src.faces).expect("write OBJ");
        println!(
            "{}: {} vertices written to {path}",
            meshes[0], src.vertex_count
        );
        return;
    }
    let basis = KernelBasis::parse(&spec).expect("basis spec");
    let params = ExpMapOptions::default();
    println!(
        "basis {spec} ({} functions), table {} rings × {} directions, radius 5 mean edge lengths, {} threads",
        basis.len(),
        params.rings,
        params.directions,
        rayon::current_num_threads()
    );
    for name in &meshes {
        let m =
            Manifold::from_source(&support::source(name), &BuildOptions::default()).expect("mesh");
        let n = m.mesh.vertex_count();
        let (mut t_table, mut t_compile) = (Vec::new(), Vec::new());
        let (mut cpu_table, mut cpu_compile) = (Vec::new(), Vec::new());
        let (mut extra, mut bytes, mut nnz) = (0, 0, 0);
        for _ in 0..runs {
            let (table, [wall, user, sys]) =
                timed(|| ExpMapTable::build(&m, &params).expect("table"));
            t_table.push(wall);
            cpu_table.push((user, sys));
            let base = HELD.load(Ordering::Relaxed);
            PEAK.store(base, Ordering::Relaxed);
            let (op, [wall, user, sys]) = timed(|| {
                let gauge = Gauge::new(&m, None, SpanningTree::Bfs).expect("gauge");
                ConvOperator::<f32>::new(&m, &table, &basis, &gauge).expect("compile")
            });
            t_compile.push(wall);
            cpu_compile.push((user, sys));
            extra = PEAK.load(Ordering::Relaxed) - base;
            (bytes, nnz) = (op.bytes(), op.nnz());
        }
        let (tt, tc) = (median(t_table.clone()), median(t_compile.clone()));
        // The CPU split of the run whose wall time is the median.
        let split = |times: &[f64], cpu: &[(f64, f64)], m: f64| {
            let (u, s) = cpu[times.iter().position(|&t| t == m).unwrap()];
            format!("user {u:.2} s, kernel {s:.2} s")
        };
        println!(
            "{name}: {n} vertices, {nnz} entries ({:.1} per row); table {tt:.2} s ({}), compile {tc:.2} s \
             ({}): compile/table {:.2}; operator {:.0} MiB, compile peak {:.0} MiB above its start \
             ({:.2}× the operator)",
            nnz as f64 / n as f64,
            split(&t_table, &cpu_table, tt),
            split(&t_compile, &cpu_compile, tc),
            tc / tt,
            bytes as f64 / (1 << 20) as f64,
            extra as f64 / (1 << 20) as f64,
            extra as f64 / bytes as f64
        );
    }
}
