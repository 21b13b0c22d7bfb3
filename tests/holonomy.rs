//! Oracles for holonomy: every expected group, count and angle below follows from the geometry of the
//! mesh (angle sums, topology, symmetry), not from running the code under test.

mod common;

use manifold_cnn::holonomy::{
    cone_loop_holonomy, cone_vertex_holonomy, face_curvatures, geodesic_circle, geodesic_distances,
    loop_holonomy, region_holonomy, ClassifyOptions, GeneratorSource, HolonomyAnalysis,
    HolonomyGroup, HolonomyOptions, Rotations,
};
use manifold_cnn::primitives::cone_sectors;
use manifold_cnn::transport::O2;
use manifold_cnn::{Manifold, VertexId};
use std::collections::VecDeque;
use std::f64::consts::PI;

use approx::{abs_diff_eq, assert_abs_diff_eq};
use common::angles::wrap;
use common::assert_abs_diff_eq_msg;
use common::cli::{json, run, stderr, stdout};
use common::meshes::{load, load_repaired, mesh_path, REPAIR};
use common::TempDir;

fn analyse(m: &Manifold) -> HolonomyAnalysis {
    HolonomyAnalysis::new(m, &HolonomyOptions::default()).expect("analysis")
}

/// The analysis with its base at `base`.
fn analyse_from(m: &Manifold, base: VertexId) -> HolonomyAnalysis {
    let options = HolonomyOptions::new().base(Some(base));
    HolonomyAnalysis::new(m, &options).expect("analysis")
}

fn groups(spec: &str) -> (String, String) {
    let h = analyse(&load(spec));
    (h.group().name(), h.cone_metric_group().name())
}

// ---------------------------------------------------------------------------------------------------
// Classification of abstract generator sets

#[test]
fn classification_of_generator_sets() {
    let o = ClassifyOptions::default();
    let g = |gens: &[O2]| HolonomyGroup::generated_by(gens.iter().copied(), &o);
    assert_eq!(g(&[]).name(), "trivial");
    assert_eq!(g(&[O2::IDENTITY, O2::rotation(2.0 * PI)]).name(), "trivial");
    assert_eq!(g(&[O2::rotation(PI / 2.0)]).name(), "C4");
    assert_eq!(g(&[O2::rotation(-PI / 2.0)]).name(), "C4");
    // 3π/4 generates C8 (gcd(3, 8) = 1).
    assert_eq!(g(&[O2::rotation(3.0 * PI / 4.0)]).name(), "C8");
    // π/2 and π/3 generate C12 (lcm).
    assert_eq!(
        g(&[O2::rotation(PI / 2.0), O2::rotation(PI / 3.0)]).name(),
        "C12"
    );
    // One radian is not a rational multiple of 2π.
    assert_eq!(g(&[O2::rotation(1.0)]).name(), "SO2");
    // A single reflection, at any axis.
    assert_eq!(g(&[O2::reflection(0.3)]).name(), "Z2");
    // Two reflections whose axes differ by π/4 compose to the rotation by π/2: D4.
    assert_eq!(
        g(&[O2::reflection(0.1), O2::reflection(0.1 + PI / 4.0)]).name(),
        "D4"
    );
    // A reflection and a rotation by π/3: D6.
    assert_eq!(
        g(&[O2::rotation(PI / 3.0), O2::reflection(0.2)]).name(),
        "D6"
    );
    // Reflections with axes an irrational angle apart: O(2).
    assert_eq!(g(&[O2::reflection(0.0), O2::reflection(0.5)]).name(), "O2");
    // Order beyond the bound counts as SO(2).
    let small = o.max_order(10);
    assert_eq!(
        HolonomyGroup::generated_by([O2::rotation(2.0 * PI / 11.0)], &small).name(),
        "SO2"
    );
    assert_eq!(
        HolonomyGroup::generated_by([O2::rotation(2.0 * PI / 10.0)], &small).name(),
        "C10"
    );
    // Two generators of orders 6 and 4 in a bound of 10: lcm 12 > 10.
    let gens = [O2::rotation(PI / 3.0), O2::rotation(PI / 2.0)];
    assert_eq!(
        HolonomyGroup::generated_by(gens, &small).rotations(),
        Rotations::Continuous
    );
    // Within tolerance: an angle off by 1e-12 still counts.
    assert_eq!(g(&[O2::rotation(PI / 2.0 + 1e-12)]).name(), "C4");
    assert_eq!(g(&[O2::rotation(PI / 2.0 + 1e-6)]).name(), "SO2");
}

#[test]
fn group_membership_and_elements() {
    let d3 = HolonomyGroup::dihedral(3, 0.4);
    let els = d3.elements().unwrap();
    assert_eq!(els.len(), 6);
    for a in &els {
        assert!(d3.contains(*a, 1e-12));
        for b in &els {
            assert!(d3.contains(a.then(*b), 1e-9), "closed under composition");
        }
    }
    assert!(!d3.contains(O2::rotation(PI / 3.0), 1e-9));
    assert!(!d3.contains(O2::reflection(0.3), 1e-9));
    assert!(HolonomyGroup::so2().contains(O2::rotation(0.123), 0.0));
    assert!(!HolonomyGroup::so2().contains(O2::reflection(0.0), 0.0));
    assert_eq!(HolonomyGroup::cyclic(4).allowed_harmonics(8), vec![0, 4, 8]);
    assert_eq!(HolonomyGroup::so2().allowed_harmonics(8), vec![0]);
    assert_eq!(
        HolonomyGroup::trivial().allowed_harmonics(3),
        vec![0, 1, 2, 3]
    );
}

