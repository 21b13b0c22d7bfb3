//! A view of an operator whose passes run on a chosen [`SimdPath`]: tests and benchmarks run the
//! paths side by side in one process, each call on its own path, with no global switch to race on.

use super::{ConvOperator, Output, Source};
use crate::conv::gather::{Isa, SimdPath};
use crate::conv::real::Real;
use crate::conv::shape::{KernelWeights, KernelWeightsMut, Signals, SignalsMut};
use crate::error::Result;

/// A [`ConvOperator`] whose passes run on one [`SimdPath`]: made by
/// [`ConvOperator::with_simd`]. Its passes are the operator's, with the same shapes, panics and
/// results up to the rounding of the kernels (each path sums in its own order).
pub struct SimdOperator<'a, T: Real> {
    op: &'a ConvOperator<T>,
    isa: Isa,
}

impl<T: Real> Clone for SimdOperator<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Real> Copy for SimdOperator<'_, T> {}

impl<T: Real> std::fmt::Debug for SimdOperator<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimdOperator")
            .field("vertices", &self.op.vertices)
            .field("basis", &self.op.basis)
            .field("path", &self.isa)
            .finish()
    }
}

impl<T: Real> ConvOperator<T> {
    /// This operator with its passes on the kernels of `path` ([`SimdPath::Auto`]: what the plain
    /// passes run).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) if the processor cannot run
    /// `path` (the message names what it lacks and what it runs); never for `Auto` or `Portable`.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::conv::{ConvOperator, Gauge, KernelWeights, Signals, SignalsMut, SimdPath, SpanningTree};
    /// use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable};
    /// use manifold_cnn::kernel::{KernelBasis, PolarBins};
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// let m = Manifold::load("icosphere:1", &BuildOptions::default()).unwrap();
    /// let table = ExpMapTable::build(&m, &ExpMapOptions::default()).unwrap();
    /// let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    /// let one = KernelBasis::Bins(PolarBins::new(1, 1).unwrap());
    /// let op = ConvOperator::<f32>::new(&m, &table, &one, &gauge).unwrap();
    /// let n = op.vertex_count();
    /// let x: Vec<f32> = (0..n).flat_map(|_| [1.0; 8]).collect();
    /// let w: Vec<f32> = (0..64).map(|i| if i % 9 == 0 { 1.0 } else { 0.0 }).collect();
    /// // The portable path runs everywhere; a constant kernel averages constants back to themselves.
    /// let portable = op.with_simd(SimdPath::Portable).unwrap();
    /// assert_eq!(portable.path(), SimdPath::Portable);
    /// let mut out = vec![0.0f32; n * 8];
    /// portable.forward(
    ///     Signals::new(&x, 1, 8).unwrap(),
    ///     KernelWeights::new(&w, 1, 8, 8).unwrap(),
    ///     SignalsMut::new(&mut out, 1, 8).unwrap(),
    /// );
    /// assert!(out.iter().all(|v| (v - 1.0).abs() < 1e-5));
    /// // A path the processor lacks is an error, not a silent fallback.
    /// for path in SimdPath::ALL {
    ///     assert_eq!(op.with_simd(path).is_ok(), path.is_available());
    /// }
    /// ```
    pub fn with_simd(&self, path: SimdPath) -> Result<SimdOperator<'_, T>> {
        let isa = path.resolve()?.isa().expect("a resolved path is available");
        Ok(self.on(isa))
    }

    pub(super) fn on(&self, isa: Isa) -> SimdOperator<'_, T> {
        SimdOperator { op: self, isa }
    }
}

impl<'a, T: Real> SimdOperator<'a, T> {
    /// The path its passes run on (never `Auto`).
    pub fn path(&self) -> SimdPath {
        self.isa.path()
    }

