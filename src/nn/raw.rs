//! Direct access to the data of CPU tensors, for the custom ops' backward passes (no copies).

use candle_core::{Layout, Storage, Tensor, WithDType};

/// A floating-point type the custom ops run in (their elementwise passes compute in it, so that they
/// vectorize at its width; sums over many rows add in `f64`).
pub(crate) trait Float:
    WithDType
    + Default
    + Copy
    + Send
    + Sync
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::AddAssign
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
{
}
impl Float for f32 {}
impl Float for f64 {}

/// Calls `f` with the tensor's elements in row-major order (made contiguous first if needed).
pub(crate) fn read<T: Float, R>(
    t: &Tensor,
    f: impl FnOnce(&[T]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let t = if t.is_contiguous() {
        t.clone()
    } else {
        t.contiguous()?
    };
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("manifold-cnn's ops run on the CPU")
    };
    let (a, b) = layout.contiguous_offsets().expect("made contiguous above");
    f(&cpu.as_slice::<T>()?[a..b])
}

/// The elements a contiguous layout selects from a storage slice (what a custom op's forward gets).
pub(crate) fn contiguous<'a, T>(data: &'a [T], l: &Layout) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("non-contiguous operand of a manifold-cnn op"),
    }
}
