//! Compiling a [`ConvOperator`] from an exp-map table, a basis and a gauge, in named steps:
//!
//! 1. [`check_meshes`]: the table and the gauge were built for this mesh;
//! 2. [`locality_order`]: the order of the rows (and its inverse, the rank of every vertex);
//! 3. [`sample_weights`]: the quadrature weight ω_s of every sample;
//! 4. [`count_rows`] on an even sample of [`LAYOUT_SAMPLE_ROWS`] rows: the number of distinct
//!    neighbours and, for a sampled basis, of the neighbours where each function can be nonzero:
//!    the bytes of both [`Layout`]s, which choose the layout (unless one is asked for:
//!    [`Counts::choice`]);
//! 5. [`fill_rows`]: every row's columns and coefficients, in parallel blocks appended in order
//!    (stored per function with a basis that partitions the disc, such as polar bins, one sum per
//!    (function, column) pair: [`Landings::collect_pairs`]). A row's columns are stored in the
//!    order its samples first reach them: nothing reads them in column order, and sorting them
//!    was an eighth of the compile on icosphere:8;
//! 6. [`transposed_index`]: for every column, the entries that read it (for the backward pass).
//!
//! The coefficient of row `p`, column `q`, basis function `b` is
//! `Σ_s Σ_{k: corner k of s's landing face is q} ω_s β_{s,k} k_b(r_s/ρ, Γ_p⁻¹θ_s)` (see
//! [`ConvOperator`]).

use super::super::gauge::Gauge;
use super::super::real::Real;
use super::{ConvOperator, ConvOptions, Layout, Quadrature, SampledBasis, TransportedBasis};
use crate::disjoint::DisjointWrites;
use crate::error::{Error, Result};
use crate::expmap::{ExpMapTable, Padding, TableEntry, Tracer, FLAG_TRUNCATED, MAX_SAMPLES};
use crate::ids::HalfedgeId;
use crate::large_alloc::{try_append, try_with_capacity, try_zeroed};
use crate::transport::O2;
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
            return Err(no_functions());
        }
        let (order, rank, face_ranks) = row_order(m, gauge);
        let weights = sample_weights(table, options.quadrature);
        let landings = Landings {
            m,
            table,
            face_ranks,
            weights: &weights,
        };
        let grid = sample_grid(table);
        let (layout, counts) =
            choose_layout::<T>(&landings, &order, basis, &grid, gauge, options, false)?;
        let expected = counts.and_then(|(c, rows)| c.extrapolated(layout, rows, n));
        let (row_offsets, cols, coefs) =
            fill_rows(&landings, &order, basis, &grid, gauge, layout, expected)?;
        let (t_offsets, t_rows, t_entries) =
            transposed_index(&row_offsets, &cols, layout.stack(nb))?;
        let op = ConvOperator {
            mesh: m.identity(),
            vertices: n,
            basis: nb,
            quadrature: options.quadrature,
            layout,
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

/// A basis of no functions, refused.
fn no_functions() -> Error {
    Error::InvalidParameter {
        name: "basis",
        message: "no basis functions".into(),
    }
}

/// The sum of `counts`.
fn total(counts: &[u32]) -> u64 {
    counts.iter().map(|&x| x as u64).sum()
}

/// The order of the rows (see [`locality_order`]), the rank of every vertex in it, and the ranks
/// of every face's corners (the columns its landings add to).
fn row_order(m: &Manifold, gauge: &Gauge) -> (Vec<u32>, Vec<u32>, Vec<[u32; 3]>) {
    let order = locality_order(m, gauge);
    let mut rank = vec![0u32; order.len()];
    for (i, &v) in order.iter().enumerate() {
        rank[v as usize] = i as u32;
    }
    let face_ranks = m
        .mesh
        .faces()
        .par_iter()
        .map(|f| f.map(|v| rank[v.index()]))
        .collect();
    (order, rank, face_ranks)
}

/// The layout a compile stores: the one asked for, else the one [`Counts::choice`] takes from the
/// rows counted on an even sample of [`LAYOUT_SAMPLE_ROWS`] of `order` (all of them on smaller
/// meshes). The counts, with the number of rows counted, where counted (always with `count`).
fn choose_layout<T>(
    landings: &Landings,
    order: &[u32],
    basis: Basis<'_>,
    grid: &Option<(Vec<f64>, Vec<f64>)>,
    gauge: &Gauge,
    options: &ConvOptions,
    count: bool,
) -> Result<(Layout, Option<(Counts, usize)>)> {
    let nb = basis.len();
    // Per function needs the nonzero pattern of every sample: a sampled basis, one u64 mask.
    let sampled = match basis {
        Basis::Sampled(b) if nb <= MASK_BITS => Some(b),
        _ => None,
    };
    if let (Some(Layout::PerFunction), None) = (options.layout, sampled) {
        return Err(Error::InvalidParameter {
            name: "layout",
            message: format!(
                "the per-function layout needs a sampled basis of at most {MASK_BITS} functions \
                 (this one: {} with {nb})",
                match basis {
                    Basis::Sampled(_) => "sampled",
                    Basis::Transported(..) => "transported",
                }
            ),
        });
    }
    let counts = if count || (options.layout.is_none() && sampled.is_some()) {
        // Counted on an even sample of the rows: both layouts' bytes per row are alike everywhere
        // on a mesh, and a wrong pick where they are close costs little.
        let step = order.len().div_ceil(LAYOUT_SAMPLE_ROWS).max(1);
        let sample: Vec<u32> = order.iter().step_by(step).copied().collect();
        let masked = sampled.map(|b| Masked {
            basis: b,
            grid,
            gauge,
        });
        Some((count_rows(landings, &sample, masked)?, sample.len()))
    } else {
        None
    };
    let layout = match (options.layout, &counts) {
        (Some(layout), _) => layout,
        (None, Some((c, _))) => c.choice::<T>(nb),
        (None, None) => Layout::Blocks,
    };
    Ok((layout, counts))
}

impl ConvOperator<f32> {
    /// The number of (row, column) entries an operator compiled from `table` stores in
    /// [`Layout::Blocks`], whatever its basis, gauge and scalar type: counted as the compile counts
    /// them, without compiling ([`max_bytes`](Self::max_bytes) sizes memory from it).
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
        let nnz = total(&count_rows(&landings, &order, None)?.per_row);
        check_entry_range(nnz, "")?;
        Ok(nnz as usize)
    }

    /// The bytes ([`ConvOperator::bytes`]) of the f32 operator
    /// [`with_options`](Self::with_options) compiles from these arguments, estimated without
    /// compiling: its layout chosen as the compile chooses it, its entries counted on the rows the
    /// compile counts to choose (an even sample of 4,096; all of them on smaller meshes, where the
    /// estimate is exact) and scaled to every row. For sizing memory before compiling without a
    /// pass over every row: [`max_bytes`](Self::max_bytes) makes one for the exact bytes of the
    /// blocks layout, which the compile never exceeds (a per-function operator of polar bins takes
    /// about a third of them).
    ///
    /// # Errors
    /// As [`with_options`](Self::with_options) where it refuses its arguments.
    pub fn estimated_bytes(
        m: &Manifold,
        table: &ExpMapTable,
        basis: &dyn SampledBasis,
        gauge: &Gauge,
        options: &ConvOptions,
    ) -> Result<u64> {
        check_meshes(m, table, gauge)?;
        let (n, nb) = (m.mesh.vertex_count(), basis.len());
        if nb == 0 {
            return Err(no_functions());
        }
        let (order, _, face_ranks) = row_order(m, gauge);
        let landings = Landings {
            m,
            table,
            face_ranks,
            weights: &[],
        };
        let grid = sample_grid(table);
        let basis = Basis::Sampled(basis);
        let (layout, counts) =
            choose_layout::<f32>(&landings, &order, basis, &grid, gauge, options, true)?;
        let (counts, rows) = counts.expect("counted where asked");
        // A layout stored per function was counted per function (a sampled basis, masks).
        let entries = counts
            .extrapolated(layout, rows, n)
            .expect("the chosen layout counted");
        Ok(layout_bytes::<f32>(layout, entries, n, nb))
    }

    /// The most bytes ([`ConvOperator::bytes`]) an f32 operator of `basis_len` functions compiled
    /// from `table` takes: its size in [`Layout::Blocks`], since the compile stores per function only
    /// where that is smaller. For sizing memory before compiling.
    ///
    /// # Errors
    /// As [`entry_count`](Self::entry_count).
    pub fn max_bytes(m: &Manifold, table: &ExpMapTable, basis_len: usize) -> Result<u64> {
        let entries = Self::entry_count(m, table)? as u64;
        Ok(layout_bytes::<f32>(
            Layout::Blocks,
            entries,
            m.mesh.vertex_count(),
            basis_len,
        ))
    }
}

