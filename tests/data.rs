//! The data side: manifests (good and every kind of bad), spherical projection of images, rotations of
//! the sphere, MNIST.
//!
//! Fixtures are written by each test into its own temporary directory with npyz.

mod common;
use approx::{abs_diff_eq, assert_abs_diff_eq};
use common::assert_abs_diff_eq_msg;
use common::random::SplitMix;
use common::vec3::{dot, mul, mul_transpose};
use common::TempDir;
use std::f64::consts::PI;
use std::path::Path;

use manifold_cnn::data::sphere::{
    icosahedral_rotations, project_image, random_rotation, rotation_from_uniforms,
    rotation_permutation, Rotation,
};
use manifold_cnn::data::{load_mnist, Dataset, Label, Task};
use manifold_cnn::{primitives, BuildOptions, Error};

// ----------------------------------------------------------------------------------------------------
// Fixtures

/// Loading a manifest written into the test's directory.
trait LoadManifest {
    fn load(&self, manifest: &str) -> manifold_cnn::Result<Dataset>;
}

impl LoadManifest for TempDir {
    fn load(&self, manifest: &str) -> manifold_cnn::Result<Dataset> {
        Dataset::load(self.write("m.csv", manifest), &BuildOptions::default())
    }
}

/// The closed-form fixture value of sample `s`, vertex `v`, channel `c` (distinct for small indices).
fn value(s: usize, v: usize, c: usize) -> f32 {
    (s * 1000 + v * 10 + c) as f32 / 7.0
}

fn signals(samples: usize, n: usize, channels: usize) -> Vec<f32> {
    let mut x = Vec::new();
    for s in 0..samples {
        for v in 0..n {
            for c in 0..channels {
                x.push(value(s, v, c));
            }
        }
    }
    x
}

/// A regular tetrahedron (4 vertices).
const TETRAHEDRON: &str =
    "v 1 1 1\nv 1 -1 -1\nv -1 1 -1\nv -1 -1 1\nf 1 2 3\nf 1 4 2\nf 1 3 4\nf 2 4 3\n";

// icosphere:1 has 10·4 + 2 = 42 vertices, grid:3x3 has 9.
const ICO: usize = 42;
const GRID: usize = 9;

// ----------------------------------------------------------------------------------------------------
// Good manifests

#[test]
fn a_manifest_of_three_meshes_loads_every_sample_once_per_mesh() {
    let d = TempDir::new("data", "good");
    d.npy("ico.npy", &[3, ICO as u64, 2], &signals(3, ICO, 2));
    d.npy("ico_labels.npy", &[3], &[0i64, 2, 1]);
    d.npy("grid.npy", &[GRID as u64, 2], &signals(1, GRID, 2));
    d.write("tet.obj", TETRAHEDRON);
    d.npy("tet.npy", &[4, 2], &signals(1, 4, 2));
    d.npy("tet_label.npy", &[1], &[3u8]);
    d.npy("tet2.npy", &[2, 4, 2], &signals(2, 4, 2));
    d.npy("tet2_labels.npy", &[2], &[0i16, 4]);
    d.npy("ico1.npy", &[ICO as u64, 2], &signals(1, ICO, 2));
    let data = d
        .load(
            "mesh,signals,labels\n\
             icosphere:1,ico.npy,ico_labels.npy\n\
             grid:3x3, grid.npy ,1\n\
             \"tet.obj\",tet.npy,tet_label.npy\n\
             \n\
             ./tet.obj,tet2.npy,tet2_labels.npy\n\
             icosphere:1,ico1.npy,0\r\n",
        )
        .unwrap();
    // Three distinct meshes: the primitive twice and the file under two spellings are one each.
    assert_eq!(data.meshes.len(), 3);
    let vertex_counts: Vec<usize> = data
        .meshes
        .iter()
        .map(|m| m.manifold.mesh.vertex_count())
        .collect();
    assert_eq!(vertex_counts, [ICO, GRID, 4]);
    assert_eq!(data.meshes[0].spec, "icosphere:1");
    assert!(Path::new(&data.meshes[2].spec).is_absolute());
    assert!(data.meshes[2].spec.ends_with("tet.obj"));
    assert_eq!(data.channels, 2);
    assert_eq!(data.task, Some(Task::Mesh));
    let got: Vec<(usize, usize, usize, Option<Label>)> = data
        .samples
        .iter()
        .map(|s| (s.mesh, s.row, s.index, s.label.clone()))
        .collect();
    let m = |c| Some(Label::Mesh(c));
    assert_eq!(
        got,
        [
            (0, 2, 0, m(0)),
            (0, 2, 1, m(2)),
            (0, 2, 2, m(1)),
            (1, 3, 0, m(1)),
            (2, 4, 0, m(3)),
            (2, 6, 0, m(0)),
            (2, 6, 1, m(4)),
            (0, 7, 0, m(0)),
        ]
    );
    // Signals are N × C, vertex-major, the values written.
    for s in &data.samples {
        let n = vertex_counts[s.mesh];
        assert_eq!(s.signal.len(), n * 2);
        for v in 0..n {
            for c in 0..2 {
                assert_eq!(s.signal[v * 2 + c], value(s.index, v, c));
            }
        }
    }
    assert_eq!(data.max_label(), Some(4));
    data.check_classes(5).unwrap();
    let e = data.check_classes(4).unwrap_err().to_string();
    assert!(
        e.contains("m.csv line 6") && e.contains("sample 1") && e.contains("label 4"),
        "{e}"
    );
    assert!(e.contains("out of range"), "{e}");
}

