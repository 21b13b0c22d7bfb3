//! `manifold-cnn holonomy MESH [--json] [--repair] [--base V] [--tolerance T] [--max-order N]`

use manifold_cnn::holonomy::{
    Generator, GeneratorSource, HolonomyAnalysis, HolonomyGroup, HolonomyOptions, Rotations,
};
use manifold_cnn::{Error, Manifold};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::f64::consts::PI;

/// Harmonics up to this order are listed as allowed or not.
const MAX_HARMONIC: u32 = 8;
/// At most this many loop generators are listed (the counts are always complete).
const MAX_LOOPS_LISTED: usize = 64;
/// At most this many distinct face (or vertex-defect) rotations are listed.
const MAX_ROTATIONS_LISTED: usize = 32;
/// At most this many components are listed.
const MAX_COMPONENTS_LISTED: usize = 100;

/// Arguments of `holonomy`.
#[derive(clap::Args)]
pub struct HolonomyArgs {
    /// Mesh spec, as for `inspect`.
    pub mesh: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Repair the mesh instead of failing on the first defect.
    #[arg(long)]
    pub repair: bool,
    /// Base vertex of its component (default: the lowest-numbered vertex of each component), in the
    /// input's vertex numbering (0-based; with --repair, the repaired mesh's vertex made from it).
    #[arg(long)]
    pub base: Option<usize>,
    #[command(flatten)]
    pub classify: super::ClassifyArgs,
}

/// Runs `holonomy`.
pub fn run(args: &HolonomyArgs) -> Result<(), Error> {
    let m = super::load(&args.mesh, args.repair)?;
    // The user names an input vertex; repair may have dropped or renumbered vertices, so it is
    // looked up through the build's record of where each mesh vertex came from.
    let base = match args.base {
        None => None,
        Some(i) => {
            let origin = &m.report.vertex_origin;
            let found = origin.iter().position(|&o| o as usize == i);
            let v = found.and_then(|v| m.mesh.vertex(v));
            Some(v.ok_or_else(|| Error::InvalidParameter {
                name: "base",
                message: if args.repair {
                    format!(
                        "input vertex {i} is not in the repaired mesh (repair dropped it, or the \
                         input has no such vertex); {} vertices remain",
                        m.mesh.vertex_count()
                    )
                } else {
                    format!(
                        "vertex {i} does not exist (the mesh has {} vertices)",
                        m.mesh.vertex_count()
                    )
                },
            })?)
        }
    };
    let classify = args.classify.options();
    let h = HolonomyAnalysis::new(&m, &HolonomyOptions::new().base(base).classify(classify))?;
    if args.json {
        super::print_json(&report_json(&args.mesh, &m, &h))?;
    } else {
        print_text(&args.mesh, &m, &h)?;
    }
    Ok(())
}

/// A one-line account of what a group means for kernels.
pub fn explain(g: &HolonomyGroup) -> String {
    let rot = match g.rotations() {
        Rotations::Cyclic(1) => "no rotation".to_string(),
        Rotations::Cyclic(n) => format!("rotations by multiples of 2π/{n}"),
        Rotations::Continuous => "rotations by every angle".to_string(),
    };
    let refl = match g.reflection_angle() {
        None => String::new(),
        Some(_) if !g.is_finite() => ", and reflections across every axis".to_string(),
        Some(a) => format!(
            ", and the reflection across the axis at {}",
            fmt_angle(a / 2.0)
        ),
    };
    let keep = match (g.rotations(), g.has_reflections()) {
        (Rotations::Cyclic(1), false) => "every kernel is allowed".to_string(),
        (Rotations::Cyclic(1), true) => {
            "kernels must be mirror-symmetric about that axis".to_string()
        }
        (Rotations::Cyclic(n), false) => format!("kernels keep harmonics m ≡ 0 mod {n}"),
        (Rotations::Cyclic(n), true) => {
            format!("kernels keep harmonics m ≡ 0 mod {n}, mirror-symmetric")
        }
        (Rotations::Continuous, _) => "kernels must be isotropic (m = 0)".to_string(),
    };
    format!("{rot}{refl}: {keep}")
}