/// The bytes of an operator of `entries` stored entries on `n` vertices with `nb` functions in
/// `layout`, as [`ConvOperator::bytes`] counts them: per entry its column, its coefficients and its
/// place in the transposed index (row and entry); the two offset arrays.
fn layout_bytes<T>(layout: Layout, entries: u64, n: usize, nb: usize) -> u64 {
    let stack = layout.stack(nb);
    let per = (nb / stack) as u64;
    entries * (12 + std::mem::size_of::<T>() as u64 * per) + 8 * (n as u64 * stack as u64 + 1)
}

/// [`Error::InvalidParameter`] if `nnz` entries (`qualifier`: how the count is known) exceed the
/// u32 range of the operator's indices.
fn check_entry_range(nnz: u64, qualifier: &str) -> Result<()> {
    if nnz > u32::MAX as u64 {
        return Err(Error::InvalidParameter {
            name: "table",
            message: format!("{qualifier}{nnz} operator entries exceed the u32 index range"),
        });
    }
    Ok(())
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

/// The largest share of the blocks' bytes at which the compile stores per function. Its stored rows
/// read a column index per coefficient and B rows per vertex, so a small saving of bytes does not
/// pay: on bull ×4 an SO(2)-constrained basis of 2 rings took 5.6 % fewer bytes per function and its
/// passes were 8–20 % slower; 16 bins take 65 % fewer and are 1.3–1.7× faster (BENCHMARKS.md).
const PER_FUNCTION_SHARE: (u64, u64) = (3, 4);

/// Rows the compile counts to choose the layout (all of them on smaller meshes).
const LAYOUT_SAMPLE_ROWS: usize = 4096;

/// Functions a [`Layout::PerFunction`] operator can have: which are nonzero at a sample is one `u64`.
const MASK_BITS: usize = 64;

/// What the count needs to know which functions can be nonzero at each neighbour: the sampled basis
/// evaluated at every row's samples as the fill evaluates it.
#[derive(Clone, Copy)]
struct Masked<'a> {
    basis: &'a dyn SampledBasis,
    grid: &'a Option<(Vec<f64>, Vec<f64>)>,
    gauge: &'a Gauge,
}

/// What [`count_rows`] found: per row its distinct neighbours and, where counted, per (row,
/// function) the neighbours where the function is nonzero at some landing sample.
struct Counts {
    per_row: Vec<u32>,
    per_function: Option<Vec<u32>>,
}

impl Counts {
    /// Per function where it takes at most [`PER_FUNCTION_SHARE`] of the blocks' bytes (never
    /// where functions were not counted), else blocks.
    fn choice<T>(&self, nb: usize) -> Layout {
        let Some(per_function) = self.entries(Layout::PerFunction) else {
            return Layout::Blocks;
        };
        let n = self.per_row.len();
        let blocks = layout_bytes::<T>(Layout::Blocks, total(&self.per_row), n, nb);
        let functions = layout_bytes::<T>(Layout::PerFunction, per_function, n, nb);
        let (num, den) = PER_FUNCTION_SHARE;
        if functions * den <= blocks * num {
            Layout::PerFunction
        } else {
            Layout::Blocks
        }
    }

