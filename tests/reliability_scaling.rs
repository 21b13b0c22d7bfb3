//! Issue 13, mesh side: building a mesh and its exp-map table is O(n log n) whatever the valences and
//! duplicates. Each adversarial input is built at two sizes, n and 4n, and the work counters of
//! [`manifold_cnn::mesh::work`] (elementary steps of the loops whose cost depends on valences and
//! duplicates) must grow by about 4·log(4n)/log(n) ≈ 4.6 — a quadratic loop would give 16. Counters, not
//! timings: the result does not depend on the machine or its load.

mod common;

use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable, Radius};
use manifold_cnn::mesh::work::{self, Work};
use manifold_cnn::mesh::{Mesh, Repair};
use manifold_cnn::{Error, Manifold, MeshSource};
use std::f64::consts::TAU;
use std::sync::Mutex;

use common::meshes::{REPAIR, STRICT};

const N: usize = 25_000;

/// The counters are global: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// The work `f` does, per counter.
fn work_of(f: impl FnOnce()) -> [u64; 3] {
    let counters = [Work::Sides, Work::Stars, Work::Leave];
    let before = counters.map(work::read);
    f();
    let after = counters.map(work::read);
    [0, 1, 2].map(|i| after[i] - before[i])
}

/// Runs `case` at sizes N and 4N; asserts that the total work of the counters it names is positive
/// and grows by a factor in [3.5, 6] (linear: 4; n log n: ≈ 4.6; quadratic: 16).
fn assert_near_linear(what: &str, counters: &[Work], case: impl Fn(usize)) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let total = |w: [u64; 3]| -> u64 { counters.iter().map(|&c| w[c as usize]).sum() };
    let small = work_of(|| case(N));
    let large = work_of(|| case(4 * N));
    let ratio = total(large) as f64 / total(small) as f64;
    eprintln!("{what}: work {small:?} → {large:?}, ratio {ratio:.2}");
    assert!(total(small) > 0, "{what}: nothing counted");
    assert!(
        (3.5..=6.0).contains(&ratio),
        "{what}: work ratio {ratio:.2} for 4× the input"
    );
}

/// `n` copies of one triangle: strict mode names the first duplicate, repair keeps one face.
#[test]
fn identical_faces() {
    assert_near_linear("identical faces", &[Work::Sides], |n| {
        let p = vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let s = MeshSource::from_positions("copies", p, vec![[0, 1, 2]; n]);
        let e = Mesh::build(&s, &STRICT).unwrap_err();
        assert!(
            matches!(
                e,
                Error::DuplicateFace {
                    face: 1,
                    first: 0,
                    ..
                }
            ),
            "{e}"
        );
        let b = Mesh::build(&s, &REPAIR).unwrap();
        assert_eq!(b.mesh.face_count(), 1);
        assert_eq!(b.report.repairs.len(), n - 1);
    });
}

/// `n` triangles on the edge (0, 1), their apexes around it: strict mode names the edge, repair splits
/// it into `n` separate triangles' worth of vertices.
#[test]
fn many_faces_on_one_edge() {
    assert_near_linear("faces on one edge", &[Work::Sides, Work::Stars], |n| {
        let mut p = vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]];
        p.extend((0..n).map(|k| {
            let t = TAU * k as f64 / n as f64;
            [0.5, t.cos(), t.sin()]
        }));
        let f = (0..n as u32).map(|k| [0, 1, k + 2]).collect();
        let s = MeshSource::from_positions("book", p, f);
        let e = Mesh::build(&s, &STRICT).unwrap_err();
        assert_eq!(
            e,
            Error::NonManifoldEdge {
                edge: (0, 1),
                faces: n
            }
        );
        let b = Mesh::build(&s, &REPAIR).unwrap();
        assert_eq!(b.mesh.face_count(), n);
        assert!(b.report.repairs.contains(&Repair::SplitNonManifoldEdge {
            edge: (0, 1),
            faces: n
        }));
    });
}

/// A closed fan: hub 0 joined to `n` rim vertices on the unit circle. The hub's star walk and every
/// rim vertex's geodesic along its reference spoke (to the hub, then on through it) touch the hub's
/// `n` corners.
fn fan(n: usize) -> MeshSource {
    let mut p = vec![[0.0, 0.0, 0.0]];
    p.extend((0..n).map(|k| {
        let t = TAU * k as f64 / n as f64;
        [t.cos(), t.sin(), 0.0]
    }));
    let f = (0..n as u32)
        .map(|k| [0, k + 1, (k + 1) % n as u32 + 1])
        .collect();
    MeshSource::from_positions("fan", p, f)
}

#[test]
fn a_vertex_of_high_valence() {
    assert_near_linear("fan: build and table", &[Work::Stars, Work::Leave], |n| {
        let m = Manifold::from_source(&fan(n), &STRICT).unwrap();
        assert_eq!(m.mesh.vertex_face_degree(m.mesh.vertex(0).unwrap()), n);
        // One direction per vertex (the reference spoke of rim vertex v ≥ 2, read from face v − 2
        // where it is corner 2, points to the hub), two rings: the second lands past the hub, so
        // every such trace leaves the hub. (Vertex 1's reference runs along the rim.)
        let params = ExpMapOptions::new()
            .rings(2)
            .directions(1)
            .radius(Radius::Absolute(1.5));
        let t = ExpMapTable::build(&m, &params).unwrap();
        assert!(t.flags()[4..].iter().all(|&f| f == 0));
    });
}

/// One OBJ polygon line with `n` corners, fan-triangulated by the reader: its first vertex has
/// valence n − 2 on the boundary.
#[test]
fn one_long_polygon() {
    assert_near_linear("polygon line", &[Work::Stars, Work::Leave], |n| {
        let mut obj = String::new();
        for k in 0..n {
            let t = TAU * k as f64 / n as f64;
            obj += &format!("v {} {} 0\n", t.cos(), t.sin());
        }
        obj += "f";
        for k in 1..=n {
            obj += &format!(" {k}");
        }
        obj += "\n";
        let s = manifold_cnn::io::obj::parse_obj(obj.as_bytes(), "polygon").unwrap();
        let m = Manifold::from_source(&s, &STRICT).unwrap();
        assert_eq!(m.mesh.face_count(), n - 2);
        let params = ExpMapOptions::new()
            .rings(2)
            .directions(2)
            .radius(Radius::Absolute(0.5));
        ExpMapTable::build(&m, &params).unwrap();
    });
}
