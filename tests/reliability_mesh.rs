//! Issue 13, mesh side: every accepted mesh gives finite geometry, exp-map tables and convolutions
//! (thin triangles at every scale, huge and tiny coordinates), and mesh building is O(n log n) whatever
//! the valences and duplicates.

mod common;

use approx::{abs_diff_eq, assert_abs_diff_eq};
use common::assert_abs_diff_eq_msg;
use common::cli::{stderr, EXE};
use common::meshes::{sane_table, REPAIR, STRICT};
use manifold_cnn::conv::{ConvOperator, Gauge, KernelWeights, Signals, SignalsMut, SpanningTree};
use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable, Radius};
use manifold_cnn::kernel::{KernelBasis, PolarBins};
use manifold_cnn::{Error, Manifold, MeshSource};

/// A `(n+1) × (n+1)` grid of unit squares (two triangles each) scaled by `scale`, with one extra vertex
/// `extra` (in unscaled grid units) splitting the triangle `split` into three.
fn grid_with_split(n: u32, scale: f64, extra: [f64; 2], split: usize) -> (MeshSource, [usize; 3]) {
    let mut p = Vec::new();
    for j in 0..=n {
        for i in 0..=n {
            p.push([i as f64 * scale, j as f64 * scale, 0.0]);
        }
    }
    let id = |i: u32, j: u32| j * (n + 1) + i;
    let mut f = Vec::new();
    for j in 0..n {
        for i in 0..n {
            f.push([id(i, j), id(i + 1, j), id(i + 1, j + 1)]);
            f.push([id(i, j), id(i + 1, j + 1), id(i, j + 1)]);
        }
    }
    let x = p.len() as u32;
    p.push([extra[0] * scale, extra[1] * scale, 0.0]);
    let [a, b, c] = f[split];
    f[split] = [a, b, x];
    let i1 = f.len();
    f.push([b, c, x]);
    f.push([c, a, x]);
    (
        MeshSource::from_positions("split grid", p, f),
        [split, i1, i1 + 1],
    )
}

/// Builds the table and a one-bin convolution of a constant signal; returns the outputs.
fn table_and_conv(m: &Manifold) -> Vec<f64> {
    let params = ExpMapOptions::new()
        .rings(3)
        .directions(8)
        .radius(Radius::MeanEdgeLengths(2.0));
    let t = sane_table(m, &params);
    let one = KernelBasis::Bins(PolarBins::new(1, 1).unwrap());
    let gauge = Gauge::new(m, None, SpanningTree::Bfs).unwrap();
    let op = ConvOperator::<f64>::new(m, &t, &one, &gauge).unwrap();
    let n = m.mesh.vertex_count();
    let x = vec![1.0; n];
    let mut y = vec![0.0; n];
    op.forward(
        Signals::new(&x, 1, 1).unwrap(),
        KernelWeights::new(&[1.0], 1, 1, 1).unwrap(),
        SignalsMut::new(&mut y, 1, 1).unwrap(),
    );
    y
}

/// Every geometric quantity of an accepted mesh is finite, areas and angle sums positive.
fn assert_geometry_sane(m: &Manifold) {
    let g = &m.geometry;
    for (f, a) in g.face_areas().iter().enumerate() {
        assert!(a.is_finite() && *a > 0.0, "face {f}: area {a:e}");
    }
    for (c, a) in g.corner_angles().iter().enumerate() {
        assert!(a.is_finite() && *a >= 0.0, "corner {c}: angle {a:e}");
    }
    for (e, l) in g.edge_lengths().iter().enumerate() {
        assert!(l.is_finite() && *l > 0.0, "edge {e}: length {l:e}");
    }
    for (v, t) in g.vertex_angle_sums().iter().enumerate() {
        assert!(t.is_finite() && *t > 0.0, "vertex {v}: angle sum {t:e}");
    }
}

/// Slivers (the extra vertex `h` above the middle of an edge) and needles (`h` from a corner) of
/// relative size 1e-3 … 1e-15, in meshes of absolute scale 1e-20, 1 and 1e20: each is either refused as
/// zero-area, naming one of its faces, or gives finite geometry, an exp-map table whose landings are
/// points of their faces, and a finite convolution. Relative sizes ≥ 1e-6 are far above the threshold
/// (1e-12, and the rounding of the lengths moves their ratio by ~1e-16/h²) and must be accepted; sizes
/// ≤ 1e-12 leave a face with ratio ≤ 1e-12 (a sliver's is h, the needle's thinner face's 0.35 h) and
/// must be refused.
#[test]
fn thin_faces_at_every_relative_scale_are_refused_or_traced_finitely() {
    // The lower-right triangle (1,1), (2,1), (2,2) of a 4 × 4 grid.
    let split = 2 * (4 + 1);
    for scale in [1.0, 1e-20, 1e20] {
        for e in 3..=15 {
            let h = 10f64.powi(-e);
            for (kind, extra) in [
                ("sliver", [1.5, 1.0 + h]),
                ("needle", [1.0 + 0.3 * h, 1.0 + h]),
            ] {
                let (s, faces) = grid_with_split(4, scale, extra, split);
                let what = format!("{kind} of relative size {h:e} at scale {scale:e}");
                match Manifold::from_source(&s, &STRICT) {
                    Ok(m) => {
                        assert!(h > 1e-12, "{what}: accepted");
                        assert_geometry_sane(&m);
                        let y = table_and_conv(&m);
                        assert!(y.iter().all(|v| v.is_finite()), "{what}: {y:?}");
                    }
                    Err(Error::ZeroAreaFace { face, .. }) => {
                        assert!(h < 1e-6, "{what}: refused");
                        assert!(faces.contains(&face), "{what}: face {face} named");
                    }
                    Err(e) => panic!("{what}: {e}"),
                }
            }
        }
    }
}

