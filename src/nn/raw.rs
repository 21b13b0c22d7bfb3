//! Direct access to the data of CPU tensors, for the custom ops' backward passes (no copies).

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Layout, Shape, Storage, Tensor, WithDType};

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

/// A one-operand op's `cpu_fwd`: its forward in the storage's precision (f32 or f64), else an error
/// naming the op.
pub(crate) fn cpu_fwd1(
    st: &CpuStorage,
    l: &Layout,
    what: &str,
    f32: impl FnOnce(&[f32]) -> candle_core::Result<(Vec<f32>, Shape)>,
    f64: impl FnOnce(&[f64]) -> candle_core::Result<(Vec<f64>, Shape)>,
) -> candle_core::Result<(CpuStorage, Shape)> {
    match st {
        CpuStorage::F32(x) => f32(contiguous(x, l)?).map(|(y, sh)| (CpuStorage::F32(y), sh)),
        CpuStorage::F64(x) => f64(contiguous(x, l)?).map(|(y, sh)| (CpuStorage::F64(y), sh)),
        _ => candle_core::bail!("{what}: features must be f32 or f64, got {:?}", st.dtype()),
    }
}

/// A three-operand op's `cpu_fwd`: its forward on the operands' contiguous elements in their common
/// precision (f32 or f64), else an error naming the op and the three dtypes.
pub(crate) fn cpu_fwd3(
    [(s1, l1), (s2, l2), (s3, l3)]: [(&CpuStorage, &Layout); 3],
    what: &str,
    f32: impl FnOnce([&[f32]; 3]) -> candle_core::Result<(Vec<f32>, Shape)>,
    f64: impl FnOnce([&[f64]; 3]) -> candle_core::Result<(Vec<f64>, Shape)>,
) -> candle_core::Result<(CpuStorage, Shape)> {
    match (s1, s2, s3) {
        (CpuStorage::F32(a), CpuStorage::F32(b), CpuStorage::F32(c)) => {
            f32([contiguous(a, l1)?, contiguous(b, l2)?, contiguous(c, l3)?])
                .map(|(y, sh)| (CpuStorage::F32(y), sh))
        }
        (CpuStorage::F64(a), CpuStorage::F64(b), CpuStorage::F64(c)) => {
            f64([contiguous(a, l1)?, contiguous(b, l2)?, contiguous(c, l3)?])
                .map(|(y, sh)| (CpuStorage::F64(y), sh))
        }
        _ => candle_core::bail!(
            "{what}: the three operands must all be f32 or all f64, got {:?}, {:?} and {:?}",
            s1.dtype(),
            s2.dtype(),
            s3.dtype()
        ),
    }
}