#[test]
fn per_vertex_labels_and_unlabelled_manifests_load() {
    let d = TempDir::new("data", "vertex");
    d.npy("grid.npy", &[2, GRID as u64, 1], &signals(2, GRID, 1));
    let grid_labels: Vec<i32> = (0..2 * GRID as i32).map(|i| i % 3).collect();
    d.npy("grid_labels.npy", &[2, GRID as u64], &grid_labels);
    d.npy("ico.npy", &[ICO as u64, 1], &signals(1, ICO, 1));
    let ico_labels: Vec<u32> = (0..ICO as u32).map(|v| v % 5).collect();
    d.npy("ico_labels.npy", &[ICO as u64], &ico_labels);
    let data = d
        .load("mesh,signals,labels\ngrid:3x3,grid.npy,grid_labels.npy\nicosphere:1,ico.npy,ico_labels.npy\n")
        .unwrap();
    assert_eq!(data.task, Some(Task::Vertex));
    assert_eq!(data.samples.len(), 3);
    let to_u32 = |v: &[i32]| v.iter().map(|&x| x as u32).collect::<Vec<_>>();
    assert_eq!(
        data.samples[0].label,
        Some(Label::Vertex(to_u32(&grid_labels[..GRID])))
    );
    assert_eq!(
        data.samples[1].label,
        Some(Label::Vertex(to_u32(&grid_labels[GRID..])))
    );
    assert_eq!(data.samples[2].label, Some(Label::Vertex(ico_labels)));
    assert_eq!(data.max_label(), Some(4));
    let e = data.check_classes(3).unwrap_err().to_string();
    assert!(
        e.contains("m.csv line 3") && e.contains("vertex 3") && e.contains("label 3"),
        "{e}"
    );

    let data = d
        .load("mesh,signals,labels\ngrid:3x3,grid.npy,\nicosphere:1,ico.npy,\n")
        .unwrap();
    assert_eq!((data.task, data.samples.len(), data.channels), (None, 3, 1));
    assert!(data.samples.iter().all(|s| s.label.is_none()));
    assert_eq!(data.max_label(), None);
    data.check_classes(1).unwrap();
}

// ----------------------------------------------------------------------------------------------------
// Bad manifests: every error names the manifest, the line and the problem (and the .npy at fault).

/// Loads `manifest` (as `m.csv` in `d`) and checks that the error message holds every needle.
#[track_caller]
fn expect_error(d: &TempDir, manifest: &str, needles: &[&str]) {
    let e = d.load(manifest).expect_err("the manifest is bad");
    assert!(matches!(e, Error::Data { .. }), "{e:?}");
    let message = e.to_string();
    assert!(message.contains("m.csv"), "no file name in: {message}");
    for needle in needles {
        assert!(message.contains(needle), "'{needle}' not in: {message}");
    }
}

/// A directory with good signals on grid:3x3: `g.npy` [9, 2], `g2.npy` [2, 9, 2].
fn grid_dir(name: &str) -> TempDir {
    let d = TempDir::new("data", name);
    d.npy("g.npy", &[GRID as u64, 2], &signals(1, GRID, 2));
    d.npy("g2.npy", &[2, GRID as u64, 2], &signals(2, GRID, 2));
    d
}

