//! The precompiled convolution operator: forward and backward, many channels, parallel, deterministic.

use super::gather::{gather, tile_product, tile_weight_gradient, Isa, Structure, Tile};
use super::gauge::Gauge;
use super::real::Real;
use super::shape::{KernelWeights, KernelWeightsMut, Signals, SignalsMut};
use crate::disjoint::DisjointWrites;
use crate::error::Result;
use crate::expmap::{ExpMapTable, Tracer};
use crate::Manifold;
use rayon::prelude::*;

mod compile;
pub(super) mod saved;
pub(super) mod simd;

use compile::Basis;

/// A set of B real functions on the tangent plane, evaluated at polar coordinates `(r, θ)`.
///
/// The convolution only ever evaluates a basis; every basis of [`kernel`](crate::kernel) implements
/// this, constrained or not.
pub trait SampledBasis: Sync {
    /// Number of basis functions B.
    fn len(&self) -> usize;
    /// Whether there are no basis functions.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Writes the B values at `(r, θ)` into `out` (length B); `r` is in units of the disc radius (the
    /// convolution passes `r_s/ρ`, ρ the exp-map table's radius, so the unit disc is the table's disc).
    fn eval(&self, r: f64, theta: f64, out: &mut [f64]);
    /// Writes the B values at every point of a polar grid, `out[(j·R + i)·B + b] =
    /// k_b(radii[i], angles[j])` with `R = radii.len()`: the order of an exp-map table's samples
    /// ([`ExpMapTable::sample_index`]). The compile calls it once per vertex, with the table's ring
    /// radii and its directions seen in the vertex's gauge, so a basis that overrides it evaluates its
    /// radial factors once per ring and its angular ones once per direction. It must give the values
    /// of [`eval`](Self::eval) at the same points; the default calls `eval` at each.
    ///
    /// # Panics
    /// If `out.len() != radii.len() · angles.len() · B`.
    fn eval_grid(&self, radii: &[f64], angles: &[f64], out: &mut [f64]) {
        let nb = self.len();
        assert_eq!(
            out.len(),
            radii.len() * angles.len() * nb,
            "out: R·A·B values"
        );
        for (j, &theta) in angles.iter().enumerate() {
            for (i, &r) in radii.iter().enumerate() {
                let k = j * radii.len() + i;
                self.eval(r, theta, &mut out[k * nb..(k + 1) * nb]);
            }
        }
    }
    /// For a basis that partitions the disc (at most one function nonzero at any point, as polar
    /// bins): writes the function nonzero at every point of a polar grid with its value,
    /// `out[j·R + i] = Some((b, k_b(radii[i], angles[j])))` with `b < B`, or `None` where none is
    /// (a compile that is told of a `b ≥ B` evaluates [`eval_grid`](Self::eval_grid)), and returns
    /// `true`. Any other basis writes nothing and returns `false` (the default). The values must be
    /// those of [`eval`](Self::eval) at the same points. The compile calls it once per vertex where
    /// it stores the operator per function ([`Layout::PerFunction`]), instead of
    /// [`eval_grid`](Self::eval_grid): B values per point where one would do.
    ///
    /// # Panics
    /// If `out.len() != radii.len() · angles.len()` (where it returns `true`).
    fn eval_grid_partition(
        &self,
        radii: &[f64],
        angles: &[f64],
        out: &mut [Option<(usize, f64)>],
    ) -> bool {
        let _ = (radii, angles, out);
        false
    }
}

/// A set of B real functions of a sample `(r, θ)` at `p` *and* of how the sample's landing corner
/// `q` sees the geodesic: its direction ψ at the landing point in the frame of `q`, and σ = ±1
/// whether the transport from `q` to `p` along it keeps the orientation. Gauge-equivariant kernels
/// between feature fields ([`fields`](crate::fields)) are of this kind: the value at `q` must be
/// carried to `p`'s frame before the kernel weighs it.
pub trait TransportedBasis: Sync {
    /// Number of basis functions B.
    fn len(&self) -> usize;
    /// Whether there are no basis functions.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Writes the B values into `out`; `r` in units of the disc radius, as [`SampledBasis::eval`].
    fn eval(&self, r: f64, theta: f64, psi: f64, sigma: f64, out: &mut [f64]);
    /// The values at every landing corner of one sample: B values into `out` per `(ψ, σ)` of
    /// `corners`, each exactly what [`eval`](Self::eval) gives. The compile calls this once per
    /// sample, so that what depends on `(r, θ)` alone can be computed once for the sample's corners
    /// (`scratch` is the caller's, kept between calls); the default calls `eval` per corner.
    fn eval_corners(
        &self,
        r: f64,
        theta: f64,
        corners: &[(f64, f64)],
        scratch: &mut Vec<f64>,
        out: &mut [f64],
    ) {
        let _ = scratch;
        let nb = self.len();
        for (&(psi, sigma), out) in corners.iter().zip(out.chunks_exact_mut(nb)) {
            self.eval(r, theta, psi, sigma, out);
        }
    }
}

/// How the operator weighs the samples of the exp-map table.
///
/// With `w_s = r_s Δr Δθ` the table's tangent-plane quadrature weights (`Σ_s w_s ≈ πρ²`, the area of
/// the disc of radius ρ):
///
/// ```text
/// Mean:      ω_s = w_s / Σ_t w_t        (Σ_s ω_s = 1)
/// Integral:  ω_s = w_s
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Quadrature {
    /// The kernel averages the signal over the disc: the weights are divided by the quadrature of the
    /// disc's area, so the constant kernel 1 gives the mean of the signal over the disc (row sums of its
    /// operator are exactly 1 at every vertex none of whose samples is truncated), in any length unit.
    /// Weights learnt on one mesh then mean the same on another. The default.
    #[default]
    Mean,
    /// The tangent-plane integral of the seed, `∫ k(v) f(exp_p v) dμ(v)` with `dμ = r dr dθ`: scales
    /// with the square of the mesh's length unit.
    Integral,
}

impl Quadrature {
    /// The rule's number in saved operators and cache keys: 0 mean, 1 integral.
    pub(crate) fn code(self) -> u8 {
        match self {
            Quadrature::Mean => 0,
            Quadrature::Integral => 1,
        }
    }

    /// The rule numbered `code` ([`code`](Self::code)), if any.
    pub(crate) fn from_code(code: u32) -> Option<Quadrature> {
        [Quadrature::Mean, Quadrature::Integral]
            .into_iter()
            .find(|q| q.code() as u32 == code)
    }
}

/// How an operator stores its coefficients. Both hold the same coefficients and give the same
/// passes (each sum in the same order; a zero coefficient that one layout stores adds nothing,
/// unless the input there is not finite); they differ in bytes and in work.
///
/// ```text
/// Blocks:       row p lists its neighbours q, each with the B coefficients A_0[p,q] … A_{B−1}[p,q]
/// PerFunction:  rows (p, 0) … (p, B−1); row (p, b) lists the q where A_b[p,q] can be nonzero, each
///               with that one coefficient
/// ```
///
/// A basis whose functions each cover a part of the disc (polar bins: a sample lies in one bin)
/// makes most of a block zero. On icosphere:5 with 16 bins an entry has 1.6 nonzero coefficients of
/// 16, and the per-function layout takes about a third of the bytes and a tenth of the gather's
/// multiply-adds. Where the functions overlap (harmonics, Gaussians) blocks are smaller: one column
/// index serves B coefficients. Per function pays only where it saves much: it reads a column index
/// per coefficient and B rows per vertex, so the compile takes it at no more than 3/4 of the
/// blocks' bytes (unless told: [`ConvOptions::layout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// One column index per neighbour, shared by the B coefficients.
    Blocks,
    /// One column index per coefficient that is not structurally zero: where no sample landing at
    /// `q` has `k_b ≠ 0`, `A_b[p, q]` is not stored.
    PerFunction,
}

