//! No input breaks the library: size products that would overflow are refused with the documented
//! panic (never wrapped into an out-of-bounds access), and stages built for one mesh are refused by
//! another.

mod common;

use manifold_cnn::conv::{ConvOperator, Gauge, Real, Signals, SpanningTree};
use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable, Radius};
use manifold_cnn::kernel::{KernelBasis, PolarBins};
use manifold_cnn::Manifold;

use common::cli::{run, stderr};
use common::meshes::{load, REPAIR};

/// The message of a panic caught from `f`.
fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn gemm_with_an_output_size_that_overflows_panics_instead_of_writing_out_of_bounds() {
    // m × n = 2^62 × 4 = 2^64 wraps to 0 in unchecked arithmetic, which an empty C would pass.
    let (a, b) = ([1.0f32], [1.0f32; 4]);
    let message = panic_message(|| {
        let mut c: [f32; 0] = [];
        f32::gemm(1 << 62, 1, 4, &a, 0, 0, &b, 4, 1, 0.0, &mut c);
    });
    assert!(message.contains("gemm: output of 0 values"), "{message}");
}

#[test]
fn gemm_with_a_stride_offset_that_overflows_panics() {
    // A's last offset (rows − 1)·rs + (cols − 1)·cs = 2^62 + 3·2^62 = 2^64 wraps to 0 in unchecked
    // arithmetic, which a slice of 4 would pass.
    let (a, b) = ([1.0f64; 4], [1.0f64; 4]);
    let message = panic_message(|| {
        let mut c = [0.0f64; 8];
        f64::gemm(2, 4, 1, &a, 1 << 62, 1 << 62, &b, 1, 1, 0.0, &mut c);
    });
    assert!(message.contains("exceeds its slice"), "{message}");
}

#[test]
fn forward_with_the_issues_absurd_sizes_is_refused_by_the_view() {
    // The issue's call: forward on 2^63 signals of 2 channels in an empty buffer. The view refuses
    // the shape, so no operator ever sees it.
    let err = Signals::<f32>::new(&[], 1 << 63, 2)
        .unwrap_err()
        .to_string();
    assert!(err.contains("overflows"), "{err}");
}

#[test]
fn an_operator_refuses_a_table_or_gauge_of_another_mesh_with_as_many_vertices() {
    let (sphere, grid) = (load("icosphere:2"), load("grid:18x9"));
    assert_eq!(sphere.mesh.vertex_count(), 162);
    assert_eq!(grid.mesh.vertex_count(), 162);
    let params = ExpMapOptions::new()
        .rings(2)
        .directions(6)
        .radius(Radius::MeanEdgeLengths(2.0));
    let one = KernelBasis::Bins(PolarBins::new(1, 1).unwrap());
    let table = |m: &Manifold| ExpMapTable::build(m, &params).unwrap();
    let gauge = |m: &Manifold| Gauge::new(m, None, SpanningTree::Bfs).unwrap();
    let (sphere_table, sphere_gauge) = (table(&sphere), gauge(&sphere));
    let (grid_table, grid_gauge) = (table(&grid), gauge(&grid));
    // Each stage with its own mesh compiles.
    assert!(ConvOperator::<f32>::new(&sphere, &sphere_table, &one, &sphere_gauge).is_ok());
    assert!(ConvOperator::<f32>::new(&grid, &grid_table, &one, &grid_gauge).is_ok());
    // The sphere's table on the grid: an error naming both meshes (162 vertices each; the sphere has
    // 20·4² = 320 faces, the 18 × 9 grid 2·17·8 = 272).
    let err = ConvOperator::<f32>::new(&grid, &sphere_table, &one, &grid_gauge)
        .unwrap_err()
        .to_string();
    assert!(err.contains("exp-map table"), "{err}");
    assert!(err.contains("162 vertices, 320 faces"), "{err}");
    assert!(err.contains("162 vertices, 272 faces"), "{err}");
    assert!(
        err.contains(&format!("{:016x}", sphere.identity().fingerprint)),
        "{err}"
    );
    assert!(
        err.contains(&format!("{:016x}", grid.identity().fingerprint)),
        "{err}"
    );
    // The grid's gauge with the sphere's table on the sphere.
    let err = ConvOperator::<f32>::new(&sphere, &sphere_table, &one, &grid_gauge)
        .unwrap_err()
        .to_string();
    assert!(err.contains("gauge"), "{err}");
}

#[test]
fn the_fingerprint_tells_apart_meshes_with_the_same_counts() {
    // A 9 × 18 and an 18 × 9 flat torus: 162 vertices and 324 faces each, other connectivity.
    let (a, b) = (load("flat-torus:9x18"), load("flat-torus:18x9"));
    assert_eq!(
        (a.identity().vertices, a.identity().faces),
        (b.identity().vertices, b.identity().faces)
    );
    assert_ne!(a.identity().fingerprint, b.identity().fingerprint);
    let params = ExpMapOptions::new()
        .rings(1)
        .directions(4)
        .radius(Radius::MeanEdgeLengths(1.0));
    let table = ExpMapTable::build(&a, &params).unwrap();
    let one = KernelBasis::Bins(PolarBins::new(1, 1).unwrap());
    let gauge = Gauge::new(&b, None, SpanningTree::Bfs).unwrap();
    let err = ConvOperator::<f64>::new(&b, &table, &one, &gauge).unwrap_err();
    assert!(
        matches!(
            err,
            manifold_cnn::Error::MeshMismatch {
                stage: "exp-map table",
                ..
            }
        ),
        "{err}"
    );
    // The same spec loaded twice is the same mesh.
    assert_eq!(a.identity(), load("flat-torus:9x18").identity());
}

/// Numbers too large or too small to print plainly are printed in scientific notation in messages:
/// `1e308`, not 309 digits.
#[test]
fn huge_numbers_in_messages_are_printed_in_scientific_notation() {
    for args in [
        &["expmap", "grid:3x3", "--radius", "1e308"][..],
        &["holonomy", "cube:2", "--tolerance", "1e300"][..],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(!err.contains("0000000000"), "{err}");
        assert!(err.contains("e308") || err.contains("e300"), "{err}");
    }
    assert_eq!(manifold_cnn::error::Num(2.5).to_string(), "2.5");
    assert_eq!(manifold_cnn::error::Num(1e-300).to_string(), "1e-300");
    assert_eq!(manifold_cnn::error::Num(-3e200).to_string(), "-3e200");
}

/// When repair removes every face, the error says which defects removed them (not just "no faces").
#[test]
fn a_repair_that_drops_every_face_names_the_defects() {
    let source = manifold_cnn::io::obj::parse_obj(
        b"v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\nf 1 1 2\nf 1 2 3\n",
        "collinear.obj",
    )
    .unwrap();
    let err = manifold_cnn::Mesh::build(&source, &REPAIR).unwrap_err();
    assert!(
        matches!(err, manifold_cnn::Error::AllFacesDropped { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("of zero area (first: face 0)")
            && text.contains("with a repeated vertex (first: face 1)"),
        "{text}"
    );
}