/// The issue's examples: a lone triangle of height 1e-9 and a sliver 1e-10 off its base have lengths
/// that make them exactly flat (0.5² + 1e-18 rounds to 0.5²): refused, naming the face.
#[test]
fn the_issues_slivers_are_refused() {
    let single = MeshSource::from_positions(
        "t",
        vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, 1e-9, 0.0]],
        vec![[0, 1, 2]],
    );
    let e = Manifold::from_source(&single, &STRICT).unwrap_err();
    assert!(matches!(e, Error::ZeroAreaFace { face: 0, .. }), "{e}");
    let (s, [sliver, ..]) = grid_with_split(4, 1.0, [1.5, 1.0 + 1e-10], 10);
    let e = Manifold::from_source(&s, &STRICT).unwrap_err();
    assert_eq!(
        e,
        Error::ZeroAreaFace {
            face: sliver,
            line: None
        }
    );
}

/// A 3 × 3 grid scaled by `scale`.
fn grid(scale: f64) -> MeshSource {
    grid_with_split(3, scale, [0.75, 0.5], 0).0
}

/// Validity does not depend on the unit: grids at scales 1e-100 and 1e100 and equilateral intrinsic
/// triangles of side 1e-100 and 1e100 are valid meshes with finite, positive geometry (the angles of an
/// equilateral triangle are π/3 to the last bits).
#[test]
fn validity_is_scale_invariant() {
    for scale in [1e-100, 1e-20, 1.0, 1e20, 1e100] {
        let m = Manifold::from_source(&grid(scale), &STRICT).unwrap();
        assert_geometry_sane(&m);
        // The 3-D frames of the planar grid: normal +z, unit x axes in the plane.
        let frames = m.extrinsic_frames().unwrap();
        for (n, x) in frames.normals.iter().zip(&frames.x) {
            assert!(
                (n - nalgebra::Vector3::z()).norm() < 1e-12,
                "{scale:e}: normal {n:?}"
            );
            assert!(
                abs_diff_eq!(x.norm(), 1.0, epsilon = 1e-12)
                    && abs_diff_eq!(x.z, 0.0, epsilon = 1e-12),
                "{scale:e}: x {x:?}"
            );
        }
        let area: f64 = m.geometry.total_area();
        assert_abs_diff_eq_msg!(
            area / (9.0 * scale * scale),
            1.0,
            epsilon = 1e-12,
            "{scale:e}: {area:e}"
        );
        let l = 1.0 * scale;
        let tri = MeshSource::from_edge_lengths("t", 3, vec![[0, 1, 2]], vec![[l; 3]]);
        let m = Manifold::from_source(&tri, &STRICT).unwrap();
        assert_geometry_sane(&m);
        for a in m.geometry.corner_angles() {
            assert_abs_diff_eq_msg!(
                *a,
                std::f64::consts::FRAC_PI_3,
                epsilon = 4.0 * f64::EPSILON,
                "{a}"
            );
        }
        let want = 3f64.sqrt() / 4.0 * l * l;
        assert_abs_diff_eq!(
            m.geometry.face_area(m.mesh.face(0).unwrap()) / want,
            1.0,
            epsilon = 1e-15
        );
    }
}

