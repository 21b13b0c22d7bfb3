//! Exponential-map table benchmark: icosphere:8 (655,362 vertices), 16 directions × 8 rings, radius 5 mean
//! edge lengths, on all cores (rayon's default pool).
//!
//! Before the criterion runs it prints, for the record: the time of each phase of one build, the time per
//! trace (wall and per core), the time of single traces on one thread, and the accuracy of exp_p on the
//! unit icosphere at |v| = 1 (levels 5 to 8, max and mean over vertices of the 3-D distance to
//! `cos|v| p + sin|v| v/|v|`, one golden-angle direction per vertex; v's direction is the 3-D direction of
//! the trace's first segment projected to the tangent plane). Set `EXPMAP_BENCH_ACCURACY=0` to skip the
//! accuracy figures.
//!
//! Reference (from the issue): geometry-central's C++ tracer, 5.4 µs a trace, ≈ 30 s for this table on
//! 2 cores; its end-point error 6.7e-3 (level 5) and 8.5e-4 (level 8).

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable, Padding, Radius, TraceStart, Tracer};
use manifold_cnn::{BuildOptions, Manifold};
use rayon::prelude::*;
use std::f64::consts::TAU;
use std::hint::black_box;
use std::time::{Duration, Instant};

const GOLDEN_ANGLE: f64 = 2.399_963_229_728_653;

fn params() -> ExpMapOptions {
    ExpMapOptions::new()
        .rings(8)
        .directions(16)
        .radius(Radius::MeanEdgeLengths(5.0))
        .padding(Padding::Zero)
}

fn load(spec: &str) -> Manifold {
    Manifold::load(spec, &BuildOptions::default()).expect("primitive loads")
}

/// (max, mean) over vertices of the end-point error of exp_p(v), |v| = `len`, on the unit icosphere.
fn sphere_error(m: &Manifold, len: f64) -> (f64, f64) {
    let tracer = Tracer::new(m);
    let pos = m.positions.as_ref().expect("icosphere has positions");
    let errs: Vec<f64> = (0..m.mesh.vertex_count())
        .into_par_iter()
        .map(|i| {
            let v = m.mesh.vertex(i).expect("in range");
            let p = pos[i];
            let at = |sp: &manifold_cnn::expmap::SurfacePoint| {
                let f = m.mesh.face_vertices(sp.face);
                let mut q = [0.0; 3];
                for k in 0..3 {
                    for d in 0..3 {
                        q[d] += sp.bary[k] * pos[f[k].index()][d];
                    }
                }
                q
            };
            let theta = (i as f64 * GOLDEN_ANGLE).rem_euclid(TAU);
            let (res, path) = tracer
                .trace_path(
                    TraceStart::Vertex {
                        vertex: v,
                        angle: theta,
                    },
                    len,
                )
                .expect("valid");
            let q1 = at(&path[1]);
            let w = [q1[0] - p[0], q1[1] - p[1], q1[2] - p[2]];
            let wp = w[0] * p[0] + w[1] * p[1] + w[2] * p[2];
            let u = [w[0] - wp * p[0], w[1] - wp * p[1], w[2] - wp * p[2]];
            let un = (u[0] * u[0] + u[1] * u[1] + u[2] * u[2]).sqrt();
            let q = at(&res.point);
            (0..3)
                .map(|k| (q[k] - (len.cos() * p[k] + len.sin() * u[k] / un)).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let max = errs.iter().cloned().fold(0.0, f64::max);
    (max, errs.iter().sum::<f64>() / errs.len() as f64)
}

/// CPU time (user + system, all threads) of this process so far, in seconds, from /proc (Linux); 0 where
/// unavailable. Reported beside wall times because the machine may be shared.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(rest) = stat.rsplit(')').next() else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name; 100 ticks/s.
    (ticks(11) + ticks(12)) / 100.0
}

fn record() {
    let t = Instant::now();
    let m = load("icosphere:8");
    eprintln!(
        "expmap bench: icosphere:8 loaded in {:.2} s ({} vertices)",
        t.elapsed().as_secs_f64(),
        m.mesh.vertex_count()
    );
    let threads = rayon::current_num_threads();
    let t = Instant::now();
    let tracer = Tracer::new(&m);
    let t_tracer = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let c = cpu_seconds();
    let table =
        ExpMapTable::build_with_tracer(&tracer, &params(), |_, _| {}).expect("valid parameters");
    let t_table = t.elapsed().as_secs_f64();
    let c_table = cpu_seconds() - c;
    let traces = (table.vertex_count() * table.directions()) as f64;
    eprintln!(
        "expmap bench: tracer {t_tracer:.2} s + table {t_table:.2} s on {threads} threads = {:.2} s; \
         {:.3} µs per trace wall, {:.3} µs per trace per core; table CPU time {c_table:.2} s ({:.3} µs per \
         trace); {:.1} MiB; truncated {}",
        t_tracer + t_table,
        1e6 * t_table / traces,
        1e6 * t_table * threads as f64 / traces,
        1e6 * c_table / traces,
        table.bytes() as f64 / 1048576.0,
        table.truncated_fraction()
    );
    drop(table);
    // Single traces on one thread through the public API (allocating the result, exact atan2), each
    // landing at 8 radii as in the table: vertices in mesh order, and in a scattered order.
    let radii: Vec<f64> = (1..=8)
        .map(|i| (i as f64 - 0.5) / 8.0 * 5.0 * m.geometry.mean_edge_length())
        .collect();
    let n = 200_000;
    for (name, stride) in [("mesh order", 1usize), ("scattered", 7919)] {
        let t = Instant::now();
        let mut acc = 0.0;
        for i in 0..n {
            let v = m
                .mesh
                .vertex((i * stride) % m.mesh.vertex_count())
                .expect("in range");
            let theta = (i as f64 * GOLDEN_ANGLE).rem_euclid(TAU);
            let r = tracer
                .trace_lengths(
                    TraceStart::Vertex {
                        vertex: v,
                        angle: theta,
                    },
                    &radii,
                )
                .expect("valid");
            acc += r[7].length;
        }
        black_box(acc);
        eprintln!(
            "expmap bench: single traces, one thread, public API, {name}: {:.3} µs per trace",
            1e6 * t.elapsed().as_secs_f64() / n as f64
        );
    }
    if std::env::var("EXPMAP_BENCH_ACCURACY").map_or(true, |v| v != "0") {
        for level in 5..=8 {
            let m = load(&format!("icosphere:{level}"));
            let t = Instant::now();
            let (max, mean) = sphere_error(&m, 1.0);
            eprintln!(
                "expmap bench: icosphere:{level} |v| = 1: max error {max:.3e}, mean {mean:.3e} over {} vertices ({:.1} s)",
                m.mesh.vertex_count(),
                t.elapsed().as_secs_f64()
            );
        }
    }
}

fn bench(c: &mut Criterion) {
    record();
    let m = load("icosphere:8");
    let mut g = c.benchmark_group("expmap");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(40));
    g.bench_function("icosphere8_16x8_r5_table", |b| {
        b.iter(|| black_box(ExpMapTable::build(&m, &params()).expect("valid parameters")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