impl Layout {
    /// The layout's number in saved operators: 0 blocks, 1 per function.
    pub(crate) fn code(self) -> u32 {
        match self {
            Layout::Blocks => 0,
            Layout::PerFunction => 1,
        }
    }

    /// The layout numbered `code` ([`code`](Self::code)), if any.
    pub(crate) fn from_code(code: u32) -> Option<Layout> {
        [Layout::Blocks, Layout::PerFunction]
            .into_iter()
            .find(|l| l.code() == code)
    }

    /// Stored rows per vertex for `nb` basis functions (1 in blocks, B per function); each entry
    /// holds `nb / stack` coefficients.
    pub(crate) fn stack(self, nb: usize) -> usize {
        match self {
            Layout::Blocks => 1,
            Layout::PerFunction => nb,
        }
    }
}

/// Options of [`ConvOperator::with_options`].
///
/// # Example
/// ```
/// use manifold_cnn::conv::{ConvOptions, Quadrature};
/// let o = ConvOptions::default();
/// assert_eq!(o.quadrature, Quadrature::Mean);
/// assert_eq!(ConvOptions::new().quadrature(Quadrature::Integral).quadrature, Quadrature::Integral);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ConvOptions {
    /// How samples are weighed (default [`Quadrature::Mean`]).
    pub quadrature: Quadrature,
    /// How the coefficients are stored; `None` (the default): [`Layout::PerFunction`] where it
    /// takes at most 3/4 of the blocks' bytes (counted on a sample of the rows before the
    /// coefficients are computed), else [`Layout::Blocks`]. A transported basis
    /// ([`ConvOperator::with_transport`]) is stored in blocks; asking for per function is an error.
    pub layout: Option<Layout>,
}

impl ConvOptions {
    /// The default options.
    pub const fn new() -> ConvOptions {
        ConvOptions {
            quadrature: Quadrature::Mean,
            layout: None,
        }
    }

    /// These options with the coefficients stored in `layout` whatever its size.
    pub const fn layout(mut self, layout: Layout) -> ConvOptions {
        self.layout = Some(layout);
        self
    }

    /// These options with another quadrature.
    pub const fn quadrature(mut self, quadrature: Quadrature) -> ConvOptions {
        self.quadrature = quadrature;
        self
    }
}

/// The convolution `out[p] = Σ_b (A_b X)[p] · W_b` with the operator of every basis function compiled.
///
/// For vertex `p`, basis function `b` and vertex `q`,
///
/// ```text
/// A_b[p, q] = Σ_s  ω_s · k_b(r_s/ρ, Γ_p⁻¹ θ_s) · β_{s,q}
/// ```
///
/// over the samples `s` of the exp-map table at `p`: `ω_s` the quadrature weight ([`Quadrature`]:
/// by default the table's weight `w_s` over the disc's `Σ_t w_t`, so that a constant kernel averages),
/// `(r_s, θ_s)` the
/// sample's polar coordinates in the frame of `p`, ρ the table's radius (kernels live on the unit disc,
/// see [`kernel`](crate::kernel)), `Γ_p = Γ_{p0→p}` the gauge (so `k_b(r, Γ_p⁻¹θ)` is
/// the kernel transported from `p0` to `p`), and `β_{s,q}` the barycentric weight of `q` at the landing
/// point (zero unless `q` is a corner of the landing face). This is the seed's
/// `(k ⋆ f)(p) = ∫ (Γ_{p0→p} k)(v) f(exp_p v) dμ(v)` with the tangent-plane measure (divided by the
/// disc's area under [`Quadrature::Mean`]), for the kernel
/// `k = Σ_b W_b k_b` whose coefficients map `C_in` input channels to `C_out` output channels.
///
/// # Storage
/// In [`Layout::Blocks`], row `p` lists its distinct neighbours `q` (the landing corners of all its
/// samples, duplicates merged, in the order the samples first reach them) with B coefficients
/// each: `4 + 4·B` bytes per entry in `f32` (68 for B = 16), plus a transposed index (8 bytes per
/// entry) for the backward pass. In
/// [`Layout::PerFunction`], each row `(p, b)` lists the neighbours where `k_b` is nonzero at some
/// landing sample, with one coefficient each: 8 bytes per entry, plus 8 for the transposed index.
/// The compile picks per function where it saves a quarter of the bytes or more, unless told
/// ([`ConvOptions::layout`]); [`ConvOperator::bytes`] reports the total.
#[derive(Clone, Debug)]
pub struct ConvOperator<T: Real> {
    /// The mesh it was compiled for (recorded when saved, checked when loaded).
    mesh: crate::manifold::MeshIdentity,
    vertices: usize,
    basis: usize,
    quadrature: Quadrature,
    layout: Layout,
    /// Vertex of each internal row; `rank` is its inverse.
    order: Vec<u32>,
    rank: Vec<u32>,
    /// The stored rows (`stack` per vertex: [`ConvOperator::stack`]) and their entries.
    row_offsets: Vec<u32>,
    cols: Vec<u32>,
    /// `basis / stack` coefficients per entry.
    coefs: Vec<T>,
    /// The transposed index, `stack` rows per column vertex `q`: row `q·stack + k` lists the
    /// (vertex row `p`, entry) pairs of the stored rows `p·stack + k` that read `q`.
    t_offsets: Vec<u32>,
    t_rows: Vec<u32>,
    t_entries: Vec<u32>,
}

const BLOCK: usize = 32;