/// Groups for the join's properties: every kind, reflections on and off each other's axes.
fn sample_groups() -> Vec<HolonomyGroup> {
    vec![
        HolonomyGroup::trivial(),
        HolonomyGroup::cyclic(2),
        HolonomyGroup::cyclic(3),
        HolonomyGroup::cyclic(4),
        HolonomyGroup::cyclic(6),
        HolonomyGroup::so2(),
        HolonomyGroup::reflection(0.0),
        HolonomyGroup::reflection(PI / 3.0),
        HolonomyGroup::reflection(PI / 2.0),
        HolonomyGroup::reflection(1.0), // 1 rad: no rational multiple of 2π apart from 0
        HolonomyGroup::dihedral(2, 0.0),
        HolonomyGroup::dihedral(3, PI / 3.0),
        HolonomyGroup::o2(),
    ]
}

/// The same subgroup of O(2): each inside the other.
fn same_group(a: &HolonomyGroup, b: &HolonomyGroup) -> bool {
    a.is_subgroup_of(b) && b.is_subgroup_of(a)
}

#[test]
fn join_closed_forms() {
    let (c, z2) = (HolonomyGroup::cyclic, HolonomyGroup::reflection);
    let name = |a: HolonomyGroup, b: HolonomyGroup| a.join(&b).name();
    assert_eq!(name(c(2), c(3)), "C6");
    assert_eq!(name(c(4), c(6)), "C12");
    assert_eq!(name(c(4), HolonomyGroup::so2()), "SO2");
    assert_eq!(name(HolonomyGroup::trivial(), c(5)), "C5");
    assert_eq!(name(HolonomyGroup::trivial(), z2(0.7)), "Z2");
    for axis in [0.0, 0.4, PI, -2.0] {
        assert_eq!(name(HolonomyGroup::so2(), z2(axis)), "O2", "{axis}");
    }
    // Two reflections ψ ↦ a − ψ and ψ ↦ b − ψ compose to the rotation by a − b.
    assert_eq!(name(z2(0.0), z2(PI / 2.0)), "D4");
    assert_eq!(name(z2(0.3), z2(0.3 + 2.0 * PI / 3.0)), "D3");
    assert_eq!(name(z2(0.0), z2(PI)), "D2");
    assert_eq!(name(z2(0.0), z2(1.0)), "O2");
    // The same reflection twice is Z2, with the axis kept.
    let z = z2(0.5).join(&z2(0.5));
    assert_eq!(z.name(), "Z2");
    assert_abs_diff_eq!(z.reflection_angle().unwrap(), 0.5, epsilon = 1e-12);
    // C_n with a reflection is D_n with that reflection.
    let d = c(3).join(&z2(0.2));
    assert_eq!(d.name(), "D3");
    assert!(same_group(&d, &HolonomyGroup::dihedral(3, 0.2)));
    // D2 (axis a) ∨ D3 (axis b): rotations C6, and the reflections differ by b − a.
    assert_eq!(
        name(
            HolonomyGroup::dihedral(2, 0.0),
            HolonomyGroup::dihedral(3, 0.0)
        ),
        "D6"
    );
    assert_eq!(
        name(
            HolonomyGroup::dihedral(2, 0.0),
            HolonomyGroup::dihedral(3, PI / 6.0)
        ),
        "D12"
    );
}

#[test]
fn join_is_commutative_associative_idempotent_and_least() {
    let groups = sample_groups();
    for a in &groups {
        assert!(same_group(&a.join(a), a), "{a} ∨ {a}");
        assert!(same_group(&a.join(&HolonomyGroup::trivial()), a), "{a} ∨ 1");
        for b in &groups {
            let ab = a.join(b);
            assert!(same_group(&ab, &b.join(a)), "{a} ∨ {b}");
            // An upper bound …
            assert!(
                a.is_subgroup_of(&ab) && b.is_subgroup_of(&ab),
                "{a}, {b} ⊂ {ab}"
            );
            // … and the least one among the sample: any group holding both holds the join.
            for u in &groups {
                if a.is_subgroup_of(u) && b.is_subgroup_of(u) {
                    assert!(ab.is_subgroup_of(u), "{a} ∨ {b} = {ab} ⊄ {u}");
                }
            }
            // a ⊂ b exactly when the join adds nothing to b.
            assert_eq!(a.is_subgroup_of(b), same_group(&ab, b), "{a} ⊂ {b}");
            for c in &groups {
                assert!(
                    same_group(&ab.join(c), &a.join(&b.join(c))),
                    "({a} ∨ {b}) ∨ {c}"
                );
            }
        }
    }
}

