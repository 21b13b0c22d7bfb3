//! Compiling a [`ConvOperator`] from an exp-map table, a basis and a gauge, in named steps:
//!
//! 1. [`check_meshes`]: the table and the gauge were built for this mesh;
//! 2. [`locality_order`]: the order of the rows (and its inverse, the rank of every vertex);
//! 3. [`sample_weights`]: the quadrature weight ω_s of every sample;
//! 4. [`count_rows`]: the number of distinct neighbours of every row, hence the row offsets;
//! 5. [`fill_rows`]: every row's columns and coefficients, straight into arrays of the exact size;
//! 6. [`transposed_index`]: for every column, the entries that read it (for the backward pass).
//!
//! The coefficient of row `p`, column `q`, basis function `b` is
//! `Σ_s Σ_{k: corner k of s's landing face is q} ω_s β_{s,k} k_b(r_s/ρ, Γ_p⁻¹θ_s)` (see
//! [`ConvOperator`]).

use super::super::gauge::Gauge;
use super::super::real::Real;
use super::{ConvOperator, ConvOptions, Quadrature, SampledBasis, TransportedBasis};
use crate::error::{Error, Result};
use crate::expmap::{ExpMapTable, Tracer};
use crate::Manifold;
use rayon::prelude::*;

/// The basis a compile evaluates.
#[derive(Clone, Copy)]
pub(super) enum Basis<'a> {
    Sampled(&'a dyn SampledBasis),
    Transported(&'a dyn TransportedBasis, &'a Tracer<'a>),
}

impl Basis<'_> {
    fn len(&self) -> usize {
        match self {
            Basis::Sampled(b) => b.len(),
            Basis::Transported(b, _) => b.len(),
        }
    }
}

/// Rows per parallel task of [`fill_rows`].
const ROWS: usize = 1024;

impl<T: Real> ConvOperator<T> {
    /// Compiles the operator of every basis function (see the [module docs](self)).
    pub(super) fn compile(
        m: &Manifold,
        table: &ExpMapTable,
        basis: Basis<'_>,
        gauge: &Gauge,
        options: &ConvOptions,
    ) -> Result<Self> {
        check_meshes(m, table, gauge)?;
        let n = m.mesh.vertex_count();
        let nb = basis.len();
        if nb == 0 {
            return Err(Error::InvalidParameter {
                name: "basis",
                message: "no basis functions".into(),
            });
        }
        let order = locality_order(m, gauge);
        let mut rank = vec![0u32; n];
        for (i, &v) in order.iter().enumerate() {
            rank[v as usize] = i as u32;
        }
        let weights = sample_weights(table, options.quadrature);
        let landings = Landings {
            m,
            table,
            rank: &rank,
            weights: &weights,
        };
        let row_offsets = count_rows(&landings, &order)?;
        let (cols, coefs) = fill_rows(&landings, &order, &row_offsets, basis, gauge);
        let (t_offsets, t_rows, t_entries) = transposed_index(&row_offsets, &cols);
        let op = ConvOperator {
            mesh: m.identity(),
            vertices: n,
            basis: nb,
            quadrature: options.quadrature,
            order,
            rank,
            row_offsets,
            cols,
            coefs,
            t_offsets,
            t_rows,
            t_entries,
        };
        op.check_indices();
        Ok(op)
    }
}

/// Same counts are not enough (icosphere:2 and grid:18x9 both have 162 vertices): the stages index
/// faces and vertices of their own mesh.
fn check_meshes(m: &Manifold, table: &ExpMapTable, gauge: &Gauge) -> Result<()> {
    for (stage, built_for) in [
        ("exp-map table", table.mesh_identity()),
        ("gauge", gauge.mesh_identity()),
    ] {
        if built_for != m.identity() {
            return Err(Error::MeshMismatch {
                stage,
                built_for,
                given: m.identity(),
            });
        }
    }
    Ok(())
}

