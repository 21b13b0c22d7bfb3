//! Issue 13's fuzz target: for random sources — random face lists on a small vertex cloud, jittered
//! grids with slivers and needles of any thinness, intrinsic edge lengths, at scales from 1e-130 to
//! 1e130 — every mesh that builds (strictly or with repair) gives finite geometry, an exp-map table whose
//! landings are points of their faces (or a located refusal of the table's parameters), and a finite
//! convolution. Nothing panics.

mod common;

use manifold_cnn::conv::{ConvOperator, Gauge, KernelWeights, Signals, SignalsMut, SpanningTree};
use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable, Radius};
use manifold_cnn::kernel::{KernelBasis, PolarBins};
use manifold_cnn::{BuildOptions, Error, Manifold, MeshSource};
use proptest::prelude::*;

use common::strategies::{cloud, face_lists};

/// Powers of ten the sources are scaled by: inside and beyond the accepted edge lengths [1e-120, 1e120].
fn scale() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0), -130i32..=130].prop_map(|e| 10f64.powi(e))
}

/// Random faces on 8 points of a closed-ish cloud (many valid, many not).
fn random_faces() -> impl Strategy<Value = MeshSource> {
    (face_lists(8, 1..24), scale())
        .prop_map(|(f, s)| MeshSource::from_positions("random faces", cloud(8, s), f))
}

/// A 4 × 4 grid whose vertices move by up to 10^-e in random directions (e up to 16: slivers and
/// needles of every thinness, folds where the move is large), at a random scale.
fn jittered_grid() -> impl Strategy<Value = MeshSource> {
    (
        proptest::collection::vec([-1.0f64..1.0, -1.0f64..1.0, -1.0f64..1.0], 16),
        0i32..=16,
        scale(),
    )
        .prop_map(|(jitter, e, s)| {
            let amount = 10f64.powi(-e);
            let p = (0..16)
                .map(|v| {
                    let (x, y) = ((v % 4) as f64, (v / 4) as f64);
                    let j = jitter[v];
                    [
                        s * (x + amount * j[0]),
                        s * (y + amount * j[1]),
                        s * amount * j[2],
                    ]
                })
                .collect();
            let mut f = Vec::new();
            for y in 0..3u32 {
                for x in 0..3u32 {
                    let v = |dx, dy| (y + dy) * 4 + x + dx;
                    f.push([v(0, 0), v(1, 0), v(1, 1)]);
                    f.push([v(0, 0), v(1, 1), v(0, 1)]);
                }
            }
            MeshSource::from_positions("jittered grid", p, f)
        })
}

/// A 4 × 4 grid with one face split in three by a vertex 10^-e off a point of its first edge (at
/// parameter u, which may be tiny): slivers and needles of every thinness, at a random scale.
fn split_grid() -> impl Strategy<Value = MeshSource> {
    let u = prop_oneof![
        Just(0.5),
        0.0f64..1.0,
        (1i32..16).prop_map(|k| 10f64.powi(-k))
    ];
    (
        0usize..18,
        u,
        [-1.0f64..1.0, -1.0f64..1.0, -1.0f64..1.0],
        0i32..=16,
        scale(),
    )
        .prop_map(|(fi, u, j, e, s)| {
            let mut p: Vec<[f64; 3]> = (0..16)
                .map(|v| [s * (v % 4) as f64, s * (v / 4) as f64, 0.0])
                .collect();
            let mut f = Vec::new();
            for y in 0..3u32 {
                for x in 0..3u32 {
                    let v = |dx, dy| (y + dy) * 4 + x + dx;
                    f.push([v(0, 0), v(1, 0), v(1, 1)]);
                    f.push([v(0, 0), v(1, 1), v(0, 1)]);
                }
            }
            let [a, b, c] = f[fi];
            let (pa, pb) = (p[a as usize], p[b as usize]);
            let amount = s * 10f64.powi(-e);
            p.push([0, 1, 2].map(|k| pa[k] + u * (pb[k] - pa[k]) + amount * j[k]));
            f[fi] = [a, b, 16];
            f.push([b, c, 16]);
            f.push([c, a, 16]);
            MeshSource::from_positions("split grid", p, f)
        })
}

