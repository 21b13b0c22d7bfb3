//! Rigid motions and uniform scaling of the positions change nothing intrinsic: corner angles and
//! transports stay, areas scale by s². And transport there and back is the identity on every mesh.

mod common;

use manifold_cnn::data::sphere::rotation_from_quaternion;
use manifold_cnn::{io, BuildOptions, Manifold, MeshSource};
use proptest::prelude::*;

use approx::abs_diff_eq;
use common::angles::{assert_identity, wrap};
use common::meshes::{load_repaired, mesh_path};
use common::vec3::mul;

/// A rotation from a (non-zero) quaternion, a translation and a scale.
fn motion() -> impl Strategy<Value = ([[f64; 3]; 3], [f64; 3], f64)> {
    (
        proptest::array::uniform4(-1.0f64..1.0).prop_filter("non-zero quaternion", |q| {
            q.iter().map(|x| x * x).sum::<f64>() > 1e-3
        }),
        proptest::array::uniform3(-100.0f64..100.0),
        0.01f64..100.0,
    )
        .prop_map(|(q, t, s)| (rotation_from_quaternion(q), t, s))
}

fn transformed(src: &MeshSource, r: &[[f64; 3]; 3], t: &[f64; 3], s: f64) -> MeshSource {
    let mut out = src.clone();
    for p in out.positions.as_mut().unwrap() {
        let q = mul(r, *p);
        for i in 0..3 {
            p[i] = s * q[i] + t[i];
        }
    }
    out
}

fn base() -> MeshSource {
    io::load_source("default").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn rigid_motions_and_scaling_keep_angles_and_transports((r, t, s) in motion()) {
        let src = base();
        let a = Manifold::from_source(&src, &BuildOptions::default()).unwrap();
        let b = Manifold::from_source(&transformed(&src, &r, &t, s), &BuildOptions::default()).unwrap();
        prop_assert_eq!(a.mesh.faces(), b.mesh.faces());
        for (x, y) in a.geometry.corner_angles().iter().zip(b.geometry.corner_angles()) {
            prop_assert!(abs_diff_eq!(x, y, epsilon = 1e-9), "corner angle {} vs {}", x, y);
        }
        for (x, y) in a.geometry.face_areas().iter().zip(b.geometry.face_areas()) {
            prop_assert!(abs_diff_eq!(s * s * x, *y, epsilon = 1e-9 * y.abs().max(1e-300)), "area {} vs {}", s * s * x, y);
        }
        for (g, h) in a.connection.spoke_transports().zip(b.connection.spoke_transports()) {
            prop_assert_eq!(g.reflect, h.reflect);
            prop_assert!(abs_diff_eq!(wrap(g.angle - h.angle), 0.0, epsilon = 1e-9), "transport {:?} vs {:?}", g, h);
        }
    }
}

#[test]
fn transport_there_and_back_is_the_identity_on_real_meshes() {
    for file in [
        "bull.obj",
        "elephant.obj",
        "lion_head.obj",
        "mech_holes_shark.obj",
        "spider_nonmanifold.obj",
    ] {
        let m = load_repaired(&mesh_path(file));
        for s in m.mesh.spoke_ids() {
            let g = m
                .connection
                .spoke_transport(s)
                .then(m.connection.spoke_transport(m.mesh.spoke_opposite(s)));
            assert_identity(g, format_args!("{file}, spoke {s}"));
        }
    }
}