#[test]
fn subgroups_of_o2() {
    let (c, d) = (HolonomyGroup::cyclic, HolonomyGroup::dihedral);
    assert!(c(2).is_subgroup_of(&c(4)));
    assert!(!c(4).is_subgroup_of(&c(2)));
    assert!(!c(3).is_subgroup_of(&c(4)));
    assert!(c(7).is_subgroup_of(&HolonomyGroup::so2()));
    assert!(!HolonomyGroup::so2().is_subgroup_of(&c(4096)));
    assert!(HolonomyGroup::so2().is_subgroup_of(&HolonomyGroup::o2()));
    assert!(!HolonomyGroup::o2().is_subgroup_of(&HolonomyGroup::so2()));
    assert!(d(4, 0.2).is_subgroup_of(&HolonomyGroup::o2()));
    // D_n's reflections are a + 2πk/n: D2 (axis a) ⊂ D4 (axis a + π/2), not ⊂ D4 (axis a + π/4).
    assert!(d(2, 0.2).is_subgroup_of(&d(4, 0.2 + PI / 2.0)));
    assert!(!d(2, 0.2).is_subgroup_of(&d(4, 0.2 + PI / 4.0)));
    assert!(!HolonomyGroup::reflection(0.0).is_subgroup_of(&HolonomyGroup::so2()));
    assert!(!HolonomyGroup::reflection(0.0).is_subgroup_of(&HolonomyGroup::reflection(1.0)));
    assert!(HolonomyGroup::trivial().is_subgroup_of(&HolonomyGroup::trivial()));
}

#[test]
fn invalid_options_are_errors() {
    let m = load("grid:3x3");
    let bad = |classify| HolonomyOptions::new().classify(classify);
    for o in [
        ClassifyOptions::new().tolerance(0.0).max_order(10),
        ClassifyOptions::new().tolerance(f64::NAN).max_order(10),
        ClassifyOptions::new().tolerance(1e-9).max_order(0),
        ClassifyOptions::new().tolerance(1e-3).max_order(4096),
    ] {
        assert!(HolonomyAnalysis::new(&m, &bad(o)).is_err(), "{o:?}");
    }
    // A vertex id from a bigger mesh does not exist here.
    let big = load("grid:40x40");
    let far = HolonomyOptions::new().base(big.mesh.vertex(1000));
    assert!(HolonomyAnalysis::new(&m, &far).is_err());
}

// ---------------------------------------------------------------------------------------------------
// Expected groups of the primitives

#[test]
fn flat_meshes_have_trivial_holonomy_in_both_views() {
    for spec in ["grid:6x5", "grid:2x2", "flat-torus:6x5", "flat-torus:3x3"] {
        assert_eq!(groups(spec), ("trivial".into(), "trivial".into()), "{spec}");
    }
}

#[test]
fn flat_mobius_strip_is_a_reflection_across_the_band() {
    for spec in ["flat-mobius:8x4", "flat-mobius:5x2", "flat-mobius:12x5"] {
        let m = load(spec);
        let h = analyse(&m);
        assert_eq!(h.group().name(), "Z2", "{spec}");
        assert_eq!(h.cone_metric_group().name(), "Z2", "{spec}");
        // Every frame's polar angle 0 points along the band (+x unrolled), and the glide reflection
        // of the strip keeps x and flips y: the reflection is ψ ↦ −ψ, axis along the band.
        let a = h.group().reflection_angle().unwrap();
        assert_abs_diff_eq_msg!(wrap(a), 0.0, epsilon = 1e-9, "{spec}: reflection angle {a}");
        // χ = 0 with boundary: 1 − χ = 1 loop, the core, which reverses orientation.
        let c = &h.components()[0];
        assert_eq!(c.loops.len(), 1);
        assert!(c.loops[0].reverses_orientation());
        assert!(c.loops[0].cone_holonomy.reflect);
        assert!(!c.orientable && !m.mesh.is_orientable());
    }
}

#[test]
fn curved_closed_surfaces_have_so2() {
    for spec in [
        "icosphere:1",
        "icosphere:2",
        "icosphere:3",
        "torus:16x8",
        "torus:7x5",
    ] {
        assert_eq!(groups(spec), ("SO2".into(), "SO2".into()), "{spec}");
    }
    // The icosahedron itself is not curved generically: 5 equilateral triangles at every vertex,
    // Θ = 5π/3, defect π/3 (cone view C6); s = 2π/Θ = 6/5, so K_f = (6/5)·π − π = π/5 (C10).
    assert_eq!(groups("icosphere:0"), ("C10".into(), "C6".into()));
}

#[test]
fn cube_is_c4_in_the_cone_view() {
    for n in 1..=4 {
        let spec = format!("cube:{n}");
        let (vertex, cone) = groups(&spec);
        assert_eq!(cone, "C4", "{spec}: corners have defect 2π − 3π/2 = π/2");
        // Vertex view: a face's holonomy is Σ (s_v − 1) α_c with s = 4/3 at the corners and 1
        // elsewhere. cube:1: every face is a right isosceles triangle with all corners at cube
        // corners, K_f = π/3 → C6. N ≥ 2: one cube corner per face, with α = π/4 (cells split
        // through the corner) or π/2, K_f ∈ {π/12, π/6} → C24.
        let expect = if n == 1 { "C6" } else { "C24" };
        assert_eq!(vertex, expect, "{spec}");
    }
}

