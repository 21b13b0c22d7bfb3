//! Oracle tests for the generated primitives and for subdivision, on `MeshSource` directly: closed-form
//! counts, Euler characteristics, angle sums and Gauss–Bonnet from edge lengths, consistent orientation,
//! the reference-edge conventions, icosahedral symmetry, Loop's rules in closed form, and bad specs.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::f64::consts::{PI, SQRT_2};

use manifold_cnn::data::sphere::icosahedral_rotations;
use manifold_cnn::primitives::{self, Primitive};
use manifold_cnn::subdivide::{self, Scheme};
use manifold_cnn::{Error, MeshSource};
use proptest::prelude::*;

use approx::assert_abs_diff_eq;
use common::angles::wrap;
use common::assert_abs_diff_eq_msg;
use common::meshes::{generate, mesh_path};
use common::vec3::{angle_between, cross, dot, mul, norm, sub};

// ----------------------------------------------------------------------------------------------------
// Helpers (independent of the library's own edge table)

type Edges = BTreeMap<(u32, u32), Vec<(usize, usize)>>;

/// Undirected edges → the (face, side) pairs that use them.
fn edges(s: &MeshSource) -> Edges {
    let mut m: Edges = BTreeMap::new();
    for (f, face) in s.faces.iter().enumerate() {
        for k in 0..3 {
            let (a, b) = (face[k], face[(k + 1) % 3]);
            m.entry((a.min(b), a.max(b))).or_default().push((f, k));
        }
    }
    m
}

fn euler(s: &MeshSource) -> i64 {
    s.vertex_count as i64 - edges(s).len() as i64 + s.faces.len() as i64
}

fn boundary_vertices(s: &MeshSource) -> Vec<bool> {
    let mut b = vec![false; s.vertex_count];
    for (&(u, v), uses) in &edges(s) {
        if uses.len() == 1 {
            b[u as usize] = true;
            b[v as usize] = true;
        }
    }
    b
}

/// Number of boundary loops (boundary edges form disjoint cycles on these meshes).
fn boundary_loops(s: &MeshSource) -> usize {
    let mut adj: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&(u, v), uses) in &edges(s) {
        if uses.len() == 1 {
            adj.entry(u).or_default().push(v);
            adj.entry(v).or_default().push(u);
        }
    }
    let mut seen = HashSet::new();
    let mut loops = 0;
    let keys: Vec<u32> = adj.keys().copied().collect();
    for start in keys {
        if seen.contains(&start) {
            continue;
        }
        loops += 1;
        let mut stack = vec![start];
        while let Some(v) = stack.pop() {
            if seen.insert(v) {
                stack.extend(adj[&v].iter().copied());
            }
        }
    }
    loops
}

/// Per-face side lengths: the source's own, or from positions.
fn face_lengths(s: &MeshSource) -> Vec<[f64; 3]> {
    if let Some(l) = &s.face_edge_lengths {
        return l.clone();
    }
    let p = s.positions.as_ref().unwrap();
    s.faces
        .iter()
        .map(|f| {
            let q = |k: usize| p[f[k] as usize];
            [
                norm(sub(q(1), q(0))),
                norm(sub(q(2), q(1))),
                norm(sub(q(0), q(2))),
            ]
        })
        .collect()
}

/// Angle sums per vertex from edge lengths (law of cosines).
fn angle_sums_from_lengths(s: &MeshSource) -> Vec<f64> {
    let mut sums = vec![0.0; s.vertex_count];
    for (face, l) in s.faces.iter().zip(face_lengths(s)) {
        for k in 0..3 {
            // Corner k lies between side k (k→k+1) and side k+2 (k+2→k); side k+1 is opposite.
            let (a, c, b) = (l[k], l[(k + 2) % 3], l[(k + 1) % 3]);
            let cos = ((a * a + c * c - b * b) / (2.0 * a * c)).clamp(-1.0, 1.0);
            sums[face[k] as usize] += cos.acos();
        }
    }
    sums
}

/// Angle sums per vertex from positions (atan2, accurate for small and right angles).
fn angle_sums_from_positions(s: &MeshSource) -> Vec<f64> {
    let p = s.positions.as_ref().unwrap();
    let mut sums = vec![0.0; s.vertex_count];
    for face in &s.faces {
        for k in 0..3 {
            let (v, n, q) = (
                face[k] as usize,
                face[(k + 1) % 3] as usize,
                face[(k + 2) % 3] as usize,
            );
            sums[v] += angle_between(sub(p[n], p[v]), sub(p[q], p[v]));
        }
    }
    sums
}

/// Discrete Gauss–Bonnet: Σ_interior (2π − Θ) + Σ_boundary (π − Θ) = 2πχ.
fn assert_gauss_bonnet(s: &MeshSource, sums: &[f64], chi: i64) {
    let b = boundary_vertices(s);
    let total: f64 = sums
        .iter()
        .zip(&b)
        .map(|(&t, &bd)| if bd { PI - t } else { 2.0 * PI - t })
        .sum();
    assert_abs_diff_eq_msg!(
        total,
        2.0 * PI * chi as f64,
        epsilon = 1e-9,
        "{}: Gauss-Bonnet {total} vs 2π·{chi}",
        s.name
    );
}

/// Each undirected edge used by two faces must be used once in each direction, except `seam` edges,
/// which must be used twice in the same direction; no directed edge is used twice otherwise.
fn assert_oriented(s: &MeshSource, seam: impl Fn(u32, u32) -> bool) -> usize {
    let mut seam_count = 0;
    for (&(u, v), uses) in &edges(s) {
        assert!(
            uses.len() <= 2,
            "{}: edge ({u}, {v}) has {} faces",
            s.name,
            uses.len()
        );
        if uses.len() == 2 {
            let dir = |(f, k): (usize, usize)| s.faces[f][k] == u;
            let same = dir(uses[0]) == dir(uses[1]);
            if seam(u, v) {
                assert!(
                    same,
                    "{}: seam edge ({u}, {v}) should be used in the same direction",
                    s.name
                );
                seam_count += 1;
            } else {
                assert!(
                    !same,
                    "{}: edge ({u}, {v}) used twice in the same direction",
                    s.name
                );
            }
        }
    }
    seam_count
}

/// The reference outgoing edge of `v` by the rule of `MeshSource`'s docs.
fn reference_target(s: &MeshSource, v: u32) -> u32 {
    if let Some(f) = s.faces.iter().find(|f| f[0] == v) {
        return f[1];
    }
    let f = s.faces.iter().find(|f| f.contains(&v)).unwrap();
    let k = f.iter().position(|&x| x == v).unwrap();
    f[(k + 1) % 3]
}

/// All reference targets at once (first face with corner 0 = v, else first face containing v).
fn reference_targets(s: &MeshSource) -> Vec<u32> {
    let mut first0 = vec![u32::MAX; s.vertex_count];
    let mut first = vec![u32::MAX; s.vertex_count];
    for face in &s.faces {
        if first0[face[0] as usize] == u32::MAX {
            first0[face[0] as usize] = face[1];
        }
        for k in 0..3 {
            if first[face[k] as usize] == u32::MAX {
                first[face[k] as usize] = face[(k + 1) % 3];
            }
        }
    }
    first0
        .iter()
        .zip(&first)
        .map(|(&a, &b)| if a != u32::MAX { a } else { b })
        .collect()
}