/// What a weight gradient multiplies with the output gradient: the input (gathered on the way), or
/// what a forward pass gathered from it.
#[derive(Clone, Copy)]
enum Source<'a, T> {
    Gather(&'a [T]),
    Gathered(&'a [T]),
}

/// Where [`ConvOperator::apply_batch`] writes the output of row `p`, signal `s`.
enum Output<'a, T> {
    /// Row layout: at `(p·S + s)·C`, the layout of its input.
    Rows(&'a mut [T]),
    /// Row layout, and the gathered `(A_b x)[p]` of every row kept (`N × B × S × C_in`).
    RowsKeeping(&'a mut [T], &'a mut [T]),
    /// Signal-major in the mesh's vertex order: at `(s·N + order[p])·C`.
    Vertices(&'a mut [T]),
}

impl<T: Real> ConvOperator<T> {
    /// Compiles the operator of every basis function from an exp-map table and a gauge, with the
    /// default [`ConvOptions`] (the [`Quadrature::Mean`] of the disc).
    ///
    /// Truncated samples follow the table's [`Padding`](crate::expmap::Padding) policy.
    ///
    /// # Errors
    /// [`Error::MeshMismatch`](crate::Error::MeshMismatch) if the table or gauge was built for another mesh (its
    /// [`MeshIdentity`](crate::manifold::MeshIdentity) differs from `m`'s), or
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) if the basis is empty, or
    /// [`Error::OutOfMemory`](crate::Error::OutOfMemory) naming the array that cannot be allocated.
    ///
    /// # Complexity
    /// O(V · S · (B + log S)), parallel over vertices.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::conv::{ConvOperator, Gauge, SpanningTree};
    /// use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable};
    /// use manifold_cnn::kernel::KernelBasis;
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// let m = Manifold::load("icosphere:2", &BuildOptions::default()).unwrap();
    /// let table = ExpMapTable::build(&m, &ExpMapOptions::default()).unwrap();
    /// let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    /// let basis = KernelBasis::parse("harmonic:2:3").unwrap(); // 2 radial profiles × (1 + 2·3)
    /// let op = ConvOperator::<f32>::new(&m, &table, &basis, &gauge).unwrap();
    /// assert_eq!((op.vertex_count(), op.basis_len()), (162, 14));
    /// ```
    pub fn new(
        m: &Manifold,
        table: &ExpMapTable,
        basis: &dyn SampledBasis,
        gauge: &Gauge,
    ) -> Result<Self> {
        Self::with_options(m, table, basis, gauge, &ConvOptions::default())
    }

    /// As [`new`](Self::new), with the given options.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    ///
    /// # Example
    /// The constant kernel (one ring, one sector) averages: row sums are 1 on a flat torus, where no
    /// sample is truncated, whatever the radius.
    /// ```
    /// use manifold_cnn::conv::{ConvOperator, ConvOptions, Gauge, Quadrature, SpanningTree};
    /// use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable, Radius};
    /// use manifold_cnn::kernel::{KernelBasis, PolarBins};
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// let m = Manifold::load("flat-torus:10x10", &BuildOptions::default()).unwrap();
    /// let params = ExpMapOptions::new().radius(Radius::Absolute(2.5));
    /// let table = ExpMapTable::build(&m, &params).unwrap();
    /// let one = KernelBasis::Bins(PolarBins::new(1, 1).unwrap());
    /// let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    /// let mean = ConvOperator::<f64>::new(&m, &table, &one, &gauge).unwrap();
    /// let a = mean.basis_matrix(0);
    /// for row in a.outer_iterator() {
    ///     assert!((row.data().iter().sum::<f64>() - 1.0).abs() < 1e-12);
    /// }
    /// // The integral instead: row sums are the quadrature of the disc's area, Σ_s w_s = π·2.5².
    /// let options = ConvOptions::new().quadrature(Quadrature::Integral);
    /// let integral = ConvOperator::<f64>::with_options(&m, &table, &one, &gauge, &options).unwrap();
    /// let row: f64 = integral.basis_matrix(0).outer_view(0).unwrap().data().iter().sum();
    /// assert!((row - std::f64::consts::PI * 6.25).abs() < 1e-9);
    /// ```
    pub fn with_options(
        m: &Manifold,
        table: &ExpMapTable,
        basis: &dyn SampledBasis,
        gauge: &Gauge,
        options: &ConvOptions,
    ) -> Result<Self> {
        Self::compile(m, table, Basis::Sampled(basis), gauge, options)
    }

    /// As [`with_options`](Self::with_options), for a basis whose functions also depend on how each
    /// landing corner's frame is carried back to `p` ([`TransportedBasis`]): the coefficient of
    /// corner `q` of sample `s` is `ω_s β_{s,q} k_b(r_s/ρ, Γ_p⁻¹θ_s, Γ_q⁻¹ψ_{s,q}, σ_{s,q})`, with
    /// ψ the geodesic's direction at the landing point in the frame of `q`
    /// ([`ExpMapTable::transported_polar_angle`]) and σ = −1 where the transport from `q` to `p`
    /// along the geodesic (composed with the gauges) reverses orientation. The gauge here is a choice
    /// of frame at every vertex (the feature fields of [`fields`](crate::fields) are written in it).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_transport(
        m: &Manifold,
        table: &ExpMapTable,
        basis: &dyn TransportedBasis,
        gauge: &Gauge,
        options: &ConvOptions,
    ) -> Result<Self> {
        let tracer = Tracer::new(m);
        Self::compile(m, table, Basis::Transported(basis, &tracer), gauge, options)
    }

    /// The operator split by basis functions: part `k` holds the next `lens[k]` functions (in
    /// blocks with the same rows, columns and index, copied; per function with their own rows and
    /// index).
    ///
    /// # Errors
    /// [`Error::OutOfMemory`](crate::Error::OutOfMemory) if a part's index cannot be allocated.
    ///
    /// # Panics
    /// If `lens` does not sum to the number of basis functions or holds a zero.
    pub(crate) fn split_basis(self, lens: &[usize]) -> Result<Vec<ConvOperator<T>>> {
        assert_eq!(
            lens.iter().sum::<usize>(),
            self.basis,
            "lengths of the parts"
        );
        assert!(lens.iter().all(|&l| l > 0), "empty part");
        let mut start = 0;
        lens.iter()
            .map(|&len| {
                let part = start..start + len;
                start += len;
                match self.layout {
                    Layout::Blocks => Ok(ConvOperator {
                        basis: len,
                        coefs: self
                            .coefs
                            .chunks_exact(self.basis)
                            .flat_map(|c| c[part.clone()].iter().copied())
                            .collect(),
                        order: self.order.clone(),
                        rank: self.rank.clone(),
                        row_offsets: self.row_offsets.clone(),
                        cols: self.cols.clone(),
                        t_offsets: self.t_offsets.clone(),
                        t_rows: self.t_rows.clone(),
                        t_entries: self.t_entries.clone(),
                        ..self
                    }),
                    Layout::PerFunction => self.functions(part),
                }
            })
            .collect()
    }

    /// The operator of the functions `part` alone, for [`Layout::PerFunction`]: their stored rows,
    /// and the transposed index built for them as the compile builds it.
    fn functions(&self, part: std::ops::Range<usize>) -> Result<ConvOperator<T>> {
        let nb = self.basis;
        let mut row_offsets = Vec::with_capacity(self.vertices * part.len() + 1);
        row_offsets.push(0u32);
        let (mut cols, mut coefs) = (Vec::new(), Vec::new());
        for p in 0..self.vertices {
            for b in part.clone() {
                let (e0, e1) = (
                    self.row_offsets[p * nb + b],
                    self.row_offsets[p * nb + b + 1],
                );
                let entries = e0 as usize..e1 as usize;
                cols.extend_from_slice(&self.cols[entries.clone()]);
                coefs.extend_from_slice(&self.coefs[entries]);
                row_offsets.push(row_offsets.last().unwrap() + e1 - e0);
            }
        }
        let (t_offsets, t_rows, t_entries) =
            compile::transposed_index(&row_offsets, &cols, part.len())?;
        Ok(ConvOperator {
            mesh: self.mesh,
            vertices: self.vertices,
            basis: part.len(),
            quadrature: self.quadrature,
            layout: self.layout,
            order: self.order.clone(),
            rank: self.rank.clone(),
            row_offsets,
            cols,
            coefs,
            t_offsets,
            t_rows,
            t_entries,
        })
    }

    /// Number of vertices N (rows and columns of each `A_b`).
    pub fn vertex_count(&self) -> usize {
        self.vertices
    }
    /// The vertex at each row of the row layout ([`forward_rows`](Self::forward_rows)): vertices
    /// in an order where consecutive rows are close on the mesh.
    pub fn order(&self) -> &[u32] {
        &self.order
    }
    /// The row of each vertex in the row layout (the inverse of [`order`](Self::order)).
    pub fn rank(&self) -> &[u32] {
        &self.rank
    }
    /// Number of basis functions B.
    pub fn basis_len(&self) -> usize {
        self.basis
    }
    /// The quadrature the coefficients were compiled with.
    pub fn quadrature(&self) -> Quadrature {
        self.quadrature
    }
    /// The layout of the coefficients ([`Layout`]).
    pub fn layout(&self) -> Layout {
        self.layout
    }
    /// Number of stored entries: (vertex, neighbour) pairs with B coefficients each in
    /// [`Layout::Blocks`], (vertex, function, neighbour) triples with one in
    /// [`Layout::PerFunction`].
    pub fn nnz(&self) -> usize {
        self.cols.len()
    }
    /// Bytes held by the operator (both indices and the coefficients).
    pub fn bytes(&self) -> usize {
        4 * (self.row_offsets.len()
            + self.cols.len()
            + self.t_offsets.len()
            + 2 * self.t_rows.len())
            + std::mem::size_of::<T>() * self.coefs.len()
    }
    /// The operator in CSR form, in the mesh's vertex numbering: `(indptr, indices, coefficients)`, where
    /// the stored entry `j` of `A_b` is `coefficients[j·B + b]` (the same structure for every `b`;
    /// from [`Layout::PerFunction`], a neighbour is listed where any function is stored, and the
    /// functions not stored there read 0).
    pub fn csr(&self) -> (Vec<u32>, Vec<u32>, Vec<T>) {
        let (nb, stack) = (self.basis, self.stack());
        // Coefficients per stored entry; stored row k of a vertex holds functions k·per….
        let per = nb / stack;
        let mut indptr = Vec::with_capacity(self.vertices + 1);
        indptr.push(0u32);
        let mut indices = Vec::new();
        let mut coefs = Vec::new();
        // (neighbour, stored row k of the vertex, entry)
        let mut row: Vec<(u32, usize, usize)> = Vec::new();
        for v in 0..self.vertices {
            let i = self.rank[v] as usize;
            row.clear();
            for k in 0..stack {
                let r = i * stack + k;
                row.extend(
                    (self.row_offsets[r]..self.row_offsets[r + 1])
                        .map(|j| (self.order[self.cols[j as usize] as usize], k, j as usize)),
                );
            }
            row.sort_unstable();
            for group in row.chunk_by(|a, b| a.0 == b.0) {
                indices.push(group[0].0);
                let at = coefs.len();
                coefs.resize(at + nb, T::default());
                for &(_, k, j) in group {
                    coefs[at + k * per..at + (k + 1) * per]
                        .copy_from_slice(&self.coefs[j * per..(j + 1) * per]);
                }
            }
            indptr.push(indices.len() as u32);
        }
        (indptr, indices, coefs)
    }

    /// Writes the operator for other frameworks: for each basis function `b` a CSR matrix
    /// (`indptr_b` int64, `indices_b` uint32, `data_b` float32; N × N, mesh numbering), plus `weights`
    /// (B × C_in × C_out, float32) and `shape` (N, N), so that `out = Σ_b (A_b X) W_b`.
    ///
    /// # Errors
    /// If writing fails.
    ///
    /// # Panics
    /// If `weights.len() != B · c_in · c_out`.
    pub fn write_npz(
        &self,
        path: impl AsRef<std::path::Path>,
        weights: &[f32],
        c_in: usize,
        c_out: usize,
    ) -> Result<()> {
        let nb = self.basis;
        assert_eq!(
            weights.len(),
            nb * c_in * c_out,
            "weights: expected B × C_in × C_out values"
        );
        let (indptr, indices, coefs) = self.csr();
        let indptr: Vec<i64> = indptr.iter().map(|&v| v as i64).collect();
        let mut w = crate::io::npz::NpzWriter::create(path)?;
        for b in 0..nb {
            let data: Vec<f32> = coefs
                .iter()
                .skip(b)
                .step_by(nb)
                .map(|c| c.to_f64() as f32)
                .collect();
            w.i64(&format!("indptr_{b}"), &[indptr.len() as u64], &indptr)?;
            w.u32(&format!("indices_{b}"), &[indices.len() as u64], &indices)?;
            w.f32(&format!("data_{b}"), &[data.len() as u64], &data)?;
        }
        w.f32("weights", &[nb as u64, c_in as u64, c_out as u64], weights)?;
        w.i64("shape", &[2], &[self.vertices as i64, self.vertices as i64])?;
        w.finish()
    }

    /// A batch (signal-major, `batch × N × width`) as internal rows that each hold every signal:
    /// `out[(rank(v)·batch + s)·width + c] = data[(s·N + v)·width + c]`. One gather over such rows
    /// serves the whole batch, so the operator is read once per pass instead of once per signal.
    fn to_internal_batch(&self, data: &[T], batch: usize, width: usize) -> Vec<T> {
        let n = self.vertices;
        let mut out = vec![T::default(); data.len()];
        out.par_chunks_mut((batch * width).max(1))
            .zip(self.order.par_iter())
            .for_each(|(row, &v)| {
                for (s, dst) in row.chunks_exact_mut(width.max(1)).enumerate() {
                    let at = (s * n + v as usize) * width;
                    dst.copy_from_slice(&data[at..at + width]);
                }
            });
        out
    }

    /// `out[s][order[p]] = Σ_b (Σ_e coef[e, b] src[col_e])[s] · W_b` for every row `p` and signal `s`
    /// of a batch in row layout: per block the gather into a (block × B·S·width) tile, one product with
    /// `w` read as (B·width) × out_width, and the block's (row, signal) outputs written to `out`
    /// ([`Output`]).
    #[allow(clippy::too_many_arguments)]
    fn apply_batch(
        &self,
        isa: Isa,
        s: &Structure<T>,
        src: &[T],
        batch: usize,
        width: usize,
        w: &[T],
        out_width: usize,
        out: Output<T>,
    ) {
        let n = self.vertices;
        let wide = self.basis * batch * width;
        // The gathered tile and the reorder scratch of the portable block product (grown on use).
        let scratch = || (vec![T::default(); BLOCK * wide], Vec::new());
        let product = |y: &mut [T], z: &mut Vec<T>, blk: usize, o: &mut [T]| {
            let rows = blk * BLOCK..(blk * BLOCK + BLOCK).min(n);
            let tile = Tile {
                rows: rows.len(),
                basis: self.basis,
                batch,
                width,
            };
            gather(s, rows, src, batch * width, y, isa);
            tile_product(tile, y, w, out_width, o, z, isa);
        };
        let block_out = BLOCK * batch * out_width;
        match out {
            // Each block's rows are a contiguous stretch of the output: the product writes there.
            Output::Rows(out) => {
                assert_eq!(out.len(), batch * n * out_width);
                out.par_chunks_mut(block_out.max(1))
                    .enumerate()
                    .for_each_init(scratch, |(y, z), (blk, o)| product(y, z, blk, o));
            }
            // The same, and each block's gathered tile kept in its place of `keep`.
            Output::RowsKeeping(out, keep) => {
                assert_eq!(out.len(), batch * n * out_width);
                assert_eq!(keep.len(), n * wide);
                out.par_chunks_mut(block_out.max(1))
                    .zip(keep.par_chunks_mut((BLOCK * wide).max(1)))
                    .enumerate()
                    .for_each_init(Vec::new, |z, (blk, (o, y))| product(y, z, blk, o));
            }
            Output::Vertices(out) => {
                assert_eq!(out.len(), batch * n * out_width);
                let dst = DisjointWrites::new(out);
                (0..n.div_ceil(BLOCK)).into_par_iter().for_each_init(
                    || (scratch(), vec![T::default(); block_out]),
                    |((y, z), o), blk| {
                        let rows = blk * BLOCK..(blk * BLOCK + BLOCK).min(n);
                        let o = &mut o[..rows.len() * batch * out_width];
                        product(y, z, blk, o);
                        self.scatter_rows(&dst, rows, batch, out_width, o);
                    },
                );
            }
        }
    }

    /// Writes the output rows `rows` (in row order, `batch` signals of `width` each, in `o`) to their
    /// vertices' places in the signal-major vertex layout of `dst`.
    fn scatter_rows(
        &self,
        dst: &DisjointWrites<T>,
        rows: std::ops::Range<usize>,
        batch: usize,
        width: usize,
        o: &[T],
    ) {
        let n = self.vertex_count();
        for (r, p) in rows.enumerate() {
            let v = self.order[p] as usize;
            for sig in 0..batch {
                let at = (r * batch + sig) * width;
                // SAFETY: `order` is a permutation of 0..N (checked in `check_structure`), so each
                // (signal, vertex) row of the output is written by exactly one block.
                unsafe { dst.write((sig * n + v) * width, &o[at..at + width]) };
            }
        }
    }

    /// FLOPs of one forward pass: the gather `2·C_in` per stored coefficient (`nnz·B` in
    /// [`Layout::Blocks`], `nnz` per function) plus the block products `2·N·B·C_in·C_out`.
    pub fn forward_flops(&self, c_in: usize, c_out: usize) -> f64 {
        2.0 * (self.coefs.len() * c_in) as f64
            + 2.0 * (self.vertices * self.basis * c_in * c_out) as f64
    }

    /// Bytes one forward pass must move at least: the operator once, the input once, the output once.
    pub fn forward_bytes(&self, c_in: usize, c_out: usize) -> f64 {
        let t = std::mem::size_of::<T>();
        (4 * (self.row_offsets.len() + self.cols.len())
            + t * (self.coefs.len() + self.vertices * (c_in + c_out))) as f64
    }

    /// Stored rows per vertex: 1 in [`Layout::Blocks`], B in [`Layout::PerFunction`].
    fn stack(&self) -> usize {
        self.layout.stack(self.basis)
    }

    fn forward_structure(&self) -> Structure<'_, T> {
        // SAFETY: `new` built every column below N, non-decreasing offsets (N·stack + 1 of them)
        // ending at nnz and nnz·B/stack coefficients, and checked them (`check_structure`); the
        // fields never change afterwards.
        unsafe {
            Structure::new(
                &self.row_offsets,
                self.stack(),
                &self.cols,
                None,
                &self.coefs,
                self.basis / self.stack(),
                self.vertices,
            )
        }
    }

    fn transposed_structure(&self) -> Structure<'_, T> {
        // SAFETY: as for `forward_structure`: transposed rows below N, entries below nnz (checked in
        // `check_structure`).
        unsafe {
            Structure::new(
                &self.t_offsets,
                self.stack(),
                &self.t_rows,
                Some(&self.t_entries),
                &self.coefs,
                self.basis / self.stack(),
                self.vertices,
            )
        }
    }

    /// The index invariants the passes' unchecked reads rely on: the row order a permutation and
    /// `rank` its inverse, both offset arrays (N·stack + 1) rising from 0 to the entries, B/stack
    /// coefficients per entry, and every column, transposed row and transposed entry in range.
    /// Checked after every compile and every load (which checks more: [`validate`](Self::validate)).
    fn check_structure(&self) -> std::result::Result<(), String> {
        use crate::io::saved::first_bad;
        let (n, nnz) = (self.vertices, self.cols.len());
        if self.order.len() != n || self.rank.len() != n {
            return Err("the row order is not a permutation of the vertices".into());
        }
        let mut seen = vec![false; n];
        for (i, &v) in self.order.iter().enumerate() {
            let v = v as usize;
            if v >= n || std::mem::replace(&mut seen[v], true) {
                return Err(format!(
                    "row {i}: vertex {v} is out of range or repeated in the row order"
                ));
            }
        }
        if let Some(v) = (0..n).find(|&v| {
            self.rank[v] as usize >= n || self.order[self.rank[v] as usize] as usize != v
        }) {
            return Err(format!(
                "vertex {v}: rank {} is not the inverse of the row order",
                self.rank[v]
            ));
        }
        let stack = self.stack();
        let rows = n * stack;
        for (what, offsets) in [("row", &self.row_offsets), ("column", &self.t_offsets)] {
            if offsets.len() != rows + 1
                || offsets[0] != 0
                || offsets[rows] as usize != nnz
                || offsets.windows(2).any(|w| w[0] > w[1])
            {
                return Err(format!(
                    "the {what} offsets are not {rows} + 1 rising from 0 to the {nnz} entries"
                ));
            }
        }
        if self.coefs.len() != nnz * (self.basis / stack) {
            return Err(format!(
                "coefficient count is not entries × {} per entry",
                self.basis / stack
            ));
        }
        if let Some(j) = first_bad(&self.cols, |&q| q as usize >= n) {
            return Err(format!("entry {j}: column {} of {n}", self.cols[j]));
        }
        if self.t_rows.len() != nnz || self.t_entries.len() != nnz {
            return Err("the transposed index does not have one place per entry".into());
        }
        if let Some(k) = first_bad(&self.t_rows, |&p| p as usize >= n) {
            return Err(format!(
                "transposed entry {k}: row {} of {n}",
                self.t_rows[k]
            ));
        }
        if let Some(k) = first_bad(&self.t_entries, |&e| e as usize >= nnz) {
            return Err(format!(
                "transposed entry {k}: entry {} of {nnz}",
                self.t_entries[k]
            ));
        }
        Ok(())
    }

    /// Panics unless both arguments, given as `(name, vertices, batch)`, hold signals on this
    /// operator's N vertices, in batches of the same size.
    fn check_signals(&self, a: (&str, usize, usize), b: (&str, usize, usize)) {
        for (what, vertices, _) in [a, b] {
            assert_eq!(
                vertices, self.vertices,
                "{what}: signals on {vertices} vertices, but the operator has {}",
                self.vertices
            );
        }
        assert_eq!(
            a.2, b.2,
            "{} batch {} and {} batch {} differ",
            a.0, a.2, b.0, b.2
        );
    }

    /// Panics unless the weights fit B and the given channel counts.
    fn check_weights(
        &self,
        what: &str,
        basis: usize,
        c_in: usize,
        c_out: usize,
        want: (usize, usize),
    ) {
        assert!(
            basis == self.basis && (c_in, c_out) == want,
            "{what}: B × C_in × C_out = {basis} × {c_in} × {c_out}, expected {} × {} × {}",
            self.basis,
            want.0,
            want.1
        );
    }

    /// Forward pass: `out_i = Σ_b (A_b X_i) W_b` for every signal `X_i` of the batch.
    ///
    /// # Shapes
    /// - `x`: batch × N × C_in;
    /// - `w`: B × C_in × C_out;
    /// - `out`: batch × N × C_out, overwritten.
    ///
    /// # Panics
    /// If a signal is not on N vertices, the batches differ, or the weights are not B × C_in × C_out for
    /// the channels of `x` and `out`.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::conv::{ConvOperator, Gauge, KernelWeights, Signals, SignalsMut, SpanningTree};
    /// use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable};
    /// use manifold_cnn::kernel::{KernelBasis, PolarBins};
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// let m = Manifold::load("icosphere:1", &BuildOptions::default()).unwrap();
    /// let table = ExpMapTable::build(&m, &ExpMapOptions::default()).unwrap();
    /// let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    /// let one = KernelBasis::Bins(PolarBins::new(1, 1).unwrap());
    /// let op = ConvOperator::<f32>::new(&m, &table, &one, &gauge).unwrap();
    /// let n = op.vertex_count();
    /// // Two signals, constant per channel: the constant kernel averages, so they come back unchanged.
    /// let x: Vec<f32> = (0..2 * n).flat_map(|_| [1.0, -2.0]).collect();
    /// let w = [1.0f32, 0.0, 0.0, 1.0]; // B = 1, identity from 2 to 2 channels
    /// let mut out = vec![0.0f32; 2 * n * 2];
    /// op.forward(
    ///     Signals::new(&x, 2, 2).unwrap(),
    ///     KernelWeights::new(&w, 1, 2, 2).unwrap(),
    ///     SignalsMut::new(&mut out, 2, 2).unwrap(),
    /// );
    /// for (a, b) in out.iter().zip(&x) {
    ///     assert!((a - b).abs() < 1e-5);
    /// }
    /// ```
    pub fn forward(&self, x: Signals<T>, w: KernelWeights<T>, out: SignalsMut<T>) {
        self.on(Isa::auto()).forward(x, w, out)
    }

    /// The forward pass of `x`'s batch from its values in row layout `rows` into `out`.
    fn forward_from(
        &self,
        isa: Isa,
        rows: &[T],
        x: &Signals<T>,
        w: &KernelWeights<T>,
        out: Output<T>,
    ) {
        let (batch, c_in, c_out) = (x.batch(), x.channels(), w.out_channels());
        let s = self.forward_structure();
        self.apply_batch(isa, &s, rows, batch, c_in, w.as_slice(), c_out, out);
    }

    /// [`forward`](Self::forward) in row layout: `x` and `out` hold, at row `p`, the values of
    /// vertex [`order`](Self::order)`()[p]` for every signal (`x[(p·S + s)·C_in + c]`). A network
    /// that keeps its features in this layout skips the reorder into it and out of it at every pass.
    ///
    /// # Panics
    /// As [`forward`](Self::forward).
    pub fn forward_rows(&self, x: Signals<T>, w: KernelWeights<T>, out: SignalsMut<T>) {
        self.on(Isa::auto()).forward_rows(x, w, out)
    }

    /// [`forward_rows`](Self::forward_rows) that also keeps what it gathers, `(A_b x)[p]` for every row
    /// `p`, basis function `b`, signal `s` and channel `c` at `((p·B + b)·S + s)·C_in + c` of
    /// `gathered`, from which [`weight_gradient_gathered`](Self::weight_gradient_gathered) computes
    /// the weight gradient without gathering again.
    ///
    /// # Panics
    /// As [`forward`](Self::forward), or if `gathered` does not hold `N·B·S·C_in` values.
    pub fn forward_rows_gathering(
        &self,
        x: Signals<T>,
        w: KernelWeights<T>,
        out: SignalsMut<T>,
        gathered: &mut [T],
    ) {
        self.on(Isa::auto())
            .forward_rows_gathering(x, w, out, gathered)
    }

    fn check_gathered(&self, len: usize, batch: usize, c_in: usize) {
        let want = [self.vertices, self.basis, batch, c_in]
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b));
        assert!(
            want == Some(len),
            "gathered: {len} values, expected N·B·S·C_in = {} · {} · {batch} · {c_in}",
            self.vertices,
            self.basis
        );
    }

    fn check_forward(&self, x: &Signals<T>, w: &KernelWeights<T>, out: &Signals<T>) {
        self.check_signals(
            ("input", x.vertices(), x.batch()),
            ("output", out.vertices(), out.batch()),
        );
        self.check_weights(
            "weights",
            w.basis(),
            w.in_channels(),
            w.out_channels(),
            (x.channels(), out.channels()),
        );
    }

    /// Weight gradient, summed over the batch: `∂L/∂W_b = Σ_i Σ_p (A_b X_i)[p]ᵀ ⊗ G_i[p]`, with
    /// `G_i = ∂L/∂out_i`. Overwrites `grad_w`. Does not compute the input gradient (a network's first
    /// layer needs only this).
    ///
    /// Sums run in fixed blocks and signals in batch order, so the result does not depend on the
    /// number of threads.
    ///
    /// # Shapes
    /// - `x`: batch × N × C_in;
    /// - `grad_out`: batch × N × C_out;
    /// - `grad_w`: B × C_in × C_out, overwritten.
    ///
    /// # Panics
    /// If a signal is not on N vertices, the batches differ, or `grad_w` is not B × C_in × C_out for
    /// the channels of `x` and `grad_out`.
    pub fn weight_gradient(
        &self,
        x: Signals<T>,
        grad_out: Signals<T>,
        grad_w: KernelWeightsMut<T>,
    ) {
        self.on(Isa::auto()).weight_gradient(x, grad_out, grad_w)
    }

    /// [`weight_gradient`](Self::weight_gradient) with `x` and `grad_out` in row layout
    /// ([`forward_rows`](Self::forward_rows)).
    ///
    /// # Panics
    /// As [`weight_gradient`](Self::weight_gradient).
    pub fn weight_gradient_rows(
        &self,
        x: Signals<T>,
        grad_out: Signals<T>,
        grad_w: KernelWeightsMut<T>,
    ) {
        self.on(Isa::auto())
            .weight_gradient_rows(x, grad_out, grad_w)
    }

    /// [`weight_gradient_rows`](Self::weight_gradient_rows) from what
    /// [`forward_rows_gathering`](Self::forward_rows_gathering) kept of the same input.
    ///
    /// # Panics
    /// As [`weight_gradient`](Self::weight_gradient), or if `gathered` does not hold `N·B·S·C_in`
    /// values for the batch of `grad_out` and the input channels of `grad_w`.
    pub fn weight_gradient_gathered(
        &self,
        gathered: &[T],
        grad_out: Signals<T>,
        grad_w: KernelWeightsMut<T>,
    ) {
        self.on(Isa::auto())
            .weight_gradient_gathered(gathered, grad_out, grad_w)
    }

    /// `grad_w += Σ_s Σ_b Σ_p (A_b x_s)[p]ᵀ ⊗ grad_out_s[p]` for a batch in row layout: per group of
    /// blocks a partial `Yᵀ·G` over the blocks' (row, signal) pairs, the partials added in order.
    #[allow(clippy::too_many_arguments)]
    fn add_weight_gradient(
        &self,
        isa: Isa,
        x: Source<T>,
        batch: usize,
        c_in: usize,
        grad_out: &[T],
        c_out: usize,
        grad_w: &mut [T],
    ) {
        let k = self.basis * c_in;
        let wide = self.basis * batch * c_in;
        const GROUP: usize = 16;
        let groups = self.vertices.div_ceil(BLOCK * GROUP);
        let partials: Vec<Vec<T>> = (0..groups)
            .into_par_iter()
            .map(|g| {
                let mut y = vec![T::default(); BLOCK * wide];
                let mut z = Vec::new();
                let mut acc = vec![T::default(); k * c_out];
                for blk in g * GROUP..((g + 1) * GROUP).min(self.vertices.div_ceil(BLOCK)) {
                    let rows = blk * BLOCK..(blk * BLOCK + BLOCK).min(self.vertices);
                    let (r0, m) = (rows.start, rows.len());
                    let y = match x {
                        Source::Gather(x) => {
                            gather(
                                &self.forward_structure(),
                                rows,
                                x,
                                batch * c_in,
                                &mut y,
                                isa,
                            );
                            &y[..]
                        }
                        Source::Gathered(all) => &all[r0 * wide..(r0 + m) * wide],
                    };
                    let gout = &grad_out[r0 * batch * c_out..(r0 + m) * batch * c_out];
                    let tile = Tile {
                        rows: m,
                        basis: self.basis,
                        batch,
                        width: c_in,
                    };
                    tile_weight_gradient(tile, y, gout, c_out, &mut acc, &mut z, isa);
                }
                acc
            })
            .collect();
        for p in partials {
            for (g, v) in grad_w.iter_mut().zip(p) {
                *g += v;
            }
        }
    }

    /// Input gradient: `∂L/∂X_i = Σ_b A_bᵀ G_i W_bᵀ` for every signal of the batch (`G_i = ∂L/∂out_i`),
    /// computed like a forward pass over the transposed operator. Overwrites `grad_x`.
    ///
    /// # Shapes
    /// - `grad_out`: batch × N × C_out;
    /// - `w`: B × C_in × C_out;
    /// - `grad_x`: batch × N × C_in, overwritten.
    ///
    /// # Panics
    /// If a signal is not on N vertices, the batches differ, or the weights are not B × C_in × C_out for
    /// the channels of `grad_x` and `grad_out`.
    pub fn input_gradient(&self, grad_out: Signals<T>, w: KernelWeights<T>, grad_x: SignalsMut<T>) {
        self.on(Isa::auto()).input_gradient(grad_out, w, grad_x)
    }

    /// [`input_gradient`](Self::input_gradient) with `grad_out` and `grad_x` in row layout
    /// ([`forward_rows`](Self::forward_rows)).
    ///
    /// # Panics
    /// As [`input_gradient`](Self::input_gradient).
    pub fn input_gradient_rows(
        &self,
        grad_out: Signals<T>,
        w: KernelWeights<T>,
        grad_x: SignalsMut<T>,
    ) {
        self.on(Isa::auto())
            .input_gradient_rows(grad_out, w, grad_x)
    }

    /// Both gradients of a hidden layer in one pass: the input gradient as
    /// [`input_gradient`](Self::input_gradient) and the weight gradient, summed over the batch, as
    /// [`weight_gradient`](Self::weight_gradient), computed from the one gather over the transposed
    /// operator that the input gradient makes (`∂L/∂W_b = Σ_q x[q]ᵀ ⊗ (A_bᵀ G)[q]`) instead of
    /// gathering `x` again. Overwrites `grad_x` and `grad_w`; sums run in fixed blocks, so the result
    /// does not depend on the number of threads.
    ///
    /// # Shapes
    /// - `x`: batch × N × C_in;
    /// - `grad_out`: batch × N × C_out;
    /// - `w`: B × C_in × C_out;
    /// - `grad_x`: batch × N × C_in, overwritten;
    /// - `grad_w`: B × C_in × C_out, overwritten.
    ///
    /// # Panics
    /// If a signal is not on N vertices, the batches differ, `grad_x` is not shaped as `x`, or the
    /// weights or `grad_w` are not B × C_in × C_out for the channels of `x` and `grad_out`.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::conv::{ConvOperator, Gauge, KernelWeights, KernelWeightsMut, Signals, SignalsMut, SpanningTree};
    /// use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable};
    /// use manifold_cnn::kernel::{KernelBasis, PolarBins};
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// let m = Manifold::load("icosphere:1", &BuildOptions::default()).unwrap();
    /// let table = ExpMapTable::build(&m, &ExpMapOptions::default()).unwrap();
    /// let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    /// let basis = KernelBasis::Bins(PolarBins::new(1, 2).unwrap());
    /// let op = ConvOperator::<f64>::new(&m, &table, &basis, &gauge).unwrap();
    /// let (n, nb) = (op.vertex_count(), op.basis_len());
    /// let x: Vec<f64> = (0..n * 3).map(|i| (i as f64 * 0.37).sin()).collect();
    /// let g: Vec<f64> = (0..n * 2).map(|i| (i as f64 * 0.11).cos()).collect();
    /// let w: Vec<f64> = (0..nb * 3 * 2).map(|i| i as f64 - 4.0).collect();
    /// let (mut gx, mut gw) = (vec![0.0; n * 3], vec![0.0; w.len()]);
    /// op.backward(
    ///     Signals::new(&x, 1, 3).unwrap(),
    ///     Signals::new(&g, 1, 2).unwrap(),
    ///     KernelWeights::new(&w, nb, 3, 2).unwrap(),
    ///     SignalsMut::new(&mut gx, 1, 3).unwrap(),
    ///     KernelWeightsMut::new(&mut gw, nb, 3, 2).unwrap(),
    /// );
    /// // The same as the two gradients computed on their own.
    /// let (mut gx1, mut gw1) = (vec![0.0; n * 3], vec![0.0; w.len()]);
    /// op.input_gradient(
    ///     Signals::new(&g, 1, 2).unwrap(),
    ///     KernelWeights::new(&w, nb, 3, 2).unwrap(),
    ///     SignalsMut::new(&mut gx1, 1, 3).unwrap(),
    /// );
    /// op.weight_gradient(
    ///     Signals::new(&x, 1, 3).unwrap(),
    ///     Signals::new(&g, 1, 2).unwrap(),
    ///     KernelWeightsMut::new(&mut gw1, nb, 3, 2).unwrap(),
    /// );
    /// assert_eq!(gx, gx1);
    /// for (a, b) in gw.iter().zip(&gw1) {
    ///     assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()));
    /// }
    /// ```
    pub fn backward(
        &self,
        x: Signals<T>,
        grad_out: Signals<T>,
        w: KernelWeights<T>,
        grad_x: SignalsMut<T>,
        grad_w: KernelWeightsMut<T>,
    ) {
        self.on(Isa::auto())
            .backward(x, grad_out, w, grad_x, grad_w)
    }

    /// [`backward`](Self::backward) with `x`, `grad_out` and `grad_x` in row layout
    /// ([`forward_rows`](Self::forward_rows)).
    ///
    /// # Panics
    /// As [`backward`](Self::backward).
    pub fn backward_rows(
        &self,
        x: Signals<T>,
        grad_out: Signals<T>,
        w: KernelWeights<T>,
        grad_x: SignalsMut<T>,
        grad_w: KernelWeightsMut<T>,
    ) {
        self.on(Isa::auto())
            .backward_rows(x, grad_out, w, grad_x, grad_w)
    }

    /// Panics unless the arguments of [`backward`](Self::backward) fit this operator and each other.
    fn check_backward(
        &self,
        x: &Signals<T>,
        grad_out: &Signals<T>,
        w: &KernelWeights<T>,
        grad_x: &Signals<T>,
        grad_w: &KernelWeightsMut<T>,
    ) {
        self.check_signals(
            ("input", x.vertices(), x.batch()),
            ("output gradient", grad_out.vertices(), grad_out.batch()),
        );
        self.check_input_gradient(grad_out, w, grad_x);
        assert_eq!(
            (x.batch(), x.channels()),
            (grad_x.batch(), grad_x.channels()),
            "input gradient: batch × channels differ from the input's"
        );
        self.check_weights(
            "weight gradient",
            grad_w.basis(),
            grad_w.in_channels(),
            grad_w.out_channels(),
            (x.channels(), grad_out.channels()),
        );
    }

    fn check_input_gradient(
        &self,
        grad_out: &Signals<T>,
        w: &KernelWeights<T>,
        grad_x: &Signals<T>,
    ) {
        self.check_signals(
            ("output gradient", grad_out.vertices(), grad_out.batch()),
            ("input gradient", grad_x.vertices(), grad_x.batch()),
        );
        self.check_weights(
            "weights",
            w.basis(),
            w.in_channels(),
            w.out_channels(),
            (grad_x.channels(), grad_out.channels()),
        );
    }

    /// `∂L/∂X[q] = Σ_b W_b · (Σ_p A_b[p, q] grad_out[p])` for `grad_out` in row layout: a gather over
    /// the transposed index, then one product with the weights read as (B·C_out) × C_in.
    fn apply_transposed(
        &self,
        isa: Isa,
        grad_out: &[T],
        batch: usize,
        w: KernelWeights<T>,
        out: Output<T>,
    ) {
        let (c_in, c_out) = (w.in_channels(), w.out_channels());
        self.apply_batch(
            isa,
            &self.transposed_structure(),
            grad_out,
            batch,
            c_out,
            &transposed_weights(w),
            c_in,
            out,
        );
    }

    /// Both gradients from one gather over the transposed operator, for `x` and `grad_out` in row
    /// layout. Per block of rows `q` the gather `Z_b[q] = Σ_p A_b[p, q] grad_out[p]` (B × S × C_out,
    /// what the input gradient gathers), then its two block products:
    ///
    /// ```text
    /// ∂L/∂X[q]  = Σ_b Z_b[q] W_bᵀ
    /// ∂L/∂W_b   = Σ_p (A_b x)[p]ᵀ ⊗ grad_out[p] = Σ_q x[q]ᵀ ⊗ Z_b[q]
    /// ```
    ///
    /// The second is accumulated as (B·C_out) × C_in per group of blocks, the partials added in
    /// order (deterministic) and transposed into `grad_w` (overwritten). Saves the gather of `x`
    /// that [`add_weight_gradient`](Self::add_weight_gradient) makes.
    #[allow(clippy::too_many_arguments)]
    fn apply_backward(
        &self,
        isa: Isa,
        x: &[T],
        grad_out: &[T],
        batch: usize,
        w: KernelWeights<T>,
        grad_x: Output<T>,
        grad_w: &mut [T],
    ) {
        let (n, nb) = (self.vertices, self.basis);
        let (c_in, c_out) = (w.in_channels(), w.out_channels());
        let transposed = transposed_weights(w);
        let s = self.transposed_structure();
        let wide = nb * batch * c_out;
        let (out, vertex_order) = match grad_x {
            Output::Rows(out) => (out, false),
            Output::Vertices(out) => (out, true),
            Output::RowsKeeping(..) => unreachable!("the backward pass keeps no gathered tile"),
        };
        assert_eq!(out.len(), batch * n * c_in);
        assert_eq!(x.len(), batch * n * c_in);
        assert_eq!(grad_out.len(), batch * n * c_out);
        let dst = DisjointWrites::new(out);
        const GROUP: usize = 16;
        let blocks = n.div_ceil(BLOCK);
        let partials: Vec<Vec<T>> = (0..blocks.div_ceil(GROUP))
            .into_par_iter()
            .map(|g| {
                let mut z = vec![T::default(); BLOCK * wide];
                let mut o = vec![T::default(); BLOCK * batch * c_in];
                let mut scratch = Vec::new();
                let mut acc = vec![T::default(); nb * c_out * c_in];
                for blk in g * GROUP..((g + 1) * GROUP).min(blocks) {
                    let rows = blk * BLOCK..(blk * BLOCK + BLOCK).min(n);
                    let (r0, m) = (rows.start, rows.len());
                    let tile = Tile {
                        rows: m,
                        basis: nb,
                        batch,
                        width: c_out,
                    };
                    gather(&s, rows.clone(), grad_out, batch * c_out, &mut z, isa);
                    let o = &mut o[..m * batch * c_in];
                    tile_product(tile, &z, &transposed, c_in, o, &mut scratch, isa);
                    let xs = &x[r0 * batch * c_in..(r0 + m) * batch * c_in];
                    tile_weight_gradient(tile, &z, xs, c_in, &mut acc, &mut scratch, isa);
                    if vertex_order {
                        self.scatter_rows(&dst, rows, batch, c_in, o);
                    } else {
                        // SAFETY: blocks cover disjoint ranges of rows, so of the output.
                        unsafe { dst.write(r0 * batch * c_in, o) };
                    }
                }
                acc
            })
            .collect();
        grad_w.iter_mut().for_each(|v| *v = T::default());
        for p in partials {
            for b in 0..nb {
                for o in 0..c_out {
                    for i in 0..c_in {
                        grad_w[(b * c_in + i) * c_out + o] += p[(b * c_out + o) * c_in + i];
                    }
                }
            }
        }
    }

    /// The operator of basis function `b` as a sparse N × N matrix.
    ///
    /// # Panics
    /// If `b >= B`.
    pub fn basis_matrix(&self, b: usize) -> sprs::CsMat<T> {
        assert!(b < self.basis, "basis function {b} of {}", self.basis);
        let (indptr, indices, coefs) = self.csr();
        let data: Vec<T> = coefs.iter().skip(b).step_by(self.basis).copied().collect();
        sprs::CsMat::new(
            (self.vertices, self.vertices),
            indptr.iter().map(|&o| o as usize).collect(),
            indices.iter().map(|&c| c as usize).collect(),
            data,
        )
    }
}