#[test]
fn cone_is_cn_in_the_cone_view() {
    for n in [2u32, 3, 4, 5, 6, 8] {
        let spec = format!("cone:{n}");
        let (vertex, cone) = groups(&spec);
        assert_eq!(cone, format!("C{n}"), "{spec}: apex defect 2π/{n}");
        // Apex faces: K_f = (s − 1)·Θ/S with s = 2π/Θ = n/(n−1), Θ = 2π(n−1)/n: K_f = 2π/(nS).
        let s = cone_sectors(n);
        assert_eq!(vertex, format!("C{}", n * s), "{spec}");
    }
}

#[test]
fn real_meshes_have_so2() {
    for file in [
        "bull.obj",
        "fandisk.obj",
        "eight.obj",
        "elephant.obj",
        "lion_head.obj",
        "mech_holes_shark.obj",
    ] {
        let m = load(&mesh_path(file));
        let h = analyse(&m);
        assert_eq!(h.group().name(), "SO2", "{file}");
        assert_eq!(h.cone_metric_group().name(), "SO2", "{file}");
    }
    for file in ["spider_nonmanifold.obj", "teapot_unwelded.obj"] {
        let m = load_repaired(&mesh_path(file));
        let h = analyse(&m);
        assert_eq!(h.group().name(), "SO2", "{file}");
        assert_eq!(h.cone_metric_group().name(), "SO2", "{file}");
        assert_eq!(h.components().len(), m.mesh.components().len());
    }
}

// ---------------------------------------------------------------------------------------------------
// Generators

#[test]
fn generator_loops_number_two_minus_chi_or_one_minus_chi() {
    // (spec, expected loops): closed surfaces 2 − χ = 2g; with boundary 1 − χ.
    let cases: Vec<(String, usize)> = vec![
        ("icosphere:2".into(), 0),
        ("cube:2".into(), 0),
        ("grid:5x4".into(), 0),
        ("cone:3".into(), 0),
        ("flat-torus:5x4".into(), 2),
        ("torus:9x5".into(), 2),
        ("flat-mobius:7x3".into(), 1),
        ("mobius:9x3".into(), 1),
        (mesh_path("eight.obj"), 4),
        (mesh_path("elephant.obj"), 6),
        (mesh_path("lion_head.obj"), 0),
        // Genus 0 with 4 boundary loops: χ = 2 − 4 = −2, 1 − χ = 3.
        (mesh_path("mech_holes_shark.obj"), 3),
    ];
    for (spec, loops) in cases {
        let h = analyse(&load(&spec));
        assert_eq!(h.components()[0].loops.len(), loops, "{spec}");
    }
}

#[test]
fn every_component_counts_its_loops() {
    let m = load_repaired(&mesh_path("teapot_unwelded.obj"));
    let h = analyse(&m);
    for (c, comp) in m.mesh.components().iter().enumerate() {
        let chi = comp.euler_characteristic();
        let expect = if comp.boundary_loops == 0 {
            2 - chi
        } else {
            1 - chi
        };
        assert_eq!(
            h.components()[c].loops.len() as i64,
            expect,
            "component {c}"
        );
    }
}

#[test]
fn face_generators_are_the_face_curvatures() {
    for spec in [
        "icosphere:2",
        "cube:3",
        "torus:9x5",
        "mobius:10x3",
        "cone:4",
    ] {
        let m = load(spec);
        let h = analyse(&m);
        let k = face_curvatures(&m);
        for (i, (&hol, &at_base)) in h
            .face_holonomies()
            .iter()
            .zip(h.face_generator_angles())
            .enumerate()
        {
            assert_abs_diff_eq_msg!(
                wrap(hol - k[i]),
                0.0,
                epsilon = 1e-10,
                "{spec} face {i}: {hol} vs {}",
                k[i]
            );
            // Moved to the base, only the sign may change.
            assert!(
                abs_diff_eq!(wrap(at_base - k[i]), 0.0, epsilon = 1e-10)
                    || abs_diff_eq!(wrap(at_base + k[i]), 0.0, epsilon = 1e-10),
                "{spec} face {i}: {at_base} vs ±{}",
                k[i]
            );
        }
        // On orientable meshes the tree never reflects: no sign change.
        if m.mesh.is_orientable() {
            for (a, b) in h.face_holonomies().iter().zip(h.face_generator_angles()) {
                assert_abs_diff_eq!(wrap(a - b), 0.0, epsilon = 1e-10);
            }
        }
    }
}

#[test]
fn generator_lists_cover_both_views() {
    let m = load("flat-torus:4x4");
    let h = analyse(&m);
    let kinds: Vec<&str> = h.generators().map(|g| g.source.kind()).collect();
    assert_eq!(
        kinds.iter().filter(|&&k| k == "face").count(),
        m.mesh.face_count()
    );
    assert_eq!(kinds.iter().filter(|&&k| k == "loop").count(), 2);
    // Flat: no vertex has a defect.
    assert!(h
        .cone_generators()
        .all(|g| matches!(g.source, GeneratorSource::Loop(_))));
    let m = load("cube:2");
    let h = analyse(&m);
    let defects: Vec<f64> = h
        .cone_generators()
        .filter(|g| matches!(g.source, GeneratorSource::VertexDefect(_)))
        .map(|g| g.element.angle)
        .filter(|a| a.abs() > 1e-9)
        .collect();
    assert_eq!(defects.len(), 8, "the cube's 8 corners");
    for a in defects {
        assert_abs_diff_eq!(a, PI / 2.0, epsilon = 1e-12);
    }
}