fn assert_well_formed(s: &MeshSource) {
    let mut used = vec![false; s.vertex_count];
    let mut seen = HashSet::new();
    for (f, face) in s.faces.iter().enumerate() {
        let [a, b, c] = *face;
        assert!(
            a != b && b != c && a != c,
            "{}: face {f} repeats a vertex",
            s.name
        );
        for &v in face {
            assert!(
                (v as usize) < s.vertex_count,
                "{}: face {f} out of range",
                s.name
            );
            used[v as usize] = true;
        }
        let mut key = *face;
        key.sort();
        assert!(seen.insert(key), "{}: face {f} duplicates another", s.name);
    }
    assert!(used.iter().all(|&u| u), "{}: unreferenced vertex", s.name);
    if let Some(p) = &s.positions {
        assert_eq!(p.len(), s.vertex_count);
        assert!(p.iter().flatten().all(|x| x.is_finite()));
    }
    if let Some(l) = &s.face_edge_lengths {
        assert_eq!(l.len(), s.faces.len());
        // Both faces at an edge agree on its length.
        for (&(u, v), uses) in &edges(s) {
            let ls: Vec<f64> = uses.iter().map(|&(f, k)| l[f][k]).collect();
            assert!(
                ls.iter().all(|&x| x == ls[0]),
                "{}: edge ({u}, {v}) lengths {ls:?}",
                s.name
            );
        }
    }
}

// ----------------------------------------------------------------------------------------------------
// Counts, Euler characteristic, boundary

#[test]
fn counts_match_closed_forms() {
    let cases: Vec<(&str, usize, usize, usize, i64, usize)> = vec![
        // spec, V, F, E, χ, boundary loops
        ("icosphere:0", 12, 20, 30, 2, 0),
        ("icosphere:1", 42, 80, 120, 2, 0),
        ("icosphere:4", 2562, 5120, 7680, 2, 0),
        ("grid:2x2", 4, 2, 5, 1, 1),
        ("grid:7x4", 28, 36, 63, 1, 1),
        ("flat-torus:3x3", 9, 18, 27, 0, 0),
        ("flat-torus:5x4", 20, 40, 60, 0, 0),
        ("flat-mobius:3x2", 6, 6, 12, 0, 1),
        ("flat-mobius:8x5", 40, 64, 104, 0, 1),
        ("cube:1", 8, 12, 18, 2, 0),
        ("cube:3", 56, 108, 162, 2, 0),
        ("cone:2", 73, 132, 204, 1, 1),
        ("cone:5", 121, 220, 340, 1, 1),
        ("torus:3x3", 9, 18, 27, 0, 0),
        ("torus:12x5", 60, 120, 180, 0, 0),
        ("mobius:3x2", 6, 6, 12, 0, 1),
        ("mobius:20x4", 80, 120, 200, 0, 1),
    ];
    for (spec, v, f, e, chi, loops) in cases {
        let s = generate(spec);
        assert_eq!(s.name, spec);
        assert_eq!(
            (s.vertex_count, s.faces.len(), edges(&s).len()),
            (v, f, e),
            "{spec}"
        );
        assert_eq!(euler(&s), chi, "{spec}");
        assert_eq!(boundary_loops(&s), loops, "{spec}");
        let p = Primitive::parse(spec).unwrap().unwrap();
        assert_eq!(
            (p.vertex_count(), p.face_count()),
            (v as u64, f as u64),
            "{spec}"
        );
        assert_eq!(p.to_string(), spec);
        assert_well_formed(&s);
    }
    // General closed forms over a range of sizes.
    for l in 0..=5u32 {
        let s = primitives::icosphere(l).unwrap();
        let p = 4usize.pow(l);
        assert_eq!(
            (s.vertex_count, s.faces.len(), edges(&s).len()),
            (10 * p + 2, 20 * p, 30 * p)
        );
    }
    for n in 1..=6usize {
        let s = primitives::cube(n as u32).unwrap();
        assert_eq!(
            (s.vertex_count, s.faces.len(), euler(&s)),
            (6 * n * n + 2, 12 * n * n, 2)
        );
        assert_well_formed(&s);
    }
    for n in 2..=9u32 {
        let s = primitives::cone(n).unwrap();
        let sec = (4 * n).max(12) as usize;
        assert_eq!(
            (s.vertex_count, s.faces.len(), euler(&s)),
            (1 + 6 * sec, 11 * sec, 1)
        );
        assert_eq!(boundary_loops(&s), 1);
        assert_well_formed(&s);
    }
    for (nx, ny) in [(3usize, 3usize), (4, 7), (9, 3)] {
        let t = primitives::flat_torus(nx as u32, ny as u32).unwrap();
        assert_eq!(
            (t.vertex_count, t.faces.len(), euler(&t)),
            (nx * ny, 2 * nx * ny, 0)
        );
        assert!(t.positions.is_none());
        let m = primitives::flat_mobius(nx as u32, ny as u32).unwrap();
        assert_eq!(
            (m.vertex_count, m.faces.len(), euler(&m)),
            (nx * ny, 2 * nx * (ny - 1), 0)
        );
        assert!(m.positions.is_none());
        // One boundary loop of length 2·NX.
        let b = boundary_vertices(&m).iter().filter(|&&x| x).count();
        assert_eq!(b, 2 * nx);
        let g = primitives::grid(nx as u32, ny as u32).unwrap();
        assert_eq!(g.faces.len(), 2 * (nx - 1) * (ny - 1));
        assert!(g.face_edge_lengths.is_none());
        for s in [&t, &m, &g] {
            assert_well_formed(s);
        }
    }
}

// ----------------------------------------------------------------------------------------------------
// Orientation

#[test]
fn faces_are_consistently_oriented() {
    for spec in [
        "icosphere:0",
        "icosphere:3",
        "grid:5x4",
        "flat-torus:3x3",
        "flat-torus:6x4",
        "cube:1",
        "cube:4",
        "cone:2",
        "cone:7",
        "torus:3x3",
        "torus:16x8",
    ] {
        let s = generate(spec);
        assert_eq!(assert_oriented(&s, |_, _| false), 0, "{spec}");
    }
    // Möbius strips: exactly the NY−1 edges on the seam (both ends in column 0) are used twice in the
    // same direction.
    for (nx, ny) in [(3u32, 2u32), (5, 3), (8, 6)] {
        for s in [
            primitives::flat_mobius(nx, ny).unwrap(),
            primitives::mobius(nx, ny).unwrap(),
        ] {
            let seam = |u: u32, v: u32| u.is_multiple_of(nx) && v.is_multiple_of(nx);
            assert_eq!(assert_oriented(&s, seam), (ny - 1) as usize, "{}", s.name);
        }
    }
}