/// The order in which the operator stores its rows and columns, chosen so that a block of consecutive
/// rows reads a compact patch of the input whatever the input's own order: along a Z-order (Morton)
/// curve through the vertex positions where the mesh has them (a block of rows is then a small patch
/// and its neighbours a slightly larger one), else breadth-first from the gauge roots (a row's
/// neighbours then sit within a few fronts of it; fronts grow with the mesh, so this is the weaker
/// order on large meshes).
fn locality_order(m: &Manifold, gauge: &Gauge) -> Vec<u32> {
    let Some(p) = &m.positions else {
        return gauge.order().iter().map(|v| v.raw()).collect();
    };
    let (mut lo, mut hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
    for x in p {
        for k in 0..3 {
            lo[k] = lo[k].min(x[k]);
            hi[k] = hi[k].max(x[k]);
        }
    }
    let extent = (0..3).map(|k| hi[k] - lo[k]).fold(0.0, f64::max);
    const CELLS: f64 = ((1u64 << 21) - 1) as f64;
    let scale = if extent > 0.0 { CELLS / extent } else { 0.0 };
    let mut keyed: Vec<(u64, u32)> = p
        .par_iter()
        .enumerate()
        .map(|(i, x)| {
            let cell = |k: usize| ((x[k] - lo[k]) * scale).clamp(0.0, CELLS) as u64;
            (
                spread_bits(cell(0)) | spread_bits(cell(1)) << 1 | spread_bits(cell(2)) << 2,
                i as u32,
            )
        })
        .collect();
    keyed.par_sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// The low 21 bits of `x` moved to every third bit (bit i to bit 3i): one coordinate of a Morton key.
pub(super) fn spread_bits(x: u64) -> u64 {
    let mut x = x & 0x1f_ffff;
    x = (x | x << 32) & 0x001f_0000_0000_ffff;
    x = (x | x << 16) & 0x001f_0000_ff00_00ff;
    x = (x | x << 8) & 0x100f_00f0_0f00_f00f;
    x = (x | x << 4) & 0x10c3_0c30_c30c_30c3;
    x = (x | x << 2) & 0x1249_2492_4924_9249;
    x
}

/// The quadrature weight ω_s of every sample ([`Quadrature`]).
fn sample_weights(table: &ExpMapTable, quadrature: Quadrature) -> Vec<f64> {
    match quadrature {
        Quadrature::Integral => table.sample_weights().to_vec(),
        Quadrature::Mean => {
            let area: f64 = table.sample_weights().iter().sum();
            table.sample_weights().iter().map(|w| w / area).collect()
        }
    }
}

/// Where the samples of a vertex land, as the operator reads them.
struct Landings<'a> {
    m: &'a Manifold,
    table: &'a ExpMapTable,
    rank: &'a [u32],
    weights: &'a [f64],
}

impl Landings<'_> {
    /// The corners of vertex p's landing faces that carry weight, as (internal column,
    /// 3·sample + corner, weight), sorted.
    fn collect(&self, p: usize, out: &mut Vec<(u32, u32, f64)>) {
        out.clear();
        for s in 0..self.table.samples_per_vertex() {
            let Some((face, bary)) = self.table.padded_landing(p, s) else {
                continue;
            };
            let corners = self.m.mesh.face_vertices(face);
            // The table stores two coordinates in f32; the third in f64 makes the three sum to 1
            // to f64 rounding (a partition of unity: a constant signal stays constant).
            let (b0, b1) = (bary[0] as f64, bary[1] as f64);
            for (k, beta) in [b0, b1, 1.0 - b0 - b1].into_iter().enumerate() {
                if beta != 0.0 {
                    out.push((
                        self.rank[corners[k].index()],
                        (3 * s + k) as u32,
                        self.weights[s] * beta,
                    ));
                }
            }
        }
        out.sort_unstable_by_key(|t| (t.0, t.1));
    }
}

/// The row offsets: row `i` (vertex `order[i]`) holds one entry per distinct landing corner.
///
/// # Errors
/// [`Error::InvalidParameter`] if the entries exceed the u32 index range.
fn count_rows(landings: &Landings, order: &[u32]) -> Result<Vec<u32>> {
    let row_nnz: Vec<u32> = order
        .par_iter()
        .map_init(Vec::new, |triples, &p| {
            landings.collect(p as usize, triples);
            (1 + triples.windows(2).filter(|w| w[0].0 != w[1].0).count()).min(triples.len()) as u32
        })
        .collect();
    let nnz: usize = row_nnz.iter().map(|&c| c as usize).sum();
    if nnz > u32::MAX as usize {
        return Err(Error::InvalidParameter {
            name: "table",
            message: format!("{nnz} operator entries exceed the u32 index range"),
        });
    }
    let mut row_offsets = Vec::with_capacity(order.len() + 1);
    row_offsets.push(0u32);
    for &c in &row_nnz {
        row_offsets.push(row_offsets.last().unwrap() + c);
    }
    Ok(row_offsets)
}