#[test]
fn loop_generators_are_the_transport_around_their_cycles() {
    for spec in ["torus:8x5", "flat-mobius:6x3", "flat-torus:5x5"] {
        let m = load(spec);
        let h = analyse(&m);
        let c = &h.components()[0];
        for l in &c.loops {
            let cycle = h.loop_cycle(&m, l);
            assert_eq!(cycle[0], c.base);
            let g = m.connection.loop_holonomy(&m.mesh, &cycle).unwrap();
            assert!(g.distance(l.holonomy) < 1e-10, "{spec}");
        }
    }
}

#[test]
fn flat_torus_loops_are_trivial_in_both_views() {
    let m = load("flat-torus:6x4");
    let h = analyse(&m);
    for l in &h.components()[0].loops {
        assert!(l.holonomy.distance(O2::IDENTITY) < 1e-10);
        assert!(l.cone_holonomy.distance(O2::IDENTITY) < 1e-10);
    }
}

#[test]
fn base_vertex_option_moves_the_base() {
    let m = load("torus:8x5");
    let b = m.mesh.vertex(17).unwrap();
    let h = analyse_from(&m, b);
    assert_eq!(h.components()[0].base, b);
    assert_eq!(h.group().name(), "SO2");
    assert_eq!(h.vertex_tree().roots(), &[b]);
    let mf = load("flat-mobius:8x4");
    // A vertex in the middle of the strip (x = 3, y = 1): the reflection is still across the band.
    let b = mf.mesh.vertex(3 + 8).unwrap();
    let h = analyse_from(&mf, b);
    assert_eq!(h.group().name(), "Z2");
    assert_abs_diff_eq!(
        wrap(h.group().reflection_angle().unwrap()),
        0.0,
        epsilon = 1e-9
    );
}

#[test]
fn vertex_tree_is_a_breadth_first_tree_with_the_gauge() {
    let m = load("cone:3");
    let h = analyse(&m);
    let t = h.vertex_tree();
    let root = t.roots()[0];
    // Hop distances by an independent breadth-first search.
    let mut hops = vec![usize::MAX; m.mesh.vertex_count()];
    hops[root.index()] = 0;
    let mut q = VecDeque::from([root]);
    while let Some(v) = q.pop_front() {
        for s in m.mesh.vertex_spoke_ids(v) {
            let w = m.mesh.spoke_target(s);
            if hops[w.index()] == usize::MAX {
                hops[w.index()] = hops[v.index()] + 1;
                q.push_back(w);
            }
        }
    }
    for v in m.mesh.vertices() {
        assert_eq!(t.depth(v), hops[v.index()], "vertex {v}");
        let path = t.path_from_root(&m.mesh, v);
        assert_eq!(path.len(), hops[v.index()] + 1);
        let g = m.connection.path_transport(&m.mesh, &path).unwrap();
        assert!(g.distance(t.transport_from_root(v)) < 1e-12);
    }
}

// ---------------------------------------------------------------------------------------------------
// Cone-metric transport

#[test]
fn cone_transport_around_a_vertex_is_its_angle_defect() {
    for spec in ["icosphere:1", "cube:2", "cone:5", "torus:7x5"] {
        let m = load(spec);
        for v in m.mesh.vertices() {
            let Some(g) = cone_vertex_holonomy(&m.mesh, &m.geometry, v) else {
                assert!(m.mesh.is_boundary_vertex(v));
                continue;
            };
            let k = 2.0 * PI - m.geometry.vertex_angle_sums()[v.index()];
            assert!(!g.reflect);
            assert_abs_diff_eq_msg!(
                wrap(g.angle - k),
                0.0,
                epsilon = 1e-10,
                "{spec} vertex {v}: {} vs {k}",
                g.angle
            );
        }
    }
}

#[test]
fn cone_transport_of_the_mobius_core_is_a_reflection_and_twice_round_is_not() {
    let m = load("flat-mobius:8x4");
    // The core row y = 1 (interior), x = 0..7, comes back as row y = NY − 1 − 1 = 2 after the twist.
    let row1: Vec<VertexId> = (0..8).map(|x| m.mesh.vertex(x + 8).unwrap()).collect();
    let row2: Vec<VertexId> = (0..8).map(|x| m.mesh.vertex(x + 16).unwrap()).collect();
    let once: Vec<VertexId> = row1.iter().chain(&row2).copied().collect();
    let base = m.mesh.vertex_corners(once[0])[0].face();
    let g = cone_loop_holonomy(&m.mesh, &m.geometry, base, &row1).unwrap();
    // Row 1 closes across the seam through the diagonal of cell (7, 1) (see below): one-sided.
    assert!(g.reflect, "{g:?}");
    let g2 = cone_loop_holonomy(&m.mesh, &m.geometry, base, &once).unwrap();
    assert!(g2.distance(O2::IDENTITY) < 1e-10, "twice round: {g2:?}");
}

// ---------------------------------------------------------------------------------------------------
// Loops and Gauss–Bonnet

