//! `.npz` export of an [`ExpMapTable`] for Python users.

use super::table::{ExpMapTable, Padding, FLAG_MIRRORED, FLAG_TRUNCATED};
use crate::error::{Error, Result};
use crate::io::npz::NpzWriter;
use crate::manifold::Manifold;
use rayon::prelude::*;
use std::path::Path;

/// Writes the table of `m` to an `.npz` archive (numpy's `np.load` reads it). N vertices, S samples
/// per vertex, F faces; sample `s = j·R + i` as in [`ExpMapTable`]:
///
/// | array               | shape     | dtype   | content                                                   |
/// |---------------------|-----------|---------|-----------------------------------------------------------|
/// | `sample_radius`     | S         | float64 | r_i                                                       |
/// | `sample_angle`      | S         | float64 | θ_j, scaled polar angle in the vertex frame               |
/// | `sample_weight`     | S         | float64 | quadrature weight r_i Δr Δθ                               |
/// | `landing_face`      | N×S       | uint32  | face holding exp_p(v) (the stop point if truncated)       |
/// | `landing_vertices`  | N×S×3     | uint32  | that face's corners                                       |
/// | `landing_bary`      | N×S×3     | float32 | barycentric coordinates of those corners                  |
/// | `transported_angle` | N×S       | float32 | direction of the geodesic there, in the face frame        |
/// | `distance`          | N×S       | float32 | distance travelled (r_i, or less if truncated)            |
/// | `truncated`         | N×S       | bool    | the geodesic left the surface before r_i                  |
/// | `mirrored`          | N×S       | bool    | landing face orientation disagrees with the start star    |
/// | `faces`             | F×3       | uint32  | the mesh's oriented faces                                 |
/// | `vertex_scale`      | N         | float64 | s_p (true angle = θ/s_p)                                  |
/// | `radius`            | 1         | float64 | ρ                                                         |
/// | `padding`           | 1         | uint32  | 0: zero padding, 1: clamp to the stop point               |
/// | `positions`         | N×3       | float64 | where the mesh has positions                              |
/// | `normals`           | N×3       | float64 | ″                                                         |
/// | `frame_x`           | N×3       | float64 | 3-D direction of polar angle 0 at each vertex (″)         |
/// | `frame_y`           | N×3       | float64 | normal × frame_x: true angle π/2, scaled θ = s_p·π/2 (″)  |
///
/// With positions, a sample's 3-D landing point is `Σ_k landing_bary[..., k] · positions[landing_vertices[..., k]]`,
/// and the face frame of face `f = [a, b, c]` has `x = (P_b − P_a)/|P_b − P_a|` and `y` the unit vector in
/// the face's plane, perpendicular to `x`, on the side of `P_c`; the transported direction is
/// `cos(t) x + sin(t) y`.
///
/// # Errors
/// [`Error::Io`] if the file cannot be written; [`Error::InvalidParameter`] if the table was not built for
/// this mesh (vertex count or face indices out of range).
pub fn write_npz(table: &ExpMapTable, m: &Manifold, path: impl AsRef<Path>) -> Result<()> {
    let mesh = &m.mesh;
    let (n, s) = (table.vertex_count(), table.samples_per_vertex());
    let nf = mesh.face_count();
    if n != mesh.vertex_count() || table.landing_faces().par_iter().any(|&f| f as usize >= nf) {
        return Err(Error::InvalidParameter {
            name: "table",
            message: format!(
                "the table has {n} vertices and was not built for this mesh ({} vertices, {nf} faces)",
                mesh.vertex_count()
            ),
        });
    }
    let (n64, s64) = (n as u64, s as u64);
    let mut w = NpzWriter::create(path)?;
    w.f64("sample_radius", &[s64], table.sample_radii())?;
    w.f64("sample_angle", &[s64], table.sample_angles())?;
    w.f64("sample_weight", &[s64], table.sample_weights())?;
    w.u32("landing_face", &[n64, s64], table.landing_faces())?;
    {
        let faces = mesh.faces();
        let lv: Vec<u32> = table
            .landing_faces()
            .par_iter()
            .flat_map_iter(|&f| faces[f as usize].map(|v| v.raw()))
            .collect();
        w.u32("landing_vertices", &[n64, s64, 3], &lv)?;
    }
    {
        let lb: Vec<f32> = table
            .landing_barys()
            .par_iter()
            .flat_map_iter(|&[a, b]| [a, b, 1.0 - a - b])
            .collect();
        w.f32("landing_bary", &[n64, s64, 3], &lb)?;
    }
    w.f32("transported_angle", &[n64, s64], table.transported_angles())?;
    {
        let r = table.rings();
        let radii = table.sample_radii();
        let lengths = table.trace_lengths();
        let na = table.directions();
        let dist: Vec<f32> = table
            .flags()
            .par_iter()
            .enumerate()
            .map(|(e, &fl)| {
                let (v, si) = (e / s, e % s);
                if fl & FLAG_TRUNCATED != 0 {
                    lengths[v * na + si / r]
                } else {
                    radii[si] as f32
                }
            })
            .collect();
        w.f32("distance", &[n64, s64], &dist)?;
    }
    let bits = |bit: u8| {
        table
            .flags()
            .par_iter()
            .map(|&f| f & bit != 0)
            .collect::<Vec<bool>>()
    };
    w.bool("truncated", &[n64, s64], &bits(FLAG_TRUNCATED))?;
    w.bool("mirrored", &[n64, s64], &bits(FLAG_MIRRORED))?;
    m.write_mesh_arrays(&mut w)?;
    w.f64("vertex_scale", &[n64], m.frames.vertex_scales())?;
    w.f64("radius", &[1], &[table.radius()])?;
    w.u32(
        "padding",
        &[1],
        &[if table.padding() == Padding::Clamp {
            1
        } else {
            0
        }],
    )?;
    w.finish()
}
