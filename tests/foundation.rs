//! Oracles for the foundation: topology of real meshes, Gauss–Bonnet, flatness, holonomy.

mod common;

use manifold_cnn::transport::O2;
use manifold_cnn::{HalfedgeId, Manifold, VertexId};
use std::f64::consts::PI;

use approx::assert_abs_diff_eq;
use common::angles::{assert_identity, wrap};
use common::assert_abs_diff_eq_msg;
use common::meshes::{load, load_repaired, mesh_path, STRICT};

/// (file, vertices, faces, components, boundary loops, genus) as stated in meshes/SOURCES.md.
const REAL: &[(&str, usize, usize, usize, usize, i64)] = &[
    ("bull.obj", 6200, 12396, 1, 0, 0),
    ("fandisk.obj", 6475, 12946, 1, 0, 0),
    ("eight.obj", 315, 634, 1, 0, 2),
    ("elephant.obj", 2775, 5558, 1, 0, 3),
    ("lion_head.obj", 8356, 16674, 1, 1, 0),
    ("mech_holes_shark.obj", 5246, 10192, 1, 4, 0),
];

#[test]
fn real_meshes_have_the_documented_topology() {
    for &(file, v, f, comps, loops, genus) in REAL {
        let m = load(&mesh_path(file));
        assert_eq!(m.mesh.vertex_count(), v, "{file} vertices");
        assert_eq!(m.mesh.face_count(), f, "{file} faces");
        assert_eq!(m.mesh.components().len(), comps, "{file} components");
        assert_eq!(
            m.mesh.boundary_loops().len(),
            loops,
            "{file} boundary loops"
        );
        assert!(m.mesh.is_orientable(), "{file} orientable");
        assert_eq!(m.mesh.genus(), Some(genus), "{file} genus");
        assert!(m.report.repairs.is_empty());
    }
}

#[test]
fn unwelded_teapot_is_32_patches_with_32_boundary_loops() {
    let m = load_repaired(&mesh_path("teapot_unwelded.obj"));
    assert_eq!(m.mesh.components().len(), 32);
    assert_eq!(m.mesh.boundary_loops().len(), 32);
}

#[test]
fn spider_fails_strictly_and_loads_with_repair() {
    let err = Manifold::load(&mesh_path("spider_nonmanifold.obj"), &STRICT).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("face") || msg.contains("edge") || msg.contains("vertex"),
        "{msg}"
    );
    let m = load_repaired(&mesh_path("spider_nonmanifold.obj"));
    assert!(!m.report.repairs.is_empty());
    // SOURCES.md (checked independently with a few lines of Python over the raw OBJ): 56 faces with a
    // repeated vertex; its 36 duplicate faces and 16 non-manifold edges all involve those degenerate
    // faces, so dropping them leaves a manifold, consistently orientable mesh of 18 components.
    let count = |k: &str| m.report.repairs.iter().filter(|r| r.kind() == k).count();
    assert_eq!(count("dropped_repeated_vertex_face"), 56);
    assert_eq!(m.report.repairs.len(), 56);
    assert_eq!(m.mesh.face_count(), 1368 - 56);
    assert_eq!(m.mesh.components().len(), 18);
    assert!(m.mesh.is_orientable());
    assert!(
        m.report.flipped_faces > 0,
        "10 inconsistently oriented edges need flips"
    );
    assert_abs_diff_eq!(
        m.geometry.gauss_bonnet_residual(&m.mesh),
        0.0,
        epsilon = 1e-9
    );
}

const PRIMITIVES: &[&str] = &[
    "icosphere:0",
    "icosphere:3",
    "grid:7x5",
    "flat-torus:6x5",
    "flat-mobius:9x4",
    "cube:3",
    "cone:5",
    "torus:16x9",
    "mobius:20x4",
];

#[test]
fn gauss_bonnet_holds_on_every_mesh_and_primitive() {
    let specs: Vec<String> = PRIMITIVES
        .iter()
        .map(|s| s.to_string())
        .chain(REAL.iter().map(|r| mesh_path(r.0)))
        .collect();
    for spec in specs {
        let m = load(&spec);
        let r = m.geometry.gauss_bonnet_residual(&m.mesh);
        assert_abs_diff_eq_msg!(r, 0.0, epsilon = 1e-9, "{spec}: Gauss–Bonnet residual {r}");
    }
}

#[test]
fn primitive_topology() {
    // (spec, χ, orientable, boundary loops)
    for (spec, chi, orientable, loops) in [
        ("icosphere:2", 2, true, 0),
        ("grid:6x4", 1, true, 1),
        ("flat-torus:5x7", 0, true, 0),
        ("flat-mobius:8x3", 0, false, 1),
        ("cube:2", 2, true, 0),
        ("cone:4", 1, true, 1),
        ("torus:12x8", 0, true, 0),
        ("mobius:16x3", 0, false, 1),
    ] {
        let m = load(spec);
        assert_eq!(m.mesh.euler_characteristic(), chi, "{spec}");
        assert_eq!(m.mesh.is_orientable(), orientable, "{spec}");
        assert_eq!(m.mesh.boundary_loops().len(), loops, "{spec}");
    }
}

