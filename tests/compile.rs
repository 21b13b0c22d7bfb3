//! The compiled operator against a reference compile written here from the formula of
//! [`ConvOperator`]'s docs, one vertex, one sample, one corner at a time with the plain `eval` of the
//! basis: same rows, same columns, same coefficients to f32 rounding, for every basis kind, every
//! constrained group, both quadratures and both paddings, on primitives and real meshes.
//!
//! ```text
//! A_b[p, q] = Σ_s Σ_{corners k of s's landing face at q} ω_s β_{s,k} k_b(r_s/ρ, Γ_p⁻¹θ_s)
//! ```
//!
//! and for a transported basis (the field kernels) `k_b(r_s/ρ, Γ_p⁻¹θ_s, Γ_q⁻¹ψ_{s,k}, σ_{s,k})`.

use manifold_cnn::conv::{
    ConvOperator, ConvOptions, Gauge, Layout, Quadrature, SampledBasis, SpanningTree,
    TransportedBasis,
};
use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable, Padding, Radius, Tracer};
use manifold_cnn::fields::{FieldKernel, FieldType};
use manifold_cnn::holonomy::HolonomyGroup;
use manifold_cnn::ids::HalfedgeId;
use manifold_cnn::kernel::{KernelBasis, RadialBasis, RadialProfile};
use manifold_cnn::{BuildOptions, Manifold};
use std::collections::BTreeMap;
use std::f64::consts::PI;

/// A row of the reference: for each neighbour q, the B coefficients and, per coefficient, the sum
/// of the absolute values of its terms (the scale of its f64 rounding).
type Row = BTreeMap<u32, (Vec<f64>, Vec<f64>)>;

/// How the reference evaluates the basis at one corner of one sample.
enum Reference<'a> {
    Sampled(&'a dyn SampledBasis),
    Transported(&'a dyn TransportedBasis, Tracer<'a>),
}

/// The reference compile, vertex by vertex in the mesh's numbering.
fn reference(
    m: &Manifold,
    table: &ExpMapTable,
    gauge: &Gauge,
    basis: &Reference,
    quadrature: Quadrature,
) -> Vec<Row> {
    let nb = match basis {
        Reference::Sampled(b) => b.len(),
        Reference::Transported(b, _) => b.len(),
    };
    let area: f64 = table.sample_weights().iter().sum();
    let omega = |s: usize| match quadrature {
        Quadrature::Mean => table.sample_weights()[s] / area,
        Quadrature::Integral => table.sample_weights()[s],
    };
    let g = gauge.transports();
    let mut values = vec![0.0; nb];
    (0..m.mesh.vertex_count())
        .map(|p| {
            let mut row = Row::new();
            for s in 0..table.samples_per_vertex() {
                // Zero padding: a truncated sample reads zero; clamp: it reads the stop point.
                let Some((face, bary)) = table.padded_landing(p, s) else {
                    continue;
                };
                let r = table.sample_radii()[s] / table.radius();
                let theta = g[p].inverse().apply(table.sample_angles()[s]);
                let corners = m.mesh.face_vertices(face);
                // The table keeps two barycentric coordinates in f32; the third is 1 − β0 − β1 in
                // f64 (the documented partition of unity).
                let (b0, b1) = (bary[0] as f64, bary[1] as f64);
                for (k, beta) in [b0, b1, 1.0 - b0 - b1].into_iter().enumerate() {
                    if beta == 0.0 {
                        continue;
                    }
                    let q = corners[k].index();
                    match basis {
                        Reference::Sampled(b) => b.eval(r, theta, &mut values),
                        Reference::Transported(b, tracer) => {
                            let e = table.entry(p, s);
                            let psi = table.transported_polar_angle(tracer, p, s, k).unwrap();
                            let c = HalfedgeId::from_face_side(face, k);
                            let flip =
                                e.mirrored ^ m.mesh.corner_flipped(c) ^ g[p].reflect ^ g[q].reflect;
                            let sigma = if flip { -1.0 } else { 1.0 };
                            b.eval(r, theta, g[q].inverse().apply(psi), sigma, &mut values);
                        }
                    }
                    let (sum, scale) = row
                        .entry(q as u32)
                        .or_insert_with(|| (vec![0.0; nb], vec![0.0; nb]));
                    let w = omega(s) * beta;
                    for b in 0..nb {
                        sum[b] += w * values[b];
                        scale[b] += (w * values[b]).abs();
                    }
                }
            }
            row
        })
        .collect()
}