    /// The operator.
    pub fn operator(&self) -> &'a ConvOperator<T> {
        self.op
    }

    /// [`ConvOperator::forward`] on this path.
    ///
    /// # Shapes
    /// As [`ConvOperator::forward`].
    ///
    /// # Panics
    /// As [`ConvOperator::forward`].
    pub fn forward(&self, x: Signals<T>, w: KernelWeights<T>, mut out: SignalsMut<T>) {
        self.op.check_forward(&x, &w, &out.as_signals());
        let xi = self
            .op
            .to_internal_batch(x.as_slice(), x.batch(), x.channels());
        self.op
            .forward_from(self.isa, &xi, &x, &w, Output::Vertices(out.as_mut_slice()));
    }

    /// [`ConvOperator::forward_rows`] on this path.
    ///
    /// # Shapes
    /// As [`ConvOperator::forward_rows`].
    ///
    /// # Panics
    /// As [`ConvOperator::forward_rows`].
    pub fn forward_rows(&self, x: Signals<T>, w: KernelWeights<T>, mut out: SignalsMut<T>) {
        self.op.check_forward(&x, &w, &out.as_signals());
        self.op.forward_from(
            self.isa,
            x.as_slice(),
            &x,
            &w,
            Output::Rows(out.as_mut_slice()),
        );
    }

    /// [`ConvOperator::forward_rows_gathering`] on this path.
    ///
    /// # Shapes
    /// As [`ConvOperator::forward_rows_gathering`].
    ///
    /// # Panics
    /// As [`ConvOperator::forward_rows_gathering`].
    pub fn forward_rows_gathering(
        &self,
        x: Signals<T>,
        w: KernelWeights<T>,
        mut out: SignalsMut<T>,
        gathered: &mut [T],
    ) {
        self.op.check_forward(&x, &w, &out.as_signals());
        self.op
            .check_gathered(gathered.len(), x.batch(), x.channels());
        let out = Output::RowsKeeping(out.as_mut_slice(), gathered);
        self.op.forward_from(self.isa, x.as_slice(), &x, &w, out);
    }

    /// [`ConvOperator::weight_gradient`] on this path.
    ///
    /// # Shapes
    /// As [`ConvOperator::weight_gradient`].
    ///
    /// # Panics
    /// As [`ConvOperator::weight_gradient`].
    pub fn weight_gradient(
        &self,
        x: Signals<T>,
        grad_out: Signals<T>,
        grad_w: KernelWeightsMut<T>,
    ) {
        let (batch, c_in, c_out) = (x.batch(), x.channels(), grad_out.channels());
        let xi = self.op.to_internal_batch(x.as_slice(), batch, c_in);
        let gi = self.op.to_internal_batch(grad_out.as_slice(), batch, c_out);
        self.weight_gradient_rows(
            Signals::new(&xi, batch, c_in).expect("same shape as x"),
            Signals::new(&gi, batch, c_out).expect("same shape as grad_out"),
            grad_w,
        );
    }

    /// [`ConvOperator::weight_gradient_rows`] on this path.
    ///
    /// # Shapes
    /// As [`ConvOperator::weight_gradient_rows`].
    ///
    /// # Panics
    /// As [`ConvOperator::weight_gradient_rows`].
    pub fn weight_gradient_rows(
        &self,
        x: Signals<T>,
        grad_out: Signals<T>,
        mut grad_w: KernelWeightsMut<T>,
    ) {
        self.op.check_signals(
            ("input", x.vertices(), x.batch()),
            ("output gradient", grad_out.vertices(), grad_out.batch()),
        );
        let (c_in, c_out) = (x.channels(), grad_out.channels());
        self.op.check_weights(
            "weight gradient",
            grad_w.basis(),
            grad_w.in_channels(),
            grad_w.out_channels(),
            (c_in, c_out),
        );
        let grad_w = grad_w.as_mut_slice();
        grad_w.iter_mut().for_each(|v| *v = T::default());
        let source = Source::Gather(x.as_slice());
        self.op.add_weight_gradient(
            self.isa,
            source,
            x.batch(),
            c_in,
            grad_out.as_slice(),
            c_out,
            grad_w,
        );
    }

    /// [`ConvOperator::weight_gradient_gathered`] on this path.
    ///
    /// # Shapes
    /// As [`ConvOperator::weight_gradient_gathered`].
    ///
    /// # Panics
    /// As [`ConvOperator::weight_gradient_gathered`].
    pub fn weight_gradient_gathered(
        &self,
        gathered: &[T],
        grad_out: Signals<T>,
        mut grad_w: KernelWeightsMut<T>,
    ) {
        assert_eq!(
            grad_out.vertices(),
            self.op.vertices,
            "output gradient: signals on {} vertices, but the operator has {}",
            grad_out.vertices(),
            self.op.vertices
        );
        let (batch, c_in, c_out) = (grad_out.batch(), grad_w.in_channels(), grad_out.channels());
        self.op.check_weights(
            "weight gradient",
            grad_w.basis(),
            c_in,
            grad_w.out_channels(),
            (c_in, c_out),
        );
        self.op.check_gathered(gathered.len(), batch, c_in);
        let grad_w = grad_w.as_mut_slice();
        grad_w.iter_mut().for_each(|v| *v = T::default());
        let source = Source::Gathered(gathered);
        self.op.add_weight_gradient(
            self.isa,
            source,
            batch,
            c_in,
            grad_out.as_slice(),
            c_out,
            grad_w,
        );
    }

    /// [`ConvOperator::input_gradient`] on this path.
    ///
    /// # Shapes
    /// As [`ConvOperator::input_gradient`].
    ///
    /// # Panics
    /// As [`ConvOperator::input_gradient`].
    pub fn input_gradient(
        &self,
        grad_out: Signals<T>,
        w: KernelWeights<T>,
        mut grad_x: SignalsMut<T>,
    ) {
        self.op
            .check_input_gradient(&grad_out, &w, &grad_x.as_signals());
        let gi = self
            .op
            .to_internal_batch(grad_out.as_slice(), grad_out.batch(), w.out_channels());
        self.op.apply_transposed(
            self.isa,
            &gi,
            grad_out.batch(),
            w,
            Output::Vertices(grad_x.as_mut_slice()),
        );
    }

    /// [`ConvOperator::input_gradient_rows`] on this path.
    ///
    /// # Shapes
    /// As [`ConvOperator::input_gradient_rows`].
    ///
    /// # Panics
    /// As [`ConvOperator::input_gradient_rows`].
    pub fn input_gradient_rows(
        &self,
        grad_out: Signals<T>,
        w: KernelWeights<T>,
        mut grad_x: SignalsMut<T>,
    ) {
        self.op
            .check_input_gradient(&grad_out, &w, &grad_x.as_signals());
        let batch = grad_out.batch();
        self.op.apply_transposed(
            self.isa,
            grad_out.as_slice(),
            batch,
            w,
            Output::Rows(grad_x.as_mut_slice()),
        );
    }

    /// [`ConvOperator::backward`] on this path.
    ///
    /// # Shapes
    /// As [`ConvOperator::backward`].
    ///
    /// # Panics
    /// As [`ConvOperator::backward`].
    pub fn backward(
        &self,
        x: Signals<T>,
        grad_out: Signals<T>,
        w: KernelWeights<T>,
        mut grad_x: SignalsMut<T>,
        mut grad_w: KernelWeightsMut<T>,
    ) {
        self.op
            .check_backward(&x, &grad_out, &w, &grad_x.as_signals(), &grad_w);
        let batch = x.batch();
        let xi = self.op.to_internal_batch(x.as_slice(), batch, x.channels());
        let gi = self
            .op
            .to_internal_batch(grad_out.as_slice(), batch, grad_out.channels());
        let out = Output::Vertices(grad_x.as_mut_slice());
        self.op
            .apply_backward(self.isa, &xi, &gi, batch, w, out, grad_w.as_mut_slice());
    }

    /// [`ConvOperator::backward_rows`] on this path.
    ///
    /// # Shapes
    /// As [`ConvOperator::backward_rows`].
    ///
    /// # Panics
    /// As [`ConvOperator::backward_rows`].
    pub fn backward_rows(
        &self,
        x: Signals<T>,
        grad_out: Signals<T>,
        w: KernelWeights<T>,
        mut grad_x: SignalsMut<T>,
        mut grad_w: KernelWeightsMut<T>,
    ) {
        self.op
            .check_backward(&x, &grad_out, &w, &grad_x.as_signals(), &grad_w);
        let out = Output::Rows(grad_x.as_mut_slice());
        let (batch, x, g) = (x.batch(), x.as_slice(), grad_out.as_slice());
        self.op
            .apply_backward(self.isa, x, g, batch, w, out, grad_w.as_mut_slice());
    }
}