#[test]
fn fast_marching_is_exact_on_a_flat_grid() {
    let m = load("grid:12x9");
    let src = m.mesh.vertex(0).unwrap();
    let d = geodesic_distances(&m.mesh, &m.geometry, src);
    let p = m.positions.as_ref().unwrap();
    for v in m.mesh.vertices() {
        let q = p[v.index()];
        let exact = (q[0] * q[0] + q[1] * q[1]).sqrt();
        assert_abs_diff_eq_msg!(
            d[v.index()],
            exact,
            epsilon = 1e-9,
            "vertex {v}: {} vs {exact}",
            d[v.index()]
        );
    }
}

#[test]
fn geodesic_circles_on_the_icosphere_obey_gauss_bonnet_and_tend_to_the_cap_area() {
    // The circle is an edge loop that zig-zags about the true circle by about an edge length, so at a
    // single radius the error oscillates as it falls; its mean over many radii falls steadily (like
    // the edge length, which halves per level).
    let radii: Vec<f64> = (0..17).map(|i| 0.4 + 0.05 * i as f64).collect();
    let mut mean_per_level = Vec::new();
    let mut worst_last: f64 = 0.0;
    for level in [3, 5, 7] {
        let m = load(&format!("icosphere:{level}"));
        let center = m.mesh.vertex(0).unwrap();
        let mut sum = 0.0;
        for &r in &radii {
            let l = geodesic_circle(&m, center, r).unwrap();
            let e = l.enclosed.as_ref().unwrap();
            let res = l.gauss_bonnet_residual().unwrap();
            assert_abs_diff_eq_msg!(
                res,
                0.0,
                epsilon = 1e-9,
                "level {level}, r {r}: Gauss–Bonnet residual {res}"
            );
            let cap = 2.0 * PI * (1.0 - r.cos());
            let err = (l.unwrapped_angle() - cap).abs();
            sum += err;
            worst_last = err.max(if level == 7 { worst_last } else { 0.0 });
            // The enclosed area approaches the cap area too (the polyhedron is inscribed).
            assert_abs_diff_eq_msg!(e.area, cap, epsilon = 0.3 * cap, "level {level}, r {r}");
        }
        mean_per_level.push(sum / radii.len() as f64);
    }
    eprintln!("mean |hol − 2π(1 − cos r)| at levels 3, 5, 7: {mean_per_level:?}; worst at 7: {worst_last}");
    for w in mean_per_level.windows(2) {
        assert!(
            w[1] < 0.5 * w[0],
            "error must fall with refinement: {mean_per_level:?}"
        );
    }
    assert!(worst_last < 0.01, "{worst_last}");
}

#[test]
fn loops_report_what_they_enclose() {
    let m = load("icosphere:2");
    let k = face_curvatures(&m);
    // A face loop in its own orientation (orientable mesh: the star orientation) encloses the face.
    let f = m.mesh.face(5).unwrap();
    let l = loop_holonomy(&m, &m.mesh.face_vertices(f)).unwrap();
    let e = l.enclosed.as_ref().unwrap();
    assert_eq!(e.faces, vec![f]);
    assert_abs_diff_eq!(e.curvature, k[5], epsilon = 1e-15);
    assert_abs_diff_eq!(l.gauss_bonnet_residual().unwrap(), 0.0, epsilon = 1e-10);
    // The other way round it encloses everything else: Σ_{g ≠ f} K_g = 4π − K_f (Σ_f K_f = Σ_v K_v =
    // 2πχ on a closed surface).
    let mut rev = m.mesh.face_vertices(f).to_vec();
    rev.reverse();
    let l = loop_holonomy(&m, &rev).unwrap();
    let e = l.enclosed.as_ref().unwrap();
    assert_eq!(e.faces.len(), m.mesh.face_count() - 1);
    assert_abs_diff_eq!(e.curvature, 4.0 * PI - k[5], epsilon = 1e-9);
    assert_abs_diff_eq!(l.gauss_bonnet_residual().unwrap(), 0.0, epsilon = 1e-9);
    // The link of a vertex encloses its star; strictly inside lies the vertex itself.
    let v = m.mesh.vertex(20).unwrap();
    let link: Vec<VertexId> = m
        .mesh
        .vertex_spoke_ids(v)
        .map(|s| m.mesh.spoke_target(s))
        .collect();
    let l = loop_holonomy(&m, &link).unwrap();
    let e = l.enclosed.as_ref().unwrap();
    assert_eq!(e.faces.len(), m.mesh.vertex_face_degree(v));
    let kv = 2.0 * PI - m.geometry.vertex_angle_sums()[v.index()];
    assert_abs_diff_eq!(e.interior_vertex_defects, kv, epsilon = 1e-12);
    assert_abs_diff_eq!(l.gauss_bonnet_residual().unwrap(), 0.0, epsilon = 1e-10);
}

#[test]
fn non_separating_and_one_sided_loops_enclose_nothing() {
    let m = load("flat-torus:6x4");
    let row: Vec<VertexId> = (0..6).map(|x| m.mesh.vertex(x).unwrap()).collect();
    let l = loop_holonomy(&m, &row).unwrap();
    assert!(l.enclosed.is_none());
    assert!(l.holonomy.distance(O2::IDENTITY) < 1e-10);
    // Row y = 1 of flat-mobius:8x4 closes through the diagonal of cell (7, 1), which ends at
    // (8, 2) ≡ (0, 4 − 1 − 2) = (0, 1): once round the core, one-sided.
    let m = load("flat-mobius:8x4");
    let core: Vec<VertexId> = (0..8).map(|x| m.mesh.vertex(x + 8).unwrap()).collect();
    let l = loop_holonomy(&m, &core).unwrap();
    assert!(l.holonomy.reflect);
    assert!(l.enclosed.is_none());
    let bad = [m.mesh.vertex(0).unwrap(), m.mesh.vertex(20).unwrap()];
    assert!(loop_holonomy(&m, &bad).is_err());
    assert!(loop_holonomy(&m, &[]).is_err());
}