/// An angle in radians, with its value as a fraction of π where it is a simple one.
pub fn fmt_angle(a: f64) -> String {
    for q in 1..=48u32 {
        let p = a / PI * q as f64;
        if (p - p.round()).abs() < 1e-9 * q as f64 {
            let p = p.round() as i64;
            let frac = match (p, q) {
                (0, _) => "0".to_string(),
                (1, 1) => "π".to_string(),
                (-1, 1) => "−π".to_string(),
                (p, 1) => format!("{p}π"),
                (1, q) => format!("π/{q}"),
                (-1, q) => format!("−π/{q}"),
                (p, q) => format!("{p}π/{q}"),
            };
            return format!("{a:.6} ({frac})");
        }
    }
    format!("{a:.6}")
}

/// Distinct rotation angles among rotation generators (within `tol`), with how many share each, most
/// common first; identities left out; at most 4096 distinct values are tracked.
fn distinct_rotations(
    gens: impl Iterator<Item = Generator>,
    tol: f64,
) -> (Vec<(f64, usize)>, bool) {
    let mut map: HashMap<i64, (f64, usize)> = HashMap::new();
    let mut overflow = false;
    for g in gens {
        let a = g.element.angle;
        if a.abs() <= tol {
            continue;
        }
        let key = (a / tol).round() as i64;
        let full = map.len() >= 4096;
        match map.get_mut(&key) {
            Some(e) => e.1 += 1,
            None if !full => {
                map.insert(key, (a, 1));
            }
            None => overflow = true,
        }
    }
    let mut v: Vec<(f64, usize)> = map.into_values().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.total_cmp(&b.0)));
    (v, overflow)
}

fn generator_list(h: &HolonomyAnalysis, cone: bool, tol: f64) -> (Vec<Value>, bool) {
    let mut out = Vec::new();
    let mut truncated = false;
    let gens: Box<dyn Iterator<Item = Generator>> = if cone {
        Box::new(h.cone_generators())
    } else {
        Box::new(h.generators())
    };
    let kind = if cone { "vertex_defect" } else { "face" };
    let rotations = gens.filter(|g| !matches!(g.source, GeneratorSource::Loop(_)));
    let (distinct, overflow) = distinct_rotations(rotations, tol);
    truncated |= overflow || distinct.len() > MAX_ROTATIONS_LISTED;
    for (angle, count) in distinct.into_iter().take(MAX_ROTATIONS_LISTED) {
        out.push(json!({ "angle": angle, "reflect": false, "kind": kind, "count": count }));
    }
    let mut loops = 0;
    for c in h.components() {
        for l in &c.loops {
            loops += 1;
            if loops > MAX_LOOPS_LISTED {
                truncated = true;
                continue;
            }
            let g = if cone { l.cone_holonomy } else { l.holonomy };
            out.push(json!({
                "angle": g.angle,
                "reflect": g.reflect,
                "kind": "loop",
                "count": 1,
                "component": c.index,
                "edge": [l.from.index(), l.to.index()],
            }));
        }
    }
    (out, truncated)
}

fn group_json(g: &HolonomyGroup) -> Value {
    json!({
        "name": g.name(),
        "order": g.order(),
        "reflection_angle": g.reflection_angle(),
        "explanation": explain(g),
    })
}

fn report_json(spec: &str, m: &Manifold, h: &HolonomyAnalysis) -> Value {
    let tol = h.options().classify.tolerance;
    let (generators, truncated) = generator_list(h, false, tol);
    let (cone_generators, cone_truncated) = generator_list(h, true, tol);
    let loops: usize = h.components().iter().map(|c| c.loops.len()).sum();
    let interior: usize = h.components().iter().map(|c| c.interior_vertices).sum();
    let components: Vec<Value> = h
        .components()
        .iter()
        .take(MAX_COMPONENTS_LISTED)
        .map(|c| {
            json!({
                "index": c.index,
                "base_vertex": c.base.index(),
                "base_face": c.base_face.index(),
                "orientable": c.orientable,
                "closed": c.closed,
                "faces": c.faces,
                "loops": c.loops.len(),
                "group": c.group.name(),
                "cone_metric_group": c.cone_group.name(),
            })
        })
        .collect();
    json!({
        "mesh": spec,
        "vertices": m.mesh.vertex_count(),
        "faces": m.mesh.face_count(),
        "orientable": m.mesh.is_orientable(),
        "group": h.group().name(),
        "cone_metric_group": h.cone_metric_group().name(),
        "group_details": group_json(&h.group()),
        "cone_metric_group_details": group_json(&h.cone_metric_group()),
        "generators": generators,
        "generators_truncated": truncated,
        "generator_counts": { "face": m.mesh.face_count(), "loop": loops },
        "cone_metric_generators": cone_generators,
        "cone_metric_generators_truncated": cone_truncated,
        "cone_metric_generator_counts": { "vertex_defect": interior, "loop": loops },
        "allowed_harmonics": h.group().allowed_harmonics(MAX_HARMONIC),
        "cone_metric_allowed_harmonics": h.cone_metric_group().allowed_harmonics(MAX_HARMONIC),
        "max_harmonic": MAX_HARMONIC,
        "tolerance": tol,
        "max_order": h.options().classify.max_order,
        "components": components,
        "components_truncated": h.components().len() > MAX_COMPONENTS_LISTED,
    })
}