/// Compares an operator with the reference: the same columns in every row, and every coefficient
/// equal to the reference rounded to f32 (half an ulp of f32), up to the f64
/// rounding of sums taken in another order (a few ulps of f64 of the sum of absolute terms).
fn assert_matches(op: &ConvOperator<f32>, want: &[Row], what: &str) {
    let nb = op.basis_len();
    let (indptr, indices, coefs) = op.csr();
    assert_eq!(indptr.len(), want.len() + 1, "{what}: rows");
    for (p, row) in want.iter().enumerate() {
        let (a, b) = (indptr[p] as usize, indptr[p + 1] as usize);
        let cols: Vec<u32> = row.keys().copied().collect();
        assert_eq!(&indices[a..b], &cols[..], "{what}: columns of row {p}");
        for (j, (sum, scale)) in (a..b).zip(row.values()) {
            for k in 0..nb {
                let (got, exact) = (coefs[j * nb + k] as f64, sum[k]);
                // Rounding to f32: half an ulp, 2⁻²⁴ relative for normal numbers and 2⁻¹⁵⁰
                // absolute among the subnormals.
                let tol = (exact.abs() * 2f64.powi(-24)).max(2f64.powi(-150)) + scale[k] * 1e-14;
                assert!(
                    (got - exact).abs() <= tol,
                    "{what}: row {p}, column {}, basis {k}: {got} vs {exact} (tolerance {tol:e})",
                    cols[j - a]
                );
            }
        }
    }
}

fn table(m: &Manifold, rings: usize, directions: usize, padding: Padding) -> ExpMapTable {
    let params = ExpMapOptions::new()
        .rings(rings)
        .directions(directions)
        .radius(Radius::MeanEdgeLengths(2.5))
        .padding(padding);
    ExpMapTable::build(m, &params).unwrap()
}

fn load(spec: &str) -> Manifold {
    Manifold::load(spec, &BuildOptions::default()).unwrap()
}

fn bases() -> Vec<KernelBasis> {
    let hat = RadialBasis::new(RadialProfile::Hat, 3).unwrap();
    vec![
        KernelBasis::parse("harmonic:2:3").unwrap(),
        KernelBasis::Harmonic(manifold_cnn::kernel::HarmonicBasis::new(hat, 2).unwrap()),
        KernelBasis::parse("bins:2:8").unwrap(),
        KernelBasis::parse("bins:3:6").unwrap(),
        KernelBasis::parse("gaussians:2:4").unwrap(),
    ]
}

fn groups() -> Vec<HolonomyGroup> {
    vec![
        HolonomyGroup::trivial(),
        HolonomyGroup::cyclic(4),
        HolonomyGroup::cyclic(3),
        HolonomyGroup::so2(),
        HolonomyGroup::reflection(0.3),
        HolonomyGroup::reflection(PI / 8.0),
        HolonomyGroup::dihedral(2, 0.0),
        HolonomyGroup::o2(),
    ]
}

