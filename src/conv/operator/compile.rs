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
use crate::disjoint::DisjointWrites;
use crate::error::{Error, Result};
use crate::expmap::{ExpMapTable, Padding, TableEntry, Tracer, FLAG_TRUNCATED};
use crate::ids::HalfedgeId;
use crate::large_alloc::{try_zeroed, try_zeroed_real};
use crate::transport::O2;
use crate::Manifold;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};

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
            face_ranks: m
                .mesh
                .faces()
                .par_iter()
                .map(|f| f.map(|v| rank[v.index()]))
                .collect(),
            weights: &weights,
        };
        let row_offsets = count_rows(&landings, &order)?;
        let (cols, coefs) = fill_rows(&landings, &order, &row_offsets, basis, gauge)?;
        let (t_offsets, t_rows, t_entries) = transposed_index(&row_offsets, &cols)?;
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
        op.check_structure()
            .map_err(|e| Error::Internal(format!("compiled convolution operator: {e}")))?;
        Ok(op)
    }
}

impl ConvOperator<f32> {
    /// The number of entries (row, column pairs) an operator compiled from `table` stores, whatever
    /// its basis, gauge and scalar type: counted as the compile counts them, without compiling, so
    /// that a caller can size its memory first (an operator takes [`ConvOperator::bytes`], about
    /// `entries · (4·B + 12)` bytes in f32).
    ///
    /// # Errors
    /// [`Error::MeshMismatch`](crate::Error::MeshMismatch) if the table was built for another mesh;
    /// [`Error::InvalidParameter`] if the entries exceed the u32 index range.
    pub fn entry_count(m: &Manifold, table: &ExpMapTable) -> Result<usize> {
        m.check_identity("exp-map table", table.mesh_identity())?;
        // Distinct columns do not depend on how the vertices are numbered or the rows ordered.
        let landings = Landings {
            m,
            table,
            face_ranks: m
                .mesh
                .faces()
                .par_iter()
                .map(|f| f.map(|v| v.raw()))
                .collect(),
            weights: &[],
        };
        let order: Vec<u32> = (0..m.mesh.vertex_count() as u32).collect();
        let offsets = count_rows(&landings, &order)?;
        Ok(*offsets.last().expect("one offset per row and one more") as usize)
    }
}

/// Same counts are not enough (icosphere:2 and grid:18x9 both have 162 vertices): the stages index
/// faces and vertices of their own mesh.
fn check_meshes(m: &Manifold, table: &ExpMapTable, gauge: &Gauge) -> Result<()> {
    m.check_identity("exp-map table", table.mesh_identity())?;
    m.check_identity("gauge", gauge.mesh_identity())
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
    /// The internal column (rank) of each corner of every face: one read per landing face where
    /// the face's vertices and then their ranks would be two reads far apart in memory.
    face_ranks: Vec<[u32; 3]>,
    /// ω_s, read only when the landings themselves are collected (not to count them).
    weights: &'a [f64],
}

/// One weighted corner of a landing face: the row's column slot ([`RowScratch::slot`]), the sample
/// `s` and the weight `ω_s β_{s,k}`.
#[derive(Clone, Copy)]
struct Land {
    slot: u32,
    sample: u32,
    corner: u8,
    weight: f64,
}

/// What one row is built in, reused from row to row: the distinct columns in the order first seen
/// (found through a small open-addressing hash of the column), and the landings.
struct RowScratch {
    /// Column + 1 at each hash position (0: empty), and the slot of that column.
    keys: Vec<u32>,
    slots: Vec<u32>,
    /// The hash positions in use (cleared after each row).
    used: Vec<usize>,
    shift: u32,
    cols: Vec<u32>,
    lands: Vec<Land>,
    /// (column, slot) sorted by column, and the position of each slot in it.
    sorted: Vec<(u32, u32)>,
    position: Vec<u32>,
}