#[test]
fn flat_grid_has_trivial_holonomy_around_every_face_and_vertex() {
    for spec in ["grid:9x7", "flat-torus:8x6"] {
        let m = load(spec);
        let (mesh, c) = (&m.mesh, &m.connection);
        for f in mesh.face_ids() {
            assert_identity(c.loop_holonomy(mesh, &mesh.face_vertices(f)).unwrap(), spec);
        }
        for v in mesh.vertices().filter(|&v| !mesh.is_boundary_vertex(v)) {
            let link: Vec<VertexId> = mesh
                .vertex_spoke_ids(v)
                .map(|s| mesh.spoke_target(s))
                .collect();
            assert_identity(c.loop_holonomy(mesh, &link).unwrap(), spec);
        }
    }
}

#[test]
fn flat_torus_generator_loops_have_trivial_holonomy() {
    let (nx, ny) = (8, 6);
    let m = load(&format!("flat-torus:{nx}x{ny}"));
    let id = |x: usize, y: usize| m.mesh.vertex(x % nx + nx * (y % ny)).unwrap();
    for y in 0..ny {
        let row: Vec<_> = (0..nx).map(|x| id(x, y)).collect();
        assert_identity(m.connection.loop_holonomy(&m.mesh, &row).unwrap(), "row");
    }
    for x in 0..nx {
        let col: Vec<_> = (0..ny).map(|y| id(x, y)).collect();
        assert_identity(m.connection.loop_holonomy(&m.mesh, &col).unwrap(), "column");
        let diag: Vec<_> = (0..nx.max(ny) * 3).map(|i| id(x + i, i)).take(24).collect();
        // 24 = lcm(8, 6): the diagonal closes after 24 steps.
        assert_identity(
            m.connection.loop_holonomy(&m.mesh, &diag).unwrap(),
            "diagonal",
        );
    }
}

#[test]
fn flat_torus_frames_are_translation_invariant() {
    let (nx, ny) = (7, 5);
    let m = load(&format!("flat-torus:{nx}x{ny}"));
    for v in m.mesh.vertices() {
        let s0 = m.mesh.vertex_spoke_ids(v).next().unwrap();
        let (x, y) = (v.index() % nx, v.index() / nx);
        let right = m.mesh.vertex((x + 1) % nx + nx * y).unwrap();
        assert_eq!(
            m.mesh.spoke_target(s0),
            right,
            "reference spoke of {v} points along +x"
        );
        assert_eq!(m.frames.spoke_angles()[s0.index()], 0.0);
        assert_abs_diff_eq!(m.frames.vertex_scales()[v.index()], 1.0, epsilon = 1e-14);
    }
    for s in m.mesh.spoke_ids() {
        assert_identity(
            m.connection
                .spoke_transport(s)
                .then(O2::rotation(-PI))
                .then(O2::rotation(PI)),
            "",
        );
        let g = m.connection.spoke_transport(s);
        // On a flat torus with translation-invariant frames, transport is the identity on directions.
        assert_identity(g, "spoke transport");
    }
}

#[test]
fn flat_mobius_is_non_orientable_and_its_core_reverses_orientation() {
    let (nx, ny) = (12, 5);
    let m = load(&format!("flat-mobius:{nx}x{ny}"));
    assert!(!m.mesh.is_orientable());
    assert_eq!(m.mesh.genus(), None);
    // The middle row y = 2 is mapped to itself by the half twist: a closed loop along the core.
    let core: Vec<_> = (0..nx)
        .map(|x| m.mesh.vertex(x + nx * 2).unwrap())
        .collect();
    let g = m.connection.loop_holonomy(&m.mesh, &core).unwrap();
    assert!(g.reflect, "core loop holonomy must be a reflection: {g:?}");
    // Going around twice is orientation-preserving and, the strip being flat, the identity.
    let twice: Vec<_> = core.iter().chain(core.iter()).copied().collect();
    assert_identity(
        m.connection.loop_holonomy(&m.mesh, &twice).unwrap(),
        "core twice",
    );
    // Every face is still flat.
    for f in m.mesh.face_ids() {
        assert_identity(
            m.connection
                .loop_holonomy(&m.mesh, &m.mesh.face_vertices(f))
                .unwrap(),
            "face",
        );
    }
}

#[test]
fn transport_there_and_back_is_the_identity() {
    for spec in PRIMITIVES {
        let m = load(spec);
        for s in m.mesh.spoke_ids() {
            let g = m
                .connection
                .spoke_transport(s)
                .then(m.connection.spoke_transport(m.mesh.spoke_opposite(s)));
            assert_identity(g, spec);
        }
    }
}

