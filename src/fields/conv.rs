//! A field convolution compiled on a mesh.

use super::kernel::FieldKernel;
use crate::conv::{
    ConvOperator, ConvOptions, Gauge, KernelWeights, Real, Signals, SignalsMut, TransportedBasis,
};
use crate::error::{Error, Result};
use crate::expmap::ExpMapTable;
use crate::Manifold;

impl TransportedBasis for FieldKernel {
    fn len(&self) -> usize {
        self.sampled_len()
    }
    fn eval(&self, r: f64, theta: f64, psi: f64, sigma: f64, out: &mut [f64]) {
        FieldKernel::eval(self, r, theta, psi, sigma, out)
    }
    fn eval_corners(
        &self,
        r: f64,
        theta: f64,
        corners: &[(f64, f64)],
        scratch: &mut Vec<f64>,
        out: &mut [f64],
    ) {
        FieldKernel::eval_corners(self, r, theta, corners, scratch, out)
    }
}

/// A [`FieldKernel`] compiled on a mesh: one [`ConvOperator`] per input class (kind of input field),
/// each gathering that class's channels with its transported basis functions, and the weights of each
/// operator placed from the kernel's free parameters.
///
/// `out = Σ_classes Σ_b (A_b X_class) W_b(params)`: the field convolution of the
/// [module docs](super), with the operator's quadrature ([`ConvOptions`]).
///
/// # Example
/// A layer from scalars to vector fields (order 1) on the icosphere, and the change of frame it
/// commutes with: rotating every vertex's frame rotates every output vector back.
/// ```
/// use manifold_cnn::conv::{ConvOptions, Gauge};
/// use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable};
/// use manifold_cnn::fields::{FieldConvolution, FieldKernel, FieldType};
/// use manifold_cnn::kernel::{RadialBasis, RadialProfile};
/// use manifold_cnn::{BuildOptions, Manifold, O2};
/// let m = Manifold::load("icosphere:1", &BuildOptions::default()).unwrap();
/// let table = ExpMapTable::build(&m, &ExpMapOptions::default()).unwrap();
/// let radial = RadialBasis::new(RadialProfile::Gaussian, 2).unwrap();
/// let (input, output) = (FieldType::scalars(1), FieldType::parse("1x1").unwrap());
/// let kernel = FieldKernel::new(&input, &output, radial, false).unwrap();
/// let params: Vec<f64> = (0..kernel.param_count()).map(|i| 1.0 + i as f64).collect();
/// let x: Vec<f64> = (0..m.mesh.vertex_count()).map(|v| (v as f64).sin()).collect();
/// let run = |gauge: &Gauge| {
///     let conv = FieldConvolution::<f64>::new(&m, &table, kernel.clone(), gauge, &ConvOptions::default()).unwrap();
///     let mut y = vec![0.0; 2 * m.mesh.vertex_count()];
///     conv.forward_vertices(&x, 1, &params, &mut y);
///     y
/// };
/// let y = run(&Gauge::identity(&m));
/// let frames: Vec<O2> = (0..m.mesh.vertex_count()).map(|v| O2::rotation(0.3 * v as f64)).collect();
/// let y2 = run(&Gauge::from_frames(&m, frames.clone()).unwrap());
/// for v in 0..m.mesh.vertex_count() {
///     let mut back = [y2[2 * v], y2[2 * v + 1]];
///     output.act(frames[v], &mut back); // ρ(g) y' = y
///     assert!((back[0] - y[2 * v]).abs() < 1e-12 && (back[1] - y[2 * v + 1]).abs() < 1e-12);
/// }
/// ```
#[derive(Clone, Debug)]
pub struct FieldConvolution<T: Real> {
    kernel: FieldKernel,
    operators: Vec<ConvOperator<T>>,
    maps: Vec<(Vec<u32>, Vec<i8>)>,
}