    /// The entries in `layout` of all `n` rows, from those of the `rows` counted.
    fn extrapolated(&self, layout: Layout, rows: usize, n: usize) -> Option<u64> {
        let entries = self.entries(layout)?;
        Some((entries * n as u64).div_ceil(rows.max(1) as u64))
    }

    /// The counted rows' entries in `layout` (per function: where functions were counted).
    fn entries(&self, layout: Layout) -> Option<u64> {
        match layout {
            Layout::Blocks => Some(total(&self.per_row)),
            Layout::PerFunction => self.per_function.as_deref().map(total),
        }
    }
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

/// Bits of a slot in a [`SlotMap`]'s table: a row has at most 3 · [`MAX_SAMPLES`] slots.
const SLOT_BITS: u32 = 20;
const _: () = assert!(3 * MAX_SAMPLES < 1 << SLOT_BITS);

/// Slots numbered in the order their keys are first seen, found through a small open-addressing
/// hash; reused from row to row. A lookup takes no branch on whether its key is new (half of a
/// row's lookups are, in no pattern a branch predictor could learn), and reads and writes one
/// word of the table.
struct SlotMap {
    /// At each hash position 0 (empty) or (key + 1) · 2^[`SLOT_BITS`] + the key's slot.
    table: Vec<u64>,
    /// The key of each slot, for the first `len` slots (one more place than the map holds keys:
    /// a lookup writes there whether or not its key is new).
    keys: Vec<u64>,
    len: usize,
    shift: u32,
}

impl SlotMap {
    /// A map for at most `len` (< 2^[`SLOT_BITS`]) keys below 2^(63 − [`SLOT_BITS`]): its table
    /// never more than half full.
    fn new(len: usize) -> SlotMap {
        assert!(len < 1 << SLOT_BITS, "{len} slots");
        let bits = (2 * len).next_power_of_two().trailing_zeros().max(4);
        SlotMap {
            table: vec![0; 1 << bits],
            keys: vec![0; len + 1],
            len: 0,
            shift: 64 - bits,
        }
    }

    /// The slot of `key` (a new one, numbered `len()`, if it is new).
    #[inline(always)]
    fn slot(&mut self, key: u64) -> u32 {
        const SLOT: u64 = (1 << SLOT_BITS) - 1;
        debug_assert!(key < 1 << (63 - SLOT_BITS), "key {key}");
        let mask = self.table.len() - 1;
        let tag = (key + 1) << SLOT_BITS;
        let mut h = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize;
        // Past other keys (few: the table is at most half full).
        while self.table[h] != 0 && self.table[h] & !SLOT != tag {
            h = (h + 1) & mask;
        }
        let found = self.table[h];
        let new = found == 0;
        let slot = if new { self.len as u64 } else { found & SLOT };
        self.table[h] = tag | slot;
        self.keys[self.len] = key;
        self.len += new as usize;
        slot as u32
    }

    /// The most keys the map holds.
    fn capacity(&self) -> usize {
        self.keys.len() - 1
    }

    /// The keys in slot order.
    fn keys(&self) -> &[u64] {
        &self.keys[..self.len]
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Empties the map: the whole table zeroed (a few kilobytes, cheaper than noting where each
    /// key went).
    fn clear(&mut self) {
        self.table.fill(0);
        self.len = 0;
    }
}

/// What one row's columns are gathered in, reused from row to row: its distinct columns in the
/// order first seen (slots keyed by column), the order they are stored in.
struct RowScratch {
    map: SlotMap,
}

impl RowScratch {
    fn new(samples: usize) -> RowScratch {
        // At most 3 columns per sample.
        RowScratch {
            map: SlotMap::new(3 * samples),
        }
    }

    /// The slot of column `q` in this row, a new one if `q` is new.
    #[inline(always)]
    fn slot(&mut self, q: u32) -> u32 {
        self.map.slot(q as u64)
    }

    /// The column of `slot`.
    fn col(&self, slot: u32) -> u32 {
        self.map.keys()[slot as usize] as u32
    }

    /// The row's distinct columns, slot by slot.
    fn cols(&self) -> impl Iterator<Item = u32> + '_ {
        self.map.keys().iter().map(|&q| q as u32)
    }

    /// The row's distinct columns.
    fn len(&self) -> usize {
        self.map.len()
    }
}

/// The slot-map key of column `q` of function `b` (< [`MASK_BITS`]): a row stored per function
/// with a basis that partitions the disc (polar bins) is gathered by (function, column) pair.
#[inline(always)]
fn pair_key(q: u32, b: u32) -> u64 {
    (b as u64) << 32 | q as u64
}

/// One vertex's entries in the exp-map table, as the compile reads them.
struct RowSamples<'t> {
    faces: &'t [u32],
    barys: &'t [[f32; 2]],
    flags: &'t [u8],
    /// Whether truncated samples weigh nothing ([`Padding::Zero`]).
    zero: bool,
}

impl RowSamples<'_> {
    /// Whether sample s lands (a truncated one as the table's [`Padding`] policy says).
    #[inline(always)]
    fn lands(&self, s: usize) -> bool {
        !(self.zero && self.flags[s] & FLAG_TRUNCATED != 0)
    }

    /// The barycentric weights of sample s's landing corners. The table stores two coordinates in
    /// f32; the third in f64 makes the three sum to 1 to f64 rounding (a partition of unity: a
    /// constant signal stays constant).
    #[inline(always)]
    fn betas(&self, s: usize) -> [f64; 3] {
        let (b0, b1) = (self.barys[s][0] as f64, self.barys[s][1] as f64);
        [b0, b1, 1.0 - b0 - b1]
    }
}