/// Every basis kind, unconstrained and under every group, on a mesh and table.
fn check_sampled(m: &Manifold, t: &ExpMapTable, gauge: &Gauge, what: &str) {
    // What a caller sizes memory by before compiling: the reference's entries, row by row.
    let entries: usize = reference(
        m,
        t,
        gauge,
        &Reference::Sampled(&bases()[0]),
        Quadrature::Mean,
    )
    .iter()
    .map(|row| row.len())
    .sum();
    assert_eq!(ConvOperator::entry_count(m, t).unwrap(), entries, "{what}");
    for quadrature in [Quadrature::Mean, Quadrature::Integral] {
        for basis in bases() {
            let want = reference(m, t, gauge, &Reference::Sampled(&basis), quadrature);
            // Both layouts store the reference; left to choose, the compile stores per function
            // where that takes at most 3/4 of the blocks' bytes.
            let ops = [None, Some(Layout::Blocks), Some(Layout::PerFunction)].map(|layout| {
                let mut options = ConvOptions::new().quadrature(quadrature);
                options.layout = layout;
                let op = ConvOperator::<f32>::with_options(m, t, &basis, gauge, &options).unwrap();
                // What a caller sizes memory by: exact where the compile counts every row.
                assert!(m.mesh.vertex_count() <= 4096);
                let estimate = ConvOperator::estimated_bytes(m, t, &basis, gauge, &options);
                assert_eq!(
                    estimate.unwrap(),
                    op.bytes() as u64,
                    "{what}, {basis:?}, {layout:?}: estimate"
                );
                op
            });
            for op in &ops {
                let what = format!("{what}, {basis:?}, {quadrature:?}, {:?}", op.layout());
                assert_matches(op, &want, &what);
            }
            let what = format!("{what}, {basis:?}");
            assert_eq!(ops[1].layout(), Layout::Blocks, "{what}");
            assert_eq!(ops[2].layout(), Layout::PerFunction, "{what}");
            assert_eq!(
                ops[1].csr(),
                ops[2].csr(),
                "{what}: the layouts store the same"
            );
            // What a caller sizes memory by: the blocks' bytes, which the choice never exceeds.
            let most = ConvOperator::max_bytes(m, t, basis.len()).unwrap();
            assert_eq!(most, ops[1].bytes() as u64, "{what}: max_bytes");
            assert!(ops[0].bytes() as u64 <= most, "{what}: above max_bytes");
            let per_function = 4 * ops[2].bytes() <= 3 * ops[1].bytes();
            let want = if per_function {
                Layout::PerFunction
            } else {
                Layout::Blocks
            };
            assert_eq!(ops[0].layout(), want, "{what}: the compile's own choice");
        }
    }
    for basis in bases() {
        for group in groups() {
            let constrained = basis.constrain(&group);
            if constrained.is_empty() {
                continue;
            }
            let op = ConvOperator::<f32>::new(m, t, &constrained, gauge).unwrap();
            let want = reference(
                m,
                t,
                gauge,
                &Reference::Sampled(&constrained),
                Quadrature::Mean,
            );
            assert_matches(&op, &want, &format!("{what}, {basis:?} under {group:?}"));
        }
    }
}

#[test]
fn sampled_bases_on_primitives_match_the_reference() {
    for (spec, padding) in [
        ("icosphere:2", Padding::Zero),
        ("grid:7x6", Padding::Zero),
        ("grid:7x6", Padding::Clamp),
        ("flat-torus:8x8", Padding::Zero),
        ("flat-mobius:12x5", Padding::Clamp),
        ("cube:3", Padding::Zero),
        ("cone:4", Padding::Zero),
        ("mobius:16x4", Padding::Zero),
    ] {
        let m = load(spec);
        let t = table(&m, 3, 8, padding);
        let gauge = Gauge::new(&m, None, SpanningTree::Random { seed: 7 }).unwrap();
        check_sampled(&m, &t, &gauge, &format!("{spec} ({padding:?})"));
    }
}

