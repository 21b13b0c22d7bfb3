//! Oracles for the exponential map: straight lines on flat meshes (grid, flat torus, flat Möbius strip,
//! cone developments), great circles on the unit sphere, reversal, boundary truncation, translation
//! invariance, the Θ/2 rule at a cone apex, and the command line.

#![allow(clippy::needless_range_loop)]

mod common;

use manifold_cnn::expmap::{
    self, ExpMapOptions, ExpMapTable, Padding, Radius, SurfacePoint, TraceStart, TraceStop, Tracer,
};
use manifold_cnn::{FaceId, Manifold, VertexId};
use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI, TAU};

use approx::assert_abs_diff_eq;
use common::angles::wrap;
use common::assert_abs_diff_eq_msg;
use common::cli::{json, run, stderr};
use common::meshes::{load, load_repaired, mesh_path, sane_table};
use common::vec3::dist;
use common::TempDir;

/// 3-D position of a surface point, from the mesh's vertex positions.
fn pos3(m: &Manifold, p: &SurfacePoint) -> [f64; 3] {
    let pos = m.positions.as_ref().expect("positions");
    let f = m.mesh.face_vertices(p.face);
    let mut q = [0.0; 3];
    for k in 0..3 {
        for d in 0..3 {
            q[d] += p.bary[k] * pos[f[k].index()][d];
        }
    }
    q
}

/// A trace from `vertex` in the direction of scaled polar angle `angle`.
fn at_vertex(vertex: VertexId, angle: f64) -> TraceStart {
    TraceStart::Vertex { vertex, angle }
}

/// The mesh vertex whose input index is `i` (primitives keep their numbering, but go through the map).
fn vertex_of_input(m: &Manifold, i: usize) -> VertexId {
    let o = &m.report.vertex_origin;
    let k = o
        .iter()
        .position(|&x| x as usize == i)
        .expect("input vertex present");
    m.mesh.vertex(k).unwrap()
}

/// Unit direction of scaled polar angle θ at v in 3-D: cos(θ/s) x + sin(θ/s) y, from the extrinsic
/// frames of the foundation (x along the reference edge, y = n × x).
fn frame_dir(m: &Manifold, v: VertexId, theta: f64) -> [f64; 3] {
    let ext = m.extrinsic_frames().unwrap();
    let s = m.frames.vertex_scales()[v.index()];
    let (sn, cs) = (theta / s).sin_cos();
    let (x, y) = (ext.x[v.index()], ext.y[v.index()]);
    [
        cs * x.x + sn * y.x,
        cs * x.y + sn * y.y,
        cs * x.z + sn * y.z,
    ]
}

/// The largest t ≥ 0 with p + t d in the closed rectangle [0, w] × [0, h] (p inside it); 0 if d points out.
fn exit_param(p: [f64; 2], d: [f64; 2], w: f64, h: f64) -> f64 {
    let mut t = f64::INFINITY;
    for (pi, di, hi) in [(p[0], d[0], w), (p[1], d[1], h)] {
        if di > 1e-15 {
            t = t.min((hi - pi) / di);
        } else if di < -1e-15 {
            t = t.min(-pi / di);
        }
    }
    t.max(0.0)
}

// ---------------------------------------------------------------------------------------------------
// Flat grid

#[test]
fn grid_traces_are_straight_lines_including_through_vertices() {
    let m = load("grid:24x24");
    let tracer = Tracer::new(&m);
    let mut angles: Vec<f64> = (0..16).map(|j| TAU * j as f64 / 16.0).collect();
    // Through vertices at slopes 1/2, 2, −1/3 and exactly along edges and diagonals.
    angles.extend([
        0.5f64.atan(),
        2f64.atan(),
        (-1.0f64 / 3.0).atan(),
        FRAC_PI_4,
        FRAC_PI_2,
        0.0,
        PI,
        1.25 * PI,
    ]);
    let lengths = [
        0.0,
        0.3,
        1.0,
        2f64.sqrt(),
        2.0,
        5f64.sqrt(),
        2.5,
        3.7,
        10f64.sqrt() * 1.5,
    ];
    let mut worst: f64 = 0.0;
    for y in [5usize, 9, 12] {
        for x in [5usize, 8, 13, 18] {
            let v = vertex_of_input(&m, x + 24 * y);
            for &th in &angles {
                let d = frame_dir(&m, v, th);
                let res = tracer.trace_lengths(at_vertex(v, th), &lengths).unwrap();
                for (r, got) in lengths.iter().zip(&res) {
                    assert!(!got.truncated(), "({x},{y}) θ={th} r={r}");
                    let want = [x as f64 + r * d[0], y as f64 + r * d[1], 0.0];
                    let e = dist(pos3(&m, &got.point), want);
                    worst = worst.max(e);
                    assert!(e < 1e-12, "({x},{y}) θ={th} r={r}: error {e:e}");
                    assert_abs_diff_eq!(got.length, r, epsilon = 1e-15);
                    // The transported direction is the start direction (flat, trivial holonomy).
                    let fa = m.mesh.face_vertices(got.point.face);
                    let pos = m.positions.as_ref().unwrap();
                    let e0 = [
                        pos[fa[1].index()][0] - pos[fa[0].index()][0],
                        pos[fa[1].index()][1] - pos[fa[0].index()][1],
                    ];
                    let face_x = e0[1].atan2(e0[0]);
                    let dir = d[1].atan2(d[0]);
                    assert_abs_diff_eq_msg!(
                        wrap(got.face_angle + face_x - dir),
                        0.0,
                        epsilon = 1e-12,
                        "direction at ({x},{y}) θ={th} r={r}"
                    );
                    assert!(!got.mirrored);
                }
            }
        }
    }
    eprintln!("grid: worst landing error {worst:e}");
}