/// Two triangles sharing an edge, with random intrinsic lengths (thin, flat, violating, tiny, huge).
fn intrinsic_pair() -> impl Strategy<Value = MeshSource> {
    let length = prop_oneof![0.01f64..2.0, Just(1.0), Just(2.0)];
    (
        length.clone(),
        length.clone(),
        length.clone(),
        length,
        scale(),
    )
        .prop_map(|(a, b, c, d, s)| {
            // Faces [0, 1, 2] and [1, 0, 3] share the edge (0, 1) of length a.
            let ls = vec![[s * a, s * b, s * c], [s * a, s * c, s * d]];
            MeshSource::from_edge_lengths("intrinsic pair", 4, vec![[0, 1, 2], [1, 0, 3]], ls)
        })
}

/// Everything downstream of an accepted mesh is finite.
fn check_accepted(m: &Manifold) -> Result<(), TestCaseError> {
    let g = &m.geometry;
    prop_assert!(g.face_areas().iter().all(|a| a.is_finite() && *a > 0.0));
    prop_assert!(g.corner_angles().iter().all(|a| a.is_finite()));
    prop_assert!(g.vertex_angle_sums().iter().all(|a| a.is_finite()));
    let params = ExpMapOptions::new()
        .rings(2)
        .directions(6)
        .radius(Radius::MeanEdgeLengths(1.5));
    let t = match ExpMapTable::build(m, &params) {
        Ok(t) => t,
        // Radii outside the f32 range of the table's distances are refused by name.
        Err(Error::InvalidParameter { name: "radius", .. }) => return Ok(()),
        Err(e) => return Err(TestCaseError::fail(format!("table: {e}"))),
    };
    common::assert_table_sane(m, &t);
    let basis = KernelBasis::Bins(PolarBins::new(2, 3).unwrap());
    let gauge = Gauge::new(m, None, SpanningTree::Bfs).unwrap();
    let op = ConvOperator::<f64>::new(m, &t, &basis, &gauge).unwrap();
    let n = m.mesh.vertex_count();
    let x: Vec<f64> = (0..2 * n).map(|i| (i as f64 * 0.37).sin()).collect();
    let w: Vec<f64> = (0..6 * 2 * 3).map(|i| (i as f64 * 0.71).cos()).collect();
    let mut y = vec![0.0; 3 * n];
    op.forward(
        Signals::new(&x, 1, 2).unwrap(),
        KernelWeights::new(&w, 6, 2, 3).unwrap(),
        SignalsMut::new(&mut y, 1, 3).unwrap(),
    );
    prop_assert!(y.iter().all(|v| v.is_finite()), "{:?}", y);
    Ok(())
}

/// Checks what builds; returns how many of the two builds (strict, repair) succeeded.
fn check_source(s: &MeshSource) -> Result<usize, TestCaseError> {
    let mut built = 0;
    for repair in [false, true] {
        if let Ok(m) = Manifold::from_source(s, &BuildOptions::new().repair(repair)) {
            check_accepted(&m)?;
            built += 1;
        }
    }
    Ok(built)
}

/// The fuzz is not vacuous: a fair share of each generator's sources build (in repair mode at least).
#[test]
fn the_generated_sources_often_build() {
    use proptest::strategy::ValueTree;
    let generators = [
        ("random faces", random_faces().boxed()),
        ("jittered grid", jittered_grid().boxed()),
        ("split grid", split_grid().boxed()),
        ("intrinsic pair", intrinsic_pair().boxed()),
    ];
    for (name, strategy) in generators {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let built = (0..200)
            .filter(|_| {
                let s = strategy.new_tree(&mut runner).unwrap().current();
                check_source(&s).unwrap() > 0
            })
            .count();
        assert!(built >= 40, "{name}: {built} of 200 built");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_faces_give_finite_outputs(s in random_faces()) {
        check_source(&s)?;
    }

    #[test]
    fn jittered_grids_give_finite_outputs(s in jittered_grid()) {
        check_source(&s)?;
    }

    #[test]
    fn split_grids_give_finite_outputs(s in split_grid()) {
        check_source(&s)?;
    }

    #[test]
    fn intrinsic_lengths_give_finite_outputs(s in intrinsic_pair()) {
        check_source(&s)?;
    }
}
