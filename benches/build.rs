//! OBJ parsing and the whole foundation build (mesh, geometry, frames, connection) on ≥ 1M-vertex
//! meshes. Figures go into BENCHMARKS.md.
//!
//! `cargo bench --bench build`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use manifold_cnn::io::obj;
use manifold_cnn::mesh::BuildOptions;
use manifold_cnn::{primitives, Manifold};
use std::time::Duration;

mod support;

fn bench_parse(c: &mut Criterion) {
    let src = support::source("bull_loop4");
    let dir = std::env::temp_dir().join("manifold-cnn-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bull_loop4.obj");
    obj::write_obj(&path, src.positions.as_ref().unwrap(), &src.faces).unwrap();
    let bytes = std::fs::metadata(&path).unwrap().len();
    let mut g = c.benchmark_group("parse");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(src.vertex_count as u64));
    g.bench_function(
        BenchmarkId::new(
            "obj",
            format!("bull_loop4 {} v, {} MB", src.vertex_count, bytes >> 20),
        ),
        |b| b.iter(|| obj::read_obj(&path).unwrap()),
    );
    g.finish();
}

fn bench_build(c: &mut Criterion) {
    let sources = [
        ("icosphere:8", primitives::icosphere(8).unwrap()),
        ("icosphere:9", primitives::icosphere(9).unwrap()),
        ("bull_loop4", support::source("bull_loop4")),
    ];
    let mut g = c.benchmark_group("build");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    for (name, src) in &sources {
        g.throughput(Throughput::Elements(src.vertex_count as u64));
        g.bench_function(
            BenchmarkId::new("manifold", format!("{name} {} v", src.vertex_count)),
            |b| {
                b.iter_with_large_drop(|| {
                    Manifold::from_source(src, &BuildOptions::default()).unwrap()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench_parse, bench_build);
criterion_main!(benches);