#[test]
fn a_bad_header_or_no_rows_is_an_error() {
    let d = grid_dir("header");
    expect_error(
        &d,
        "mesh,signal,labels\ngrid:3x3,g.npy,1\n",
        &["line 1", "header", "mesh,signals,labels"],
    );
    expect_error(&d, "grid:3x3,g.npy,1\n", &["line 1", "header"]);
    expect_error(&d, "", &["empty"]);
    expect_error(&d, "mesh,signals,labels\n\n", &["no data rows"]);
    let e = Dataset::load(d.path("absent.csv"), &BuildOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Io { .. }) && e.to_string().contains("absent.csv"));
}

#[test]
fn a_row_with_wrong_fields_is_an_error() {
    let d = grid_dir("fields");
    let h = "mesh,signals,labels\ngrid:3x3,g.npy,1\n";
    expect_error(
        &d,
        &format!("{h}grid:3x3,g.npy\n"),
        &["line 3", "expected 3 fields", "found 2"],
    );
    expect_error(
        &d,
        &format!("{h}grid:3x3,g.npy,1,2\n"),
        &["line 3", "found 4"],
    );
    expect_error(
        &d,
        &format!("{h},g.npy,1\n"),
        &["line 3", "mesh field is empty"],
    );
    expect_error(
        &d,
        &format!("{h}grid:3x3,,1\n"),
        &["line 3", "signals field is empty"],
    );
    expect_error(
        &d,
        &format!("{h}\"grid:3x3,g.npy,1\n"),
        &["line 3", "unterminated quote"],
    );
}

#[test]
fn missing_files_and_meshes_that_do_not_load_are_errors() {
    let d = grid_dir("files");
    d.write("broken.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 7\n");
    let h = "mesh,signals,labels\ngrid:3x3,g.npy,1\n";
    expect_error(
        &d,
        &format!("{h}grid:3x3,nope.npy,1\n"),
        &["line 3", "nope.npy"],
    );
    expect_error(
        &d,
        &format!("{h}missing.obj,g.npy,1\n"),
        &["line 3", "missing.obj", "does not exist"],
    );
    expect_error(
        &d,
        &format!("{h}grid:3x3,g.npy,nope_labels.npy\n"),
        &["line 3", "nope_labels.npy"],
    );
    // The mesh's own error is wrapped: the OBJ's face 0 points past its 3 vertices.
    expect_error(
        &d,
        &format!("{h}broken.obj,g.npy,1\n"),
        &["line 3", "broken.obj", "does not load", "out of range"],
    );
    expect_error(
        &d,
        &format!("{h}grid:1x1,g.npy,1\n"),
        &["line 3", "grid:1x1", "does not load"],
    );
}

#[test]
fn signals_of_the_wrong_dtype_rank_size_or_channels_are_errors() {
    let d = grid_dir("signals");
    d.npy("f64.npy", &[GRID as u64, 2], &[0.5f64; GRID * 2]);
    d.npy("i32.npy", &[GRID as u64, 2], &[1i32; GRID * 2]);
    d.npy("rank1.npy", &[GRID as u64], &[0.5f32; GRID]);
    d.npy("rank4.npy", &[1, 1, GRID as u64, 2], &[0.5f32; GRID * 2]);
    d.npy("n8.npy", &[8, 2], &[0.5f32; 16]);
    d.npy("c3.npy", &[GRID as u64, 3], &[0.5f32; GRID * 3]);
    d.npy("c0.npy", &[GRID as u64, 0], &Vec::<f32>::new());
    d.npy("s0.npy", &[0, GRID as u64, 2], &Vec::<f32>::new());
    let h = "mesh,signals,labels\ngrid:3x3,g.npy,1\n";
    let row = |file: &str| format!("{h}grid:3x3,{file},\n");
    let labelled = |file: &str| format!("{h}grid:3x3,{file},1\n");
    expect_error(&d, &labelled("f64.npy"), &["line 3", "f64.npy", "float64"]);
    expect_error(&d, &labelled("i32.npy"), &["line 3", "i32.npy", "int32"]);
    expect_error(
        &d,
        &labelled("rank1.npy"),
        &["line 3", "rank1.npy", "rank 1"],
    );
    expect_error(
        &d,
        &labelled("rank4.npy"),
        &["line 3", "rank4.npy", "rank 4"],
    );
    expect_error(
        &d,
        &labelled("n8.npy"),
        &["line 3", "n8.npy", "N = 8", "9 vertices"],
    );
    expect_error(
        &d,
        &labelled("c3.npy"),
        &["line 3", "c3.npy", "3 channel", "line 2 has 2"],
    );
    expect_error(
        &d,
        &labelled("c0.npy"),
        &["line 3", "c0.npy", "no channels"],
    );
    expect_error(&d, &row("s0.npy"), &["line 3", "s0.npy", "no samples"]);
}