#[test]
fn grid_traces_from_face_points_are_straight_lines() {
    let m = load("grid:16x16");
    let tracer = Tracer::new(&m);
    let pos = m.positions.as_ref().unwrap();
    for f in [196usize, 197, 224, 225, 252, 253] {
        let face = m.mesh.face(f).unwrap();
        let fv = m.mesh.face_vertices(face);
        let p = |k: usize| pos[fv[k].index()];
        let face_x = (p(1)[1] - p(0)[1]).atan2(p(1)[0] - p(0)[0]);
        for bary in [[0.2, 0.3, 0.5], [0.5, 0.5, 0.0], [0.0, 0.25, 0.75]] {
            let start = SurfacePoint { face, bary };
            let q = pos3(&m, &start);
            for k in 0..12 {
                let beta = 0.3 + k as f64 * TAU / 12.0;
                let dir = face_x + beta; // faces of the grid are counter-clockwise seen from +z
                for r in [0.4, 1.7, 3.1] {
                    let got = tracer
                        .trace(
                            TraceStart::Face {
                                point: start,
                                angle: beta,
                            },
                            r,
                        )
                        .unwrap();
                    let want = [q[0] + r * dir.cos(), q[1] + r * dir.sin(), 0.0];
                    assert!(!got.truncated());
                    let e = dist(pos3(&m, &got.point), want);
                    assert!(e < 1e-12, "face {f} {bary:?} β={beta} r={r}: {e:e}");
                }
            }
        }
    }
}

#[test]
fn grid_boundary_truncates_and_records_the_stop_point() {
    let nx = 8usize;
    let m = load("grid:8x8");
    let tracer = Tracer::new(&m);
    let v = |x: usize, y: usize| vertex_of_input(&m, x + nx * y);
    // Into the lower-left: the ray leaves through x = 0 or y = 0.
    let th = PI + 0.3;
    let d = frame_dir(&m, v(2, 3), th);
    let t_star = exit_param([2.0, 3.0], [d[0], d[1]], 7.0, 7.0);
    let res = tracer
        .trace_lengths(at_vertex(v(2, 3), th), &[1.0, 2.0, 10.0])
        .unwrap();
    assert!(!res[0].truncated() && !res[1].truncated());
    assert_eq!(res[2].stop, TraceStop::BoundaryEdge);
    assert_abs_diff_eq!(res[2].length, t_star, epsilon = 1e-12);
    let stop = [2.0 + t_star * d[0], 3.0 + t_star * d[1], 0.0];
    assert!(dist(pos3(&m, &res[2].point), stop) < 1e-12);

    // Along a row to the left boundary: stops at the boundary vertex (0, 3).
    let r = tracer.trace(at_vertex(v(2, 3), PI), 5.0).unwrap();
    assert_eq!(r.stop, TraceStop::BoundaryVertex);
    assert_abs_diff_eq!(r.length, 2.0, epsilon = 1e-12);
    assert!(dist(pos3(&m, &r.point), [0.0, 3.0, 0.0]) < 1e-12);

    // Along the bottom boundary from the corner: follows it to the next corner, and stops there.
    let r = tracer.trace(at_vertex(v(0, 0), 0.0), 20.0).unwrap();
    assert_eq!(r.stop, TraceStop::BoundaryVertex);
    assert_abs_diff_eq!(r.length, 7.0, epsilon = 1e-12);
    assert!(dist(pos3(&m, &r.point), [7.0, 0.0, 0.0]) < 1e-12);
    let r = tracer.trace(at_vertex(v(0, 0), 0.0), 4.5).unwrap();
    assert!(!r.truncated());
    assert!(dist(pos3(&m, &r.point), [4.5, 0.0, 0.0]) < 1e-12);

    // Out of the wedge at a corner: truncated at length 0, at the vertex itself.
    let r = tracer.trace(at_vertex(v(0, 0), PI), 1.0).unwrap();
    assert_eq!(r.stop, TraceStop::BoundaryVertex);
    assert_eq!(r.length, 0.0);
    assert!(dist(pos3(&m, &r.point), [0.0, 0.0, 0.0]) < 1e-15);
}