impl RowScratch {
    fn new(samples: usize) -> RowScratch {
        // At most 3 columns per sample: the table never more than half full.
        let bits = (6 * samples).next_power_of_two().trailing_zeros().max(4);
        RowScratch {
            keys: vec![0; 1 << bits],
            slots: vec![0; 1 << bits],
            used: Vec::with_capacity(3 * samples),
            shift: 32 - bits,
            cols: Vec::with_capacity(3 * samples),
            lands: Vec::with_capacity(3 * samples),
            sorted: Vec::with_capacity(3 * samples),
            position: Vec::with_capacity(3 * samples),
        }
    }

    /// The slot of column `q` in this row, a new one if `q` is new.
    #[inline(always)]
    fn slot(&mut self, q: u32) -> u32 {
        let mask = self.keys.len() - 1;
        let mut h = (q.wrapping_mul(0x9e37_79b1) >> self.shift) as usize;
        loop {
            match self.keys[h] {
                0 => {
                    let slot = self.cols.len() as u32;
                    self.keys[h] = q + 1;
                    self.slots[h] = slot;
                    self.used.push(h);
                    self.cols.push(q);
                    return slot;
                }
                k if k == q + 1 => return self.slots[h],
                _ => h = (h + 1) & mask,
            }
        }
    }

    fn clear(&mut self) {
        for &h in &self.used {
            self.keys[h] = 0;
        }
        self.used.clear();
        self.cols.clear();
        self.lands.clear();
    }

    /// Sorts the row's columns: `sorted` lists them in increasing order, `position[slot]` is where.
    fn sort(&mut self) {
        self.sorted.clear();
        self.sorted
            .extend(self.cols.iter().enumerate().map(|(i, &q)| (q, i as u32)));
        self.sorted.sort_unstable();
        self.position.clear();
        self.position.resize(self.cols.len(), 0);
        for (i, &(_, slot)) in self.sorted.iter().enumerate() {
            self.position[slot as usize] = i as u32;
        }
    }
}

impl Landings<'_> {
    /// Collects into `row` the distinct columns of the corners of vertex p's landing faces that
    /// carry weight and, if `lands`, every such corner with its weight, sample by sample and corner by
    /// corner (the order the coefficients are summed in). Truncated samples follow the table's
    /// [`Padding`] policy.
    fn collect(&self, p: usize, row: &mut RowScratch, lands: bool) {
        row.clear();
        let ns = self.table.samples_per_vertex();
        let range = p * ns..(p + 1) * ns;
        let faces = &self.table.landing_faces()[range.clone()];
        let barys = &self.table.landing_barys()[range.clone()];
        let flags = &self.table.flags()[range];
        let zero = self.table.padding() == Padding::Zero;
        // Consecutive samples (outward along one direction) often land in the same face: its
        // corners' slots are kept until another face comes (u32::MAX: not looked up yet).
        let mut last = (u32::MAX, [u32::MAX; 3]);
        for s in 0..ns {
            if zero && flags[s] & FLAG_TRUNCATED != 0 {
                continue;
            }
            if faces[s] != last.0 {
                last = (faces[s], [u32::MAX; 3]);
            }
            // The table stores two coordinates in f32; the third in f64 makes the three sum to 1
            // to f64 rounding (a partition of unity: a constant signal stays constant).
            let (b0, b1) = (barys[s][0] as f64, barys[s][1] as f64);
            for (k, beta) in [b0, b1, 1.0 - b0 - b1].into_iter().enumerate() {
                if beta == 0.0 {
                    continue;
                }
                if last.1[k] == u32::MAX {
                    last.1[k] = row.slot(self.face_ranks[faces[s] as usize][k]);
                }
                if lands {
                    row.lands.push(Land {
                        slot: last.1[k],
                        sample: s as u32,
                        corner: k as u8,
                        weight: self.weights[s] * beta,
                    });
                }
            }
        }
    }
}

