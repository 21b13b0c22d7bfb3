//! Meshes for tests: files of `meshes/` and `tests/data/`, specs loaded with the test's options, and
//! exp-map tables.

use std::path::PathBuf;

use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable, Radius};
use manifold_cnn::{primitives, BuildOptions, Manifold, MeshSource};

/// Build options that refuse every defect.
pub const STRICT: BuildOptions = BuildOptions::new().repair(false);
/// Build options that repair what can be repaired.
pub const REPAIR: BuildOptions = BuildOptions::new().repair(true);

/// The path of `relative` in the repository.
pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The path of a mesh of the repository's `meshes/` folder.
pub fn mesh_path(name: &str) -> String {
    format!("{}/meshes/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The path of a fixture of `tests/data/`.
pub fn data_path(name: &str) -> PathBuf {
    repo_path("tests/data").join(name)
}

/// The manifold of a mesh spec (a primitive such as `icosphere:2` or a file) with the default build
/// options; panics naming the spec.
pub fn load(spec: &str) -> Manifold {
    Manifold::load(spec, &BuildOptions::default()).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

/// The manifold of a mesh spec built with repairs; panics naming the spec.
pub fn load_repaired(spec: &str) -> Manifold {
    Manifold::load(spec, &REPAIR).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

/// The source mesh of a primitive spec; panics naming the spec.
pub fn generate(spec: &str) -> MeshSource {
    primitives::generate(spec)
        .unwrap_or_else(|e| panic!("{spec}: {e}"))
        .unwrap_or_else(|| panic!("{spec}: not a primitive"))
}

/// The exp-map table of `m` with the default parameters but for `rings`, `directions` and `radius`.
pub fn table(m: &Manifold, rings: usize, directions: usize, radius: Radius) -> ExpMapTable {
    let params = ExpMapOptions::new()
        .rings(rings)
        .directions(directions)
        .radius(radius);
    ExpMapTable::build(m, &params).unwrap()
}

/// The exp-map table of `m` with `params`, checked with [`assert_table_sane`].
pub fn sane_table(m: &Manifold, params: &ExpMapOptions) -> ExpMapTable {
    let t = ExpMapTable::build(m, params).unwrap();
    assert_table_sane(m, &t);
    t
}

/// Asserts that every entry of an exp-map table is a point of its landing face: finite barycentric
/// coordinates in [0, 1] (the third is `1 − b0 − b1`, up to the f32 rounding of that sum), a face of
/// the mesh, a finite transported angle and a finite trace length.
pub fn assert_table_sane(m: &manifold_cnn::Manifold, t: &manifold_cnn::expmap::ExpMapTable) {
    let nf = m.mesh.face_count() as u32;
    for (i, (&f, b)) in t.landing_faces().iter().zip(t.landing_barys()).enumerate() {
        // In f64: the sum of the two f32 roundings stays below f32::EPSILON.
        let third = 1.0 - b[0] as f64 - b[1] as f64;
        assert!(
            f < nf
                && b.iter().all(|x| x.is_finite() && (0.0..=1.0).contains(x))
                && third >= -(f32::EPSILON as f64),
            "entry {i} (vertex {}): face {f} of {nf}, barycentric {b:?}",
            i / t.samples_per_vertex()
        );
    }
    for (i, a) in t.transported_angles().iter().enumerate() {
        assert!(a.is_finite(), "entry {i}: transported angle {a}");
    }
    for (i, l) in t.trace_lengths().iter().enumerate() {
        assert!(l.is_finite() && *l >= 0.0, "trace {i}: length {l}");
    }
}
