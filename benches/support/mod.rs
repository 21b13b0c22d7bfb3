//! What the benches and `examples/conv_roofline.rs` share: the big real mesh and seeded signals.
#![allow(dead_code)] // each includer uses a part

use manifold_cnn::{io, subdivide, MeshSource};

/// A mesh spec, or `bull_loopK`: meshes/bull.obj after K Loop subdivisions (K = 4: 1,586,690
/// vertices).
pub fn source(spec: &str) -> MeshSource {
    match spec.strip_prefix("bull_loop") {
        Some(k) => {
            let bull = io::obj::read_obj(concat!(env!("CARGO_MANIFEST_DIR"), "/meshes/bull.obj"))
                .expect("meshes/bull.obj");
            let k = k.parse().expect("bull_loopK: K a number of subdivisions");
            subdivide::subdivide(&bull, k).expect("Loop subdivision of bull")
        }
        None => io::load_source(spec).unwrap(),
    }
}

/// `n` reproducible values in [−0.5, 0.5) (a multiplicative hash of the index and `seed`).
pub fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32
                / (1u32 << 24) as f32
                - 0.5
        })
        .collect()
}

/// STREAM triad a = b + s·c over three 512 MiB arrays, all threads; best of 5, counting 3 arrays
/// moved. GB/s.
pub fn stream_triad() -> f64 {
    use rayon::prelude::*;
    let n = 1 << 26;
    let b = vec![1.0f64; n];
    let c = vec![2.0f64; n];
    let mut a = vec![0.0f64; n];
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = std::time::Instant::now();
        a.par_chunks_mut(1 << 16)
            .zip(b.par_chunks(1 << 16))
            .zip(c.par_chunks(1 << 16))
            .for_each(|((a, b), c)| {
                for i in 0..a.len() {
                    a[i] = b[i] + 3.0 * c[i];
                }
            });
        best = best.min(t.elapsed().as_secs_f64());
    }
    assert!(a[n / 2] == 7.0);
    3.0 * 8.0 * n as f64 / best / 1e9
}

/// The f32 peak of a SIMD path's arithmetic on all threads, GFLOP/s: ten independent chains of
/// `r = r·m + a` per thread, as 16-lane FMAs (AVX-512), 8-lane FMAs (AVX2) or 4-lane multiplies and
/// adds (SSE2, what the portable path is compiled for on x86-64: two FLOPs per lane as well, in two
/// instructions); best of five. NaN where the processor lacks the path.
pub fn fma_peak(path: manifold_cnn::conv::SimdPath) -> f64 {
    use manifold_cnn::conv::SimdPath;
    use rayon::prelude::*;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        const CHAINS: usize = 10;
        #[target_feature(enable = "avx512f")]
        fn avx512(iters: usize) -> f32 {
            let (m, a) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
            let mut acc = [_mm512_set1_ps(1.0); CHAINS];
            for _ in 0..iters {
                for r in acc.iter_mut() {
                    *r = _mm512_fmadd_ps(*r, m, a);
                }
            }
            acc.iter().map(|&r| _mm512_reduce_add_ps(r)).sum()
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2(iters: usize) -> f32 {
            let (m, a) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
            let mut acc = [_mm256_set1_ps(1.0); CHAINS];
            for _ in 0..iters {
                for r in acc.iter_mut() {
                    *r = _mm256_fmadd_ps(*r, m, a);
                }
            }
            let mut out = [0f32; 8];
            for r in acc {
                let mut lanes = [0f32; 8];
                // SAFETY: `lanes` holds 8 values.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), r) };
                out.iter_mut().zip(lanes).for_each(|(o, l)| *o += l);
            }
            out.iter().sum()
        }
        #[target_feature(enable = "sse2")]
        fn sse2(iters: usize) -> f32 {
            let (m, a) = (_mm_set1_ps(0.999_999), _mm_set1_ps(1e-7));
            let mut acc = [_mm_set1_ps(1.0); CHAINS];
            for _ in 0..iters {
                for r in acc.iter_mut() {
                    *r = _mm_add_ps(_mm_mul_ps(*r, m), a);
                }
            }
            let mut out = 0.0;
            for r in acc {
                let mut lanes = [0f32; 4];
                // SAFETY: `lanes` holds 4 values.
                unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), r) };
                out += lanes.iter().sum::<f32>();
            }
            out
        }
        let (lanes, chains): (usize, fn(usize) -> f32) = match path.resolve() {
            // SAFETY (both): `resolve` succeeded, so the processor has the path's features.
            Ok(SimdPath::Avx512) => (16, |i| unsafe { avx512(i) }),
            Ok(SimdPath::Avx2) => (8, |i| unsafe { avx2(i) }),
            // SAFETY: SSE2 is part of the x86-64 baseline.
            Ok(SimdPath::Portable) => (4, |i| unsafe { sse2(i) }),
            _ => return f64::NAN,
        };
        let iters = 20_000_000usize;
        let threads = rayon::current_num_threads();
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            let s: f32 = (0..threads).into_par_iter().map(|_| chains(iters)).sum();
            best = best.min(t.elapsed().as_secs_f64());
            assert!(s.is_finite());
        }
        (threads * iters * CHAINS * lanes * 2) as f64 / best / 1e9
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = path;
        f64::NAN
    }
}

/// The operator the roofline examples measure: 8 rings × 16 directions, radius 3 mean edge lengths,
/// 16 polar bins (`bins:2:8`), f32.
pub fn roofline_operator(m: &manifold_cnn::Manifold) -> manifold_cnn::conv::ConvOperator<f32> {
    use manifold_cnn::conv::{ConvOperator, Gauge, SpanningTree};
    use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable, Radius};
    use manifold_cnn::kernel::{KernelBasis, PolarBins};
    let options = ExpMapOptions::new()
        .rings(8)
        .directions(16)
        .radius(Radius::MeanEdgeLengths(3.0));
    options.validate(m).unwrap();
    let table = ExpMapTable::build(m, &options).unwrap();
    let basis = KernelBasis::Bins(PolarBins::new(2, 8).unwrap());
    let gauge = Gauge::new(m, None, SpanningTree::Bfs).unwrap();
    ConvOperator::new(m, &table, &basis, &gauge).unwrap()
}
