//! The holonomy group of every primitive and real mesh, the kernels it allows, and pictures.
//!
//! ```text
//! cargo run --release --example holonomy [OUT_DIR]        # default OUT_DIR: out/holonomy
//! ```
//!
//! Prints a table (group in both views, generator counts, dimension of the allowed kernel space for
//! 3 radial hats × harmonics up to 8, and a one-line explanation), then writes to OUT_DIR:
//!
//! - `kernel_SO2.png`, `kernel_C4.png`, `kernel_Z2.png`: a random kernel before and after projection
//!   onto the kernels invariant under the group (polar heat maps on the tangent disk; red positive,
//!   blue negative, one colour scale per picture; the grey ray marks polar angle 0, the dashed line the
//!   mirror axis).
//! - `latitude_holonomy.png`: the holonomy of the loop bounding the faces within polar angle β of the
//!   pole on icosphere levels 1–5, against the enclosed area 2π(1 − cos β) of the unit sphere.

use manifold_cnn::holonomy::{
    region_holonomy, HolonomyAnalysis, HolonomyGroup, HolonomyOptions, Rotations,
};
use manifold_cnn::kernel::{HarmonicBasis, KernelBasis, PolarPoint, RadialBasis, RadialProfile};
use manifold_cnn::{BuildOptions, Manifold};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::error::Error;
use std::f64::consts::PI;
use std::path::{Path, PathBuf};

const FONT: &[u8] = include_bytes!("assets/DejaVuSans.ttf");

fn main() -> Result<(), Box<dyn Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "out/holonomy".into()),
    );
    std::fs::create_dir_all(&out)?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| "the bundled font does not load")?;

    let basis: KernelBasis =
        HarmonicBasis::new(RadialBasis::new(RadialProfile::Hat, 3)?, 8)?.into();
    table(&basis)?;
    println!();

    for (name, group) in [
        ("SO2", HolonomyGroup::so2()),
        ("C4", HolonomyGroup::cyclic(4)),
        ("Z2", HolonomyGroup::reflection(0.0)),
    ] {
        let path = out.join(format!("kernel_{name}.png"));
        kernel_picture(&basis, &group, &path)?;
        println!("wrote {}", path.display());
    }
    let path = out.join("latitude_holonomy.png");
    latitude_plot(&path)?;
    println!("wrote {}", path.display());
    Ok(())
}