/// Outward-facing normals for the embedded closed surfaces and the cone; +z for the grid.
#[test]
fn normals_point_outwards() {
    let normal = |p: &[[f64; 3]], f: [u32; 3]| {
        let q = |k: usize| p[f[k] as usize];
        (
            cross(sub(q(1), q(0)), sub(q(2), q(0))),
            [0, 1, 2].map(q).iter().fold([0.0; 3], |a, b| {
                [a[0] + b[0] / 3.0, a[1] + b[1] / 3.0, a[2] + b[2] / 3.0]
            }),
        )
    };
    for spec in ["icosphere:2", "cube:3"] {
        let s = generate(spec);
        let p = s.positions.as_ref().unwrap();
        for &f in &s.faces {
            let (n, c) = normal(p, f);
            assert!(dot(n, c) > 0.0, "{spec}: face {f:?} faces inwards");
        }
    }
    let g = generate("grid:4x3");
    for &f in &g.faces {
        assert!(normal(g.positions.as_ref().unwrap(), f).0[2] > 0.0);
    }
    let t = generate("torus:10x6");
    for &f in &t.faces {
        let (n, c) = normal(t.positions.as_ref().unwrap(), f);
        let r = (c[0] * c[0] + c[1] * c[1]).sqrt();
        let ring = [c[0] / r, c[1] / r, 0.0];
        assert!(dot(n, sub(c, ring)) > 0.0, "torus face {f:?} faces inwards");
    }
    for n in [2, 3, 6] {
        let s = primitives::cone(n).unwrap();
        for &f in &s.faces {
            let (nrm, c) = normal(s.positions.as_ref().unwrap(), f);
            // The cone opens downwards from the apex at the origin: outward is away from the axis and up.
            assert!(
                dot(nrm, [c[0], c[1], 0.0]) > 0.0 && nrm[2] > 0.0,
                "cone:{n} face {f:?}"
            );
        }
    }
}

// ----------------------------------------------------------------------------------------------------
// Intrinsic geometry: angle sums, edge lengths, Gauss–Bonnet

#[test]
fn flat_torus_and_mobius_are_flat() {
    for (nx, ny) in [(3u32, 3u32), (4, 3), (7, 5), (3, 8)] {
        let t = primitives::flat_torus(nx, ny).unwrap();
        for (v, &a) in angle_sums_from_lengths(&t).iter().enumerate() {
            assert_abs_diff_eq_msg!(
                a,
                2.0 * PI,
                epsilon = 1e-12,
                "flat torus {nx}x{ny}: vertex {v} angle sum {a}"
            );
        }
        assert_gauss_bonnet(&t, &angle_sums_from_lengths(&t), 0);
        // Lengths are those of the unit grid.
        for (f, l) in t.face_edge_lengths.as_ref().unwrap().iter().enumerate() {
            let expect = if f % 2 == 0 {
                [1.0, 1.0, SQRT_2]
            } else {
                [SQRT_2, 1.0, 1.0]
            };
            assert_eq!(*l, expect);
        }
    }
    for (nx, ny) in [(3u32, 2u32), (3, 3), (5, 4), (8, 7)] {
        let m = primitives::flat_mobius(nx, ny).unwrap();
        let sums = angle_sums_from_lengths(&m);
        let b = boundary_vertices(&m);
        for v in 0..m.vertex_count {
            let y = v as u32 / nx;
            assert_eq!(
                b[v],
                y == 0 || y == ny - 1,
                "flat mobius {nx}x{ny}: vertex {v} boundary flag"
            );
            let expect = if b[v] { PI } else { 2.0 * PI };
            assert_abs_diff_eq_msg!(
                sums[v],
                expect,
                epsilon = 1e-12,
                "flat mobius {nx}x{ny}: vertex {v} angle sum {}",
                sums[v]
            );
        }
        assert_gauss_bonnet(&m, &sums, 0);
    }
}

#[test]
fn cone_apex_has_the_requested_defect() {
    for (n, sectors, rings) in [
        (2, 12, 6),
        (3, 12, 6),
        (4, 16, 6),
        (6, 24, 6),
        (7, 28, 6),
        (13, 52, 6),
    ] {
        let s = primitives::cone(n).unwrap();
        assert_eq!(s.vertex_count as u32, 1 + sectors * rings);
        let theta = 2.0 * PI * (n - 1) as f64 / n as f64;
        let sums = angle_sums_from_positions(&s);
        assert_abs_diff_eq_msg!(
            sums[0],
            theta,
            epsilon = 1e-12,
            "cone:{n}: apex angle sum {} vs {theta}",
            sums[0]
        );
        let b = boundary_vertices(&s);
        let rim = PI - theta / sectors as f64;
        for v in 1..s.vertex_count {
            let ring = 1 + (v as u32 - 1) / sectors;
            assert_eq!(b[v], ring == rings, "cone:{n}: vertex {v}");
            let expect = if b[v] { rim } else { 2.0 * PI };
            assert_abs_diff_eq_msg!(
                sums[v],
                expect,
                epsilon = 1e-12,
                "cone:{n}: vertex {v} angle sum {} vs {expect}",
                sums[v]
            );
        }
        assert_gauss_bonnet(&s, &sums, 1);
        // Rulings are straight and meet the apex: every vertex is (i/R)·(unit ruling), slant 1 at the rim.
        let p = s.positions.as_ref().unwrap();
        assert_eq!(p[0], [0.0; 3]);
        for v in 1..s.vertex_count {
            let (ring, k) = (1 + (v - 1) / sectors as usize, (v - 1) % sectors as usize);
            let r1 = p[1 + k];
            assert_abs_diff_eq!(norm(p[v]), ring as f64 / rings as f64, epsilon = 1e-15);
            assert!(
                norm(cross(p[v], r1)) < 1e-15,
                "cone:{n}: vertex {v} off its ruling"
            );
        }
        // Intrinsic lengths give the same angle sums.
        let from_lengths = angle_sums_from_lengths(&s);
        assert_abs_diff_eq!(from_lengths[0], theta, epsilon = 1e-12);
    }
    // Other resolutions.
    for (n, sec, rings) in [(2u32, 3u32, 1u32), (5, 7, 2), (3, 40, 10)] {
        let s = primitives::cone_with_resolution(n, sec, rings).unwrap();
        assert_eq!(
            (s.vertex_count, s.faces.len()),
            (1 + (sec * rings) as usize, (sec * (2 * rings - 1)) as usize)
        );
        assert_eq!(euler(&s), 1);
        let sums = angle_sums_from_positions(&s);
        let theta = 2.0 * PI * (n - 1) as f64 / n as f64;
        assert_abs_diff_eq!(sums[0], theta, epsilon = 1e-12);
        assert_gauss_bonnet(&s, &sums, 1);
        assert_eq!(assert_oriented(&s, |_, _| false), 0);
    }
}