#[test]
fn sampled_bases_on_real_meshes_match_the_reference() {
    for name in ["eight.obj", "teapot_unwelded.obj"] {
        let path = format!("{}/meshes/{name}", env!("CARGO_MANIFEST_DIR"));
        let m = load(&path);
        let t = table(&m, 2, 6, Padding::Zero);
        let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
        for basis in [
            KernelBasis::parse("harmonic:2:2").unwrap(),
            KernelBasis::parse("bins:2:8").unwrap(),
        ] {
            let op = ConvOperator::<f32>::new(&m, &t, &basis, &gauge).unwrap();
            let want = reference(
                &m,
                &t,
                &gauge,
                &Reference::Sampled(&basis),
                Quadrature::Mean,
            );
            assert_matches(&op, &want, &format!("{name}, {basis:?}"));
            let so2 = basis.constrain(&HolonomyGroup::so2());
            let op = ConvOperator::<f32>::new(&m, &t, &so2, &gauge).unwrap();
            let want = reference(&m, &t, &gauge, &Reference::Sampled(&so2), Quadrature::Mean);
            assert_matches(&op, &want, &format!("{name}, {basis:?} under SO(2)"));
        }
    }
}

/// Where the compile counts 4,096 of the rows to choose its layout, the estimate of its bytes
/// extrapolates from them: near the compiled operator's (a few percent on a regular mesh), and
/// refused as the compile refuses (`the_per_function_layout_is_refused_where_it_cannot_be_built`).
#[test]
fn estimated_bytes_extrapolate_the_counted_rows() {
    let m = load("icosphere:5");
    assert!(m.mesh.vertex_count() > 4096);
    let t = table(&m, 4, 8, Padding::Zero);
    let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    for spec in ["bins:2:8", "harmonic:2:3"] {
        let basis = KernelBasis::parse(spec).unwrap();
        let options = ConvOptions::new();
        let op = ConvOperator::<f32>::with_options(&m, &t, &basis, &gauge, &options).unwrap();
        let estimate = ConvOperator::estimated_bytes(&m, &t, &basis, &gauge, &options).unwrap();
        let bytes = op.bytes() as f64;
        assert!(
            (estimate as f64 - bytes).abs() <= 0.05 * bytes,
            "{spec}: estimate {estimate} for {bytes} bytes"
        );
    }
}

/// A table whose samples are not a polar grid cannot be built, so the compile's per-vertex grid
/// evaluation is always taken; the plain per-sample path is the default `eval_grid` of a basis that
/// does not override it, checked here through a wrapper.
struct Plain(KernelBasis);

impl SampledBasis for Plain {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn eval(&self, r: f64, theta: f64, out: &mut [f64]) {
        SampledBasis::eval(&self.0, r, theta, out)
    }
}

#[test]
fn a_basis_with_only_eval_matches_the_reference() {
    let m = load("torus:12x8");
    let t = table(&m, 3, 7, Padding::Zero);
    let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let basis = Plain(KernelBasis::parse("gaussians:2:3").unwrap());
    let op = ConvOperator::<f32>::new(&m, &t, &basis, &gauge).unwrap();
    let want = reference(
        &m,
        &t,
        &gauge,
        &Reference::Sampled(&basis),
        Quadrature::Mean,
    );
    assert_matches(&op, &want, "torus, plain gaussians");
}