/// Weights `[b][i][o]` (B × C_in × C_out) as `[b][o][i]`: the (B·C_out) × C_in matrix the input
/// gradient's block product multiplies.
fn transposed_weights<T: Real>(w: KernelWeights<T>) -> Vec<T> {
    let (nb, c_in, c_out) = (w.basis(), w.in_channels(), w.out_channels());
    let weights = w.as_slice();
    let mut transposed = vec![T::default(); weights.len()];
    for b in 0..nb {
        for i in 0..c_in {
            for o in 0..c_out {
                transposed[(b * c_out + o) * c_in + i] = weights[(b * c_in + i) * c_out + o];
            }
        }
    }
    transposed
}

impl SampledBasis for crate::kernel::KernelBasis {
    fn len(&self) -> usize {
        crate::kernel::KernelBasis::len(self)
    }
    fn eval(&self, r: f64, theta: f64, out: &mut [f64]) {
        self.evaluate(&[crate::kernel::PolarPoint { r, theta }], out)
    }
    fn eval_grid(&self, radii: &[f64], angles: &[f64], out: &mut [f64]) {
        self.evaluate_grid(radii, angles, out)
    }
    fn eval_grid_partition(
        &self,
        radii: &[f64],
        angles: &[f64],
        out: &mut [Option<(usize, f64)>],
    ) -> bool {
        match self {
            crate::kernel::KernelBasis::Bins(bins) => {
                bins.evaluate_grid_bins(radii, angles, out);
                true
            }
            _ => false,
        }
    }
}