#[test]
fn grid_table_matches_straight_lines_and_flags_truncation() {
    let (nx, ny) = (9usize, 7usize);
    let m = load("grid:9x7");
    let params = ExpMapOptions::new()
        .rings(4)
        .directions(16)
        .radius(Radius::Absolute(4.4))
        .padding(Padding::Clamp);
    let t = sane_table(&m, &params);
    let s_count = t.samples_per_vertex();
    assert_eq!(s_count, 64);
    let pos = m.positions.as_ref().unwrap();
    let mut truncated = 0;
    for v in m.mesh.vertices() {
        let p = pos[v.index()];
        for s in 0..s_count {
            let (r, th) = (t.sample_radii()[s], t.sample_angles()[s]);
            assert_eq!(
                (s % 4, s / 4),
                (
                    t.sample_radii().iter().position(|&x| x == r).unwrap(),
                    (th / (TAU / 16.0)).round() as usize
                )
            );
            let d = frame_dir(&m, v, th);
            let t_star = exit_param([p[0], p[1]], [d[0], d[1]], (nx - 1) as f64, (ny - 1) as f64);
            let e = t.entry(v.index(), s);
            let fv = m.mesh.face_vertices(e.face);
            let mut q = [0.0; 3];
            for k in 0..3 {
                for c in 0..3 {
                    q[c] += e.bary[k] as f64 * pos[fv[k].index()][c];
                }
            }
            let reach = r.min(t_star);
            let want = [p[0] + reach * d[0], p[1] + reach * d[1], 0.0];
            assert_eq!(
                e.truncated,
                r > t_star,
                "vertex {v} sample {s}: r = {r}, exit at {t_star}"
            );
            assert!(
                dist(q, want) < 2e-6,
                "vertex {v} sample {s}: {q:?} vs {want:?}"
            );
            assert_abs_diff_eq!(e.distance as f64, reach, epsilon = 1e-5);
            assert!(!e.mirrored);
            truncated += e.truncated as usize;
            // Clamp padding evaluates at the stop point.
            assert_eq!(t.padded_landing(v.index(), s), Some((e.face, e.bary)));
        }
    }
    assert_abs_diff_eq!(
        t.truncated_fraction(),
        truncated as f64 / (s_count * nx * ny) as f64,
        epsilon = 1e-15
    );
    assert!(truncated > 0);
}

// ---------------------------------------------------------------------------------------------------
// Unit sphere

/// Max over vertices of |exp_p(v) − (cos|v| p + sin|v| v/|v|)| for |v| = `len`, one direction per vertex
/// (golden-angle sequence). v's 3-D direction is that of the trace's first segment, projected to the
/// sphere's tangent plane at p.
fn sphere_error(level: u32, len: f64) -> f64 {
    let m = load(&format!("icosphere:{level}"));
    let tracer = Tracer::new(&m);
    let pos = m.positions.as_ref().unwrap();
    let mut worst: f64 = 0.0;
    for v in m.mesh.vertices() {
        let p = pos[v.index()];
        let theta = (v.index() as f64 * 2.399_963_229_728_653).rem_euclid(TAU);
        let (res, path) = tracer.trace_path(at_vertex(v, theta), len).unwrap();
        assert!(!res.truncated());
        assert!(dist(pos3(&m, &path[0]), p) < 1e-15);
        let q1 = pos3(&m, &path[1]);
        let w = [q1[0] - p[0], q1[1] - p[1], q1[2] - p[2]];
        let wp = w[0] * p[0] + w[1] * p[1] + w[2] * p[2];
        let u = [w[0] - wp * p[0], w[1] - wp * p[1], w[2] - wp * p[2]];
        let un = (u[0] * u[0] + u[1] * u[1] + u[2] * u[2]).sqrt();
        let want = [0, 1, 2].map(|k| len.cos() * p[k] + len.sin() * u[k] / un);
        worst = worst.max(dist(pos3(&m, &res.point), want));
    }
    worst
}

#[test]
fn icosphere_end_points_converge_to_great_circles() {
    let errors: Vec<f64> = (2..=5).map(|l| sphere_error(l, 1.0)).collect();
    eprintln!("icosphere |v| = 1, max error over vertices, levels 2..5: {errors:?}");
    for w in errors.windows(2) {
        assert!(
            w[1] < 0.7 * w[0],
            "error must fall under refinement: {errors:?}"
        );
    }
    // geometry-central's tracer: 6.7e-3 at level 5.
    assert!(errors[3] < 6.7e-3, "level 5 error {}", errors[3]);
}