#[test]
fn grid_evaluation_equals_eval_for_every_kind() {
    // More radii than a grid evaluation takes at once (bins find rings 32 radii at a time).
    let radii: Vec<f64> = [0.0, 0.1, 0.5, 0.99, 1.0, 1.3]
        .into_iter()
        .chain((0..34).map(|i| i as f64 / 30.0))
        .collect();
    let angles = [-7.0, -PI, 0.0, 0.3, PI / 4.0, PI, 5.0];
    for basis in bases() {
        let mut all = vec![basis.clone().into_sampled()];
        for group in groups() {
            all.push(Box::new(basis.constrain(&group)));
        }
        for (which, b) in all.into_iter().enumerate() {
            // Bins partition the disc, and so do the bins a group constrains (the orbits of
            // bins are disjoint): both must say so.
            let bins = matches!(basis, KernelBasis::Bins(_));
            let nb = b.len();
            let mut grid = vec![0.0; radii.len() * angles.len() * nb];
            b.eval_grid(&radii, &angles, &mut grid);
            let mut one = vec![0.0; nb];
            for (j, &theta) in angles.iter().enumerate() {
                for (i, &r) in radii.iter().enumerate() {
                    b.eval(r, theta, &mut one);
                    let k = j * radii.len() + i;
                    assert_eq!(
                        &grid[k * nb..(k + 1) * nb],
                        &one[..],
                        "{basis:?} at ({r}, {theta})"
                    );
                }
            }
            // A partition (at most one function nonzero anywhere) names that function and its
            // value; any other basis says it is none.
            let mut named = vec![None; radii.len() * angles.len()];
            let nonzero = |k: usize| -> Vec<(usize, f64)> {
                (0..nb)
                    .filter(|&f| grid[k * nb + f] != 0.0)
                    .map(|f| (f, grid[k * nb + f]))
                    .collect()
            };
            let partition = (0..named.len()).all(|k| nonzero(k).len() <= 1);
            if b.eval_grid_partition(&radii, &angles, &mut named) {
                assert!(partition, "{basis:?} is no partition");
                for (k, f) in named.iter().enumerate() {
                    assert_eq!(
                        f.iter().copied().collect::<Vec<_>>(),
                        nonzero(k),
                        "{basis:?}"
                    );
                }
            } else {
                assert!(named.iter().all(Option::is_none), "{basis:?} wrote");
                assert!(
                    !bins,
                    "{basis:?} (constrained: {}) did not say it is a partition",
                    which > 0
                );
            }
        }
    }
}

/// A partition of the disc that does not say so (no `eval_grid_partition`) is stored per
/// function through the masks of its values: the same operator as the bins that say so, and as
/// the reference.
#[test]
fn a_partition_known_only_by_its_values_compiles_alike() {
    let m = load("torus:12x8");
    let t = table(&m, 4, 9, Padding::Zero);
    let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let bins = KernelBasis::parse("bins:2:5").unwrap();
    let want = reference(&m, &t, &gauge, &Reference::Sampled(&bins), Quadrature::Mean);
    let options = ConvOptions::new().layout(Layout::PerFunction);
    let said = ConvOperator::<f32>::with_options(&m, &t, &bins, &gauge, &options).unwrap();
    let plain = Plain(bins.clone());
    let unsaid = ConvOperator::<f32>::with_options(&m, &t, &plain, &gauge, &options).unwrap();
    assert_matches(&said, &want, "torus, bins");
    assert_matches(&unsaid, &want, "torus, plain bins");
    assert_eq!(said.csr(), unsaid.csr());
    // A partition that names a function it does not have is not believed: its values are taken.
    let wrong = WrongPartition(bins.clone());
    let op = ConvOperator::<f32>::with_options(&m, &t, &wrong, &gauge, &options).unwrap();
    assert_eq!(op.csr(), said.csr());
}

/// Bins that name function B (one past the last) at the first point of every grid.
struct WrongPartition(KernelBasis);

impl SampledBasis for WrongPartition {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn eval(&self, r: f64, theta: f64, out: &mut [f64]) {
        SampledBasis::eval(&self.0, r, theta, out)
    }
    fn eval_grid(&self, radii: &[f64], angles: &[f64], out: &mut [f64]) {
        SampledBasis::eval_grid(&self.0, radii, angles, out)
    }
    fn eval_grid_partition(
        &self,
        radii: &[f64],
        angles: &[f64],
        out: &mut [Option<(usize, f64)>],
    ) -> bool {
        assert!(self.0.eval_grid_partition(radii, angles, out));
        out[0] = Some((self.0.len(), 1.0));
        true
    }
}

trait IntoSampled {
    fn into_sampled(self) -> Box<dyn SampledBasis>;
}
impl IntoSampled for KernelBasis {
    fn into_sampled(self) -> Box<dyn SampledBasis> {
        Box::new(self)
    }
}

