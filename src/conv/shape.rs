//! Shape-carrying views of the convolution's arrays: signals (batch × N × C) and kernel weights
//! (B × C_in × C_out), row-major.
//!
//! A view checks its length against its shape when it is made ([`Result`], naming the shape); the
//! operator checks the shapes against each other and against itself when it is used (a panic, since a
//! mismatch there is a programming error; see each method's `# Panics`).

use crate::error::{Error, Result};

fn shape_error(what: &'static str, message: String) -> Error {
    Error::InvalidParameter {
        name: what,
        message,
    }
}

/// The vertex count of `len` values as `batch × N × channels`.
fn vertices_of(what: &'static str, len: usize, batch: usize, channels: usize) -> Result<usize> {
    if batch == 0 || channels == 0 {
        return Err(shape_error(
            what,
            format!("batch ({batch}) and channels ({channels}) must be at least 1"),
        ));
    }
    // Checked, not saturating: downstream code multiplies batch × channels (and N) freely, which is
    // sound only because a view guarantees that every product of its extents fits in a usize.
    let Some(per_vertex) = batch.checked_mul(channels) else {
        return Err(shape_error(
            what,
            format!("batch ({batch}) × channels ({channels}) overflows the address space"),
        ));
    };
    if !len.is_multiple_of(per_vertex) {
        return Err(shape_error(
            what,
            format!(
                "{len} values are not batch ({batch}) × N × channels ({channels}) for any vertex count N"
            ),
        ));
    }
    Ok(len / per_vertex)
}

fn check_weights(
    what: &'static str,
    len: usize,
    basis: usize,
    c_in: usize,
    c_out: usize,
) -> Result<()> {
    let expected = basis.checked_mul(c_in).and_then(|k| k.checked_mul(c_out));
    if basis == 0 || c_in == 0 || c_out == 0 || expected != Some(len) {
        return Err(shape_error(
            what,
            format!(
                "{len} values for B ({basis}) × C_in ({c_in}) × C_out ({c_out}); every extent must be \
                 at least 1 and the product the length"
            ),
        ));
    }
    Ok(())
}

/// Signals on the vertices of one mesh: `batch × N × C` values, row-major
/// (`data[(i·N + v)·C + c]` is channel `c` of vertex `v` in signal `i`).
///
/// # Example
/// ```
/// use manifold_cnn::conv::Signals;
/// let data = [0.0f32; 2 * 5 * 3];
/// let x = Signals::new(&data, 2, 3).unwrap();
/// assert_eq!((x.batch(), x.vertices(), x.channels()), (2, 5, 3));
/// assert!(Signals::new(&data[..29], 2, 3).is_err());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Signals<'a, T> {
    data: &'a [T],
    batch: usize,
    vertices: usize,
    channels: usize,
}

impl<'a, T> Signals<'a, T> {
    /// `batch` signals of `channels` channels; the vertex count N is `data.len() / (batch · channels)`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `batch` or `channels` is 0, `batch · channels` overflows
    /// `usize`, or the length is not a multiple of `batch · channels`.
    pub fn new(data: &'a [T], batch: usize, channels: usize) -> Result<Self> {
        let vertices = vertices_of("signals", data.len(), batch, channels)?;
        Ok(Signals {
            data,
            batch,
            vertices,
            channels,
        })
    }

    /// The values, row-major.
    pub fn as_slice(&self) -> &'a [T] {
        self.data
    }
    /// Number of signals.
    pub fn batch(&self) -> usize {
        self.batch
    }
    /// Number of vertices N.
    pub fn vertices(&self) -> usize {
        self.vertices
    }
    /// Number of channels C.
    pub fn channels(&self) -> usize {
        self.channels
    }
    /// Signal `i` (N × C values).
    ///
    /// # Panics
    /// If `i ≥ batch`.
    pub fn signal(&self, i: usize) -> &'a [T] {
        assert!(i < self.batch, "signal {i} of a batch of {}", self.batch);
        let n = self.vertices * self.channels;
        &self.data[i * n..(i + 1) * n]
    }
}

/// Signals to be written: as [`Signals`], mutable.
#[derive(Debug)]
pub struct SignalsMut<'a, T> {
    data: &'a mut [T],
    batch: usize,
    vertices: usize,
    channels: usize,
}

impl<'a, T> SignalsMut<'a, T> {
    /// As [`Signals::new`].
    ///
    /// # Errors
    /// As [`Signals::new`].
    pub fn new(data: &'a mut [T], batch: usize, channels: usize) -> Result<Self> {
        let vertices = vertices_of("signals", data.len(), batch, channels)?;
        Ok(SignalsMut {
            data,
            batch,
            vertices,
            channels,
        })
    }