#[test]
fn icosphere_table_agrees_with_single_traces() {
    let m = load("icosphere:3");
    let tracer = Tracer::new(&m);
    let params = ExpMapOptions::new()
        .rings(3)
        .directions(8)
        .radius(Radius::MeanEdgeLengths(4.0))
        .padding(Padding::Zero);
    let t = sane_table(&m, &params);
    assert_eq!(t.truncated_fraction(), 0.0);
    for v in m.mesh.vertices().step_by(7) {
        for j in 0..8 {
            let th = t.sample_angles()[t.sample_index(0, j)];
            let radii: Vec<f64> = (0..3)
                .map(|i| t.sample_radii()[t.sample_index(i, j)])
                .collect();
            let res = tracer.trace_lengths(at_vertex(v, th), &radii).unwrap();
            for (i, r) in res.iter().enumerate() {
                let e = t.entry(v.index(), t.sample_index(i, j));
                assert_eq!(e.face, r.point.face);
                for k in 0..3 {
                    assert_abs_diff_eq!(e.bary[k] as f64, r.point.bary[k], epsilon = 1e-6);
                }
                assert_abs_diff_eq!(e.transported_angle as f64, r.face_angle, epsilon = 1e-6);
                assert_eq!(
                    t.padded_landing(v.index(), t.sample_index(i, j)),
                    Some((e.face, e.bary))
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Reversal

/// Traces from `v` at θ for `len`, then back from the end along the reversed transported direction:
/// must return to `v`, arriving from direction θ of its frame.
fn check_reversal(m: &Manifold, tracer: &Tracer<'_>, v: VertexId, theta: f64, len: f64) -> bool {
    let fwd = tracer.trace(at_vertex(v, theta), len).unwrap();
    if fwd.truncated() {
        return false;
    }
    let back = tracer
        .trace(
            TraceStart::Face {
                point: fwd.point,
                angle: fwd.face_angle + PI,
            },
            len,
        )
        .unwrap();
    assert!(
        !back.truncated(),
        "reverse of ({v}, {theta}, {len}) truncated"
    );
    let fv = m.mesh.face_vertices(back.point.face);
    let k = fv
        .iter()
        .position(|&x| x == v)
        .unwrap_or_else(|| panic!("reverse of ({v}, {theta}) ends off the start"));
    assert!(
        back.point.bary[k] > 1.0 - 1e-9,
        "reverse of ({v}, {theta}, {len}) ends at {:?}",
        back.point
    );
    // It arrives from the direction it left in: the reversed arrival direction, unfolded into the star of
    // v, is θ. (Plain θ + π would be wrong at a curved vertex: the opposite of θ is θ + π only in the
    // scaled polar angle, which the unfolding of one corner does not see.)
    let polar = tracer
        .face_angle_to_polar(back.point.face, k, back.face_angle + PI)
        .unwrap();
    assert_abs_diff_eq_msg!(
        wrap(polar - theta),
        0.0,
        epsilon = 1e-8,
        "{v} len {len}: arrival from {polar}, left towards θ = {theta}, end {:?}",
        back.point
    );
    true
}

#[test]
fn reversed_traces_return_to_their_start() {
    for (spec, len) in [
        ("icosphere:3", 0.9),
        ("torus:24x12", 1.3),
        ("grid:12x12", 3.3),
        ("flat-mobius:12x7", 14.0),
        ("cube:4", 2.2),
        ("cone:4", 0.6),
    ] {
        let m = load(spec);
        let tracer = Tracer::new(&m);
        let mut n = 0;
        for v in m.mesh.vertices().step_by(3) {
            for j in 0..12 {
                let theta = TAU * j as f64 / 12.0 + 0.1 * (v.index() % 5) as f64;
                n += check_reversal(&m, &tracer, v, theta, len) as usize;
            }
        }
        assert!(n > 40, "{spec}: only {n} complete traces");
    }
}

// ---------------------------------------------------------------------------------------------------
// Flat torus and Möbius strip

#[test]
fn flat_torus_table_is_translation_invariant() {
    let (nx, ny) = (9usize, 7usize);
    let m = load("flat-torus:9x7");
    let params = ExpMapOptions::new()
        .rings(3)
        .directions(16)
        .radius(Radius::Absolute(3.3))
        .padding(Padding::Zero);
    let t = sane_table(&m, &params);
    assert_eq!(t.truncated_fraction(), 0.0);
    // Flat with every frame along +x: the transported direction, read in the polar frame of any corner of
    // the landing face, is the start direction.
    let tracer = Tracer::new(&m);
    for v in 0..t.vertex_count() {
        for s in 0..t.samples_per_vertex() {
            for k in 0..3 {
                let polar = t.transported_polar_angle(&tracer, v, s, k).unwrap();
                assert_abs_diff_eq_msg!(
                    wrap(polar - t.sample_angles()[s]),
                    0.0,
                    epsilon = 1e-5,
                    "vertex {v} sample {s} corner {k}"
                );
            }
        }
    }
    assert!(t
        .transported_polar_angle(&tracer, t.vertex_count(), 0, 0)
        .is_err());
    let vin = |v: VertexId| m.report.vertex_origin[v.index()] as usize;
    let translate = |i: usize, dx: usize, dy: usize| (i % nx + dx) % nx + nx * ((i / nx + dy) % ny);
    // Faces by their corner vertices (input numbering).
    let mut by_corners = std::collections::HashMap::new();
    for f in m.mesh.face_ids() {
        by_corners.insert(m.mesh.face_vertices(f).map(vin), f);
    }
    for (dx, dy) in [(1, 0), (0, 1), (3, 5)] {
        for v in m.mesh.vertices() {
            let w = vertex_of_input(&m, translate(vin(v), dx, dy));
            for s in 0..t.samples_per_vertex() {
                let a = t.entry(v.index(), s);
                let b = t.entry(w.index(), s);
                let moved = m
                    .mesh
                    .face_vertices(a.face)
                    .map(|x| translate(vin(x), dx, dy));
                let f = *by_corners
                    .get(&moved)
                    .expect("translated face exists with the same corner order");
                assert_eq!(
                    f, b.face,
                    "vertex {v} sample {s} translated by ({dx}, {dy})"
                );
                for k in 0..3 {
                    assert_abs_diff_eq!(a.bary[k], b.bary[k], epsilon = 1e-6);
                }
                assert_abs_diff_eq!(a.transported_angle, b.transported_angle, epsilon = 1e-6);
            }
        }
    }
}

/// Unrolled coordinates of a surface point of `flat-mobius:NXxNY` (or `flat-torus`), from the cell its
/// face came from: the corners of cell (cx, cy) are (cx, cy) … (cx + 1, cy + 1), column NX meaning
/// column 0 of the glued side.
fn unrolled(m: &Manifold, nx: usize, ny: usize, mobius: bool, p: &SurfacePoint) -> [f64; 2] {
    let o = m.report.face_origin[p.face.index()] as usize;
    let (cell, upper) = (o / 2, o % 2 == 1);
    let (cx, cy) = (cell % nx, cell / nx);
    let corners: [(usize, usize); 3] = if upper {
        [(cx, cy), (cx + 1, cy + 1), (cx, cy + 1)]
    } else {
        [(cx, cy), (cx + 1, cy), (cx + 1, cy + 1)]
    };
    let index = |(x, y): (usize, usize)| {
        if x == nx {
            if mobius {
                nx * (ny - 1 - y)
            } else {
                nx * (y % ny)
            }
        } else {
            x + nx * (y % ny)
        }
    };
    let fv = m.mesh.face_vertices(p.face);
    let mut q = [0.0; 2];
    for k in 0..3 {
        let vin = m.report.vertex_origin[fv[k].index()] as usize;
        let c = corners
            .iter()
            .find(|&&c| index(c) == vin)
            .expect("face corner is a cell corner");
        q[0] += p.bary[k] * c.0 as f64;
        q[1] += p.bary[k] * c.1 as f64;
    }
    q
}

/// Whether the star of `v` turns counter-clockwise in unrolled coordinates (its reference corner's face
/// keeps the input's cyclic order, and the corner is not flipped against the star).
fn star_is_ccw(m: &Manifold, source: &manifold_cnn::MeshSource, v: VertexId) -> bool {
    let c = m.mesh.vertex_corners(v)[m
        .mesh
        .vertex_reference_spoke(v)
        .min(m.mesh.vertex_face_degree(v) - 1)];
    let f = c.face();
    let fv = m
        .mesh
        .face_vertices(f)
        .map(|x| m.report.vertex_origin[x.index()]);
    let input = source.faces[m.report.face_origin[f.index()] as usize];
    let same_cycle = (0..3).any(|r| (0..3).all(|k| fv[k] == input[(k + r) % 3]));
    same_cycle != m.mesh.corner_flipped(c)
}

#[test]
fn flat_mobius_traces_cross_the_seam_as_straight_lines() {
    let (nx, ny) = (12usize, 7usize);
    let m = load("flat-mobius:12x7");
    let source = manifold_cnn::primitives::flat_mobius(12, 7).unwrap();
    let tracer = Tracer::new(&m);
    let glide = |q: [f64; 2]| [q[0] - nx as f64, (ny - 1) as f64 - q[1]];
    let unglide = |q: [f64; 2]| [q[0] + nx as f64, (ny - 1) as f64 - q[1]];
    let mut checked = 0;
    for y0 in 1..ny - 1 {
        for x0 in 1..nx - 1 {
            let v = vertex_of_input(&m, x0 + nx * y0);
            let sigma = if star_is_ccw(&m, &source, v) {
                1.0
            } else {
                -1.0
            };
            for th in [
                0.0,
                0.07,
                -0.11,
                0.2,
                PI - 0.05,
                PI + 0.13,
                0.5f64.atan() / 3.0,
            ] {
                for len in [3.0, 11.5, 17.25, 30.0] {
                    let mut e = [
                        x0 as f64 + len * th.cos(),
                        y0 as f64 + sigma * len * th.sin(),
                    ];
                    // Stay inside the strip (away from its boundary) for the straight-line oracle.
                    let ymin = (y0 as f64).min(e[1]);
                    let ymax = (y0 as f64).max(e[1]);
                    if ymin <= 0.0 || ymax >= (ny - 1) as f64 {
                        continue;
                    }
                    let got = tracer.trace(at_vertex(v, th), len).unwrap();
                    assert!(!got.truncated(), "({x0},{y0}) θ={th} len={len}");
                    while e[0] >= nx as f64 {
                        e = glide(e);
                    }
                    while e[0] < 0.0 {
                        e = unglide(e);
                    }
                    let q = unrolled(&m, nx, ny, true, &got.point);
                    let d = |a: [f64; 2]| ((a[0] - e[0]).powi(2) + (a[1] - e[1]).powi(2)).sqrt();
                    let err = d(q).min(d(glide(q))).min(d(unglide(q)));
                    assert!(
                        err < 1e-11,
                        "({x0},{y0}) θ={th} len={len}: {q:?} vs {e:?} ({err:e})"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 300, "{checked}");
}

#[test]
fn flat_mobius_core_loop_returns_mirrored() {
    let (nx, ny) = (12usize, 7usize);
    let m = load("flat-mobius:12x7");
    let tracer = Tracer::new(&m);
    let core = vertex_of_input(&m, 3 + nx * 3);
    for (turns, mirrored) in [(1.0, true), (2.0, false), (3.0, true)] {
        let r = tracer
            .trace(at_vertex(core, 0.0), turns * nx as f64)
            .unwrap();
        assert!(!r.truncated());
        assert_eq!(r.mirrored, mirrored, "{turns} turns");
        let fv = m.mesh.face_vertices(r.point.face);
        let k = fv
            .iter()
            .position(|&x| x == core)
            .expect("back at the start vertex");
        assert!(r.point.bary[k] > 1.0 - 1e-12);
        // Still heading along the core, in the start frame's direction 0.
        let polar = tracer
            .face_angle_to_polar(r.point.face, k, r.face_angle)
            .unwrap();
        assert_abs_diff_eq_msg!(
            wrap(polar),
            0.0,
            epsilon = 1e-12,
            "{turns} turns: arrival direction {polar}"
        );
    }
    // Off the core, one turn lands on the mirror-image row.
    for y0 in 1..ny - 1 {
        let v = vertex_of_input(&m, 5 + nx * y0);
        let r = tracer.trace(at_vertex(v, 0.0), nx as f64).unwrap();
        let w = vertex_of_input(&m, 5 + nx * (ny - 1 - y0));
        let fv = m.mesh.face_vertices(r.point.face);
        let k = fv
            .iter()
            .position(|&x| x == w)
            .expect("lands on the mirrored row");
        assert!(r.point.bary[k] > 1.0 - 1e-12);
        assert!(r.mirrored);
    }
    // On the flat torus the same loop is not mirrored.
    let t = load("flat-torus:12x7");
    let tt = Tracer::new(&t);
    let v = vertex_of_input(&t, 3 + 12 * 3);
    let r = tt.trace(at_vertex(v, 0.0), 12.0).unwrap();
    assert!(!r.mirrored);
    let k = t
        .mesh
        .face_vertices(r.point.face)
        .iter()
        .position(|&x| x == v)
        .unwrap();
    assert!(r.point.bary[k] > 1.0 - 1e-12);
}

// ---------------------------------------------------------------------------------------------------
// Cone: the Θ/2 rule at the apex, and straight lines in the development elsewhere

#[test]
fn cone_apex_is_passed_with_half_the_angle_on_each_side() {
    // cone:4: apex angle sum Θ = 3π/2, S = 16 rulings Θ/16 apart, R = 6 rings; vertex (i, k) is
    // 1 + (i − 1)·16 + k, at slant i/6 along ruling k. Half of Θ is 8 rulings.
    let m = load("cone:4");
    let tracer = Tracer::new(&m);
    let pos = m.positions.as_ref().unwrap();
    let vid = |i: usize, k: usize| vertex_of_input(&m, 1 + (i - 1) * 16 + k % 16);
    for k in [0usize, 3, 10] {
        let start = vid(3, k);
        let inward = m.mesh.find_spoke(start, vid(2, k)).unwrap();
        let theta = m.frames.spoke_angles()[inward.index()];
        for (extra, i_out) in [(2.0 / 6.0, 2usize), (4.0 / 6.0, 4), (0.25, 0)] {
            let r = tracer.trace(at_vertex(start, theta), 0.5 + extra).unwrap();
            assert!(!r.truncated());
            let out = pos[vid(2, k + 8).index()];
            let want = if i_out > 0 {
                pos[vid(i_out, k + 8).index()]
            } else {
                out.map(|c| c * 0.25 / (2.0 / 6.0))
            };
            let e = dist(pos3(&m, &r.point), want);
            assert!(e < 1e-12, "ruling {k}, {extra} past the apex: error {e:e}");
        }
    }
}

#[test]
fn cone_traces_are_straight_in_the_development() {
    let m = load("cone:4");
    let tracer = Tracer::new(&m);
    let (s, rings, theta_apex) = (16i64, 6.0, 1.5 * PI);
    // Developed position of vertex (i, k), ruling taken relative to ruling 0 within ±8.
    let develop = |v: VertexId| -> [f64; 2] {
        let i = m.report.vertex_origin[v.index()] as i64;
        if i == 0 {
            return [0.0, 0.0];
        }
        let (ring, mut k) = ((i - 1) / s + 1, (i - 1) % s);
        if k > s / 2 {
            k -= s;
        }
        let a = theta_apex * k as f64 / s as f64;
        [ring as f64 / rings * a.cos(), ring as f64 / rings * a.sin()]
    };
    let start = vertex_of_input(&m, 1 + 2 * 16); // (3, 0): slant 0.5 on ruling 0
    for th in [2.3, 2.0, 1.2, -2.2, 0.4] {
        for len in [0.2, 0.55, 0.9] {
            let r = tracer.trace(at_vertex(start, th), len).unwrap();
            let want = [0.5 + len * th.cos(), len * th.sin()];
            if want[0].hypot(want[1]) >= 0.99 {
                continue;
            }
            assert!(!r.truncated(), "θ={th} len={len}");
            let fv = m.mesh.face_vertices(r.point.face);
            let mut q = [0.0; 2];
            for k in 0..3 {
                let d = develop(fv[k]);
                q[0] += r.point.bary[k] * d[0];
                q[1] += r.point.bary[k] * d[1];
            }
            let e = ((q[0] - want[0]).powi(2) + (q[1] - want[1]).powi(2)).sqrt();
            assert!(e < 1e-12, "θ={th} len={len}: {q:?} vs {want:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Parameters, determinism, errors, export, command line

#[test]
fn bad_parameters_are_errors() {
    let m = load("grid:4x4");
    let base = ExpMapOptions::new()
        .rings(2)
        .directions(4)
        .radius(Radius::Absolute(1.0))
        .padding(Padding::Zero);
    for p in [
        base.rings(0),
        base.directions(0),
        base.radius(Radius::Absolute(0.0)),
        base.radius(Radius::Absolute(-1.0)),
        base.radius(Radius::Absolute(f64::NAN)),
        base.radius(Radius::MeanEdgeLengths(f64::INFINITY)),
        base.radius(Radius::MeanEdgeLengths(1e6)),
        base.rings(1 << 20).directions(1 << 20),
        base.rings(usize::MAX).directions(3),
    ] {
        assert!(
            matches!(
                ExpMapTable::build(&m, &p),
                Err(manifold_cnn::Error::InvalidParameter { .. })
            ),
            "{p:?}"
        );
    }
    let tracer = Tracer::new(&m);
    let v = m.mesh.vertex(5).unwrap();
    assert!(tracer.trace(at_vertex(v, f64::NAN), 1.0).is_err());
    assert!(tracer.trace(at_vertex(v, 0.0), -1.0).is_err());
    assert!(tracer.trace(at_vertex(v, 0.0), f64::INFINITY).is_err());
    assert!(tracer
        .trace_lengths(at_vertex(v, 0.0), &[2.0, 1.0])
        .is_err());
    let f = m.mesh.face(0).unwrap();
    for bary in [[0.5, 0.5, 0.5], [f64::NAN, 0.5, 0.5], [-0.5, 1.0, 0.5]] {
        assert!(tracer
            .trace(
                TraceStart::Face {
                    point: SurfacePoint { face: f, bary },
                    angle: 0.0
                },
                1.0
            )
            .is_err());
    }
    let big = load("grid:9x9");
    let far_v = big.mesh.vertex(70).unwrap();
    let far_f: FaceId = big.mesh.face(100).unwrap();
    assert!(tracer.trace(at_vertex(far_v, 0.0), 1.0).is_err());
    assert!(tracer.face_angle_to_polar(far_f, 0, 0.0).is_err());
    assert!(tracer.face_angle_to_polar(f, 3, 0.0).is_err());
    // The trace API survives extreme but valid input.
    let r = tracer.trace(at_vertex(v, 1e300), 1e300).unwrap();
    assert!(r.truncated());
}

#[test]
fn tables_are_deterministic_across_thread_counts() {
    let m = load("icosphere:3");
    let params = ExpMapOptions::new()
        .rings(4)
        .directions(8)
        .radius(Radius::MeanEdgeLengths(3.0))
        .padding(Padding::Zero);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| ExpMapTable::build(&m, &params).unwrap());
    let many = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(|| ExpMapTable::build(&m, &params).unwrap());
    assert!(one == many);
}

#[test]
fn export_writes_the_documented_arrays() {
    use manifold_cnn::io::npz::{
        npz_array_names, read_npz_bool, read_npz_f32, read_npz_f64, read_npz_u32,
    };
    let m = load("grid:6x5");
    let params = ExpMapOptions::new()
        .rings(2)
        .directions(6)
        .radius(Radius::Absolute(2.5))
        .padding(Padding::Zero);
    let t = sane_table(&m, &params);
    let dir = TempDir::new("expmap", "export_writes_the_documented_arrays");
    let path = dir.path("table.npz");
    expmap::write_npz(&t, &m, &path).unwrap();
    let names = npz_array_names(&path).unwrap();
    for n in [
        "sample_radius",
        "sample_angle",
        "landing_face",
        "landing_vertices",
        "landing_bary",
        "transported_angle",
        "truncated",
        "positions",
        "faces",
        "frame_x",
        "frame_y",
        "normals",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    let (nv, ns) = (30u64, 12u64);
    let (sh, faces) = read_npz_u32(&path, "landing_face").unwrap();
    assert_eq!(sh, vec![nv, ns]);
    let (sh, lv) = read_npz_u32(&path, "landing_vertices").unwrap();
    assert_eq!(sh, vec![nv, ns, 3]);
    let (_, lb) = read_npz_f32(&path, "landing_bary").unwrap();
    let (_, tr) = read_npz_bool(&path, "truncated").unwrap();
    let (sh, sa) = read_npz_f64(&path, "sample_angle").unwrap();
    assert_eq!(sh, vec![ns]);
    assert_eq!(sa, t.sample_angles());
    let (_, fx) = read_npz_f64(&path, "frame_x").unwrap();
    for e in 0..(nv * ns) as usize {
        let f = m.mesh.face(faces[e] as usize).unwrap();
        assert_eq!(
            lv[3 * e..3 * e + 3],
            m.mesh.face_vertices(f).map(|v| v.raw())
        );
        assert_abs_diff_eq!(
            lb[3 * e] + lb[3 * e + 1] + lb[3 * e + 2],
            1.0,
            epsilon = 1e-6
        );
        assert_eq!(tr[e], t.entry(e / ns as usize, e % ns as usize).truncated);
    }
    // Vertex (0, 0): reference edge along +x.
    assert_abs_diff_eq!(fx[0], 1.0, epsilon = 1e-15);
    assert_abs_diff_eq!(fx[1], 0.0, epsilon = 1e-15);
    // Intrinsic meshes have no positions or frames.
    let torus = load("flat-torus:5x5");
    let t2 = sane_table(&torus, &params);
    let p2 = dir.path("torus.npz");
    expmap::write_npz(&t2, &torus, &p2).unwrap();
    let names = npz_array_names(&p2).unwrap();
    assert!(!names.iter().any(|x| x == "positions" || x == "frame_x"));
    assert!(names.iter().any(|x| x == "faces"));
    // A table from another mesh is refused.
    assert!(expmap::write_npz(&t2, &m, dir.path("bad.npz")).is_err());
}

#[test]
fn command_line_reports_json_and_rejects_bad_parameters() {
    let v = json(&run(&[
        "expmap",
        "grid:10x10",
        "--rings",
        "3",
        "--directions",
        "8",
        "--radius-edges",
        "2",
        "--json",
    ]));
    assert_eq!(v["vertices"], 100);
    assert_eq!(v["samples"], 24);
    assert!(v["bytes"].as_u64().unwrap() >= 100 * 24 * 17);
    let tf = v["truncated_fraction"].as_f64().unwrap();
    assert!(tf > 0.0 && tf < 0.5);
    assert!(v["seconds"].as_f64().unwrap() >= 0.0);
    // Without a radius: 5 mean edge lengths, as the help says and `convolve` does. The 10 × 10 unit
    // grid has 90 + 90 unit edges and 81 diagonals of √2.
    let v = json(&run(&["expmap", "grid:10x10", "--json"]));
    let mean_edge = (180.0 + 81.0 * 2f64.sqrt()) / 261.0;
    assert_abs_diff_eq_msg!(
        v["radius"].as_f64().unwrap(),
        5.0 * mean_edge,
        epsilon = 1e-9,
        "{v}"
    );
    for bad in [
        vec!["expmap", "grid:10x10", "--radius", "0"],
        vec!["expmap", "grid:10x10", "--radius", "-2"],
        vec!["expmap", "grid:10x10", "--radius", "NaN"],
        vec!["expmap", "grid:10x10", "--rings", "0", "--radius", "1"],
        vec![
            "expmap",
            "grid:10x10",
            "--directions",
            "0",
            "--radius-edges",
            "1",
        ],
        vec![
            "expmap",
            "grid:10x10",
            "--radius",
            "1",
            "--radius-edges",
            "1",
        ],
        vec![
            "expmap",
            "grid:10x10",
            "--radius",
            "1",
            "--padding",
            "mirror",
        ],
        vec!["expmap", "no-such-file.obj", "--radius", "1"],
    ] {
        let out = run(&bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
}

// ---------------------------------------------------------------------------------------------------
// Frames, real meshes

#[test]
fn start_direction_is_the_polar_angle_unfolded_into_the_first_face() {
    for spec in ["icosphere:2", "cube:3", "mobius:24x5"] {
        let m = load(spec);
        let tracer = Tracer::new(&m);
        for v in m.mesh.vertices().step_by(5) {
            for j in 0..7 {
                let theta = wrap(0.3 + TAU * j as f64 / 7.0);
                let (res, path) = tracer.trace_path(at_vertex(v, theta), 0.05).unwrap();
                if res.truncated() {
                    continue;
                }
                // The first segment, in the frame of the face it crosses, from barycentric coordinates.
                let p1 = path[1];
                let k = m
                    .mesh
                    .face_vertices(p1.face)
                    .iter()
                    .position(|&x| x == v)
                    .expect("first face holds v");
                let c = tracer.face_layout(p1.face).unwrap();
                let q = [0, 1].map(|d| (0..3).map(|i| p1.bary[i] * c[i][d]).sum::<f64>());
                let beta = (q[1] - c[k][1]).atan2(q[0] - c[k][0]);
                let polar = tracer.face_angle_to_polar(p1.face, k, beta).unwrap();
                assert_abs_diff_eq_msg!(
                    wrap(polar - theta),
                    0.0,
                    epsilon = 1e-9,
                    "{spec} vertex {v}: θ = {theta}, unfolded {polar}"
                );
                let back = tracer.polar_to_face_angle(p1.face, k, theta).unwrap();
                assert_abs_diff_eq_msg!(
                    wrap(back - beta),
                    0.0,
                    epsilon = 1e-9,
                    "{spec} vertex {v}: {back} vs {beta}"
                );
            }
        }
    }
}

#[test]
fn real_meshes_give_finite_tables_and_reversible_traces() {
    for (file, repair) in [
        ("lion_head.obj", false),
        ("mech_holes_shark.obj", false),
        ("eight.obj", false),
        ("teapot_unwelded.obj", true),
    ] {
        let path = mesh_path(file);
        let m = if repair {
            load_repaired(&path)
        } else {
            load(&path)
        };
        let params = ExpMapOptions::new()
            .rings(4)
            .directions(8)
            .radius(Radius::MeanEdgeLengths(4.0))
            .padding(Padding::Zero);
        let t = sane_table(&m, &params);
        let boundary = !m.mesh.boundary_loops().is_empty();
        assert_eq!(t.truncated_fraction() > 0.0, boundary, "{file}");
        for v in 0..t.vertex_count() {
            for s in 0..t.samples_per_vertex() {
                let e = t.entry(v, s);
                assert!((e.face.index()) < m.mesh.face_count());
                assert!(
                    e.bary
                        .iter()
                        .all(|b| b.is_finite() && *b > -1e-5 && *b < 1.0 + 1e-5),
                    "{file} {v} {s}: {e:?}"
                );
                assert!(e.transported_angle.is_finite() && e.distance.is_finite());
                assert!(e.distance <= t.sample_radii()[s] as f32 * (1.0 + 1e-6));
                assert_eq!(t.padded_landing(v, s).is_none(), e.truncated);
            }
        }
        let tracer = Tracer::new(&m);
        let mut n = 0;
        for v in m.mesh.vertices().step_by(97) {
            for j in 0..8 {
                n += check_reversal(
                    &m,
                    &tracer,
                    v,
                    TAU * j as f64 / 8.0 + 0.05,
                    3.0 * m.geometry.mean_edge_length(),
                ) as usize;
            }
        }
        assert!(n >= 5, "{file}: {n}");
    }
}