#[test]
fn non_finite_signals_are_errors_naming_sample_vertex_and_channel() {
    let d = grid_dir("nan");
    for (name, bad) in [("nan.npy", f32::NAN), ("inf.npy", f32::NEG_INFINITY)] {
        let mut x = signals(2, GRID, 2);
        x[GRID * 2 + 4 * 2 + 1] = bad; // sample 1, vertex 4, channel 1
        d.npy(name, &[2, GRID as u64, 2], &x);
        expect_error(
            &d,
            &format!("mesh,signals,labels\ngrid:3x3,g2.npy,\ngrid:3x3,{name},\n"),
            &[
                "line 3",
                name,
                "sample 1, vertex 4, channel 1",
                &bad.to_string(),
                "not finite",
            ],
        );
    }
}

#[test]
fn bad_labels_are_errors() {
    let d = grid_dir("labels");
    d.npy("neg.npy", &[2], &[0i64, -1]);
    d.npy("float.npy", &[2], &[0.0f32, 1.0]);
    d.npy("three.npy", &[3], &[0u8, 1, 2]);
    d.npy("short_vertex.npy", &[2, 8], &[0u16; 16]);
    d.npy("neg_vertex.npy", &[2, GRID as u64], &{
        let mut l = vec![1i8; 2 * GRID];
        l[GRID + 5] = -3;
        l
    });
    let h = "mesh,signals,labels\ngrid:3x3,g.npy,1\n";
    let row = |labels: &str| format!("{h}grid:3x3,g2.npy,{labels}\n");
    expect_error(
        &d,
        &row("neg.npy"),
        &["line 3", "neg.npy", "sample 1", "-1", "negative"],
    );
    expect_error(
        &d,
        &row("neg_vertex.npy"),
        &[
            "line 3",
            "neg_vertex.npy",
            "sample 1, vertex 5",
            "-3",
            "negative",
        ],
    );
    expect_error(
        &d,
        &row("float.npy"),
        &["line 3", "float.npy", "float32", "integer"],
    );
    expect_error(&d, &row("three.npy"), &["line 3", "three.npy", "shape [3]"]);
    expect_error(
        &d,
        &row("short_vertex.npy"),
        &["line 3", "short_vertex.npy", "shape [2, 8]"],
    );
    // An inline class is one sample's label.
    expect_error(&d, &row("1"), &["line 3", "g2.npy", "2 samples"]);
    expect_error(
        &d,
        &format!("{h}grid:3x3,g.npy,-2\n"),
        &["line 3", "-2", "negative"],
    );
    expect_error(
        &d,
        &format!("{h}grid:3x3,g.npy,1.5\n"),
        &["line 3", "1.5", "not an integer"],
    );
    expect_error(
        &d,
        &format!("{h}grid:3x3,g.npy,cat\n"),
        &["line 3", "'cat'"],
    );
}

#[test]
fn rows_must_share_one_task() {
    let d = grid_dir("task");
    d.npy("vertex.npy", &[GRID as u64], &[1u8; GRID]);
    let first = "mesh,signals,labels\ngrid:3x3,g.npy,1\n";
    expect_error(
        &d,
        &format!("{first}grid:3x3,g.npy,vertex.npy\n"),
        &[
            "line 3",
            "per-vertex labels",
            "line 2 has mesh-level labels",
        ],
    );
    expect_error(
        &d,
        &format!("{first}grid:3x3,g.npy,\n"),
        &["line 3", "no labels", "line 2 has mesh-level labels"],
    );
    expect_error(
        &d,
        "mesh,signals,labels\ngrid:3x3,g.npy,\n\ngrid:3x3,g.npy,0\n",
        &["line 4", "mesh-level labels", "line 2 has no labels"],
    );
}

// ----------------------------------------------------------------------------------------------------
// Spherical images