#[test]
fn cube_geometry() {
    for n in [1u32, 2, 5] {
        let s = primitives::cube(n).unwrap();
        let p = s.positions.as_ref().unwrap();
        let mut seen = HashSet::new();
        for q in p {
            let m = q.iter().fold(0.0f64, |a, &x| a.max(x.abs()));
            assert_eq!(m, 1.0, "cube:{n}: {q:?} not on the surface");
            // On the lattice of spacing 2/N, no duplicates.
            let key = q.map(|x| ((x + 1.0) * n as f64 / 2.0).round() as i64);
            for k in 0..3 {
                assert_abs_diff_eq!(q[k], 2.0 * key[k] as f64 / n as f64 - 1.0, epsilon = 1e-15);
            }
            assert!(seen.insert(key), "cube:{n}: duplicate vertex {q:?}");
        }
        let sums = angle_sums_from_positions(&s);
        let mut corners = 0;
        for (v, &a) in sums.iter().enumerate() {
            let is_corner = p[v].iter().all(|x| x.abs() == 1.0);
            corners += is_corner as usize;
            let expect = if is_corner { 1.5 * PI } else { 2.0 * PI };
            assert_abs_diff_eq_msg!(
                a,
                expect,
                epsilon = 1e-12,
                "cube:{n}: vertex {v} angle sum {a}"
            );
        }
        assert_eq!(corners, 8);
        assert_gauss_bonnet(&s, &sums, 2);
    }
}

#[test]
fn torus_and_mobius_positions() {
    let t = primitives::torus(12, 8).unwrap();
    let p = t.positions.as_ref().unwrap();
    for (i, q) in p.iter().enumerate() {
        let (u, v) = (i % 12, i / 12);
        let r = (q[0] * q[0] + q[1] * q[1]).sqrt();
        // Distance from the tube's centre circle is the minor radius.
        assert_abs_diff_eq!(
            ((r - 1.0).powi(2) + q[2] * q[2]).sqrt(),
            0.4,
            epsilon = 1e-15
        );
        let theta = q[1].atan2(q[0]);
        assert_abs_diff_eq!(
            wrap(theta - 2.0 * PI * u as f64 / 12.0),
            0.0,
            epsilon = 1e-12
        );
        let phi = q[2].atan2(r - 1.0);
        assert_abs_diff_eq!(wrap(phi - 2.0 * PI * v as f64 / 8.0), 0.0, epsilon = 1e-12);
    }
    assert_gauss_bonnet(&t, &angle_sums_from_positions(&t), 0);
    let m = primitives::mobius(30, 5).unwrap();
    let p = m.positions.as_ref().unwrap();
    // Width 0.5 across, centre circle of radius 1 (the middle row, v = 2).
    for u in 0..30 {
        let across = norm(sub(p[u], p[u + 4 * 30]));
        assert_abs_diff_eq!(across, 0.5, epsilon = 1e-12);
        let c = p[u + 2 * 30];
        assert_abs_diff_eq!(norm(c), 1.0, epsilon = 1e-15);
        assert_abs_diff_eq!(c[2], 0.0, epsilon = 1e-15);
    }
    // The gluing: unrolled column NU (θ = 2π) is column 0 flipped.
    for v in 0..5 {
        let s = 0.5 * (v as f64 / 4.0 - 0.5);
        let at_2pi = [(1.0 + s * PI.cos()) * 1.0, 0.0, s * PI.sin()];
        assert!(norm(sub(at_2pi, p[30 * (4 - v)])) < 1e-15);
    }
    assert_gauss_bonnet(&m, &angle_sums_from_positions(&m), 0);
}

// ----------------------------------------------------------------------------------------------------
// Icosphere: unit sphere, icosahedron, 60 rotations

#[test]
fn icosphere_is_on_the_unit_sphere() {
    let phi = (1.0 + 5f64.sqrt()) / 2.0;
    let ico = primitives::icosphere(0).unwrap();
    let p = ico.positions.as_ref().unwrap();
    let nrm = (1.0 + phi * phi).sqrt();
    let mut expected = Vec::new();
    for (a, b) in [(1.0, phi), (-1.0, phi), (1.0, -phi), (-1.0, -phi)] {
        expected.push([0.0, a, b]);
    }
    for (a, b) in [(1.0, phi), (-1.0, phi), (1.0, -phi), (-1.0, -phi)] {
        expected.push([a, b, 0.0]);
    }
    for (a, b) in [(1.0, phi), (-1.0, phi), (1.0, -phi), (-1.0, -phi)] {
        expected.push([b, 0.0, a]);
    }
    for (q, e) in p.iter().zip(&expected) {
        assert!(norm(sub(*q, e.map(|x| x / nrm))) < 1e-15);
    }
    // All edges of the icosahedron have the same length; 5 faces at every vertex.
    let lens: Vec<f64> = face_lengths(&ico).into_iter().flatten().collect();
    for &l in &lens {
        assert_abs_diff_eq!(l, lens[0], epsilon = 1e-15);
    }
    for l in 0..=6 {
        let s = primitives::icosphere(l).unwrap();
        for q in s.positions.as_ref().unwrap() {
            assert_abs_diff_eq!(norm(*q), 1.0, epsilon = 1e-12);
        }
        if l <= 3 {
            assert_gauss_bonnet(&s, &angle_sums_from_lengths(&s), 2);
        }
    }
    // Each level is the previous one with every edge midpoint projected to the sphere.
    let s2 = primitives::icosphere(2).unwrap();
    let s3 = primitives::icosphere(3).unwrap();
    let p2 = s2.positions.as_ref().unwrap();
    let p3 = s3.positions.as_ref().unwrap();
    assert_eq!(&p3[..p2.len()], &p2[..]);
    let split = subdivide::split_edges(&s2).unwrap();
    for (i, [a, b]) in split.iter().enumerate() {
        let m = [0, 1, 2].map(|k| p2[*a as usize][k] + p2[*b as usize][k]);
        let m = m.map(|x| x / norm(m));
        assert!(norm(sub(m, p3[p2.len() + i])) < 1e-15);
    }
    assert_eq!(
        s3.faces,
        subdivide::subdivide_with(&s2, 1, Scheme::Midpoint)
            .unwrap()
            .faces
    );
}

#[test]
fn icosphere_has_the_60_rotational_symmetries() {
    let group = icosahedral_rotations();
    assert_eq!(group.len(), 60);
    let s = primitives::icosphere(3).unwrap();
    let p = s.positions.as_ref().unwrap();
    let key = |q: [f64; 3]| q.map(|x| (x * 1e6).round() as i64);
    let lookup: HashMap<[i64; 3], u32> = p
        .iter()
        .enumerate()
        .map(|(i, &q)| (key(q), i as u32))
        .collect();
    assert_eq!(lookup.len(), p.len());
    let face_set: HashSet<[u32; 3]> = s
        .faces
        .iter()
        .map(|&f| {
            let m = (0..3).min_by_key(|&k| f[k]).unwrap();
            [f[m], f[(m + 1) % 3], f[(m + 2) % 3]]
        })
        .collect();
    for r in &group {
        let image: Vec<u32> = p
            .iter()
            .map(|&q| {
                let rq = mul(r, q);
                let j = lookup[&key(rq)];
                assert!(
                    norm(sub(rq, p[j as usize])) < 1e-12,
                    "rotated vertex is not a vertex"
                );
                j
            })
            .collect();
        for &f in &s.faces {
            let g = f.map(|v| image[v as usize]);
            let m = (0..3).min_by_key(|&k| g[k]).unwrap();
            // The image of every face is a face, with the same orientation.
            assert!(face_set.contains(&[g[m], g[(m + 1) % 3], g[(m + 2) % 3]]));
        }
    }
}