fn mesh_path(name: &str) -> String {
    format!("{}/meshes/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Why each mesh has the group it has.
fn explanation(spec: &str, h: &HolonomyAnalysis) -> String {
    let kind = spec.split(':').next().unwrap_or(spec);
    match kind {
        "grid" => "flat (boundary vertices unscaled): every face loop is the identity".into(),
        "flat-torus" => {
            "flat, and both loops of the torus come back unrotated: every kernel allowed".into()
        }
        "flat-mobius" => {
            "flat, but once round the core flips the band: kernels mirror-symmetric across it"
                .into()
        }
        "icosphere" if spec.ends_with(":0") => {
            "icosahedron: defect π/3 at 12 vertices (C6); s = 6/5 puts π/5 on every face (C10)"
                .into()
        }
        "icosphere" | "torus" => {
            "generic curvature: holonomy angles are irrational, kernels isotropic".into()
        }
        "mobius" => {
            "curved (embedded) and one-sided: isotropic, and the reflections add nothing more"
                .into()
        }
        "cube" if spec.ends_with(":1") => {
            "corners defect π/2 (C4); faces get (4/3 − 1)·(π/2 + π/4 + π/4) = π/3 (C6)".into()
        }
        "cube" => {
            "corners defect π/2 (C4); faces at corners get (4/3 − 1)·α, α ∈ {π/4, π/2} (C24)".into()
        }
        "cone" => {
            let n: u32 = spec
                .rsplit(':')
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or(1);
            format!(
                "apex defect 2π/{n} (C{n}); apex faces get 2π/({n}·{}) each",
                manifold_cnn::primitives::cone_sectors(n)
            )
        }
        _ => format!(
            "scanned surface: generic curvature, {} component(s), {} loops",
            h.components().len(),
            h.components().iter().map(|c| c.loops.len()).sum::<usize>()
        ),
    }
}

fn table(basis: &KernelBasis) -> Result<(), Box<dyn Error>> {
    let mut specs: Vec<(String, bool)> = [
        "grid:16x16",
        "flat-torus:16x16",
        "flat-mobius:16x4",
        "icosphere:0",
        "icosphere:4",
        "torus:32x16",
        "mobius:32x4",
        "cube:1",
        "cube:8",
        "cone:2",
        "cone:3",
        "cone:4",
        "cone:6",
    ]
    .iter()
    .map(|s| (s.to_string(), false))
    .collect();
    for f in [
        "bull.obj",
        "fandisk.obj",
        "eight.obj",
        "elephant.obj",
        "lion_head.obj",
        "mech_holes_shark.obj",
    ] {
        specs.push((mesh_path(f), false));
    }
    for f in ["spider_nonmanifold.obj", "teapot_unwelded.obj"] {
        specs.push((mesh_path(f), true));
    }
    println!(
        "{:<24} {:>7} {:>6} {:>6} {:>8} {:>6} {:>6} {:>5} {:>5}  why",
        "mesh", "V", "group", "cone", "faces", "loops", "defect", "dim", "cone"
    );
    println!(
        "{:<24} {:>7} {:>6} {:>6} {:>8} {:>6} {:>6} {:>5} {:>5}",
        "", "", "", "", "(gens)", "(gens)", "(gens)", "", "dim"
    );
    for (spec, repair) in specs {
        let t = std::time::Instant::now();
        let m = Manifold::load(&spec, &BuildOptions::new().repair(repair))?;
        let h = HolonomyAnalysis::new(&m, &HolonomyOptions::default())?;
        let _ = t;
        let loops: usize = h.components().iter().map(|c| c.loops.len()).sum();
        let defects: usize = h.components().iter().map(|c| c.interior_vertices).sum();
        let name = spec.rsplit('/').next().unwrap_or(&spec).to_string();
        println!(
            "{:<24} {:>7} {:>6} {:>6} {:>8} {:>6} {:>6} {:>5} {:>5}  {}",
            name,
            m.mesh.vertex_count(),
            h.group().name(),
            h.cone_metric_group().name(),
            m.mesh.face_count(),
            loops,
            defects,
            basis.constrain(&h.group()).dimension(),
            basis.constrain(&h.cone_metric_group()).dimension(),
            explanation(&name, &h)
        );
    }
    println!();
    println!(
        "dim: kernels allowed by the group, in a basis of {} functions (3 radial hats × harmonics 0..=8); \
         the vertex-connection group governs the convolution.",
        basis.len()
    );
    Ok(())
}

/// Diverging colour: blue (−1) through white (0) to red (+1).
fn colour(t: f64) -> RGBColor {
    let t = t.clamp(-1.0, 1.0);
    let fade = |c: f64| (255.0 * (1.0 - t.abs()) + c * t.abs()) as u8;
    if t >= 0.0 {
        RGBColor(fade(200.0), fade(30.0), fade(40.0))
    } else {
        RGBColor(fade(30.0), fade(70.0), fade(200.0))
    }
}

/// A deterministic random kernel (SplitMix64), continuous at the origin: the harmonics m > 0 are
/// left off the first radial hat, the only one nonzero at r = 0.
fn random_kernel(basis: &KernelBasis) -> Vec<f64> {
    let KernelBasis::Harmonic(hb) = basis else {
        unreachable!("a harmonic basis")
    };
    let mut state: u64 = 2024;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let mut c: Vec<f64> = (0..basis.len()).map(|_| next()).collect();
    for m in 1..=hb.max_order() {
        c[hb.index(0, m, false)] = 0.0;
        c[hb.index(0, m, true)] = 0.0;
    }
    c
}

fn kernel_picture(
    basis: &KernelBasis,
    group: &HolonomyGroup,
    path: &Path,
) -> Result<(), Box<dyn Error>> {
    let cb = basis.constrain(group);
    let before = random_kernel(basis);
    let after = cb.project(&before);
    let size = 360i32;
    let root =
        BitMapBackend::new(path, (2 * size as u32 + 60, size as u32 + 110)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "{}: kernel before and after projection ({} of {} basis functions kept)",
        group.name(),
        cb.dimension(),
        basis.len()
    );
    let root = root.titled(&title, ("sans-serif", 18))?;
    let panels = root.split_evenly((1, 2));
    // One colour scale for both panels.
    let sample = |c: &[f64], px: i32, py: i32| {
        let x = (px as f64 + 0.5) / size as f64 * 2.0 - 1.0;
        let y = 1.0 - (py as f64 + 0.5) / size as f64 * 2.0;
        let p = PolarPoint::from_cartesian(x, y);
        (p.r <= 1.0).then(|| basis.kernel_value(c, p))
    };
    let mut scale: f64 = 1e-12;
    for c in [&before, &after] {
        for py in (0..size).step_by(4) {
            for px in (0..size).step_by(4) {
                if let Some(v) = sample(c, px, py) {
                    scale = scale.max(v.abs());
                }
            }
        }
    }
    for (panel, (label, c)) in panels.iter().zip([("before", &before), ("after", &after)]) {
        let area = panel
            .titled(label, ("sans-serif", 16))?
            .margin(10, 10, 20, 20);
        for py in 0..size {
            for px in 0..size {
                if let Some(v) = sample(c, px, py) {
                    area.draw_pixel((px, py), &colour(v / scale))?;
                }
            }
        }
        let centre = (size / 2, size / 2);
        area.draw(&Circle::new(centre, size / 2, BLACK.stroke_width(1)))?;
        // Polar angle 0 (the frame's reference direction).
        area.draw(&PathElement::new(
            vec![centre, (size, size / 2)],
            RGBColor(120, 120, 120).stroke_width(2),
        ))?;
        if let (Some(a), Rotations::Cyclic(_)) = (group.reflection_angle(), group.rotations()) {
            let axis = a / 2.0;
            let r = size as f64 / 2.0;
            let p = |s: f64| {
                (
                    (r + s * r * axis.cos()) as i32,
                    (r - s * r * axis.sin()) as i32,
                )
            };
            area.draw(&DashedPathElement::new(
                vec![p(-1.0), p(1.0)],
                8,
                6,
                BLACK.stroke_width(2),
            ))?;
        }
    }
    root.present()?;
    Ok(())
}

/// The loop bounding the faces within polar angle β of vertex 0 (an icosahedron vertex).
fn latitude_holonomy(m: &Manifold, beta: f64) -> Option<f64> {
    let p = m.positions.as_ref()?;
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
            ((c[0] * axis[0] + c[1] * axis[1] + c[2] * axis[2]) / n)
                .clamp(-1.0, 1.0)
                .acos()
                < beta
        })
        .collect();
    let l = region_holonomy(m, &inside).ok()?;
    let res = l.gauss_bonnet_residual()?;
    assert!(res.abs() < 1e-9, "Gauss–Bonnet: residual {res}");
    Some(l.unwrapped_angle())
}