#[test]
fn field_kernels_match_the_reference() {
    let radial = RadialBasis::new(RadialProfile::Gaussian, 2).unwrap();
    for (spec, reflections, input, output) in [
        ("icosphere:2", false, "1x0+1x1+1x2", "1x0+1x1+1x3"),
        ("cube:3", false, "2x1", "1x0+1x2"),
        ("torus:12x8", false, "1x0+1x1", "1x1"),
        ("flat-mobius:12x5", true, "1x0+1x0-+1x1+1x2", "1x0+1x0-+1x1"),
        ("mobius:16x4", true, "1x1+1x0-", "1x0+1x2"),
    ] {
        let m = load(spec);
        let t = table(&m, 3, 8, Padding::Zero);
        let gauge = Gauge::new(&m, None, SpanningTree::Random { seed: 3 }).unwrap();
        let (fi, fo) = (
            FieldType::parse(input).unwrap(),
            FieldType::parse(output).unwrap(),
        );
        let kernel = FieldKernel::new(&fi, &fo, radial, reflections).unwrap();
        for quadrature in [Quadrature::Mean, Quadrature::Integral] {
            let options = ConvOptions::new().quadrature(quadrature);
            let op =
                ConvOperator::<f32>::with_transport(&m, &t, &kernel, &gauge, &options).unwrap();
            let tracer = Tracer::new(&m);
            let want = reference(
                &m,
                &t,
                &gauge,
                &Reference::Transported(&kernel, tracer),
                quadrature,
            );
            assert_matches(
                &op,
                &want,
                &format!("{spec}, {input} → {output}, {quadrature:?}"),
            );
        }
    }
}

#[test]
fn compiles_are_identical_run_to_run_and_across_thread_counts() {
    let m = load("icosphere:3");
    let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    // Harmonics are stored in blocks, bins per function (each layout's own transposed index). The
    // bins' disc is wide enough for 8 entries per transposed row, so that the index is counted in
    // as many chunks as threads (one per 8 entries per row at most).
    let wide = ExpMapOptions::new()
        .rings(8)
        .directions(16)
        .radius(Radius::MeanEdgeLengths(5.0));
    for (spec, layout, t) in [
        (
            "harmonic:2:3",
            Layout::Blocks,
            table(&m, 4, 8, Padding::Zero),
        ),
        (
            "bins:2:8",
            Layout::PerFunction,
            ExpMapTable::build(&m, &wide).unwrap(),
        ),
    ] {
        let basis = KernelBasis::parse(spec).unwrap();
        let op = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| ConvOperator::<f32>::new(&m, &t, &basis, &gauge).unwrap())
        };
        let one = op(1);
        assert_eq!(one.layout(), layout, "{spec}");
        // The transposed index's rows: one per vertex in blocks, one per (vertex, function).
        let rows = match layout {
            Layout::Blocks => one.vertex_count(),
            Layout::PerFunction => one.vertex_count() * one.basis_len(),
        };
        assert!(
            one.nnz() >= 8 * rows,
            "{spec}: {} entries in {rows} rows",
            one.nnz()
        );
        check_thread_counts(op);
    }
}

/// The operators `op(threads)` compiles with 1 to 4 threads are identical.
fn check_thread_counts(op: impl Fn(usize) -> ConvOperator<f32>) {
    let one = op(1);
    for threads in [2, 3, 4] {
        let other = op(threads);
        assert_eq!(one.csr(), other.csr(), "{threads} threads");
        // The transposed index is checked through the input gradient, which reads only it.
        let n = one.vertex_count();
        let g: Vec<f32> = (0..n).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        let w: Vec<f32> = (0..one.basis_len())
            .map(|b| b as f32 * 0.25 - 1.0)
            .collect();
        let grads: Vec<Vec<f32>> = [&one, &other]
            .iter()
            .map(|op| {
                let mut out = vec![0.0f32; n];
                op.input_gradient(
                    manifold_cnn::conv::Signals::new(&g, 1, 1).unwrap(),
                    manifold_cnn::conv::KernelWeights::new(&w, op.basis_len(), 1, 1).unwrap(),
                    manifold_cnn::conv::SignalsMut::new(&mut out, 1, 1).unwrap(),
                );
                out
            })
            .collect();
        assert_eq!(grads[0], grads[1], "{threads} threads: input gradient");
    }
}