// ----------------------------------------------------------------------------------------------------
// Reference edges (polar angle 0 of the tangent frames)

#[test]
fn grids_tori_and_strips_have_reference_edges_along_x() {
    for (nx, ny) in [(2u32, 2u32), (5, 4), (3, 7)] {
        let g = primitives::grid(nx, ny).unwrap();
        let r = reference_targets(&g);
        for v in 0..nx * ny {
            let (x, y) = (v % nx, v / nx);
            assert_eq!(r[v as usize], reference_target(&g, v));
            if x < nx - 1 {
                // The brief's property: the first face with corner 0 = v has corner 1 = v + 1.
                let f = g.faces.iter().find(|f| f[0] == v);
                if y < ny - 1 {
                    assert_eq!(f.unwrap()[1], v + 1, "grid {nx}x{ny}: vertex ({x}, {y})");
                } else {
                    assert!(f.is_none());
                }
            }
            // The documented fallbacks on the last row and column.
            let expect = if x < nx - 1 && y < ny - 1 {
                v + 1
            } else if (x, y) == (nx - 1, 0) {
                v + nx
            } else if (x, y) == (0, ny - 1) {
                v - nx
            } else {
                v - nx - 1
            };
            assert_eq!(r[v as usize], expect, "grid {nx}x{ny}: vertex ({x}, {y})");
        }
    }
    for (nx, ny) in [(3u32, 3u32), (6, 4)] {
        for s in [
            primitives::flat_torus(nx, ny).unwrap(),
            primitives::torus(nx, ny).unwrap(),
        ] {
            let r = reference_targets(&s);
            for v in 0..nx * ny {
                let (x, y) = (v % nx, v / nx);
                assert_eq!(
                    r[v as usize],
                    (x + 1) % nx + nx * y,
                    "{}: vertex ({x}, {y})",
                    s.name
                );
                assert_eq!(
                    s.faces.iter().find(|f| f[0] == v).unwrap()[1],
                    r[v as usize]
                );
            }
        }
        for s in [
            primitives::flat_mobius(nx, ny).unwrap(),
            primitives::mobius(nx, ny).unwrap(),
        ] {
            let r = reference_targets(&s);
            for v in 0..nx * (ny - 1) {
                let (x, y) = (v % nx, v / nx);
                let expect = if x + 1 < nx { v + 1 } else { nx * (ny - 1 - y) };
                assert_eq!(r[v as usize], expect, "{}: vertex ({x}, {y})", s.name);
            }
        }
    }
}

#[test]
fn cone_and_icosahedron_reference_edges() {
    for (n, sec, rings) in [(2u32, 12u32, 6u32), (5, 20, 6), (3, 7, 2)] {
        let s = primitives::cone_with_resolution(n, sec, rings).unwrap();
        let r = reference_targets(&s);
        assert_eq!(r[0], 1, "apex: ruling 0");
        for i in 1..=rings {
            for k in 0..sec {
                let v = 1 + (i - 1) * sec + k;
                let expect = if i < rings {
                    v + sec
                } else {
                    1 + (i - 1) * sec + (k + 1) % sec
                };
                assert_eq!(
                    r[v as usize], expect,
                    "cone {n}/{sec}/{rings}: ring {i}, ruling {k}"
                );
                // Every vertex is corner 0 of some face, so no fallback is involved.
                assert!(s.faces.iter().any(|f| f[0] == v));
            }
        }
    }
    // Icosahedron: vertex i points to its partner i ^ 1; subdivision keeps the direction.
    let ico = primitives::icosphere(0).unwrap();
    let r0 = reference_targets(&ico);
    for v in 0..12u32 {
        assert_eq!(r0[v as usize], v ^ 1);
    }
    let s = primitives::icosphere(3).unwrap();
    let p = s.positions.as_ref().unwrap();
    let r3 = reference_targets(&s);
    for v in 0..12usize {
        // The reference neighbour lies on the great circle from v to its partner, between them.
        let to = sub(p[r3[v] as usize], p[v]);
        let want = sub(p[v ^ 1], p[v]);
        assert!(norm(cross(cross(p[v], to), cross(p[v], want))) < 1e-12);
        assert!(dot(to, want) > 0.0);
    }
}

// ----------------------------------------------------------------------------------------------------
// Subdivision

/// A minimal OBJ reader (v and f lines only) so this test does not depend on the io module.
fn read_obj(path: &str) -> MeshSource {
    let text = std::fs::read_to_string(path).unwrap();
    let mut positions = Vec::new();
    let mut faces = Vec::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        match it.next() {
            Some("v") => {
                let c: Vec<f64> = it.take(3).map(|x| x.parse().unwrap()).collect();
                positions.push([c[0], c[1], c[2]]);
            }
            Some("f") => {
                let c: Vec<u32> = it
                    .map(|x| x.split('/').next().unwrap().parse::<u32>().unwrap() - 1)
                    .collect();
                faces.push([c[0], c[1], c[2]]);
            }
            _ => {}
        }
    }
    MeshSource::from_positions(path, positions, faces)
}

/// Checks the documented structure of one subdivision level against `parent`.
fn assert_one_level(parent: &MeshSource, child: &MeshSource) {
    let e = edges(parent);
    let split = subdivide::split_edges(parent).unwrap();
    // Edges numbered by (min, max), lexicographically.
    assert_eq!(split, e.keys().map(|&(a, b)| [a, b]).collect::<Vec<_>>());
    let nv = parent.vertex_count as u32;
    let mid: HashMap<(u32, u32), u32> = split
        .iter()
        .enumerate()
        .map(|(i, &[a, b])| ((a, b), nv + i as u32))
        .collect();
    let m = |a: u32, b: u32| mid[&(a.min(b), a.max(b))];
    assert_eq!(child.vertex_count, parent.vertex_count + e.len());
    assert_eq!(child.faces.len(), 4 * parent.faces.len());
    for (k, &[a, b, c]) in parent.faces.iter().enumerate() {
        let (ab, bc, ca) = (m(a, b), m(b, c), m(c, a));
        assert_eq!(
            child.faces[4 * k..4 * k + 4],
            [[a, ab, ca], [ab, b, bc], [ca, bc, c], [ab, bc, ca]]
        );
    }
    // Old vertices keep the direction of their reference edge (first half of the parent's).
    let rp = reference_targets(parent);
    let rc = reference_targets(child);
    for v in 0..nv {
        assert_eq!(
            rc[v as usize],
            m(v, rp[v as usize]),
            "{}: vertex {v}",
            parent.name
        );
    }
}