fn latitude_plot(path: &Path) -> Result<(), Box<dyn Error>> {
    let root = BitMapBackend::new(path, (900, 620)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Latitude-loop holonomy on the icosphere vs enclosed area 2π(1 − cos β)",
            ("sans-serif", 20),
        )
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..PI, 0f64..4.0 * PI)?;
    chart
        .configure_mesh()
        .x_desc("polar angle β of the latitude (rad)")
        .y_desc("holonomy angle (rad, unwrapped)")
        .label_style(("sans-serif", 14))
        .draw()?;
    let exact: Vec<(f64, f64)> = (0..=300)
        .map(|i| {
            let b = PI * i as f64 / 300.0;
            (b, 2.0 * PI * (1.0 - b.cos()))
        })
        .collect();
    let colours = [
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(0, 158, 115),
        RGBColor(213, 94, 0),
        RGBColor(0, 114, 178),
    ];
    let betas: Vec<f64> = (1..62).map(|i| 0.05 * i as f64).collect();
    for (k, level) in (1..=5).enumerate() {
        let m = Manifold::load(&format!("icosphere:{level}"), &BuildOptions::default())?;
        let pts: Vec<(f64, f64)> = betas
            .iter()
            .filter_map(|&b| latitude_holonomy(&m, b).map(|h| (b, h)))
            .collect();
        let worst = pts
            .iter()
            .map(|(b, h)| (h - 2.0 * PI * (1.0 - b.cos())).abs())
            .fold(0.0, f64::max);
        println!(
            "icosphere:{level}: {} latitudes, max |holonomy − 2π(1 − cos β)| = {worst:.4}",
            pts.len()
        );
        let c = colours[k];
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?
            .label(format!("icosphere:{level}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
    }
    // The exact curve last, dashed, so the converging levels do not hide it.
    chart
        .draw_series(DashedLineSeries::new(exact, 8, 5, BLACK.stroke_width(2)))?
        .label("2π(1 − cos β), unit sphere")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