/// Every row's columns and coefficients, filled in parallel blocks of [`ROWS`] rows straight into
/// arrays of the exact size (no block buffers to concatenate: the operator is the largest thing in
/// memory).
fn fill_rows<T: Real>(
    landings: &Landings,
    order: &[u32],
    row_offsets: &[u32],
    basis: Basis<'_>,
    gauge: &Gauge,
) -> (Vec<u32>, Vec<T>) {
    let (m, table) = (landings.m, landings.table);
    let n = order.len();
    let nb = basis.len();
    let nnz = row_offsets[n] as usize;
    let ns = table.samples_per_vertex();
    let rho = table.radius();
    let (radii, angles) = (table.sample_radii(), table.sample_angles());
    let mut cols = vec![0u32; nnz];
    let mut coefs = vec![T::default(); nnz * nb];
    let spans: Vec<usize> = (0..n.div_ceil(ROWS))
        .map(|b| (row_offsets[((b + 1) * ROWS).min(n)] - row_offsets[b * ROWS]) as usize)
        .collect();
    let col_blocks = crate::mesh::split_lengths(&mut cols, spans.iter().copied());
    let coef_blocks = crate::mesh::split_lengths(&mut coefs, spans.iter().map(|&l| l * nb));
    let transports = gauge.transports();
    col_blocks
        .into_par_iter()
        .zip(coef_blocks)
        .enumerate()
        .for_each(|(blk, (cols, coefs))| {
            let mut vals = vec![0.0f64; ns * nb];
            let mut one = vec![0.0f64; nb];
            let mut triples: Vec<(u32, u32, f64)> = Vec::with_capacity(3 * ns);
            let mut done = vec![false; ns];
            let mut sums = vec![0.0f64; nb];
            let mut j = 0;
            for i in blk * ROWS..((blk + 1) * ROWS).min(n) {
                let p = order[i] as usize;
                let g_inv = transports[p].inverse();
                landings.collect(p, &mut triples);
                if let Basis::Sampled(basis) = basis {
                    // The basis depends on the sample only: evaluated once per sample.
                    done.iter_mut().for_each(|d| *d = false);
                    for &(_, sc, _) in triples.iter() {
                        let s = sc as usize / 3;
                        if !done[s] {
                            done[s] = true;
                            let v = &mut vals[s * nb..(s + 1) * nb];
                            basis.eval(radii[s] / rho, g_inv.apply(angles[s]), v);
                        }
                    }
                }
                let mut t = 0;
                while t < triples.len() {
                    let q = triples[t].0;
                    sums.iter_mut().for_each(|a| *a = 0.0);
                    while t < triples.len() && triples[t].0 == q {
                        let (_, sc, beta) = triples[t];
                        let (s, k) = (sc as usize / 3, sc as usize % 3);
                        let v = match basis {
                            Basis::Sampled(_) => &vals[s * nb..(s + 1) * nb],
                            Basis::Transported(basis, tracer) => {
                                let e = table.entry(p, s);
                                let c = 3 * e.face.index() + k;
                                let g_q = transports[order[q as usize] as usize];
                                let psi = tracer.corner_polar_angle(c, e.transported_angle as f64);
                                let flip = e.mirrored
                                    ^ m.mesh.corner_flipped(crate::ids::HalfedgeId::new(c))
                                    ^ transports[p].reflect
                                    ^ g_q.reflect;
                                basis.eval(
                                    radii[s] / rho,
                                    g_inv.apply(angles[s]),
                                    g_q.inverse().apply(psi),
                                    if flip { -1.0 } else { 1.0 },
                                    &mut one,
                                );
                                &one[..]
                            }
                        };
                        for (a, &x) in sums.iter_mut().zip(v) {
                            *a += beta * x;
                        }
                        t += 1;
                    }
                    cols[j] = q;
                    for (c, &a) in coefs[j * nb..(j + 1) * nb].iter_mut().zip(sums.iter()) {
                        *c = T::from_f64(a);
                    }
                    j += 1;
                }
            }
        });
    (cols, coefs)
}

/// The transposed index: for each column q, the (row p, entry j) pairs that read it, in increasing p.
fn transposed_index(row_offsets: &[u32], cols: &[u32]) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let n = row_offsets.len() - 1;
    let nnz = cols.len();
    let mut t_offsets = vec![0u32; n + 1];
    for &q in cols {
        t_offsets[q as usize + 1] += 1;
    }
    for i in 0..n {
        t_offsets[i + 1] += t_offsets[i];
    }
    let mut fill = t_offsets.clone();
    let mut t_rows = vec![0u32; nnz];
    let mut t_entries = vec![0u32; nnz];
    for p in 0..n {
        for j in row_offsets[p]..row_offsets[p + 1] {
            let q = cols[j as usize] as usize;
            t_rows[fill[q] as usize] = p as u32;
            t_entries[fill[q] as usize] = j;
            fill[q] += 1;
        }
    }
    (t_offsets, t_rows, t_entries)
}