#[test]
fn subdivision_counts_and_structure() {
    for spec in [
        "icosphere:0",
        "icosphere:2",
        "grid:4x3",
        "cube:2",
        "cone:3",
        "torus:5x4",
        "mobius:6x3",
    ] {
        let s = generate(spec);
        let one = subdivide::subdivide(&s, 1).unwrap();
        assert_one_level(&s, &one);
        assert_well_formed(&one);
        assert_eq!(euler(&one), euler(&s), "{spec}");
        let two = subdivide::subdivide(&s, 2).unwrap();
        let twice = subdivide::subdivide(&one, 1).unwrap();
        assert_eq!(two.faces, twice.faces, "{spec}");
        assert_eq!(two.positions, twice.positions, "{spec}");
        assert_eq!(subdivide::subdivide(&s, 0).unwrap(), s);
    }
    for spec in ["flat-torus:3x3", "flat-torus:5x4", "flat-mobius:4x3"] {
        let s = generate(spec);
        let one = subdivide::subdivide(&s, 1).unwrap();
        assert_one_level(&s, &one);
        assert!(one.positions.is_none());
        assert_well_formed(&one);
        let three = subdivide::subdivide(&s, 3).unwrap();
        assert_eq!(three.faces.len(), 64 * s.faces.len());
        assert_eq!(euler(&three), 0);
    }
    // A real mesh.
    let bull = read_obj(&mesh_path("bull.obj"));
    assert_eq!((bull.vertex_count, bull.faces.len()), (6200, 12396));
    let one = subdivide::subdivide(&bull, 1).unwrap();
    assert_one_level(&bull, &one);
    let two = subdivide::subdivide(&bull, 2).unwrap();
    assert_eq!(
        (two.vertex_count, two.faces.len()),
        (6200 + 18594 + 74376, 16 * 12396)
    );
    assert_eq!(euler(&two), 2);
}

/// The documented reference edges of new vertices on a subdivided flat torus: +x for midpoints of
/// horizontal edges and diagonals, the diagonal (+x+y) for midpoints of vertical edges.
#[test]
fn subdivided_flat_torus_reference_edges() {
    let (nx, ny) = (4i64, 3i64);
    let t = primitives::flat_torus(nx as u32, ny as u32).unwrap();
    let d = subdivide::subdivide(&t, 1).unwrap();
    let split = subdivide::split_edges(&t).unwrap();
    let wrap = |v: i64, n: i64| (v + n + 1).rem_euclid(n) - 1; // to -1..=n-2, so ±1 stay ±1
                                                               // Doubled grid coordinates of every fine vertex.
    let mut coords: Vec<(i64, i64)> = (0..nx * ny).map(|v| (2 * (v % nx), 2 * (v / nx))).collect();
    let mut kinds = Vec::new();
    for &[a, b] in &split {
        let (xa, ya) = (a as i64 % nx, a as i64 / nx);
        let (xb, yb) = (b as i64 % nx, b as i64 / nx);
        let (dx, dy) = (wrap(xb - xa, nx), wrap(yb - ya, ny));
        coords.push((
            (2 * xa + dx).rem_euclid(2 * nx),
            (2 * ya + dy).rem_euclid(2 * ny),
        ));
        kinds.push(if dx == 0 {
            "vertical"
        } else if dy == 0 {
            "horizontal"
        } else {
            "diagonal"
        });
    }
    let r = reference_targets(&d);
    for (i, kind) in kinds.iter().enumerate() {
        let m = (nx * ny) as usize + i;
        let (cm, ct) = (coords[m], coords[r[m] as usize]);
        let step = (wrap(ct.0 - cm.0, 2 * nx), wrap(ct.1 - cm.1, 2 * ny));
        let expect = if *kind == "vertical" { (1, 1) } else { (1, 0) };
        assert_eq!(step, expect, "{kind} midpoint {m}");
    }
    assert_eq!(
        kinds.iter().filter(|&&k| k == "vertical").count(),
        (nx * ny) as usize
    );
}

#[test]
fn loop_rules_in_closed_form_on_the_icosahedron() {
    // Every vertex of the unit icosahedron has valence 5 and neighbours summing to 5 cos(θ) p, with
    // cos θ = 1/√5 (the angle between adjacent vertices). An interior edge point is
    // 3/8 (p + q) + 1/8 (r + s).
    let ico = primitives::icosphere(0).unwrap();
    let s = subdivide::subdivide(&ico, 1).unwrap();
    let p0 = ico.positions.as_ref().unwrap();
    let p1 = s.positions.as_ref().unwrap();
    let c = 0.375 + 0.25 * (2.0 * PI / 5.0).cos();
    let beta = (0.625 - c * c) / 5.0;
    let scale = 1.0 - 5.0 * beta + 5.0 * beta / 5f64.sqrt();
    for v in 0..12 {
        assert!(norm(sub(p1[v], p0[v].map(|x| x * scale))) < 1e-15);
    }
    let e = edges(&ico);
    for (i, (&(a, b), uses)) in e.iter().enumerate() {
        let opp: Vec<usize> = uses
            .iter()
            .map(|&(f, k)| ico.faces[f][(k + 2) % 3] as usize)
            .collect();
        let q = [0, 1, 2].map(|k| {
            0.375 * (p0[a as usize][k] + p0[b as usize][k])
                + 0.125 * (p0[opp[0]][k] + p0[opp[1]][k])
        });
        assert!(norm(sub(p1[12 + i], q)) < 1e-15);
    }
}

#[test]
fn loop_subdivision_stays_in_the_convex_hull() {
    let ico = primitives::icosphere(0).unwrap();
    let p0 = ico.positions.as_ref().unwrap();
    let planes: Vec<([f64; 3], f64)> = ico
        .faces
        .iter()
        .map(|f| {
            let q = |k: usize| p0[f[k] as usize];
            let n = cross(sub(q(1), q(0)), sub(q(2), q(0)));
            let n = n.map(|x| x / norm(n));
            (n, dot(n, q(0)))
        })
        .collect();
    let s = subdivide::subdivide(&ico, 4).unwrap();
    let mut max_r: f64 = 0.0;
    let mut min_r: f64 = 1.0;
    for q in s.positions.as_ref().unwrap() {
        for (n, d) in &planes {
            assert!(dot(*n, *q) <= d + 1e-12, "{q:?} outside the icosahedron");
        }
        max_r = max_r.max(norm(*q));
        min_r = min_r.min(norm(*q));
    }
    // Loop shrinks the icosahedron towards a smooth, nearly round surface.
    assert!(max_r < 1.0 && min_r > 0.5, "{min_r} .. {max_r}");
    // The same on the cube (the hull is the cube itself).
    let cube = subdivide::subdivide(&primitives::cube(2).unwrap(), 3).unwrap();
    for q in cube.positions.as_ref().unwrap() {
        assert!(q.iter().all(|x| x.abs() <= 1.0 + 1e-12));
    }
}