#[test]
fn input_gradient_is_the_transpose_of_the_forward() {
    // ⟨A x, g⟩ = ⟨x, Aᵀ g⟩ in f64 for every basis function: the transposed index lists exactly the
    // forward's entries.
    let m = load("mobius:16x4");
    let t = table(&m, 3, 8, Padding::Zero);
    let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    for (spec, layout) in [
        ("harmonic:1:2", Layout::Blocks),
        ("harmonic:1:2", Layout::PerFunction),
        ("bins:2:4", Layout::PerFunction),
    ] {
        let basis = KernelBasis::parse(spec).unwrap();
        let options = ConvOptions::new().layout(layout);
        let op = ConvOperator::<f64>::with_options(&m, &t, &basis, &gauge, &options).unwrap();
        check_adjoint(&op);
    }
}

/// ⟨A_b x, g⟩ = ⟨x, A_bᵀ g⟩ for every basis function b of `op`.
fn check_adjoint(op: &ConvOperator<f64>) {
    let n = op.vertex_count();
    let x: Vec<f64> = (0..n)
        .map(|i| ((i * 7919) % 13) as f64 / 13.0 - 0.5)
        .collect();
    let g: Vec<f64> = (0..n)
        .map(|i| ((i * 104_729) % 17) as f64 / 17.0 - 0.5)
        .collect();
    use manifold_cnn::conv::{KernelWeights, Signals, SignalsMut};
    for b in 0..op.basis_len() {
        let mut w = vec![0.0; op.basis_len()];
        w[b] = 1.0;
        let mut ax = vec![0.0; n];
        op.forward(
            Signals::new(&x, 1, 1).unwrap(),
            KernelWeights::new(&w, op.basis_len(), 1, 1).unwrap(),
            SignalsMut::new(&mut ax, 1, 1).unwrap(),
        );
        let mut atg = vec![0.0; n];
        op.input_gradient(
            Signals::new(&g, 1, 1).unwrap(),
            KernelWeights::new(&w, op.basis_len(), 1, 1).unwrap(),
            SignalsMut::new(&mut atg, 1, 1).unwrap(),
        );
        let lhs: f64 = ax.iter().zip(&g).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&atg).map(|(a, b)| a * b).sum();
        assert!(
            (lhs - rhs).abs() <= 1e-12 * (1.0 + lhs.abs()),
            "{:?}, basis {b}: {lhs} vs {rhs}",
            op.layout()
        );
    }
}

#[test]
fn the_per_function_layout_is_refused_where_it_cannot_be_built() {
    let m = load("icosphere:1");
    let t = table(&m, 2, 6, Padding::Zero);
    let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let per_function = ConvOptions::new().layout(Layout::PerFunction);
    // A transported basis: each coefficient depends on the corner as well.
    let radial = RadialBasis::new(RadialProfile::Gaussian, 2).unwrap();
    let (fi, fo) = (
        FieldType::parse("1x1").unwrap(),
        FieldType::parse("1x1").unwrap(),
    );
    let kernel = FieldKernel::new(&fi, &fo, radial, false).unwrap();
    let e = ConvOperator::<f32>::with_transport(&m, &t, &kernel, &gauge, &per_function)
        .unwrap_err()
        .to_string();
    assert!(e.contains("layout") && e.contains("transported"), "{e}");
    // More functions than a mask has bits (65 bins); blocks are still possible, and chosen.
    let basis = KernelBasis::parse("bins:5:13").unwrap();
    assert_eq!(basis.len(), 65);
    let e = ConvOperator::<f32>::with_options(&m, &t, &basis, &gauge, &per_function)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at most 64") && e.contains("65"), "{e}");
    let estimated = ConvOperator::estimated_bytes(&m, &t, &basis, &gauge, &per_function);
    assert_eq!(
        estimated.unwrap_err().to_string(),
        e,
        "the estimate refuses alike"
    );
    let op = ConvOperator::<f32>::new(&m, &t, &basis, &gauge).unwrap();
    assert_eq!(op.layout(), Layout::Blocks);
}