fn print_text(spec: &str, m: &Manifold, h: &HolonomyAnalysis) -> Result<(), Error> {
    let tol = h.options().classify.tolerance;
    let mesh = &m.mesh;
    outln!("mesh                {spec}")?;
    outln!(
        "                    {} vertices, {} faces, {} component(s), orientable: {}",
        mesh.vertex_count(),
        mesh.face_count(),
        mesh.components().len(),
        mesh.is_orientable()
    )?;
    outln!(
        "vertex connection   {:<8} {}",
        h.group().name(),
        explain(&h.group())
    )?;
    outln!("                    (governs the kernels: the gauge is transport along a spanning tree of the vertex graph)")?;
    outln!(
        "cone metric         {:<8} {}",
        h.cone_metric_group().name(),
        explain(&h.cone_metric_group())
    )?;
    let names = |g: &HolonomyGroup| {
        g.allowed_harmonics(MAX_HARMONIC)
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    outln!(
        "allowed harmonics   {} (m ≤ {MAX_HARMONIC}; cone view: {})",
        names(&h.group()),
        names(&h.cone_metric_group())
    )?;
    if mesh.components().len() > 1 {
        outln!(
            "components          {} (each at its own base vertex; the group above joins them)",
            mesh.components().len()
        )?;
        for c in h.components().iter().take(10) {
            outln!(
                "  component {:<4} base {:<8} {:<8} cone {:<8} {} faces, {} loops",
                c.index,
                c.base.index(),
                c.group.name(),
                c.cone_group.name(),
                c.faces,
                c.loops.len()
            )?;
        }
        if h.components().len() > 10 {
            outln!("  …")?;
        }
    }
    outln!("generators (vertex connection, at the base vertex)")?;
    // Listed to display precision.
    let tol = tol.max(1e-6);
    let (faces, _) = distinct_rotations(
        h.generators()
            .filter(|g| matches!(g.source, GeneratorSource::Face(_))),
        tol,
    );
    outln!(
        "  {} face loops, {} distinct non-trivial rotations{}",
        mesh.face_count(),
        faces.len(),
        if faces.len() >= 4096 { "+" } else { "" }
    )?;
    for (a, n) in faces.iter().take(6) {
        outln!("    face   ×{n:<7} rotation {}", fmt_angle(*a))?;
    }
    if faces.len() > 6 {
        outln!("    …")?;
    }
    let loops: Vec<_> = h.components().iter().flat_map(|c| c.loops.iter()).collect();
    outln!("  {} loops (tree–cotree)", loops.len())?;
    for l in loops.iter().take(8) {
        let g = l.holonomy;
        let what = if g.reflect {
            "reflection"
        } else {
            "rotation  "
        };
        outln!(
            "    loop   edge {}–{}  {what} {}   cone metric: {}{}",
            l.from,
            l.to,
            fmt_angle(g.angle),
            if l.cone_holonomy.reflect {
                "reflection "
            } else {
                "rotation "
            },
            fmt_angle(l.cone_holonomy.angle)
        )?;
    }
    if loops.len() > 8 {
        outln!("    …")?;
    }
    outln!("generators (cone metric, at the base face)")?;
    let (defects, _) = distinct_rotations(
        h.cone_generators()
            .filter(|g| matches!(g.source, GeneratorSource::VertexDefect(_))),
        tol,
    );
    let interior: usize = h.components().iter().map(|c| c.interior_vertices).sum();
    outln!(
        "  {interior} interior vertices, {} distinct non-zero defects{}",
        defects.len(),
        if defects.len() >= 4096 { "+" } else { "" }
    )?;
    for (a, n) in defects.iter().take(6) {
        outln!("    vertex ×{n:<7} defect   {}", fmt_angle(*a))?;
    }
    if defects.len() > 6 {
        outln!("    …")?;
    }
    Ok(())
}
