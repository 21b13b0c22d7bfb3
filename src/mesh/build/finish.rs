//! The last step: unreferenced vertices, and the lengths carried over to the faces kept.

use super::super::corners::{References, VertexCorners};
use super::{CleanFaces, Cleaning, Repair, NONE};
use crate::error::{Error, Result};
use crate::par::first_where;
use std::borrow::Cow;

/// Checks for unreferenced vertices (dropping them in repair mode) and carries the edge lengths over.
/// `side_twin` pairs the sides of the final faces; `corners`, where the pairing built them, are the
/// vertices' corner lists; `lengths`: per input face, the side lengths unified across shared edges,
/// where they differed.
pub(super) fn finish<'a>(
    c: Cleaning<'a>,
    side_twin: Vec<u32>,
    corners: Option<(VertexCorners, References)>,
    lengths: Option<&[[f64; 3]]>,
) -> Result<CleanFaces<'a>> {
    let source = c.source;
    let mut clean = CleanFaces {
        faces: c.faces,
        face_origin: c.face_origin,
        vertex_origin: c.vertex_origin,
        face_edge_lengths: None,
        side_twin,
        repairs: c.repairs,
        corners,
    };
    let nv = clean.vertex_origin.len();
    let (unused, used) = match &clean.corners {
        Some((corners, _)) => (first_where(nv, |v| corners.of(v).is_empty()), None),
        None => {
            let used = used_vertices(nv, &clean.faces);
            (used.iter().position(|&u| !u), Some(used))
        }
    };
    if let Some(first) = unused {
        if !c.repair {
            let v = clean.vertex_origin[first] as usize;
            return Err(Error::UnreferencedVertex {
                vertex: v,
                line: source.vertex_line(v),
            });
        }
        let used = used.unwrap_or_else(|| used_vertices(nv, &clean.faces));
        let mut new_index = vec![NONE; nv];
        let mut origin = Vec::with_capacity(nv);
        for v in 0..nv {
            if used[v] {
                new_index[v] = origin.len() as u32;
                origin.push(clean.vertex_origin[v]);
            } else {
                clean.repairs.push(Repair::DroppedUnreferencedVertex {
                    vertex: clean.vertex_origin[v] as usize,
                });
            }
        }
        clean.faces = Cow::Owned(
            clean
                .faces
                .iter()
                .map(|f| f.map(|v| new_index[v as usize]))
                .collect(),
        );
        clean.vertex_origin = origin;
        // The lists were numbered by the old vertices.
        clean.corners = None;
    }
    clean.face_edge_lengths = lengths
        .or(source.face_edge_lengths.as_deref())
        .map(|ls| clean.face_origin.iter().map(|&f| ls[f as usize]).collect());
    Ok(clean)
}

/// Whether each vertex is a corner of some face.
fn used_vertices(nv: usize, faces: &[[u32; 3]]) -> Vec<bool> {
    let mut used = vec![false; nv];
    for &v in faces.iter().flatten() {
        used[v as usize] = true;
    }
    used
}