#[test]
fn loop_subdivision_of_a_flat_grid_stays_on_the_lattice() {
    let g = primitives::grid(5, 5).unwrap();
    let s = subdivide::subdivide(&g, 1).unwrap();
    let p = s.positions.as_ref().unwrap();
    let old_corners = [0usize, 4, 20, 24];
    let mut lattice = HashSet::new();
    for (v, q) in p.iter().enumerate() {
        assert_eq!(q[2], 0.0);
        if old_corners.contains(&v) {
            // Boundary rule at a convex corner: 3/4 p + 1/8 (b1 + b2) = p + 1/8 (inward diagonal).
            let c = g.positions.as_ref().unwrap()[v];
            let inward = [
                if c[0] == 0.0 { 1.0 } else { -1.0 },
                if c[1] == 0.0 { 1.0 } else { -1.0 },
            ];
            assert_eq!(
                [q[0], q[1]],
                [c[0] + inward[0] / 8.0, c[1] + inward[1] / 8.0]
            );
            continue;
        }
        // Exactly on the half-integer lattice.
        let k = [2.0 * q[0], 2.0 * q[1]];
        assert_eq!(k, [k[0].round(), k[1].round()], "vertex {v} at {q:?}");
        assert!(lattice.insert([k[0] as i64, k[1] as i64]));
    }
    assert_eq!(lattice.len(), 81 - 4);
    // Two more levels: still flat, still inside the square.
    let s3 = subdivide::subdivide(&g, 3).unwrap();
    for q in s3.positions.as_ref().unwrap() {
        assert_eq!(q[2], 0.0);
        assert!((0.0..=4.0).contains(&q[0]) && (0.0..=4.0).contains(&q[1]));
    }
}

#[test]
fn midpoint_subdivision_is_an_isometry_of_intrinsic_sources() {
    for s in [
        primitives::flat_torus(4, 3).unwrap(),
        primitives::flat_mobius(5, 4).unwrap(),
    ] {
        let area = |m: &MeshSource| -> f64 {
            face_lengths(m)
                .iter()
                .map(|l| {
                    let h = (l[0] + l[1] + l[2]) / 2.0;
                    (h * (h - l[0]) * (h - l[1]) * (h - l[2])).sqrt()
                })
                .sum()
        };
        let d = subdivide::subdivide(&s, 2).unwrap();
        assert!(d
            .face_edge_lengths
            .as_ref()
            .unwrap()
            .iter()
            .flatten()
            .all(|&l| l == 0.25 || l == SQRT_2 / 4.0));
        assert_abs_diff_eq!(area(&d), area(&s), epsilon = 1e-12);
        let sums = angle_sums_from_lengths(&d);
        let b = boundary_vertices(&d);
        for v in 0..d.vertex_count {
            let expect = if b[v] { PI } else { 2.0 * PI };
            assert_abs_diff_eq_msg!(sums[v], expect, epsilon = 1e-12, "{}: vertex {v}", d.name);
        }
    }
    // Midpoint scheme on positions: new vertices are edge midpoints, lengths are halved too.
    let mut g = primitives::grid(3, 3).unwrap();
    g.face_edge_lengths = Some(face_lengths(&g));
    let m = subdivide::subdivide_with(&g, 1, Scheme::Midpoint).unwrap();
    let mut c = m.clone();
    c.face_edge_lengths = None;
    for (a, b) in face_lengths(&m)
        .iter()
        .flatten()
        .zip(face_lengths(&c).iter().flatten())
    {
        assert_abs_diff_eq!(a, b, epsilon = 1e-15);
    }
    // Loop on a source with both drops the lengths.
    assert!(subdivide::subdivide(&g, 1)
        .unwrap()
        .face_edge_lengths
        .is_none());
}

#[test]
fn subdivision_errors() {
    let tri =
        |faces: Vec<[u32; 3]>, n: usize| MeshSource::from_positions("t", vec![[0.0; 3]; n], faces);
    // An edge shared by three faces.
    let e = subdivide::subdivide(&tri(vec![[0, 1, 2], [1, 0, 3], [0, 1, 4]], 5), 1).unwrap_err();
    assert_eq!(
        e,
        Error::NonManifoldEdge {
            edge: (0, 1),
            faces: 3
        }
    );
    assert!(e.to_string().contains("(0, 1)"));
    assert!(matches!(
        subdivide::split_edges(&tri(vec![[3, 4, 2], [4, 3, 0], [2, 1, 0], [3, 4, 1]], 5)),
        Err(Error::NonManifoldEdge {
            edge: (3, 4),
            faces: 3
        })
    ));
    // No geometry.
    let bare = MeshSource {
        name: "bare".into(),
        vertex_count: 3,
        faces: vec![[0, 1, 2]],
        ..Default::default()
    };
    assert!(matches!(
        subdivide::subdivide(&bare, 1),
        Err(Error::MissingGeometry { .. })
    ));
    // Loop needs positions.
    let t = primitives::flat_torus(3, 3).unwrap();
    assert!(matches!(
        subdivide::subdivide_with(&t, 1, Scheme::Loop),
        Err(Error::MissingGeometry { .. })
    ));
    // Wrong array sizes.
    let mut short = tri(vec![[0, 1, 2]], 3);
    short.positions.as_mut().unwrap().pop();
    assert!(matches!(
        subdivide::subdivide(&short, 1),
        Err(Error::MissingGeometry { .. })
    ));
    let mut short = primitives::flat_torus(3, 3).unwrap();
    short.face_edge_lengths.as_mut().unwrap().pop();
    assert!(matches!(
        subdivide::subdivide(&short, 1),
        Err(Error::MissingGeometry { .. })
    ));
    // Bad faces.
    assert!(matches!(
        subdivide::subdivide(&tri(vec![[0, 1, 2], [0, 2, 7]], 3), 1),
        Err(Error::FaceIndexOutOfRange {
            face: 1,
            index: 7,
            vertices: 3,
            ..
        })
    ));
    assert!(matches!(
        subdivide::subdivide(&tri(vec![[0, 1, 1]], 3), 1),
        Err(Error::RepeatedVertexInFace {
            face: 0,
            vertex: 1,
            ..
        })
    ));
    // Too many levels: an error, not an allocation failure.
    let ico = primitives::icosphere(0).unwrap();
    assert!(matches!(
        subdivide::subdivide(&ico, 13),
        Err(Error::InvalidParameter { name: "levels", .. })
    ));
    assert!(matches!(
        subdivide::subdivide(&ico, u32::MAX),
        Err(Error::InvalidParameter { name: "levels", .. })
    ));
    // Boundary and non-manifold-vertex meshes are fine (two triangles touching at a vertex).
    let bow = MeshSource::from_positions(
        "bow",
        vec![
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [-1.0, 0.0, 0.0],
            [0.0, -1.0, 0.0],
        ],
        vec![[0, 1, 2], [0, 3, 4]],
    );
    let s = subdivide::subdivide(&bow, 1).unwrap();
    assert_eq!(
        s.positions.as_ref().unwrap()[0],
        [0.0; 3],
        "a vertex with four boundary edges stays put"
    );
}

// ----------------------------------------------------------------------------------------------------
// Specs