#[test]
fn face_holonomy_is_the_scaled_angle_excess() {
    for spec in [
        "icosphere:2",
        "cube:2",
        "torus:10x6",
        "mobius:12x3",
        "cone:3",
    ] {
        let m = load(spec);
        let s = m.frames.vertex_scales();
        for f in m.mesh.face_ids() {
            let vs = m.mesh.face_vertices(f);
            // Traverse the face in the orientation of the star of its first corner.
            let c0 = HalfedgeId::from_face_side(f, 0);
            let order = if m.mesh.corner_flipped(c0) {
                [vs[0], vs[2], vs[1]]
            } else {
                vs
            };
            let k: f64 = (0..3)
                .map(|j| {
                    let h = HalfedgeId::from_face_side(f, j);
                    s[m.mesh.halfedge_tail(h).index()] * m.geometry.corner_angle(h)
                })
                .sum::<f64>()
                - PI;
            let g = m.connection.loop_holonomy(&m.mesh, &order).unwrap();
            assert!(!g.reflect || !m.mesh.is_orientable());
            if !g.reflect {
                assert_abs_diff_eq_msg!(
                    wrap(g.angle - k),
                    0.0,
                    epsilon = 1e-10,
                    "{spec} face {f}: {} vs {k}",
                    g.angle
                );
            }
        }
    }
}

/// The boundary of the faces whose centroid lies within polar angle β of vertex 0's axis, as closed
/// vertex cycles oriented with the faces (counter-clockwise seen from outside).
fn cap_boundary_cycles(m: &Manifold, beta: f64) -> Vec<Vec<VertexId>> {
    let p = m.positions.as_ref().unwrap();
    let axis = p[0];
    let inside: Vec<bool> = m
        .mesh
        .face_ids()
        .map(|f| {
            let c = m.mesh.face_vertices(f).iter().fold([0.0; 3], |a, v| {
                let q = p[v.index()];
                [a[0] + q[0], a[1] + q[1], a[2] + q[2]]
            });
            let n = (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt();
            let cosang = (c[0] * axis[0] + c[1] * axis[1] + c[2] * axis[2]) / n;
            cosang.acos() < beta
        })
        .collect();
    let mut next = std::collections::HashMap::new();
    for h in 0..m.mesh.halfedge_count() {
        let h = HalfedgeId::from_face_side(m.mesh.face(h / 3).unwrap(), h % 3);
        if !inside[h.face().index()] {
            continue;
        }
        let t = m.mesh.halfedge_twin(h).unwrap();
        if !inside[t.face().index()] {
            assert!(
                next.insert(m.mesh.halfedge_tail(h), m.mesh.halfedge_head(h))
                    .is_none(),
                "pinched cap"
            );
        }
    }
    let mut cycles = Vec::new();
    while let Some((&start, _)) = next.iter().next() {
        let mut cyc = vec![start];
        let mut v = next.remove(&start).unwrap();
        while v != start {
            cyc.push(v);
            v = next.remove(&v).unwrap();
        }
        cycles.push(cyc);
    }
    cycles
}

#[test]
fn icosphere_latitude_holonomy_tends_to_the_enclosed_area() {
    // The edge loop bounding the faces within polar angle β zig-zags around the circle by about one
    // edge length, so at a single β the error oscillates as it falls; its maximum over a range of β
    // falls steadily, like the edge length.
    let betas: Vec<f64> = (0..11).map(|i| 0.4 + 0.1 * i as f64).collect();
    let mut errors = Vec::new();
    for level in 2..=6 {
        let m = load(&format!("icosphere:{level}"));
        let mut worst: f64 = 0.0;
        for &beta in &betas {
            let cycles = cap_boundary_cycles(&m, beta);
            assert_eq!(
                cycles.len(),
                1,
                "level {level}, β {beta}: the cap is a disk"
            );
            let g = m.connection.loop_holonomy(&m.mesh, &cycles[0]).unwrap();
            assert!(!g.reflect);
            let area = 2.0 * PI * (1.0 - f64::cos(beta));
            worst = worst.max(wrap(g.angle - area).abs());
        }
        errors.push(worst);
    }
    eprintln!("max error over β per level 2..=6: {errors:?}");
    for w in errors.windows(2) {
        assert!(
            w[1] < 0.75 * w[0],
            "error must fall with refinement: {errors:?}"
        );
    }
    assert!(errors[errors.len() - 1] < 0.05, "{errors:?}");
}

#[test]
fn flat_square_turns_only_at_its_four_corners() {
    // A flat square: no interior curvature, boundary turning π/2 at each corner and 0 along the sides,
    // so Σ τ = 2π = 2πχ.
    let (nx, ny) = (6, 5);
    let m = load(&format!("grid:{nx}x{ny}"));
    let defects = m.geometry.vertex_angle_defects(&m.mesh);
    let turning = m.geometry.vertex_boundary_turning(&m.mesh);
    for v in m.mesh.vertices() {
        let (x, y) = (v.index() % nx, v.index() / nx);
        let corner = (x == 0 || x == nx - 1) && (y == 0 || y == ny - 1);
        assert_abs_diff_eq!(defects[v.index()], 0.0, epsilon = 1e-12);
        let expected = if corner { PI / 2.0 } else { 0.0 };
        assert_abs_diff_eq_msg!(
            turning[v.index()],
            expected,
            epsilon = 1e-12,
            "vertex {v}: {}",
            turning[v.index()]
        );
    }
    let total: f64 = defects.iter().chain(&turning).sum();
    assert_abs_diff_eq!(total, 2.0 * PI, epsilon = 1e-12);
}