/// The point of the unit sphere at polar angle `beta` from the north pole and azimuth `alpha`.
fn sphere_point(beta: f64, alpha: f64) -> [f64; 3] {
    [
        beta.sin() * alpha.cos(),
        beta.sin() * alpha.sin(),
        beta.cos(),
    ]
}

/// The inverse stereographic projection (from the south pole) of plane point `(x, y)`.
fn unproject(x: f64, y: f64) -> [f64; 3] {
    let r2 = x * x + y * y;
    [
        2.0 * x / (1.0 + r2),
        2.0 * y / (1.0 + r2),
        (1.0 - r2) / (1.0 + r2),
    ]
}

#[test]
fn bilinear_sampling_reproduces_a_linear_ramp_exactly() {
    // I(i, j) = 3 + 10 j + 5 i on a 16 × 12 image (rows × columns), values ≤ 3 + 110 + 75 = 188.
    let (h, w) = (16usize, 12usize);
    let image: Vec<u8> = (0..h * w)
        .map(|k| (3 + 10 * (k % w) + 5 * (k / w)) as u8)
        .collect();
    let mut points = Vec::new();
    let mut expected = Vec::new();
    for a in 0..36 {
        for b in 0..40 {
            let (beta, alpha) = (b as f64 * 0.04, a as f64 * 0.17);
            // Stereographic projection: polar angle β ↦ radius tan(β/2), azimuth kept.
            let rho = (beta / 2.0).tan();
            let (x, y) = (rho * alpha.cos(), rho * alpha.sin());
            // Continuous pixel coordinates of (x, y): column u, row v, centres at integers.
            let u = (x + 1.0) * w as f64 / 2.0 - 0.5;
            let v = (1.0 - y) * h as f64 / 2.0 - 0.5;
            if (0.0..=(w - 1) as f64).contains(&u) && (0.0..=(h - 1) as f64).contains(&v) {
                points.push(sphere_point(beta, alpha));
                expected.push((3.0 + 10.0 * u + 5.0 * v) / 255.0);
            }
        }
    }
    assert!(points.len() > 500);
    let got = project_image(&image, h, w, &points, None);
    for (g, e) in got.iter().zip(&expected) {
        assert_abs_diff_eq_msg!(f64::from(*g), e, epsilon = 1e-6, "{g} vs {e}");
    }
}

#[test]
fn a_single_lit_pixel_is_a_tent_around_its_centre() {
    let (h, w) = (8usize, 10usize);
    let (i, j) = (2usize, 7usize);
    let mut image = vec![0u8; h * w];
    image[i * w + j] = 255;
    // Pixel centres (documented): x_j = −1 + (2j + 1)/W, y_i = 1 − (2i + 1)/H.
    let x = |j: f64| -1.0 + (2.0 * j + 1.0) / w as f64;
    let y = |i: f64| 1.0 - (2.0 * i + 1.0) / h as f64;
    let (i, j) = (i as f64, j as f64);
    let cases = [
        ((i, j), 1.0),
        ((i, j + 1.0), 0.0),
        ((i - 1.0, j), 0.0),
        ((i, j - 0.5), 0.5),
        ((i + 0.25, j), 0.75),
        ((i + 0.5, j + 0.5), 0.25),
        ((i + 0.2, j - 0.4), 0.8 * 0.6),
    ];
    let points: Vec<[f64; 3]> = cases
        .iter()
        .map(|((a, b), _)| unproject(x(*b), y(*a)))
        .collect();
    let got = project_image(&image, h, w, &points, None);
    for (g, (at, e)) in got.iter().zip(&cases) {
        assert_abs_diff_eq_msg!(f64::from(*g), e, epsilon = 1e-6, "at {at:?}: {g} vs {e}");
    }
}