impl<T: Real> FieldConvolution<T> {
    /// Compiles `kernel` from an exp-map table, with features written in the frames of `gauge`
    /// ([`Gauge::identity`] for the vertices' own polar frames).
    ///
    /// # Errors
    /// As [`ConvOperator::with_transport`]; and [`Error::InvalidParameter`] for an SO(2) kernel
    /// (`reflections` false) on a non-orientable mesh or with a gauge whose frames reflect: its
    /// transport would reverse orientation, which only O(2) kernels carry.
    pub fn new(
        m: &Manifold,
        table: &ExpMapTable,
        kernel: FieldKernel,
        gauge: &Gauge,
        options: &ConvOptions,
    ) -> Result<Self> {
        if !kernel.reflections()
            && (!m.mesh.is_orientable() || gauge.transports().iter().any(|g| g.reflect))
        {
            return Err(Error::InvalidParameter {
                name: "fields",
                message: "SO(2) kernels on a non-orientable mesh or with reflected frames: \
                          transport there reverses orientation; use O(2) kernels (reflections)"
                    .into(),
            });
        }
        let all = ConvOperator::<T>::with_transport(m, table, &kernel, gauge, options)?;
        let lens: Vec<usize> = kernel.classes().iter().map(|c| c.basis_len).collect();
        let operators = all.split_basis(&lens)?;
        let maps = (0..lens.len()).map(|c| kernel.weight_map(c)).collect();
        Ok(FieldConvolution {
            kernel,
            operators,
            maps,
        })
    }

    /// The kernel space.
    pub fn kernel(&self) -> &FieldKernel {
        &self.kernel
    }

    /// The operator of each input class ([`FieldKernel::classes`]).
    pub fn operators(&self) -> &[ConvOperator<T>] {
        &self.operators
    }

    /// Where the parameters go in each class's weights: `(parameter index, sign)` per entry of
    /// `W` (`B_class × C_class × C_out`), sign 0 where none goes.
    pub fn weight_maps(&self) -> &[(Vec<u32>, Vec<i8>)] {
        &self.maps
    }

    /// Class `class`'s weights `W` (`B_class × C_class × C_out`) for the parameters `params`.
    ///
    /// # Panics
    /// If `params.len() != kernel().param_count()` or `class` is out of range.
    pub fn class_weights(&self, class: usize, params: &[T]) -> Vec<T> {
        assert_eq!(
            params.len(),
            self.kernel.param_count(),
            "one value per parameter"
        );
        let (idx, sign) = &self.maps[class];
        idx.iter()
            .zip(sign)
            .map(|(&i, &s)| match s {
                0 => T::default(),
                1 => params[i as usize],
                _ => T::from_f64(-params[i as usize].to_f64()),
            })
            .collect()
    }

    /// Bytes held by the compiled operators.
    pub fn bytes(&self) -> usize {
        self.operators.iter().map(|o| o.bytes()).sum()
    }

    /// Number of vertices N.
    pub fn vertex_count(&self) -> usize {
        self.operators[0].vertex_count()
    }

    /// The convolution of `batch` signals in the mesh's vertex order: `x` holds `batch × N × C_in`
    /// values (the input type's channels at each vertex), `out` receives `batch × N × C_out`.
    ///
    /// # Panics
    /// If the lengths do not fit, or `params.len() != kernel().param_count()`.
    pub fn forward_vertices(&self, x: &[T], batch: usize, params: &[T], out: &mut [T]) {
        let n = self.vertex_count();
        let (c_in, c_out) = (
            self.kernel.input().channels(),
            self.kernel.output().channels(),
        );
        assert_eq!(x.len(), batch * n * c_in, "x: batch × N × C_in values");
        assert_eq!(
            out.len(),
            batch * n * c_out,
            "out: batch × N × C_out values"
        );
        out.iter_mut().for_each(|v| *v = T::default());
        let mut part = vec![T::default(); out.len()];
        for (c, class) in self.kernel.classes().iter().enumerate() {
            let cc = class.channels.len();
            let xc: Vec<T> = x
                .chunks_exact(c_in)
                .flat_map(|row| class.channels.iter().map(move |&k| row[k]))
                .collect();
            let w = self.class_weights(c, params);
            self.operators[c].forward(
                Signals::new(&xc, batch, cc).expect("class input"),
                KernelWeights::new(&w, class.basis_len, cc, c_out).expect("class weights"),
                SignalsMut::new(&mut part, batch, c_out).expect("output"),
            );
            for (o, &p) in out.iter_mut().zip(&part) {
                *o += p;
            }
        }
    }
}