impl SampledBasis for crate::kernel::ConstrainedBasis {
    fn len(&self) -> usize {
        self.dimension()
    }
    fn eval(&self, r: f64, theta: f64, out: &mut [f64]) {
        self.evaluate(&[crate::kernel::PolarPoint { r, theta }], out)
    }
    fn eval_grid(&self, radii: &[f64], angles: &[f64], out: &mut [f64]) {
        self.evaluate_grid(radii, angles, out)
    }
    fn eval_grid_partition(
        &self,
        radii: &[f64],
        angles: &[f64],
        out: &mut [Option<(usize, f64)>],
    ) -> bool {
        self.evaluate_grid_partition(radii, angles, out)
    }
}

#[cfg(test)]
mod tests {
    use super::compile::spread_bits;
    use super::{ConvOperator, ConvOptions, Layout, Quadrature};
    use crate::conv::{Gauge, SpanningTree};
    use crate::expmap::{ExpMapOptions, ExpMapTable, Padding};
    use crate::kernel::KernelBasis;
    use crate::{BuildOptions, Manifold};

    /// The numbers saved files and cache keys store: fixed (files written before must still
    /// read), distinct, and read back as what was written; any other number is refused.
    #[test]
    fn stored_codes_are_fixed_and_read_back() {
        for (q, code) in [(Quadrature::Mean, 0), (Quadrature::Integral, 1)] {
            assert_eq!(q.code(), code);
            assert_eq!(Quadrature::from_code(code as u32), Some(q));
        }
        for (p, code) in [(Padding::Zero, 0), (Padding::Clamp, 1)] {
            assert_eq!(p.code(), code);
            assert_eq!(Padding::from_code(code as u32), Some(p));
        }
        for (l, code) in [(Layout::Blocks, 0), (Layout::PerFunction, 1)] {
            assert_eq!(l.code(), code);
            assert_eq!(Layout::from_code(code), Some(l));
        }
        for bad in [2, 255, u32::MAX] {
            assert_eq!(Quadrature::from_code(bad), None);
            assert_eq!(Padding::from_code(bad), None);
            assert_eq!(Layout::from_code(bad), None);
        }
    }