    /// The values, row-major.
    pub fn as_slice(&self) -> &[T] {
        self.data
    }
    /// The values, row-major, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.data
    }
    /// Number of signals.
    pub fn batch(&self) -> usize {
        self.batch
    }
    /// Number of vertices N.
    pub fn vertices(&self) -> usize {
        self.vertices
    }
    /// Number of channels C.
    pub fn channels(&self) -> usize {
        self.channels
    }
    /// A read-only view of the same values.
    pub fn as_signals(&self) -> Signals<'_, T> {
        Signals {
            data: self.data,
            batch: self.batch,
            vertices: self.vertices,
            channels: self.channels,
        }
    }
}

/// Kernel weights: `B × C_in × C_out` values, row-major (`data[(b·C_in + i)·C_out + o]` is the
/// coefficient of basis function `b` from input channel `i` to output channel `o`).
///
/// # Example
/// ```
/// use manifold_cnn::conv::KernelWeights;
/// let w = [0.0f64; 4 * 2 * 3];
/// let k = KernelWeights::new(&w, 4, 2, 3).unwrap();
/// assert_eq!((k.basis(), k.in_channels(), k.out_channels()), (4, 2, 3));
/// assert!(KernelWeights::new(&w, 4, 2, 2).is_err());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct KernelWeights<'a, T> {
    data: &'a [T],
    basis: usize,
    c_in: usize,
    c_out: usize,
}

impl<'a, T> KernelWeights<'a, T> {
    /// Weights of `basis` functions from `c_in` to `c_out` channels.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if an extent is 0 or `data.len() ≠ basis · c_in · c_out`.
    pub fn new(data: &'a [T], basis: usize, c_in: usize, c_out: usize) -> Result<Self> {
        check_weights("kernel weights", data.len(), basis, c_in, c_out)?;
        Ok(KernelWeights {
            data,
            basis,
            c_in,
            c_out,
        })
    }

    /// The values, row-major.
    pub fn as_slice(&self) -> &'a [T] {
        self.data
    }
    /// Number of basis functions B.
    pub fn basis(&self) -> usize {
        self.basis
    }
    /// Number of input channels C_in.
    pub fn in_channels(&self) -> usize {
        self.c_in
    }
    /// Number of output channels C_out.
    pub fn out_channels(&self) -> usize {
        self.c_out
    }
}

/// Kernel weights to be written: as [`KernelWeights`], mutable.
#[derive(Debug)]
pub struct KernelWeightsMut<'a, T> {
    data: &'a mut [T],
    basis: usize,
    c_in: usize,
    c_out: usize,
}

impl<'a, T> KernelWeightsMut<'a, T> {
    /// As [`KernelWeights::new`].
    ///
    /// # Errors
    /// As [`KernelWeights::new`].
    pub fn new(data: &'a mut [T], basis: usize, c_in: usize, c_out: usize) -> Result<Self> {
        check_weights("kernel weights", data.len(), basis, c_in, c_out)?;
        Ok(KernelWeightsMut {
            data,
            basis,
            c_in,
            c_out,
        })
    }

    /// The values, row-major.
    pub fn as_slice(&self) -> &[T] {
        self.data
    }
    /// The values, row-major, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.data
    }
    /// Number of basis functions B.
    pub fn basis(&self) -> usize {
        self.basis
    }
    /// Number of input channels C_in.
    pub fn in_channels(&self) -> usize {
        self.c_in
    }
    /// Number of output channels C_out.
    pub fn out_channels(&self) -> usize {
        self.c_out
    }
}

#[cfg(test)]
mod tests {
    use super::Signals;
    use crate::conv::gather::{gather, Isa, Structure};

    #[test]
    fn views_refuse_extents_whose_product_overflows() {
        // The shape of the issue's segfault: an empty buffer "holding" 2^63 signals of 2 channels.
        let err = Signals::<f32>::new(&[], 1 << 63, 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("overflows"), "{err}");
    }

    #[test]
    fn gather_refuses_buffers_whose_required_length_overflows() {
        // One row reading column 1 of 2, B = 2: with width 2^63, columns × width (2^64) and
        // rows × B × width (2^64) both wrap to 0 in unchecked arithmetic, which an empty source and
        // output would pass.
        let (offsets, cols, coefs) = ([0u32, 1], [1u32], [1.0f32, 1.0]);
        // SAFETY: column 1 < 2, one block of 2 coefficients, offsets non-decreasing up to 1.
        let s = unsafe { Structure::new(&offsets, 1, &cols, None, &coefs, 2, 2) };
        let caught =
            std::panic::catch_unwind(|| gather(&s, 0..1, &[], 1 << 63, &mut [], Isa::auto()));
        let message = caught.unwrap_err();
        let message = message
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or("");
        assert!(
            message.contains("gather: source of 0 values too short"),
            "{message}"
        );
    }
}