#[test]
fn regions_and_their_boundaries() {
    // The whole grid: its boundary loop has trivial holonomy and encloses zero curvature.
    let m = load("grid:5x4");
    let all = vec![true; m.mesh.face_count()];
    let l = region_holonomy(&m, &all).unwrap();
    assert_eq!(l.cycle.len(), 2 * (5 - 1) + 2 * (4 - 1));
    assert!(l.holonomy.distance(O2::IDENTITY) < 1e-10);
    assert_abs_diff_eq!(l.enclosed.as_ref().unwrap().curvature, 0.0, epsilon = 1e-12);
    // A whole closed surface has no boundary; two separate faces have two loops.
    let m = load("icosphere:1");
    assert!(region_holonomy(&m, &vec![true; m.mesh.face_count()]).is_err());
    let mut two = vec![false; m.mesh.face_count()];
    two[0] = true;
    two[m.mesh.face_count() - 1] = true;
    assert!(region_holonomy(&m, &two).is_err());
    assert!(region_holonomy(&m, &[true]).is_err());
    // A band around the torus has two boundary loops.
    let m = load("torus:8x6");
    let band: Vec<bool> = m.mesh.face_ids().map(|f| f.index() < 2 * 8).collect();
    assert!(region_holonomy(&m, &band).is_err());
}

#[test]
fn geodesic_circle_errors() {
    let m = load("icosphere:2");
    let c = m.mesh.vertex(0).unwrap();
    assert!(geodesic_circle(&m, c, 0.0).is_err());
    assert!(geodesic_circle(&m, c, f64::NAN).is_err());
    assert!(geodesic_circle(&m, c, 1e-6).is_err(), "no face that small");
    assert!(geodesic_circle(&m, c, 100.0).is_err(), "the whole sphere");
    // On a flat grid the circle encloses no curvature and its holonomy is trivial.
    let m = load("grid:15x15");
    let c = m.mesh.vertex(7 + 15 * 7).unwrap();
    let l = geodesic_circle(&m, c, 4.0).unwrap();
    assert!(l.holonomy.distance(O2::IDENTITY) < 1e-10);
    assert_abs_diff_eq!(l.enclosed.unwrap().curvature, 0.0, epsilon = 1e-10);
}

// ---------------------------------------------------------------------------------------------------
// The command line

/// The exit code and standard output of a run.
fn cli(args: &[&str]) -> (i32, String) {
    let out = run(args);
    (out.status.code().unwrap_or(-1), stdout(&out))
}

