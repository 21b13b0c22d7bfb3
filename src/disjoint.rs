//! Writes into one slice from parallel tasks that never touch the same index: scatters by a
//! permutation or a pairing, where each index is written by exactly one task but not in chunks that
//! `par_chunks_mut` could hand out; and pieces of uneven lengths, one per task.

use std::marker::PhantomData;

/// Splits `data` into consecutive pieces of the given lengths (the rest, if any, is not returned):
/// the outputs of parallel tasks that fill pieces of different sizes.
pub(crate) fn split_lengths<T>(
    mut data: &mut [T],
    lengths: impl Iterator<Item = usize>,
) -> Vec<&mut [T]> {
    let mut out = Vec::new();
    for len in lengths {
        let (head, tail) = std::mem::take(&mut data).split_at_mut(len);
        out.push(head);
        data = tail;
    }
    out
}

/// A mutable slice shared by parallel tasks, each writing indices no other task reads or writes.
pub(crate) struct DisjointWrites<'a, T> {
    ptr: *mut T,
    len: usize,
    _slice: PhantomData<&'a mut [T]>,
}

// SAFETY: the writers promise disjoint indices (see `write`); T moves between threads, so T: Send.
unsafe impl<T: Send> Sync for DisjointWrites<'_, T> {}
unsafe impl<T: Send> Send for DisjointWrites<'_, T> {}

impl<'a, T: Copy> DisjointWrites<'a, T> {
    pub(crate) fn new(slice: &'a mut [T]) -> Self {
        DisjointWrites {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            _slice: PhantomData,
        }
    }

    /// Asks for the cache line of index `i` ahead of a write (a hint: never faults).
    #[inline]
    pub(crate) fn prefetch(&self, i: usize) {
        crate::prefetch::prefetch_ptr(self.ptr.wrapping_add(i));
    }

    /// Writes `values` at `start..start + values.len()`.
    ///
    /// # Safety
    /// No other task reads or writes these indices while the slice is shared.
    ///
    /// # Panics
    /// If the range is out of bounds.
    #[inline]
    pub(crate) unsafe fn write(&self, start: usize, values: &[T]) {
        assert!(start <= self.len && values.len() <= self.len - start);
        std::ptr::copy_nonoverlapping(values.as_ptr(), self.ptr.add(start), values.len());
    }
}