impl Landings<'_> {
    /// Vertex p's entries in the table.
    #[inline(always)]
    fn row(&self, p: usize) -> RowSamples<'_> {
        let ns = self.table.samples_per_vertex();
        let range = p * ns..(p + 1) * ns;
        RowSamples {
            faces: &self.table.landing_faces()[range.clone()],
            barys: &self.table.landing_barys()[range.clone()],
            flags: &self.table.flags()[range],
            zero: self.table.padding() == Padding::Zero,
        }
    }

    /// Collects into `row` (cleared first) the distinct columns of the corners of vertex p's
    /// landing faces that carry weight, and hands every such corner to `each` as (slot, sample,
    /// corner, barycentric weight), sample by sample and corner by corner (the order the
    /// coefficients are summed in; slots are numbered as first seen). Truncated samples follow the
    /// table's [`Padding`] policy.
    #[inline(always)]
    fn collect(&self, p: usize, row: &mut RowScratch, mut each: impl FnMut(u32, u32, u8, f64)) {
        row.map.clear();
        let samples = self.row(p);
        // Consecutive samples (outward along one direction) often land in the same face: its
        // corners' slots are kept until another face comes (u32::MAX: not looked up yet).
        let mut last = (u32::MAX, [u32::MAX; 3]);
        for s in 0..samples.faces.len() {
            if !samples.lands(s) {
                continue;
            }
            let (face, betas) = (samples.faces[s], samples.betas(s));
            if face != last.0 {
                last = (face, [u32::MAX; 3]);
            }
            for (k, beta) in betas.into_iter().enumerate() {
                if beta == 0.0 {
                    continue;
                }
                if last.1[k] == u32::MAX {
                    last.1[k] = row.slot(self.face_ranks[face as usize][k]);
                }
                each(last.1[k], s as u32, k as u8, beta);
            }
        }
    }

    /// The sums of vertex p's (function, column) pairs where every sample weighs one function at
    /// most (`values.functions`): `sums[slot]` for the pairs in `pairs` (keyed by [`pair_key`],
    /// cleared first; `sums`
    /// zero past them), each summed in the order [`collect`](Self::collect) hands its corners
    /// over (the blocks' sums, to the bit). A ray crossing into a neighbouring face with the same
    /// function keeps the slots of the corners the faces share (chosen without a branch): a hash
    /// lookup only for the corner it has not seen.
    fn collect_pairs(
        &self,
        p: usize,
        values: &SampleValues,
        pairs: &mut SlotMap,
        sums: &mut Vec<f64>,
    ) {
        pairs.clear();
        // Zero for every slot the row can have: a new slot needs no branch to be made.
        sums.clear();
        sums.resize(pairs.capacity(), 0.0);
        // The face and function of the current run, its corners' columns (u32::MAX: none) and
        // their slots (u32::MAX: not looked up yet).
        let (mut face, mut function) = (u32::MAX, u32::MAX);
        let mut cols = [u32::MAX; 3];
        let mut slots = [u32::MAX; 3];
        let samples = self.row(p);
        for s in 0..samples.faces.len() {
            if !samples.lands(s) {
                continue;
            }
            let Some((b, v)) = values.functions[s] else {
                continue;
            };
            let (landing, betas) = (samples.faces[s], samples.betas(s));
            let b = b as u32;
            if (landing, b) != (face, function) {
                let next = self.face_ranks[landing as usize];
                // Another function shares no slot.
                let old = if b == function { cols } else { [u32::MAX; 3] };
                let mut kept = [u32::MAX; 3];
                for k in 0..3 {
                    for j in 0..3 {
                        kept[k] = if next[k] == old[j] { slots[j] } else { kept[k] };
                    }
                }
                (face, function, cols, slots) = (landing, b, next, kept);
            }
            for (k, beta) in betas.into_iter().enumerate() {
                if beta == 0.0 {
                    continue;
                }
                if slots[k] == u32::MAX {
                    slots[k] = pairs.slot(pair_key(cols[k], b));
                }
                sums[slots[k] as usize] += self.weights[s] * beta * v;
            }
        }
    }
}

/// `masks[slot]` for a row's slots as they appear: the functions nonzero at some sample landing
/// there, given `sample_masks`, those nonzero at each sample.
#[inline(always)]
fn or_mask(masks: &mut Vec<u64>, slot: u32, sample_mask: u64) {
    if slot as usize == masks.len() {
        masks.push(0);
    }
    masks[slot as usize] |= sample_mask;
}

/// Per row `i` (vertex `order[i]`) its distinct landing corners and, given `masked`, per function
/// the corners where it is nonzero at some sample landing there: the entries of the two layouts.
fn count_rows(landings: &Landings, order: &[u32], masked: Option<Masked>) -> Result<Counts> {
    let table = landings.table;
    let ns = table.samples_per_vertex();
    let nb = masked.map_or(0, |m| m.basis.len());
    // In the rows' order: neighbouring rows read neighbouring faces and vertices.
    let blocks: Vec<(Vec<u32>, Vec<u32>)> = order
        .par_chunks(ROWS)
        .map(|rows| {
            let mut row = RowScratch::new(ns);
            let mut values = SampleValues::new(ns, nb);
            let (mut angles, mut masks) = (Vec::new(), Vec::new());
            let mut per_row = Vec::with_capacity(rows.len());
            let mut per_function = Vec::with_capacity(rows.len() * nb);
            for &p in rows {
                match masked {
                    Some(m) => {
                        let g_inv = m.gauge.transports()[p as usize].inverse();
                        values.eval(m.basis, table, m.grid, g_inv, &mut angles, false);
                        masks.clear();
                        let sample_masks = &values.masks;
                        landings.collect(p as usize, &mut row, |slot, s, _, _| {
                            or_mask(&mut masks, slot, sample_masks[s as usize])
                        });
                        let start = per_function.len();
                        per_function.resize(start + nb, 0u32);
                        for &mask in &masks {
                            for_each_bit(mask, |b| per_function[start + b] += 1);
                        }
                    }
                    None => landings.collect(p as usize, &mut row, |_, _, _, _| {}),
                }
                per_row.push(row.len() as u32);
            }
            (per_row, per_function)
        })
        .collect();
    let mut counts = Counts {
        per_row: Vec::with_capacity(order.len()),
        per_function: masked.map(|_| Vec::with_capacity(order.len() * nb)),
    };
    for (r, f) in blocks {
        counts.per_row.extend(r);
        if let Some(c) = &mut counts.per_function {
            c.extend(f);
        }
    }
    Ok(counts)
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
    /// Bit b set where function b is nonzero (with at most [`MASK_BITS`] functions).
    masks: Vec<u64>,
    /// Where asked (`partition` of [`eval`](Self::eval)): whether at most one function is nonzero
    /// at every sample (named by the basis, or found from the masks), and then that function and
    /// its value at each sample. False where not asked.
    single: bool,
    functions: Vec<Option<(usize, f64)>>,
}