#[test]
fn cli_json_reports_both_views_and_allowed_harmonics() {
    let (code, out) = cli(&["holonomy", "cube:2", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["group"], "C24");
    assert_eq!(v["cone_metric_group"], "C4");
    assert_eq!(v["orientable"], true);
    assert_eq!(v["allowed_harmonics"], serde_json::json!([0]));
    assert_eq!(
        v["cone_metric_allowed_harmonics"],
        serde_json::json!([0, 4, 8])
    );
    let gens = v["generators"].as_array().unwrap();
    assert!(!gens.is_empty());
    for g in gens {
        assert!(
            g["angle"].is_f64() && g["reflect"].is_boolean() && g["kind"].is_string(),
            "{g}"
        );
    }
    // The cube's face rotations are multiples of π/12 (24 faces at π/12, 12 at π/6: see above).
    for g in gens {
        let k = g["angle"].as_f64().unwrap() / (PI / 12.0);
        assert_abs_diff_eq!(k, k.round(), epsilon = 1e-9);
    }

    let (code, out) = cli(&["holonomy", "flat-mobius:8x4", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["group"], "Z2");
    assert_eq!(v["orientable"], false);
    assert_eq!(
        v["allowed_harmonics"],
        serde_json::json!([0, 1, 2, 3, 4, 5, 6, 7, 8])
    );
    let loops: Vec<_> = v["generators"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["kind"] == "loop")
        .collect();
    assert_eq!(loops.len(), 1);
    assert_eq!(loops[0]["reflect"], true);

    let bull = mesh_path("bull.obj");
    let (code, out) = cli(&["holonomy", &bull, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["group"], "SO2");
    assert_eq!(v["allowed_harmonics"], serde_json::json!([0]));
    // 12,396 generic faces: the list is capped and says so.
    assert_eq!(v["generators_truncated"], true);
    assert!(v["generators"].as_array().unwrap().len() <= 100);
    assert_eq!(v["generator_counts"]["face"], 12396);
}

#[test]
fn cli_errors_exit_with_code_2() {
    assert_eq!(cli(&["holonomy", "no-such-file.obj"]).0, 2);
    assert_eq!(cli(&["holonomy", "cube:2", "--base", "1000"]).0, 2);
    assert_eq!(cli(&["holonomy", "cube:2", "--tolerance", "-1"]).0, 2);
    assert_eq!(
        cli(&["holonomy", &mesh_path("spider_nonmanifold.obj")]).0,
        2
    );
    let (code, out) = cli(&["holonomy", &mesh_path("spider_nonmanifold.obj"), "--repair"]);
    assert_eq!(code, 0);
    assert!(out.contains("SO2"));
}

// ---------------------------------------------------------------------------------------------------
// Robustness: any mesh that builds can be analysed, and its loops obey Gauss–Bonnet

mod random {
    use super::*;
    use crate::common::strategies::random_faces;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn analysis_and_loops_never_panic(s in random_faces(9, 1..40), pick in 0usize..1000, r in 0.1f64..3.0) {
            let Ok(m) = Manifold::from_source(&s, &REPAIR) else { return Ok(()) };
            let h = HolonomyAnalysis::new(&m, &HolonomyOptions::default()).unwrap();
            prop_assert_eq!(h.components().len(), m.mesh.components().len());
            for (c, comp) in m.mesh.components().iter().enumerate() {
                let chi = comp.euler_characteristic();
                let expect = if comp.boundary_loops == 0 { 2 - chi } else { 1 - chi };
                prop_assert_eq!(h.components()[c].loops.len() as i64, expect);
            }
            let v = m.mesh.vertex(pick % m.mesh.vertex_count()).unwrap();
            if let Ok(l) = geodesic_circle(&m, v, r) {
                let res = l.gauss_bonnet_residual().unwrap();
                prop_assert!(abs_diff_eq!(res, 0.0, epsilon = 1e-9), "circle: residual {}", res);
            }
            let some: Vec<bool> = m.mesh.face_ids().map(|f| (f.index() * 7 + pick) % 3 == 0).collect();
            if let Ok(l) = region_holonomy(&m, &some) {
                let res = l.gauss_bonnet_residual().unwrap();
                prop_assert!(abs_diff_eq!(res, 0.0, epsilon = 1e-9), "region: residual {}", res);
            }
            let link: Vec<VertexId> = m.mesh.vertex_spoke_ids(v).map(|s| m.mesh.spoke_target(s)).collect();
            if let Ok(l) = loop_holonomy(&m, &link) {
                if let Some(res) = l.gauss_bonnet_residual() {
                    prop_assert!(abs_diff_eq!(res, 0.0, epsilon = 1e-9), "link: residual {}", res);
                }
            }
        }
    }
}

/// `--tolerance` is usable with `--max-order`: the bound π/max_order² is named when it is not met,
/// and `convolve --group auto` classifies with the same options.
#[test]
fn the_classification_tolerance_comes_with_a_maximum_order() {
    let out = run(&["holonomy", "cube:4", "--tolerance", "1e-3", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("π/max_order²") && err.contains("max order"),
        "{err}"
    );
    let out = run(&[
        "holonomy",
        "cube:4",
        "--tolerance",
        "1e-3",
        "--max-order",
        "20",
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["max_order"], 20);
    assert_eq!(v["tolerance"], 1e-3);
    let dir = TempDir::new("holonomy", "tolerance");
    let signal = dir.path("x.npy");
    manifold_cnn::io::npz::write_npy_f32(&signal, &[98, 1], &[1.0; 98]).unwrap();
    let out = run(&[
        "convolve",
        "cube:4",
        "--signal",
        signal.to_str().unwrap(),
        "--kernel",
        "random:1",
        "--tolerance",
        "1e-3",
        "--max-order",
        "20",
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["measured_group"], "SO2");
    assert_eq!(v["basis_exact"], true);
    // A Gaussian mixture constrained to SO(2) is invariant only approximately: flagged, in the JSON
    // and in the text.
    let gaussians = |json: bool| {
        let mut a = vec![
            "convolve",
            "cube:4",
            "--signal",
            signal.to_str().unwrap(),
            "--kernel",
            "random:1",
            "--basis",
            "gaussians:2:6",
        ];
        if json {
            a.push("--json");
        }
        run(&a)
    };
    let out = gaussians(true);
    let v = json(&out);
    assert_eq!(v["basis_exact"], false, "{v}");
    let text = stdout(&gaussians(false));
    assert!(text.contains("approximately invariant"), "{text}");
}

/// With `--repair`, `--base` names a vertex of the input: the repaired mesh renumbers vertices when it
/// drops some, and the base is found through the record of where each vertex came from.
#[test]
fn the_base_vertex_is_in_the_input_numbering_under_repair() {
    // Input vertex 0 is referenced by no face: repair drops it, and input vertex k becomes k − 1.
    let dir = TempDir::new("holonomy", "base");
    let path = dir.write(
        "m.obj",
        "v 9 9 9\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 2 3 4\nf 2 4 5\n",
    );
    let path = path.to_str().unwrap();
    let m = load_repaired(path);
    assert_eq!(m.report.vertex_origin, [1, 2, 3, 4]);
    let with_base = |base: &str| run(&["holonomy", path, "--repair", "--base", base, "--json"]);
    let json = json(&with_base("3"));
    assert_eq!(json["components"][0]["base_vertex"], 2, "{json}");
    // The dropped vertex is named as dropped.
    let out = with_base("0");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("input vertex 0") && err.contains("repair"),
        "{err}"
    );
}