#[test]
fn the_north_pole_is_the_image_centre_and_the_south_pole_region_is_zero() {
    // Odd size: the centre pixel. Even size: the mean of the four central pixels.
    let odd: Vec<u8> = (0..25).map(|k| if k == 12 { 200 } else { 7 }).collect();
    let pole = [[0.0, 0.0, 1.0]];
    assert_abs_diff_eq!(
        project_image(&odd, 5, 5, &pole, None)[0],
        200.0 / 255.0,
        epsilon = 1e-6
    );
    let mut even = vec![0u8; 28 * 28];
    for (k, (i, j)) in [(13, 13), (13, 14), (14, 13), (14, 14)]
        .into_iter()
        .enumerate()
    {
        even[i * 28 + j] = 40 * (k as u8 + 1);
    }
    assert_abs_diff_eq!(
        project_image(&even, 28, 28, &pole, None)[0],
        100.0 / 255.0,
        epsilon = 1e-6
    );
    // A white image: 1 on the image (which reaches past the equator at its corners), 0 beyond it.
    let white = vec![255u8; 28 * 28];
    let ico = primitives::icosphere(3).unwrap();
    let mut p = ico.positions.unwrap();
    p.push([0.0, 0.0, -1.0]);
    let got = project_image(&white, 28, 28, &p, None);
    let mut south = 0;
    for (q, g) in p.iter().zip(&got) {
        // Zero where max(|x|, |y|) ≥ 1 + 1/28, which holds beyond radius √2·(1 + 1/28) of the plane,
        // i.e. for p_z ≤ (1 − r²)/(1 + r²) = −0.364.
        if q[2] < -0.37 {
            assert_eq!(*g, 0.0);
            south += 1;
        } else if q[2] > 0.5 {
            assert_abs_diff_eq!(*g, 1.0, epsilon = 1e-6);
        }
    }
    assert!(south > 200);
    // Just south of the equator towards a corner (β = 95°, azimuth 45°): radius tan(47.5°) = 1.09,
    // x = y = 0.77, inside the image: the signal does not stop at the equator.
    let corner = project_image(
        &white,
        28,
        28,
        &[sphere_point(95f64.to_radians(), PI / 4.0)],
        None,
    );
    assert_abs_diff_eq!(corner[0], 1.0, epsilon = 1e-6);
}

#[test]
fn projecting_with_a_rotation_samples_the_rotated_back_point() {
    let image: Vec<u8> = (0..28 * 28).map(|k| ((k * 37) % 256) as u8).collect();
    let p = primitives::icosphere(3).unwrap().positions.unwrap();
    for u in [[0.1, 0.2, 0.3], [0.7, 0.9, 0.05], [0.45, 0.33, 0.81]] {
        let r = rotation_from_uniforms(u);
        // R⁻¹ = Rᵀ.
        let back: Vec<[f64; 3]> = p.iter().map(|q| mul_transpose(&r, *q)).collect();
        let rotated = project_image(&image, 28, 28, &p, Some(&r));
        let direct = project_image(&image, 28, 28, &back, None);
        for (a, b) in rotated.iter().zip(&direct) {
            assert_abs_diff_eq!(a, b, epsilon = 1e-6);
        }
    }
}

fn is_rotation(r: &Rotation, tol: f64) -> bool {
    let orthonormal = (0..3).all(|i| {
        (0..3).all(|j| {
            let dot = dot(r[i], r[j]);
            abs_diff_eq!(dot, if i == j { 1.0 } else { 0.0 }, epsilon = tol)
        })
    });
    let det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
        - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
        + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
    orthonormal && abs_diff_eq!(det, 1.0, epsilon = tol)
}

#[test]
fn random_rotations_are_rotations_distributed_uniformly() {
    let mut rng = SplitMix(2024);
    let n = 40_000;
    let (mut mean_axis, mut mean_trace, mut mean_z2) = ([0.0f64; 3], 0.0, 0.0);
    for _ in 0..n {
        let r = random_rotation(|| rng.next_u64());
        assert!(is_rotation(&r, 1e-12));
        // R e_z is the third column: uniform on the sphere, so each coordinate has mean 0 and
        // variance 1/3, and its z² has mean 1/3 and variance 1/5 − 1/9 = 4/45 (z uniform on [−1, 1]).
        for a in 0..3 {
            mean_axis[a] += r[a][2] / n as f64;
        }
        mean_z2 += r[2][2] * r[2][2] / n as f64;
        // Haar measure on SO(3): tr R = 1 + 2 cos ω with density (1 − cos ω)/π, so E tr = 0 and
        // E tr² = 1 (the 3-dimensional representation is irreducible).
        mean_trace += (r[0][0] + r[1][1] + r[2][2]) / n as f64;
    }
    // Five standard deviations of each mean (central limit theorem).
    let sigma_axis = (1.0 / (3.0 * n as f64)).sqrt();
    let sigma_trace = (1.0 / n as f64).sqrt();
    let sigma_z2 = (4.0 / 45.0 / n as f64).sqrt();
    for m in mean_axis {
        assert_abs_diff_eq_msg!(
            m,
            0.0,
            epsilon = 5.0 * sigma_axis,
            "mean R e_z = {mean_axis:?}"
        );
    }
    assert_abs_diff_eq_msg!(
        mean_trace,
        0.0,
        epsilon = 5.0 * sigma_trace,
        "mean trace {mean_trace}"
    );
    assert_abs_diff_eq_msg!(
        mean_z2,
        1.0 / 3.0,
        epsilon = 5.0 * sigma_z2,
        "mean z² {mean_z2}"
    );
}

