//! Bad inputs: each defect is named in strict mode and fixed (and reported) by repair; no input panics.

mod common;

use manifold_cnn::mesh::{Mesh, Repair};
use manifold_cnn::{Error, MeshSource, SpokeId};
use proptest::prelude::*;

use common::meshes::{REPAIR, STRICT};
use common::strategies::random_faces;

fn square() -> Vec<[f64; 3]> {
    vec![[0., 0., 0.], [1., 0., 0.], [1., 1., 0.], [0., 1., 0.]]
}

fn src(p: Vec<[f64; 3]>, f: Vec<[u32; 3]>) -> MeshSource {
    MeshSource::from_positions("test", p, f)
}

#[test]
fn empty_mesh() {
    assert_eq!(
        Mesh::build(&src(square(), vec![]), &STRICT).unwrap_err(),
        Error::EmptyMesh
    );
}

#[test]
fn face_index_out_of_range() {
    let e = Mesh::build(&src(square(), vec![[0, 1, 2], [0, 2, 7]]), &REPAIR).unwrap_err();
    assert!(
        matches!(
            e,
            Error::FaceIndexOutOfRange {
                face: 1,
                index: 7,
                vertices: 4,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn non_finite_coordinate() {
    let mut p = square();
    p[3][1] = f64::NAN;
    let s = src(p, vec![[0, 1, 2], [0, 2, 3]]);
    let e = Mesh::build(&s, &STRICT).unwrap_err();
    assert!(
        matches!(e, Error::NonFiniteCoordinate { vertex: 3, .. }),
        "{e}"
    );
    let b = Mesh::build(&s, &REPAIR).unwrap();
    assert_eq!(b.mesh.face_count(), 1);
    assert_eq!(b.mesh.vertex_count(), 3);
    assert!(b
        .report
        .repairs
        .contains(&Repair::DroppedNonFiniteFace { face: 1 }));
    assert!(b
        .report
        .repairs
        .contains(&Repair::DroppedUnreferencedVertex { vertex: 3 }));
}

#[test]
fn repeated_vertex() {
    let s = src(square(), vec![[0, 1, 2], [0, 2, 2], [0, 2, 3]]);
    let e = Mesh::build(&s, &STRICT).unwrap_err();
    assert!(
        matches!(
            e,
            Error::RepeatedVertexInFace {
                face: 1,
                vertex: 2,
                ..
            }
        ),
        "{e}"
    );
    let b = Mesh::build(&s, &REPAIR).unwrap();
    assert_eq!(b.mesh.face_count(), 2);
    assert_eq!(
        b.report.repairs,
        vec![Repair::DroppedRepeatedVertexFace { face: 1 }]
    );
}

#[test]
fn zero_area_face() {
    let mut p = square();
    p.push([2., 0., 0.]);
    let s = src(p, vec![[0, 1, 2], [0, 2, 3], [0, 1, 4]]);
    let e = Mesh::build(&s, &STRICT).unwrap_err();
    assert!(matches!(e, Error::ZeroAreaFace { face: 2, .. }), "{e}");
    let b = Mesh::build(&s, &REPAIR).unwrap();
    assert!(b
        .report
        .repairs
        .contains(&Repair::DroppedZeroAreaFace { face: 2 }));
    assert_eq!(b.mesh.vertex_count(), 4);
}

#[test]
fn duplicate_face_in_either_orientation() {
    let s = src(square(), vec![[0, 1, 2], [0, 2, 3], [2, 1, 0]]);
    let e = Mesh::build(&s, &STRICT).unwrap_err();
    assert!(
        matches!(
            e,
            Error::DuplicateFace {
                face: 2,
                first: 0,
                ..
            }
        ),
        "{e}"
    );
    let b = Mesh::build(&s, &REPAIR).unwrap();
    assert_eq!(
        b.report.repairs,
        vec![Repair::DroppedDuplicateFace { face: 2, first: 0 }]
    );
}

#[test]
fn non_manifold_edge_is_split() {
    // Three triangles hinged on the edge (0, 1): a book with three pages.
    let p = vec![
        [0., 0., 0.],
        [1., 0., 0.],
        [0., 1., 0.],
        [0., -1., 0.],
        [0., 0., 1.],
    ];
    let s = src(p, vec![[0, 1, 2], [1, 0, 3], [0, 1, 4]]);
    let e = Mesh::build(&s, &STRICT).unwrap_err();
    assert_eq!(
        e,
        Error::NonManifoldEdge {
            edge: (0, 1),
            faces: 3
        }
    );
    let b = Mesh::build(&s, &REPAIR).unwrap();
    assert!(b.report.repairs.contains(&Repair::SplitNonManifoldEdge {
        edge: (0, 1),
        faces: 3
    }));
    // The third page is detached: its copies of vertices 0 and 1 are new vertices.
    assert_eq!(b.mesh.face_count(), 3);
    assert_eq!(b.mesh.vertex_count(), 7);
    assert_eq!(b.mesh.components().len(), 2);
    assert_eq!(b.report.vertex_origin[5..], [0, 1]);
}

#[test]
fn non_manifold_vertex_is_split() {
    // Two triangles touching only at vertex 0 (a bow tie).
    let p = vec![
        [0., 0., 0.],
        [1., 0., 0.],
        [1., 1., 0.],
        [-1., 0., 0.],
        [-1., -1., 0.],
    ];
    let s = src(p, vec![[0, 1, 2], [0, 3, 4]]);
    let e = Mesh::build(&s, &STRICT).unwrap_err();
    assert_eq!(e, Error::NonManifoldVertex { vertex: 0, fans: 2 });
    let b = Mesh::build(&s, &REPAIR).unwrap();
    assert_eq!(
        b.report.repairs,
        vec![Repair::SplitNonManifoldVertex { vertex: 0, fans: 2 }]
    );
    assert_eq!(b.mesh.vertex_count(), 6);
    assert_eq!(b.mesh.components().len(), 2);
    assert_eq!(b.positions.unwrap()[5], [0., 0., 0.]);
}

#[test]
fn unreferenced_vertex() {
    let mut p = square();
    p.push([5., 5., 5.]);
    let s = src(p, vec![[0, 1, 2], [0, 2, 3]]);
    let e = Mesh::build(&s, &STRICT).unwrap_err();
    assert!(
        matches!(e, Error::UnreferencedVertex { vertex: 4, .. }),
        "{e}"
    );
    let b = Mesh::build(&s, &REPAIR).unwrap();
    assert_eq!(
        b.report.repairs,
        vec![Repair::DroppedUnreferencedVertex { vertex: 4 }]
    );
}

#[test]
fn intrinsic_lengths_are_validated() {
    let f = vec![[0, 1, 2], [0, 2, 3]];
    let ok = [[1.0, 1.0, 2f64.sqrt()], [2f64.sqrt(), 1.0, 1.0]];
    let bad = |l: [[f64; 3]; 2]| MeshSource::from_edge_lengths("l", 4, f.clone(), l.to_vec());
    assert!(Mesh::build(&bad(ok), &STRICT).is_ok());
    let e = Mesh::build(&bad([[1.0, -1.0, 1.0], ok[1]]), &STRICT).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidEdgeLength {
                face: 0,
                side: 1,
                ..
            }
        ),
        "{e}"
    );
    let e = Mesh::build(&bad([[1.0, 1.0, 2.0], ok[1]]), &STRICT).unwrap_err();
    assert!(
        matches!(e, Error::TriangleInequality { face: 0, .. }),
        "{e}"
    );
    let e = Mesh::build(&bad([[1.0, 1.0, 1.5], ok[1]]), &STRICT).unwrap_err();
    assert!(
        matches!(e, Error::InconsistentEdgeLength { edge: (0, 2), .. }),
        "{e}"
    );
}

#[test]
fn inconsistent_orientation_is_fixed_without_being_a_defect() {
    let s = src(square(), vec![[0, 1, 2], [0, 3, 2]]);
    let b = Mesh::build(&s, &STRICT).unwrap();
    assert_eq!(b.report.flipped_faces, 1);
    assert!(b.mesh.is_orientable());
    assert_eq!(b.mesh.faces()[1].map(|v| v.index()), [0, 2, 3]);
}

/// Structural invariants every built mesh satisfies.
fn check_invariants(m: &Mesh) {
    for h in 0..m.halfedge_count() {
        let h = manifold_cnn::HalfedgeId::from_face_side(m.face(h / 3).unwrap(), h % 3);
        if let Some(t) = m.halfedge_twin(h) {
            assert_eq!(m.halfedge_twin(t), Some(h));
            assert_eq!(m.halfedge_edge(t), m.halfedge_edge(h));
        }
    }
    let mut corners = 0;
    for v in m.vertices() {
        corners += m.vertex_corners(v).len();
        let spokes: Vec<SpokeId> = m.vertex_spoke_ids(v).collect();
        assert_eq!(m.vertex_spokes(v).len(), spokes.len());
        assert_eq!(
            spokes.len(),
            m.vertex_corners(v).len() + m.is_boundary_vertex(v) as usize
        );
        // The star: corner i's face is v with the targets of spokes i and i + 1 (wrapping inside), and
        // its orientation against the star decides which of them follows v in the face.
        let corners = m.vertex_corners(v);
        for (i, &c) in corners.iter().enumerate() {
            let (a, b) = (
                m.spoke_target(spokes[i]),
                m.spoke_target(spokes[(i + 1) % spokes.len()]),
            );
            let (after, before) = (m.halfedge_head(c), m.halfedge_tail(c.prev()));
            assert_eq!(m.halfedge_tail(c), v);
            if m.corner_flipped(c) {
                assert_eq!((after, before), (b, a), "vertex {v}, corner {i}");
            } else {
                assert_eq!((after, before), (a, b), "vertex {v}, corner {i}");
            }
        }
        for &s in &spokes {
            assert_eq!(m.spoke_opposite(m.spoke_opposite(s)), s);
            assert_eq!(m.spoke_target(m.spoke_opposite(s)), v);
            assert_eq!(m.spoke_edge(m.spoke_opposite(s)), m.spoke_edge(s));
            assert_eq!(m.spoke_reflects(m.spoke_opposite(s)), m.spoke_reflects(s));
            let mut ends = [v, m.spoke_target(s)];
            ends.sort();
            assert_eq!(m.edge_vertices(m.spoke_edge(s)), ends);
        }
    }
    assert_eq!(corners, 3 * m.face_count());
    assert_eq!(m.spoke_count(), 2 * m.edge_count());
    let comps: i64 = m
        .components()
        .iter()
        .map(|c| c.euler_characteristic())
        .sum();
    assert_eq!(comps, m.euler_characteristic());
}

#[test]
fn primitives_and_real_meshes_satisfy_the_invariants() {
    let specs = [
        "icosphere:3",
        "grid:6x5",
        "flat-torus:6x5",
        "flat-mobius:9x4",
        "mobius:16x4",
        "torus:9x6",
        "cube:3",
        "cone:5",
    ];
    for spec in specs {
        let s = manifold_cnn::io::load_source(spec).unwrap();
        check_invariants(&Mesh::build(&s, &STRICT).unwrap().mesh);
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/meshes");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "obj") {
            let s = manifold_cnn::io::load_source(path.to_str().unwrap()).unwrap();
            check_invariants(&Mesh::build(&s, &REPAIR).unwrap().mesh);
        }
    }
}

fn random_source() -> impl Strategy<Value = MeshSource> {
    (1usize..12).prop_flat_map(|n| {
        let coord = prop_oneof![8 => -2.0f64..2.0, 1 => Just(f64::NAN), 1 => Just(0.0)];
        let pos = proptest::collection::vec([coord.clone(), coord.clone(), coord], n);
        let faces = proptest::collection::vec(
            [0u32..n as u32 + 1, 0u32..n as u32 + 1, 0u32..n as u32 + 1],
            0..24,
        );
        (pos, faces).prop_map(|(p, f)| MeshSource::from_positions("random", p, f))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_face_lists_never_panic(s in random_source()) {
        let _ = Mesh::build(&s, &STRICT);
        if let Ok(b) = Mesh::build(&s, &REPAIR) {
            check_invariants(&b.mesh);
        }
    }

    #[test]
    fn repair_always_yields_a_valid_mesh(s in random_faces(8, 1..30)) {
        match Mesh::build(&s, &REPAIR) {
            Ok(b) => {
                check_invariants(&b.mesh);
                let strict_again = MeshSource::from_positions(
                    "again",
                    b.positions.clone().unwrap(),
                    b.mesh.faces().iter().map(|f| f.map(|v| v.raw())).collect(),
                );
                // What repair produced passes strict validation.
                prop_assert!(Mesh::build(&strict_again, &STRICT).is_ok());
            }
            Err(e) => prop_assert!(
                matches!(e, Error::EmptyMesh | Error::AllFacesDropped { .. }),
                "{}",
                e
            ),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(s) = manifold_cnn::io::obj::parse_obj(&bytes, "fuzz") {
            let _ = Mesh::build(&s, &REPAIR);
        }
    }

    #[test]
    fn obj_like_text_never_panics(lines in proptest::collection::vec(
        prop_oneof![
            (-2.0f64..2.0, -2.0f64..2.0, -2.0f64..2.0).prop_map(|(a, b, c)| format!("v {a} {b} {c}")),
            (-3i64..9, -3i64..9, -3i64..9).prop_map(|(a, b, c)| format!("f {a} {b} {c}")),
            (1i64..9, 1i64..9, 1i64..9, 1i64..9).prop_map(|(a, b, c, d)| format!("f {a}/1 {b}//2 {c}/3/4 {d}")),
            Just("f 1".to_string()),
            Just("v nan inf 1".to_string()),
        ], 0..30)) {
        let text = lines.join("\n");
        if let Ok(s) = manifold_cnn::io::obj::parse_obj(text.as_bytes(), "fuzz") {
            let _ = Mesh::build(&s, &STRICT);
            if let Ok(b) = Mesh::build(&s, &REPAIR) {
                check_invariants(&b.mesh);
            }
        }
    }
}