impl SampleValues {
    fn new(samples: usize, nb: usize) -> SampleValues {
        SampleValues {
            values: vec![0.0; samples * nb],
            support: vec![(0, nb as u32); samples],
            masks: vec![0; samples],
            single: false,
            functions: vec![None; samples],
        }
    }

    /// Evaluates a sampled basis at the samples of a vertex with inverse gauge `g_inv`: once per
    /// vertex on the table's grid where it is one, else sample by sample. With `partition` (the
    /// caller sums per (function, column) pair where it can), `functions` too where at most one
    /// function is nonzero at every sample: named by the basis
    /// ([`SampledBasis::eval_grid_partition`]) without the B values per sample, or found from
    /// them.
    fn eval(
        &mut self,
        basis: &dyn SampledBasis,
        table: &ExpMapTable,
        grid: &Option<(Vec<f64>, Vec<f64>)>,
        g_inv: O2,
        angles: &mut Vec<f64>,
        partition: bool,
    ) {
        let nb = basis.len();
        match grid {
            Some((radii, directions)) => {
                angles.clear();
                angles.extend(directions.iter().map(|&t| g_inv.apply(t)));
                if partition && basis.eval_grid_partition(radii, angles, &mut self.functions) {
                    // A zero is no function, as in the masks; a function the basis does not have
                    // is its mistake, and then its values are taken.
                    let mut known = true;
                    for f in &mut self.functions {
                        if let Some((b, v)) = *f {
                            known &= b < nb;
                            if v == 0.0 {
                                *f = None;
                            }
                        }
                    }
                    if known {
                        self.single = true;
                        return;
                    }
                }
                basis.eval_grid(radii, angles, &mut self.values);
            }
            None => {
                let (radii, thetas) = (table.sample_radii(), table.sample_angles());
                for (s, v) in self.values.chunks_exact_mut(nb).enumerate() {
                    basis.eval(radii[s] / table.radius(), g_inv.apply(thetas[s]), v);
                }
            }
        }
        if nb <= MASK_BITS {
            nonzero_masks(&self.values, nb, &mut self.masks);
            self.single = partition && self.masks.iter().all(|&m| m & m.wrapping_sub(1) == 0);
            if self.single {
                for (s, (f, &m)) in self.functions.iter_mut().zip(&self.masks).enumerate() {
                    let b = m.trailing_zeros() as usize;
                    *f = (m != 0).then(|| (b, self.values[s * nb + b]));
                }
            }
            for (mask, support) in self.masks.iter().zip(&mut self.support) {
                let lo = if *mask == 0 { 0 } else { mask.trailing_zeros() };
                *support = (lo, lo.max(64 - mask.leading_zeros()));
            }
        } else {
            self.single = false;
            for (v, support) in self.values.chunks_exact(nb).zip(&mut self.support) {
                let lo = v.iter().position(|&x| x != 0.0).unwrap_or(0);
                let hi = v.iter().rposition(|&x| x != 0.0).map_or(lo, |i| i + 1);
                *support = (lo as u32, hi as u32);
            }
        }
    }
}

/// For each sample's `nb ≤ 64` values in `values`, bit b of its mask set where value b is not zero
/// (NaN included): with AVX2 four values per compare where the processor has it (the compile
/// takes these masks for every sample of every row, twice).
fn nonzero_masks(values: &[f64], nb: usize, masks: &mut [u64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2 (checked just above).
        unsafe { nonzero_masks_avx2(values, nb, masks) };
        return;
    }
    for (v, mask) in values.chunks_exact(nb).zip(masks) {
        *mask = nonzero_mask(v, 0, 0);
    }
}