/// The row offsets: row `i` (vertex `order[i]`) holds one entry per distinct landing corner.
///
/// # Errors
/// [`Error::InvalidParameter`] if the entries exceed the u32 index range.
fn count_rows(landings: &Landings, order: &[u32]) -> Result<Vec<u32>> {
    let ns = landings.table.samples_per_vertex();
    // In the rows' order: neighbouring rows read neighbouring faces and vertices.
    let row_nnz: Vec<u32> = order
        .par_chunks(ROWS)
        .flat_map_iter(|rows| {
            let mut row = RowScratch::new(ns);
            rows.iter()
                .map(|&p| {
                    landings.collect(p as usize, &mut row, false);
                    row.cols.len() as u32
                })
                .collect::<Vec<u32>>()
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

/// The table's samples as a polar grid: the radius of every ring (in units of the disc radius) and
/// the angle of every direction, if the samples are one (sample `j·R + i` at ring `i`, direction
/// `j`, as the table builds them).
fn sample_grid(table: &ExpMapTable) -> Option<(Vec<f64>, Vec<f64>)> {
    let (nr, na) = (table.rings(), table.directions());
    let (radii, angles) = (table.sample_radii(), table.sample_angles());
    let ring_radii: Vec<f64> = radii[..nr].to_vec();
    let directions: Vec<f64> = (0..na).map(|j| angles[j * nr]).collect();
    let is_grid = (0..na).all(|j| {
        (0..nr).all(|i| radii[j * nr + i] == ring_radii[i] && angles[j * nr + i] == directions[j])
    });
    let rho = table.radius();
    is_grid.then(|| (ring_radii.iter().map(|r| r / rho).collect(), directions))
}

/// The basis at every sample of a row, and for each sample the range of functions that are nonzero
/// there (a polar bin has one).
struct SampleValues {
    values: Vec<f64>,
    support: Vec<(u32, u32)>,
}

impl SampleValues {
    /// Evaluates a sampled basis at the samples of a vertex with inverse gauge `g_inv`: once per
    /// vertex on the table's grid where it is one, else sample by sample.
    fn eval(
        &mut self,
        basis: &dyn SampledBasis,
        table: &ExpMapTable,
        grid: &Option<(Vec<f64>, Vec<f64>)>,
        g_inv: O2,
        angles: &mut Vec<f64>,
    ) {
        let nb = basis.len();
        match grid {
            Some((radii, directions)) => {
                angles.clear();
                angles.extend(directions.iter().map(|&t| g_inv.apply(t)));
                basis.eval_grid(radii, angles, &mut self.values);
            }
            None => {
                let (radii, thetas) = (table.sample_radii(), table.sample_angles());
                for (s, v) in self.values.chunks_exact_mut(nb).enumerate() {
                    basis.eval(radii[s] / table.radius(), g_inv.apply(thetas[s]), v);
                }
            }
        }
        for (v, support) in self.values.chunks_exact(nb).zip(&mut self.support) {
            let lo = v.iter().position(|&x| x != 0.0).unwrap_or(0);
            let hi = v.iter().rposition(|&x| x != 0.0).map_or(lo, |i| i + 1);
            *support = (lo as u32, hi as u32);
        }
    }
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
) -> Result<(Vec<u32>, Vec<T>)> {
    let table = landings.table;
    let n = order.len();
    let nb = basis.len();
    let nnz = row_offsets[n] as usize;
    let ns = table.samples_per_vertex();
    let grid = sample_grid(table);
    let mut cols = try_zeroed::<u32>(nnz, "the operator's columns")?;
    let mut coefs = try_zeroed_real::<T>(nnz * nb, "the operator's coefficients")?;
    let spans: Vec<usize> = (0..n.div_ceil(ROWS))
        .map(|b| (row_offsets[((b + 1) * ROWS).min(n)] - row_offsets[b * ROWS]) as usize)
        .collect();
    let col_blocks = crate::disjoint::split_lengths(&mut cols, spans.iter().copied());
    let coef_blocks = crate::disjoint::split_lengths(&mut coefs, spans.iter().map(|&l| l * nb));
    let transports = gauge.transports();
    col_blocks
        .into_par_iter()
        .zip(coef_blocks)
        .enumerate()
        .for_each(|(blk, (cols, coefs))| {
            let mut row = RowScratch::new(ns);
            let mut values = SampleValues {
                values: vec![0.0; ns * nb],
                support: vec![(0, nb as u32); ns],
            };
            let mut angles = Vec::new();
            let (mut one, mut scratch, mut corners) = (Vec::new(), Vec::new(), Vec::new());
            let mut sums: Vec<f64> = Vec::new();
            let mut j = 0;
            for i in blk * ROWS..((blk + 1) * ROWS).min(n) {
                let p = order[i] as usize;
                let g_inv = transports[p].inverse();
                landings.collect(p, &mut row, true);
                row.sort();
                let width = row.cols.len();
                sums.clear();
                sums.resize(width * nb, 0.0);
                match basis {
                    Basis::Sampled(basis) => {
                        values.eval(basis, table, &grid, g_inv, &mut angles);
                        for l in &row.lands {
                            let s = l.sample as usize;
                            let (lo, hi) = values.support[s];
                            let (lo, hi) = (lo as usize, hi as usize);
                            let at = row.position[l.slot as usize] as usize * nb;
                            let v = &values.values[s * nb + lo..s * nb + hi];
                            for (a, &x) in sums[at + lo..at + hi].iter_mut().zip(v) {
                                *a += l.weight * x;
                            }
                        }
                    }
                    Basis::Transported(basis, tracer) => {
                        // The lands come sample by sample: each sample's corners evaluated at once.
                        for lands in row.lands.chunk_by(|a, b| a.sample == b.sample) {
                            let s = lands[0].sample as usize;
                            let (r, theta) = (
                                table.sample_radii()[s] / table.radius(),
                                g_inv.apply(table.sample_angles()[s]),
                            );
                            let e = table.entry(p, s);
                            corners.clear();
                            corners.extend(lands.iter().map(|l| {
                                let q = row.cols[l.slot as usize];
                                carried_by(landings, tracer, p, &e, (q, l.corner), order, gauge)
                            }));
                            one.resize(lands.len() * nb, 0.0);
                            basis.eval_corners(r, theta, &corners, &mut scratch, &mut one);
                            for (l, v) in lands.iter().zip(one.chunks_exact(nb)) {
                                let at = row.position[l.slot as usize] as usize * nb;
                                for (a, &x) in sums[at..at + nb].iter_mut().zip(v) {
                                    *a += l.weight * x;
                                }
                            }
                        }
                    }
                }
                for (k, &(q, _)) in row.sorted.iter().enumerate() {
                    cols[j + k] = q;
                }
                for (c, &a) in coefs[j * nb..(j + width) * nb].iter_mut().zip(&sums) {
                    *c = T::from_f64(a);
                }
                j += width;
            }
        });
    Ok((cols, coefs))
}

/// How corner `corner` (column `q`) of the landing face of `p`'s table entry `e` sees the geodesic:
/// `(ψ, σ)`, with ψ its direction at the corner in the corner's gauge and σ = −1 where the
/// transport from the corner to `p` (composed with both gauges) reverses orientation. (The
/// arguments a transported basis takes besides the sample's `(r/ρ, Γ_p⁻¹θ)`.)
fn carried_by(
    landings: &Landings,
    tracer: &Tracer<'_>,
    p: usize,
    e: &TableEntry,
    (q, corner): (u32, u8),
    order: &[u32],
    gauge: &Gauge,
) -> (f64, f64) {
    let m = landings.m;
    let transports = gauge.transports();
    let c = 3 * e.face.index() + corner as usize;
    let g_q = transports[order[q as usize] as usize];
    let psi = tracer.corner_polar_angle(c, e.transported_angle as f64);
    let flip = e.mirrored
        ^ m.mesh.corner_flipped(HalfedgeId::new(c))
        ^ transports[p].reflect
        ^ g_q.reflect;
    (g_q.inverse().apply(psi), if flip { -1.0 } else { 1.0 })
}

/// Columns per task of [`transposed_index`]'s sort.
const COLS: usize = 4096;

/// The transposed index: for each column q, the (row p, entry j) pairs that read it, in increasing
/// p. A parallel counting sort: the columns counted, each entry placed through its column's cursor
/// (atomic: tasks race for places only within a column), then each column's places sorted (entries
/// of a row are contiguous and rows in order, so by entry is by row): the result does not depend on
/// the threads.
fn transposed_index(row_offsets: &[u32], cols: &[u32]) -> Result<(Vec<u32>, Vec<u32>, Vec<u32>)> {
    let n = row_offsets.len() - 1;
    let nnz = cols.len();
    let cursors: Vec<AtomicU32> = (0..n).into_par_iter().map(|_| AtomicU32::new(0)).collect();
    cols.par_chunks(ROWS * 64).for_each(|chunk| {
        for &q in chunk {
            cursors[q as usize].fetch_add(1, Ordering::Relaxed);
        }
    });
    let mut t_offsets = Vec::with_capacity(n + 1);
    t_offsets.push(0u32);
    for c in &cursors {
        let start = *t_offsets.last().unwrap();
        t_offsets.push(start + c.load(Ordering::Relaxed));
        c.store(start, Ordering::Relaxed);
    }
    let mut t_rows = try_zeroed::<u32>(nnz, "the operator's transposed rows")?;
    let mut t_entries = try_zeroed::<u32>(nnz, "the operator's transposed entries")?;
    {
        let (rows_out, entries_out) = (
            DisjointWrites::new(&mut t_rows),
            DisjointWrites::new(&mut t_entries),
        );
        (0..n.div_ceil(ROWS)).into_par_iter().for_each(|b| {
            for p in b * ROWS..((b + 1) * ROWS).min(n) {
                for j in row_offsets[p]..row_offsets[p + 1] {
                    let q = cols[j as usize] as usize;
                    let at = cursors[q].fetch_add(1, Ordering::Relaxed) as usize;
                    // SAFETY: each place of column q is handed out once by its cursor, which ends
                    // at the column's end (its count), so no two writes share an index.
                    unsafe {
                        rows_out.write(at, &[p as u32]);
                        entries_out.write(at, &[j]);
                    }
                }
            }
        });
    }
    drop(cursors);
    let spans: Vec<usize> = (0..n.div_ceil(COLS))
        .map(|b| (t_offsets[((b + 1) * COLS).min(n)] - t_offsets[b * COLS]) as usize)
        .collect();
    let row_blocks = crate::disjoint::split_lengths(&mut t_rows, spans.iter().copied());
    let entry_blocks = crate::disjoint::split_lengths(&mut t_entries, spans.iter().copied());
    row_blocks
        .into_par_iter()
        .zip(entry_blocks)
        .enumerate()
        .for_each(|(b, (rows, entries))| {
            let base = t_offsets[b * COLS];
            let mut pairs: Vec<(u32, u32)> = Vec::new();
            for q in b * COLS..((b + 1) * COLS).min(n) {
                let r = (t_offsets[q] - base) as usize..(t_offsets[q + 1] - base) as usize;
                if entries[r.clone()].windows(2).all(|w| w[0] < w[1]) {
                    continue;
                }
                pairs.clear();
                pairs.extend(
                    entries[r.clone()]
                        .iter()
                        .copied()
                        .zip(rows[r.clone()].iter().copied()),
                );
                pairs.sort_unstable();
                for (k, &(e, p)) in r.zip(&pairs) {
                    entries[k] = e;
                    rows[k] = p;
                }
            }
        });
    Ok((t_offsets, t_rows, t_entries))
}