#[test]
fn spec_parsing() {
    assert!(primitives::is_primitive("icosphere:3"));
    assert!(primitives::is_primitive("Flat_Torus:3x3"));
    assert!(primitives::is_primitive("cube"));
    assert!(!primitives::is_primitive("meshes/bull.obj"));
    assert!(!primitives::is_primitive("sphere:3"));
    for (spec, p) in [
        ("grid:3x4", Primitive::Grid { nx: 3, ny: 4 }),
        ("grid:3X4", Primitive::Grid { nx: 3, ny: 4 }),
        ("GRID:3x4", Primitive::Grid { nx: 3, ny: 4 }),
        (" grid : 3 x 4 ", Primitive::Grid { nx: 3, ny: 4 }),
        ("flat_torus:5x6", Primitive::FlatTorus { nx: 5, ny: 6 }),
        ("flat-mobius:3x2", Primitive::FlatMobius { nx: 3, ny: 2 }),
        ("icosphere:011", Primitive::Icosphere { level: 11 }),
        ("cone:2", Primitive::Cone { n: 2 }),
        ("mobius:3x2", Primitive::Mobius { nu: 3, nv: 2 }),
        ("torus:3x3", Primitive::Torus { nu: 3, nv: 3 }),
        ("cube:1", Primitive::Cube { n: 1 }),
    ] {
        assert_eq!(Primitive::parse(spec).unwrap(), Some(p), "{spec}");
    }
    for spec in [
        "meshes/bull.obj",
        "bull.obj",
        "C:\\meshes\\x.obj",
        "C:x",
        "./icosphere:3",
        "default",
        "",
        "a:3",
    ] {
        assert_eq!(Primitive::parse(spec).unwrap(), None, "{spec}");
        assert!(primitives::generate(spec).unwrap().is_none(), "{spec}");
    }
    let bad = [
        ("sphere:3", "unknown primitive"),
        ("flat-klein:3x3", "unknown primitive"),
        ("icosphere", "missing sizes"),
        ("icosphere:", "LEVEL is missing"),
        ("icosphere:12", "between 0 and 11"),
        ("icosphere:4294967295", "between 0 and 11"),
        ("icosphere:99999999999", "too large"),
        ("icosphere:-1", "not a whole number"),
        ("icosphere:+3", "not a whole number"),
        ("icosphere:3.0", "not a whole number"),
        ("icosphere:3x3", "expected 1 size"),
        ("grid:3", "expected 2 sizes"),
        ("grid:3x", "NY is missing"),
        ("grid:x3", "NX is missing"),
        ("grid:3x4x5", "expected 2 sizes"),
        ("grid:3*4", "expected 2 sizes"),
        ("grid:3x4.5", "NY = '4.5' is not a whole number"),
        ("grid:1x4", "nx: must be at least 2"),
        ("grid:4x1", "ny: must be at least 2"),
        ("grid:100000x100000", "limits"),
        ("grid:4294967295x4294967295", "limits"),
        ("flat-torus:2x5", "nx: must be at least 3"),
        ("flat-torus:5x2", "ny: must be at least 3"),
        ("flat-mobius:2x5", "nx: must be at least 3"),
        ("flat-mobius:5x1", "ny: must be at least 2"),
        ("cube:0", "n: must be at least 1"),
        ("cube:4000", "limits"),
        ("cone:1", "n: must be at least 2"),
        ("cone:0", "n: must be at least 2"),
        ("cone:4294967295", "limits"),
        ("torus:2x3", "nu: must be at least 3"),
        ("mobius:3x1", "nv: must be at least 2"),
        ("torus:abc", "expected 2 sizes"),
        ("torus:axb", "NU = 'a' is not a whole number"),
    ];
    for (spec, needle) in bad {
        let e = primitives::generate(spec).unwrap_err();
        match &e {
            Error::InvalidSpec { spec: s, message } => {
                assert_eq!(s, spec);
                assert!(
                    message.contains(needle),
                    "{spec}: '{message}' lacks '{needle}'"
                );
            }
            other => panic!("{spec}: unexpected error {other:?}"),
        }
        assert!(e.to_string().contains(spec));
    }
    // Direct calls name the parameter.
    assert!(matches!(
        primitives::icosphere(12),
        Err(Error::InvalidParameter { name: "level", .. })
    ));
    assert!(matches!(
        primitives::grid(1, 5),
        Err(Error::InvalidParameter { name: "nx", .. })
    ));
    assert!(matches!(
        primitives::flat_mobius(3, 1),
        Err(Error::InvalidParameter { name: "ny", .. })
    ));
    assert!(matches!(
        primitives::cone_with_resolution(3, 2, 6),
        Err(Error::InvalidParameter {
            name: "sectors",
            ..
        })
    ));
    assert!(matches!(
        primitives::cone_with_resolution(3, 12, 0),
        Err(Error::InvalidParameter { name: "rings", .. })
    ));
    assert!(matches!(
        primitives::cone_with_resolution(1, 12, 3),
        Err(Error::InvalidParameter { name: "n", .. })
    ));
    assert!(primitives::cone_with_resolution(3, u32::MAX, u32::MAX).is_err());
    assert!(Primitive::Cube { n: u32::MAX }.generate().is_err());
}

fn spec_strategy() -> impl Strategy<Value = String> {
    let name = prop::sample::select(vec![
        "icosphere",
        "grid",
        "flat-torus",
        "flat_mobius",
        "cube",
        "cone",
        "torus",
        "mobius",
        "Grid",
        "sphere",
        "",
    ]);
    (name, "[:]?[0-9xX +.-]{0,7}").prop_map(|(n, rest)| format!("{n}{rest}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// No string makes parsing panic.
    #[test]
    fn parse_never_panics(spec in "\\PC{0,24}") {
        let _ = Primitive::parse(&spec);
        let _ = primitives::is_primitive(&spec);
    }

    /// Near-miss specs either fail cleanly or give a mesh with the closed-form counts.
    #[test]
    fn near_miss_specs_fail_cleanly_or_generate(spec in spec_strategy()) {
        if let Ok(Some(p)) = Primitive::parse(&spec) {
            if p.vertex_count() <= 20_000 {
                let s = primitives::generate(&spec).unwrap().unwrap();
                prop_assert_eq!(s.vertex_count as u64, p.vertex_count());
                prop_assert_eq!(s.faces.len() as u64, p.face_count());
            }
        }
    }
}

// ----------------------------------------------------------------------------------------------------
// Timings (run with `cargo test --release --test primitives -- --ignored --nocapture`)

#[test]
#[ignore]
fn timings() {
    use std::time::Instant;
    let t = Instant::now();
    let s = primitives::icosphere(9).unwrap();
    println!(
        "icosphere:9: {} vertices, {} faces in {:.3} s",
        s.vertex_count,
        s.faces.len(),
        t.elapsed().as_secs_f64()
    );
    for name in ["bull.obj", "fandisk.obj"] {
        let m = read_obj(&mesh_path(name));
        let t = Instant::now();
        let s = subdivide::subdivide(&m, 4).unwrap();
        println!(
            "{name} ({} v) Loop ×4 → {} vertices, {} faces in {:.3} s",
            m.vertex_count,
            s.vertex_count,
            s.faces.len(),
            t.elapsed().as_secs_f64()
        );
    }
    let t = Instant::now();
    let s = subdivide::subdivide(&primitives::flat_torus(64, 64).unwrap(), 5).unwrap();
    println!(
        "flat-torus:64x64 midpoint ×5 → {} vertices in {:.3} s",
        s.vertex_count,
        t.elapsed().as_secs_f64()
    );
}