    /// Each part of a split operator is the operator of its functions: the columns of the whole
    /// where any of them is stored, their coefficients, and its own transposed index (exactly the
    /// transpose of its rows: `validate`, as on load).
    #[test]
    fn split_parts_are_the_operators_of_their_functions() {
        let m = Manifold::load("icosphere:2", &BuildOptions::default()).unwrap();
        let t = ExpMapTable::build(&m, &ExpMapOptions::default()).unwrap();
        let g = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
        let basis = KernelBasis::parse("bins:2:4").unwrap();
        let lens = [3, 1, 4];
        for layout in [Layout::Blocks, Layout::PerFunction] {
            let options = ConvOptions::new().layout(layout);
            let whole = ConvOperator::<f64>::with_options(&m, &t, &basis, &g, &options).unwrap();
            let (indptr, indices, coefs) = whole.csr();
            let mut start = 0;
            for part in whole.clone().split_basis(&lens).unwrap() {
                part.validate().unwrap();
                assert_eq!(part.layout(), layout);
                let (nb, len) = (whole.basis_len(), part.basis_len());
                let (p_indptr, p_indices, p_coefs) = part.csr();
                // The whole's entries, restricted to the part's functions, less those where all
                // of them are zero (which the per-function layout does not store).
                let (mut want_indptr, mut want_indices, mut want_coefs) =
                    (vec![0u32], vec![], vec![]);
                for v in 0..whole.vertex_count() {
                    for j in indptr[v] as usize..indptr[v + 1] as usize {
                        let c = &coefs[j * nb + start..j * nb + start + len];
                        if layout == Layout::Blocks || c.iter().any(|&x| x != 0.0) {
                            want_indices.push(indices[j]);
                            want_coefs.extend_from_slice(c);
                        }
                    }
                    want_indptr.push(want_indices.len() as u32);
                }
                assert_eq!(
                    (p_indptr, p_indices, p_coefs),
                    (want_indptr, want_indices, want_coefs)
                );
                start += len;
            }
        }
    }

    #[test]
    fn spread_bits_moves_bit_i_to_bit_3i() {
        let naive = |x: u64| (0..21).fold(0u64, |acc, i| acc | ((x >> i) & 1) << (3 * i));
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            assert_eq!(spread_bits(x), naive(x & 0x1f_ffff), "{x:#x}");
        }
        assert_eq!(spread_bits(0x1f_ffff), 0x1249_2492_4924_9249);
    }
}