#[test]
fn the_60_icosahedral_rotations_form_a_group_permuting_icosphere_vertices() {
    let group = icosahedral_rotations();
    assert_eq!(group.len(), 60);
    let same = |a: &Rotation, b: &Rotation| {
        (0..3).all(|i| (0..3).all(|j| abs_diff_eq!(a[i][j], b[i][j], epsilon = 1e-9)))
    };
    for (k, r) in group.iter().enumerate() {
        assert!(is_rotation(r, 1e-12));
        assert!(
            group[..k].iter().all(|q| !same(q, r)),
            "rotation {k} repeats"
        );
    }
    // Closed under products (a finite subset of SO(3) closed under products is a group).
    for a in &group {
        for b in &group {
            let mut c = [[0.0; 3]; 3];
            for i in 0..3 {
                for j in 0..3 {
                    c[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
                }
            }
            assert!(group.iter().any(|g| same(g, &c)));
        }
    }
    let ico = primitives::icosphere(2).unwrap();
    let p = ico.positions.unwrap();
    let image: Vec<u8> = (0..28 * 28).map(|k| ((k * 91) % 256) as u8).collect();
    let flat = project_image(&image, 28, 28, &p, None);
    let mut perms = Vec::new();
    for r in &group {
        let perm = rotation_permutation(&p, r, 1e-9).expect("a symmetry of the icosphere");
        for (v, &q) in perm.iter().enumerate() {
            let rv = mul(r, p[v]);
            for a in 0..3 {
                assert_abs_diff_eq!(rv[a], p[q as usize][a], epsilon = 1e-12);
            }
        }
        // The image rotated by R, at R p, is the unrotated image at p.
        let rotated = project_image(&image, 28, 28, &p, Some(r));
        for (v, &q) in perm.iter().enumerate() {
            assert_abs_diff_eq!(rotated[q as usize], flat[v], epsilon = 1e-6);
        }
        perms.push(perm);
    }
    perms.sort();
    perms.dedup();
    assert_eq!(perms.len(), 60, "distinct rotations permute differently");
    // A rotation that is not a symmetry permutes nothing.
    let r = rotation_from_uniforms([0.3, 0.1, 0.6]);
    assert!(rotation_permutation(&p, &r, 1e-6).is_none());
}

// ----------------------------------------------------------------------------------------------------
// MNIST

#[test]
fn mnist_has_10000_digits_with_the_documented_class_counts() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist10k.npz");
    let mnist = load_mnist(&path).unwrap();
    assert_eq!((mnist.count, mnist.height, mnist.width), (10_000, 28, 28));
    assert_eq!(mnist.images.len(), 10_000 * 28 * 28);
    let mut counts = [0usize; 10];
    for &l in &mnist.labels {
        counts[l as usize] += 1;
    }
    // data/SOURCES.md.
    assert_eq!(
        counts,
        [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    );
    // Real digits: some ink in every image, on a background that covers most of it.
    for i in 0..mnist.count {
        let img = mnist.image(i);
        assert!(img.iter().any(|&x| x > 128));
        assert!(img.iter().filter(|&&x| x == 0).count() > 28 * 28 / 2);
    }
}

#[test]
fn a_bad_mnist_archive_is_an_error_naming_file_and_array() {
    let d = TempDir::new("data", "mnist");
    let e = load_mnist(d.path("none.npz")).unwrap_err().to_string();
    assert!(e.contains("none.npz"), "{e}");
    let mut w = manifold_cnn::io::npz::NpzWriter::create(d.path("f64.npz")).unwrap();
    w.f64("images", &[1, 2, 2], &[0.0; 4]).unwrap();
    w.finish().unwrap();
    let e = load_mnist(d.path("f64.npz")).unwrap_err().to_string();
    assert!(e.contains("f64.npz") && e.contains("'images'"), "{e}");
}