/// Lengths whose areas no double holds (1e-310: 1e-620; 1e200: 1e400) are refused as out of range,
/// naming the face and side, not as degenerate; repair drops the face.
#[test]
fn lengths_beyond_double_precision_are_refused_as_out_of_range() {
    for l in [1e-310, 1e-200, 1e200, f64::MAX] {
        let lengths = vec![[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [l, l, l]];
        let faces = vec![[0, 1, 2], [2, 1, 3], [4, 5, 6]];
        let tri = MeshSource::from_edge_lengths("t", 7, faces, lengths);
        let e = Manifold::from_source(&tri, &STRICT).unwrap_err();
        assert_eq!(
            e,
            Error::EdgeLengthOutOfRange {
                face: 2,
                line: None,
                side: 0,
                length: l
            }
        );
        assert!(e.to_string().contains("outside [1e-120, 1e120]"), "{e}");
        let m = Manifold::from_source(&tri, &REPAIR).unwrap();
        assert_eq!(m.mesh.face_count(), 2);
        assert!(m
            .report
            .repairs
            .contains(&manifold_cnn::mesh::Repair::DroppedOutOfRangeFace { face: 2 }));
    }
}

/// Coordinates of 1e150 (areas of 1e300, squared lengths near overflow) and 1e308 (lengths overflow
/// to inf) are an error naming the first face, with the length it would have (computed without
/// overflow); coordinates of 1e-150 likewise (lengths that square to subnormals).
#[test]
fn huge_and_tiny_coordinates_are_refused_naming_the_face() {
    for (scale, side, length) in [
        (1e150, 0, 1e150),
        (1e308, 0, 1e308),
        (-1e308, 0, 1e308),
        (1e-150, 0, 1e-150),
    ] {
        let p = vec![
            [0.0, 0.0, 0.0],
            [scale, 0.0, 0.0],
            [0.0, scale, 0.0],
            [scale, scale, 0.0],
        ];
        let s = MeshSource::from_positions("t", p, vec![[0, 1, 2], [2, 1, 3]]);
        let e = Manifold::from_source(&s, &STRICT).unwrap_err();
        match e {
            Error::EdgeLengthOutOfRange {
                face: 0,
                side: s,
                length: l,
                ..
            } if s == side && abs_diff_eq!(l / length, 1.0, epsilon = 1e-15) => {}
            e => panic!("{scale:e}: {e}"),
        }
    }
    // Differences that overflow: the length is inf.
    let s = MeshSource::from_positions(
        "t",
        vec![[-1e308, 0.0, 0.0], [1e308, 0.0, 0.0], [0.0, 1e308, 0.0]],
        vec![[0, 1, 2]],
    );
    let e = Manifold::from_source(&s, &STRICT).unwrap_err();
    assert!(
        matches!(e, Error::EdgeLengthOutOfRange { face: 0, side: 0, length, .. } if length == f64::INFINITY),
        "{e}"
    );
}

/// The table stores distances as f32: a radius outside the normal f32 range is refused with a message
/// saying so, instead of a table of zeros or infinities.
#[test]
fn tables_refuse_radii_outside_f32() {
    for scale in [1e-100, 1e100] {
        let m = Manifold::from_source(&grid(scale), &STRICT).unwrap();
        let e = ExpMapTable::build(&m, &ExpMapOptions::default()).unwrap_err();
        assert!(e.to_string().contains("f32"), "{e}");
    }
}

/// Under a 4 GB address-space limit the documented largest icosphere, and `cube:3000`, are refused
/// with their estimate (exit 2, one message) before anything is allocated, instead of aborting with
/// "memory allocation failed".
#[test]
fn huge_primitives_are_refused_with_an_estimate_under_a_memory_limit() {
    for spec in ["icosphere:11", "cube:3000"] {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -v 4000000 && exec \"$0\" inspect {spec}"))
            .arg(EXE)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{spec}: {err}");
        assert!(
            err.contains(spec) && err.contains("needs ~") && err.contains("GiB"),
            "{spec}: {err}"
        );
    }
}

/// The memory check refuses what no allocator can give and accepts a small request.
#[test]
fn memory_check_refuses_impossible_requests() {
    use manifold_cnn::mesh::ensure_memory;
    let e = ensure_memory(|| "a test".into(), u64::MAX).unwrap_err();
    assert!(
        matches!(
            e,
            Error::OutOfMemory {
                bytes: u64::MAX,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().starts_with("a test needs ~"), "{e}");
    ensure_memory(|| "a test".into(), 1 << 20).unwrap();
}

/// Intrinsic lengths of a shared edge may differ by up to 1e-9 relative; the geometry uses one per
/// edge. A face valid with its own length of the edge (1 − 5e-10 against sides 0.5 − 1e-10: height
/// ≈ 1.2e-5) but violating the triangle inequality with its neighbour's (1 against 1 − 2e-10) is
/// refused, naming the face and the lengths the geometry would use.
#[test]
fn shared_edge_lengths_are_checked_as_the_geometry_uses_them() {
    let side = 0.5 - 1e-10;
    let faces = vec![[0, 1, 2], [1, 0, 3]];
    let lengths = vec![[1.0, 1.0, 1.0], [1.0 - 5e-10, side, side]];
    let s = MeshSource::from_edge_lengths("pair", 4, faces.clone(), lengths);
    let e = Manifold::from_source(&s, &STRICT).unwrap_err();
    assert_eq!(
        e,
        Error::TriangleInequality {
            face: 1,
            lengths: [1.0, side, side]
        }
    );
    // Within the tolerance and valid either way: the geometry uses face 0's length for both.
    let lengths = vec![[1.0, 1.0, 1.0], [1.0 - 5e-10, 1.0, 1.0]];
    let m = Manifold::from_source(
        &MeshSource::from_edge_lengths("pair", 4, faces, lengths),
        &STRICT,
    )
    .unwrap();
    assert!(m.geometry.edge_lengths().contains(&1.0));
    assert!(!m.geometry.edge_lengths().contains(&(1.0 - 5e-10)));
    assert_geometry_sane(&m);
}