/// `mask` with bit b set for each nonzero `v[b]`, from `b = from` on.
#[inline(always)]
fn nonzero_mask(v: &[f64], from: usize, mask: u64) -> u64 {
    v.iter()
        .enumerate()
        .skip(from)
        .fold(mask, |m, (b, &x)| m | ((x != 0.0) as u64) << b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn nonzero_masks_avx2(values: &[f64], nb: usize, masks: &mut [u64]) {
    use std::arch::x86_64::*;
    let zero = _mm256_setzero_pd();
    for (v, mask) in values.chunks_exact(nb).zip(masks) {
        let mut m = 0u64;
        let mut b = 0;
        while b + 4 <= nb {
            // SAFETY: b + 4 ≤ nb = v.len(); unaligned load.
            let x = unsafe { _mm256_loadu_pd(v.as_ptr().add(b)) };
            // Unordered not-equal: NaN counts as nonzero, as `x != 0.0` does.
            let bits = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_NEQ_UQ>(x, zero)) as u64;
            m |= bits << b;
            b += 4;
        }
        *mask = nonzero_mask(v, b, m);
    }
}

/// Blocks of [`ROWS`] rows filled at once by [`fill_rows`], each into its own buffer: 64 blocks
/// (about 10 % of the operator on icosphere:8, 4 % on 1.6 M vertices) waited at fewer joins than
/// 16 and filled icosphere:8 4 % faster.
const WAVE_BLOCKS: usize = 64;

/// One block's rows as [`fill_rows`] fills them: the entries of each stored row, their columns and
/// coefficients.
struct Filled<T> {
    row_counts: Vec<u32>,
    cols: Vec<u32>,
    coefs: Vec<T>,
}

/// Every row's columns and coefficients in `layout`, with the row offsets: waves of
/// [`WAVE_BLOCKS`] blocks of [`ROWS`] rows filled in parallel into buffers reused from wave to
/// wave, each wave appended to the operator's arrays in order. Nothing is counted first (the rows
/// would be collected twice), and the buffers of a wave are all the memory beyond the operator.
fn fill_rows<T: Real>(
    landings: &Landings,
    order: &[u32],
    basis: Basis<'_>,
    grid: &Option<(Vec<f64>, Vec<f64>)>,
    gauge: &Gauge,
    layout: Layout,
    expected: Option<u64>,
) -> Result<(Vec<u32>, Vec<u32>, Vec<T>)> {
    let n = order.len();
    let nb = basis.len();
    let stack = layout.stack(nb);
    let blocks = n.div_ceil(ROWS);
    let mut buffers: Vec<Filled<T>> = (0..WAVE_BLOCKS.min(blocks))
        .map(|_| Filled {
            row_counts: Vec::new(),
            cols: Vec::new(),
            coefs: Vec::new(),
        })
        .collect();
    let rows = n.checked_mul(stack).and_then(|r| r.checked_add(1));
    let mut row_offsets =
        try_with_capacity(rows.unwrap_or(usize::MAX), "the operator's row offsets")?;
    row_offsets.push(0u32);
    let (mut cols, mut coefs): (Vec<u32>, Vec<T>) = (Vec::new(), Vec::new());
    // Room for the entries the layout's choice expects, and a sixteenth more: the arrays then do
    // not grow by doubling, which an allocator that copies to grow (mimalloc, the command line's)
    // pays with a copy and fresh pages for all the entries so far. (Where it cannot be had, they
    // grow as they must, and fail there.)
    if let Some(e) = expected.and_then(|e| usize::try_from(e.saturating_add(e / 16 + 1)).ok()) {
        let room = e.min(u32::MAX as usize);
        let _ = cols.try_reserve_exact(room);
        if let Some(values) = room.checked_mul(nb / stack) {
            let _ = coefs.try_reserve_exact(values);
        }
    }
    let ns = landings.table.samples_per_vertex();
    for wave in (0..blocks).step_by(WAVE_BLOCKS) {
        let wave = wave..(wave + WAVE_BLOCKS).min(blocks);
        let buffers = &mut buffers[..wave.len()];
        buffers.par_iter_mut().zip(wave.clone()).for_each_init(
            || RowFiller::new(ns, nb),
            |filler, (buf, blk)| {
                buf.row_counts.clear();
                buf.cols.clear();
                buf.coefs.clear();
                for &p in &order[blk * ROWS..((blk + 1) * ROWS).min(n)] {
                    filler.fill(landings, p as usize, basis, grid, gauge, order, layout, buf);
                }
            },
        );
        let added: usize = buffers.iter().map(|b| b.cols.len()).sum();
        check_entry_range((cols.len() + added) as u64, "at least ")?;
        for buf in buffers.iter() {
            for &c in &buf.row_counts {
                row_offsets.push(row_offsets.last().unwrap() + c);
            }
        }
        let parts: Vec<&[u32]> = buffers.iter().map(|b| &b.cols[..]).collect();
        try_append(&mut cols, &parts, "the operator's columns")?;
        let parts: Vec<&[T]> = buffers.iter().map(|b| &b.coefs[..]).collect();
        try_append(&mut coefs, &parts, "the operator's coefficients")?;
    }
    cols.shrink_to_fit();
    coefs.shrink_to_fit();
    Ok((row_offsets, cols, coefs))
}

/// What one task fills rows with, kept from row to row.
struct RowFiller {
    row: RowScratch,
    /// A row's (function, column) pairs where a partition basis is stored per function.
    pairs: SlotMap,
    values: SampleValues,
    angles: Vec<f64>,
    /// A transported basis's landings, its values at one sample's corners, its scratch, and the
    /// corners.
    lands: Vec<Land>,
    one: Vec<f64>,
    scratch: Vec<f64>,
    corners: Vec<(f64, f64)>,
    /// The sums per slot of the row, in f64: B per column, or one per (function, column) pair.
    sums: Vec<f64>,
    /// Per column, the functions nonzero at some sample landing there (per function only).
    masks: Vec<u64>,
}

impl RowFiller {
    fn new(samples: usize, nb: usize) -> RowFiller {
        RowFiller {
            row: RowScratch::new(samples),
            // At most 3 pairs per sample: one function, 3 corners.
            pairs: SlotMap::new(3 * samples),
            values: SampleValues::new(samples, nb),
            angles: Vec::new(),
            lands: Vec::new(),
            one: Vec::new(),
            scratch: Vec::new(),
            corners: Vec::new(),
            sums: Vec::new(),
            masks: Vec::new(),
        }
    }

    /// Appends vertex p's stored rows to `out`.
    #[allow(clippy::too_many_arguments)]
    fn fill<T: Real>(
        &mut self,
        landings: &Landings,
        p: usize,
        basis: Basis<'_>,
        grid: &Option<(Vec<f64>, Vec<f64>)>,
        gauge: &Gauge,
        order: &[u32],
        layout: Layout,
        out: &mut Filled<T>,
    ) {
        let table = landings.table;
        let nb = basis.len();
        let g_inv = gauge.transports()[p].inverse();
        let RowFiller {
            row,
            pairs,
            values,
            angles,
            lands,
            one,
            scratch,
            corners,
            sums,
            masks,
        } = self;
        sums.clear();
        masks.clear();
        // The B sums of each column's slot, grown as slots appear.
        let sums_of = |sums: &mut Vec<f64>, slot: u32| {
            let at = slot as usize * nb;
            if at == sums.len() {
                sums.resize(at + nb, 0.0);
            }
            at
        };
        let weights = landings.weights;
        match basis {
            Basis::Sampled(basis) => {
                let per_function = layout == Layout::PerFunction;
                values.eval(basis, table, grid, g_inv, angles, per_function);
                let values = &*values;
                if per_function && values.single {
                    // One sum per (function, column): no function that cannot be nonzero there
                    // is summed, and no mask is kept.
                    landings.collect_pairs(p, values, pairs, sums);
                    write_pairs(pairs, sums, nb, out);
                    return;
                }
                landings.collect(p, row, |slot, s, _, beta| {
                    let (s, at) = (s as usize, sums_of(sums, slot));
                    if per_function {
                        or_mask(masks, slot, values.masks[s]);
                    }
                    let weight = weights[s] * beta;
                    let (lo, hi) = values.support[s];
                    let (lo, hi) = (lo as usize, hi as usize);
                    if hi == lo + 1 {
                        // One function (a bin): no loop.
                        sums[at + lo] += weight * values.values[s * nb + lo];
                    } else {
                        let v = &values.values[s * nb + lo..s * nb + hi];
                        for (a, &x) in sums[at + lo..at + hi].iter_mut().zip(v) {
                            *a += weight * x;
                        }
                    }
                });
            }
            Basis::Transported(basis, tracer) => {
                lands.clear();
                landings.collect(p, row, |slot, sample, corner, beta| {
                    sums_of(sums, slot);
                    lands.push(Land {
                        slot,
                        sample,
                        corner,
                        weight: weights[sample as usize] * beta,
                    });
                });
                // The lands come sample by sample: each sample's corners evaluated at once.
                for lands in lands.chunk_by(|a, b| a.sample == b.sample) {
                    let s = lands[0].sample as usize;
                    let (r, theta) = (
                        table.sample_radii()[s] / table.radius(),
                        g_inv.apply(table.sample_angles()[s]),
                    );
                    let e = table.entry(p, s);
                    corners.clear();
                    corners.extend(lands.iter().map(|l| {
                        let q = row.col(l.slot);
                        carried_by(landings, tracer, p, &e, (q, l.corner), order, gauge)
                    }));
                    one.resize(lands.len() * nb, 0.0);
                    basis.eval_corners(r, theta, corners, scratch, one);
                    for (l, v) in lands.iter().zip(one.chunks_exact(nb)) {
                        let at = l.slot as usize * nb;
                        for (a, &x) in sums[at..at + nb].iter_mut().zip(v) {
                            *a += l.weight * x;
                        }
                    }
                }
            }
        }
        write_row(row, sums, masks, nb, layout, out);
    }
}

/// Calls `f` with the index of every set bit of `mask`, lowest first.
#[inline(always)]
fn for_each_bit(mut mask: u64, mut f: impl FnMut(usize)) {
    while mask != 0 {
        f(mask.trailing_zeros() as usize);
        mask &= mask - 1;
    }
}

/// Appends a row's stored rows to `out`: its columns (in the order first seen) and its coefficients
/// (`sums`, B per slot) in `layout`; per function, column slot s is stored for the functions of
/// `masks[s]`.
fn write_row<T: Real>(
    row: &RowScratch,
    sums: &[f64],
    masks: &[u64],
    nb: usize,
    layout: Layout,
    out: &mut Filled<T>,
) {
    match layout {
        Layout::Blocks => {
            out.row_counts.push(row.len() as u32);
            out.cols.extend(row.cols());
            out.coefs
                .extend(sums[..row.len() * nb].iter().map(|&a| T::from_f64(a)));
        }
        Layout::PerFunction => {
            // Row (p, b) after row (p, b − 1); in each, the columns where b is nonzero: the
            // functions' counts, then each column's coefficients placed at their function's
            // cursor.
            let mut at = [0usize; MASK_BITS];
            for &mask in masks {
                for_each_bit(mask, |b| at[b] += 1);
            }
            let start = out.cols.len();
            let mut total = start;
            for a in &mut at[..nb] {
                out.row_counts.push(*a as u32);
                (*a, total) = (total, total + *a);
            }
            out.cols.resize(total, 0);
            out.coefs.resize(total, T::default());
            for (slot, q) in row.cols().enumerate() {
                for_each_bit(masks[slot], |b| {
                    out.cols[at[b]] = q;
                    out.coefs[at[b]] = T::from_f64(sums[slot * nb + b]);
                    at[b] += 1;
                });
            }
        }
    }
}

/// Appends a row's stored rows per function to `out` from its (function, column) pairs and their
/// sums (one per slot): a counting sort by function, each function's columns in the order first
/// seen.
fn write_pairs<T: Real>(pairs: &SlotMap, sums: &[f64], nb: usize, out: &mut Filled<T>) {
    let keys = pairs.keys();
    let mut at = [0usize; MASK_BITS + 1];
    for &key in keys {
        at[(key >> 32) as usize + 1] += 1;
    }
    out.row_counts
        .extend(at[1..nb + 1].iter().map(|&c| c as u32));
    let start = out.cols.len();
    at[0] = start;
    for b in 0..nb {
        at[b + 1] += at[b];
    }
    out.cols.resize(start + keys.len(), 0);
    out.coefs.resize(start + keys.len(), T::default());
    for (&key, &sum) in keys.iter().zip(sums) {
        let b = (key >> 32) as usize;
        out.cols[at[b]] = key as u32;
        out.coefs[at[b]] = T::from_f64(sum);
        at[b] += 1;
    }
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

/// Calls `f(key, (p, j))` for every entry j of the vertex rows p in `rows`, in order: the key of
/// an entry of stored row `p·stack + k` is its column · `stack` + k.
#[inline(always)]
fn for_entries(
    row_offsets: &[u32],
    cols: &[u32],
    stack: usize,
    rows: std::ops::Range<usize>,
    mut f: impl FnMut(usize, (u32, u32)),
) {
    for r in rows.start * stack..rows.end * stack {
        let (p, k) = ((r / stack) as u32, r % stack);
        let (a, b) = (row_offsets[r] as usize, row_offsets[r + 1] as usize);
        for (j, &q) in (a..b).zip(&cols[a..b]) {
            f(q as usize * stack + k, (p, j as u32));
        }
    }
}

/// Keys per task of [`transposed_index`]'s passes over the keys.
const KEYS: usize = 4096;

/// The transposed index, `stack` rows per vertex as the rows ([`ConvOperator`]'s fields): for each
/// column q and k < `stack`, the (vertex row p, entry j) pairs of the stored rows `p·stack + k` that
/// read q, in increasing p.
///
/// A counting sort by the keys `q·stack + k`, without atomics: the rows are cut into contiguous
/// chunks, each counting its keys in its own array; those counts become each chunk's own cursor in
/// every key (chunk after chunk, so a key's pairs are in increasing p), and each chunk then places
/// its entries through its cursors. The result does not depend on the chunks or the threads.
pub(super) fn transposed_index(
    row_offsets: &[u32],
    cols: &[u32],
    stack: usize,
) -> Result<(Vec<u32>, Vec<u32>, Vec<u32>)> {
    let keys = row_offsets.len() - 1;
    let n = keys / stack;
    let nnz = cols.len();
    // One chunk per thread, as many as the counts' memory allows (one u32 per key in each): at
    // most a quarter of the index's own 8 bytes per entry, and at least one chunk.
    let affordable = (nnz / (2 * keys.max(1))).max(1);
    let chunks = rayon::current_num_threads().min(affordable).min(n.max(1));
    let bounds: Vec<usize> = (0..=chunks).map(|c| c * n / chunks).collect();
    let mut cursors: Vec<Vec<u32>> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut count = try_zeroed::<u32>(keys, "the transposed index's counts")?;
            let rows = bounds[c]..bounds[c + 1];
            for_entries(row_offsets, cols, stack, rows, |key, _| count[key] += 1);
            Ok(count)
        })
        .collect::<Result<_>>()?;
    // The offsets: per stretch of keys the running sum of their totals, then each stretch's
    // start added (a prefix sum in two parallel passes).
    let mut t_offsets = try_zeroed::<u32>(keys + 1, "the transposed offsets")?;
    let stretch_totals: Vec<u32> = t_offsets[1..]
        .par_chunks_mut(KEYS)
        .enumerate()
        .map(|(b, offsets)| {
            let mut sum = 0u32;
            for (i, o) in offsets.iter_mut().enumerate() {
                sum += cursors.iter().map(|c| c[b * KEYS + i]).sum::<u32>();
                *o = sum;
            }
            sum
        })
        .collect();
    let starts: Vec<u32> = stretch_totals
        .iter()
        .scan(0u32, |at, &t| Some(std::mem::replace(at, *at + t)))
        .collect();
    t_offsets[1..]
        .par_chunks_mut(KEYS)
        .zip(starts)
        .for_each(|(offsets, start)| offsets.iter_mut().for_each(|o| *o += start));
    // Each task takes a stretch of keys in every chunk's array.
    let mut stretches: Vec<Vec<&mut [u32]>> = (0..keys.div_ceil(KEYS))
        .map(|_| Vec::with_capacity(chunks))
        .collect();
    for cursor in cursors.iter_mut() {
        for (stretch, part) in stretches.iter_mut().zip(cursor.chunks_mut(KEYS)) {
            stretch.push(part);
        }
    }
    stretches
        .into_par_iter()
        .enumerate()
        .for_each(|(b, mut parts)| {
            for i in 0..parts.first().map_or(0, |p| p.len()) {
                let mut at = t_offsets[b * KEYS + i];
                for part in parts.iter_mut() {
                    (part[i], at) = (at, at + part[i]);
                }
            }
        });
    let mut t_rows = try_zeroed::<u32>(nnz, "the operator's transposed rows")?;
    let mut t_entries = try_zeroed::<u32>(nnz, "the operator's transposed entries")?;
    {
        let (rows_out, entries_out) = (
            DisjointWrites::new(&mut t_rows),
            DisjointWrites::new(&mut t_entries),
        );
        cursors.par_iter_mut().enumerate().for_each(|(c, cursor)| {
            let rows = bounds[c]..bounds[c + 1];
            for_entries(row_offsets, cols, stack, rows, |key, (p, j)| {
                let at = cursor[key] as usize;
                cursor[key] += 1;
                // SAFETY: chunk c's places in a key run from its first place for its count of
                // the key's entries, disjoint from every other chunk's and key's (the places
                // tile 0..nnz), and each is handed out once.
                unsafe {
                    rows_out.write(at, &[p]);
                    entries_out.write(at, &[j]);
                }
            });
        });
    }
    Ok((t_offsets, t_rows, t_entries))
}

#[cfg(test)]
mod tests {
    use super::SlotMap;
    use std::collections::HashMap;

    /// Slots are numbered as keys are first seen, a key seen again gets its slot back, the map
    /// holds as many keys as it was made for (its table then half full, probing past others), and
    /// a cleared map numbers from 0 again.
    #[test]
    fn slots_follow_first_sight() {
        let len = 384;
        let mut map = SlotMap::new(len);
        for round in 0..3u64 {
            let mut want: HashMap<u64, u32> = HashMap::new();
            let mut order = Vec::new();
            // Keys 0 (the empty mark is key + 1) and up, in a scrambled order with repeats.
            for i in 0..2 * len as u64 {
                let key = (i * 7919 + round) % len as u64 * (1 << 20) + round;
                let next = want.len() as u32;
                let slot = *want.entry(key).or_insert_with(|| {
                    order.push(key);
                    next
                });
                assert_eq!(map.slot(key), slot, "key {key}");
            }
            assert_eq!(map.len(), len);
            assert_eq!(map.keys(), &order[..]);
            map.clear();
            assert_eq!(map.len(), 0);
        }
    }
}
