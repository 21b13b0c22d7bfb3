//! The library's largest arrays (the exp-map table's samples, the operator's columns, coefficients
//! and transposed index), allocated fallibly: a request the system refuses is an
//! [`Error::OutOfMemory`] naming the array, not an abort.
//!
//! Arrays allocated whole are backed at once by the kernel ([`populate`]): the compile writes the
//! transposed index in random order, one page fault per first touch otherwise. Not for
//! [`try_append`]: there it made the compile's fill slower (2.33 s against 2.13 s on icosphere:8),
//! its copies already touch the pages in parallel and in order.
//!
//! Tried and not kept: `madvise(MADV_HUGEPAGE)` on these arrays. Their first touch (the kernel
//! zeroing fresh pages) is a large part of the operator's compile, and huge pages cut the faults
//! 512-fold; but on the VM of BENCHMARKS.md they made it slower: 1 GiB first-touched by two threads
//! in 0.7–3.2 s against 0.55 s on 4 KiB pages (its virtio balloon has free-page reporting on: the
//! guest hands free 2 MiB blocks back to the host, which must fault them in again), and the compile
//! with them took 4.8–7.7 s against 2.3–6.2 s (icosphere:7, alternating runs).

use crate::error::{Error, Result};
use rayon::prelude::*;

/// A type whose all-zero bytes are a valid value (so a zeroed allocation is a vector of them).
///
/// # Safety
/// Implement only for types for which all-zero bytes are a valid value.
pub(crate) unsafe trait Zeroable: Copy {}

// SAFETY: integers are valid for every bit pattern, zero included.
unsafe impl Zeroable for u8 {}
unsafe impl Zeroable for u32 {}
// SAFETY: an array of zeroable values is zeroable.
unsafe impl<T: Zeroable, const N: usize> Zeroable for [T; N] {}

/// `n` zeros ([`Error::OutOfMemory`] naming `what` if the memory cannot be had): fresh pages,
/// already zero, backed at once ([`populate`]) rather than by the caller's first writes.
pub(crate) fn try_zeroed<T: Zeroable>(n: usize, what: &str) -> Result<Vec<T>> {
    // SAFETY: T: Zeroable.
    unsafe { try_zeroed_unchecked(n) }.ok_or_else(|| out_of_memory::<T>(n, what))
}

/// # Safety
/// All-zero bytes must be a valid value of T.
unsafe fn try_zeroed_unchecked<T: Copy>(n: usize) -> Option<Vec<T>> {
    let layout = std::alloc::Layout::array::<T>(n).ok()?;
    if layout.size() == 0 {
        // SAFETY: by the caller (nothing to allocate: n = 0 or T has no bytes).
        return Some(vec![unsafe { std::mem::zeroed::<T>() }; n]);
    }
    // SAFETY: the layout has a nonzero size.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) } as *mut T;
    if ptr.is_null() {
        return None;
    }
    populate(ptr as *mut u8, layout.size());
    // SAFETY: allocated by the global allocator with the layout of `n` values of T, all zero bytes,
    // which the caller promises are `n` initialised values.
    Some(unsafe { Vec::from_raw_parts(ptr, n, n) })
}

/// Stretches [`populate`] hands to one task, and the alignment of what it populates (a multiple of
/// every page size Linux uses).
const POPULATE_STRETCH: usize = 16 << 20;
const POPULATE_ALIGN: usize = 64 << 10;

/// Asks the kernel to back the `len` bytes at `ptr` (memory this process allocated) with
/// writable pages now, in parallel stretches, instead of the first writes faulting them in one
/// trap per page: `MADV_POPULATE_WRITE` (Linux 5.14 and later), which leaves the contents as they
/// are. On the VM of BENCHMARKS.md it backs 876 MB in 0.12–0.13 s where two threads writing zeros
/// take 0.22–0.24 s. A hint: only the whole 64 KiB blocks inside the range, small ranges skipped,
/// nothing off Linux, a refusal (an older kernel) ignored.
fn populate(ptr: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::{c_int, c_void};
        extern "C" {
            fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> c_int;
        }
        const MADV_POPULATE_WRITE: c_int = 23;
        let start = (ptr as usize).next_multiple_of(POPULATE_ALIGN);
        let end = (ptr as usize + len) / POPULATE_ALIGN * POPULATE_ALIGN;
        if end < start + POPULATE_ALIGN * 16 {
            return;
        }
        (start..end)
            .step_by(POPULATE_STRETCH)
            .collect::<Vec<_>>()
            .into_par_iter()
            .for_each(|at| {
                // SAFETY: the stretch lies inside memory this process allocated (the caller's
                // range); populating pages changes no byte of it.
                unsafe {
                    madvise(
                        at as *mut c_void,
                        POPULATE_STRETCH.min(end - at),
                        MADV_POPULATE_WRITE,
                    )
                };
            });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, len);
}

/// `n` copies of `x` ([`Error::OutOfMemory`] naming `what` if the memory cannot be had), filled
/// in parallel (so the first touches are spread over the threads).
pub(crate) fn try_filled<T: Copy + Send + Sync>(n: usize, x: T, what: &str) -> Result<Vec<T>> {
    let mut v = try_with_capacity(n, what)?;
    v.par_extend(rayon::iter::repeat_n(x, n));
    Ok(v)
}

/// An empty vector with room for `n` values, backed at once ([`populate`]; [`Error::OutOfMemory`]
/// naming `what` if the memory cannot be had).
pub(crate) fn try_with_capacity<T>(n: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| out_of_memory::<T>(n, what))?;
    populate(v.as_mut_ptr() as *mut u8, n * std::mem::size_of::<T>());
    Ok(v)
}

/// Appends `parts` to `v` in order, copying them in parallel ([`Error::OutOfMemory`] naming `what`
/// if the memory cannot be had). `v` grows geometrically: a large vector grows by remapping its
/// pages, not by copying them, and its new pages are first touched by the parallel copies.
pub(crate) fn try_append<T: Copy + Send + Sync>(
    v: &mut Vec<T>,
    parts: &[&[T]],
    what: &str,
) -> Result<()> {
    let (len, more) = (v.len(), parts.iter().map(|p| p.len()).sum::<usize>());
    v.try_reserve(more)
        .map_err(|_| out_of_memory::<T>(len.saturating_add(more), what))?;
    let mut rest = &mut v.spare_capacity_mut()[..more];
    let mut places = Vec::with_capacity(parts.len());
    for part in parts {
        let (place, tail) = rest.split_at_mut(part.len());
        places.push(place);
        rest = tail;
    }
    places.into_par_iter().zip(parts).for_each(|(place, part)| {
        for (d, &x) in place.iter_mut().zip(part.iter()) {
            d.write(x);
        }
    });
    // SAFETY: the `more` places after `len` were each written above (the parts' lengths sum to
    // `more` and tile them), within the capacity just reserved.
    unsafe { v.set_len(len + more) };
    Ok(())
}

fn out_of_memory<T>(n: usize, what: &str) -> Error {
    Error::OutOfMemory {
        what: format!("{what} ({n} values)"),
        bytes: (n as u64).saturating_mul(std::mem::size_of::<T>() as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_and_filled_vectors_hold_what_they_promise() {
        for n in [0, 1, 1000, (1 << 22) + 3] {
            let z: Vec<u32> = try_zeroed(n, "z").unwrap();
            assert_eq!(z.len(), n);
            assert!(z.iter().all(|&x| x == 0));
            let f = try_filled(n, [1.5f32, -2.0], "f").unwrap();
            assert_eq!(f.len(), n);
            assert!(f.iter().all(|&x| x == [1.5, -2.0]));
        }
    }

    /// Populating memory that holds values keeps them (the kernel backs the pages it is asked
    /// to, writing nothing), whatever the range's alignment.
    #[test]
    fn populating_changes_no_value() {
        let mut v: Vec<u32> = (0..(1u32 << 22) + 5)
            .map(|i| i.wrapping_mul(2_654_435_761))
            .collect();
        let want = v.clone();
        for skip in [0, 1, 3, 1000] {
            let part = &mut v[skip..];
            populate(part.as_mut_ptr() as *mut u8, std::mem::size_of_val(part));
        }
        assert_eq!(v, want);
    }

    #[test]
    fn appended_parts_follow_in_order() {
        let mut v = vec![7u32];
        let parts: Vec<Vec<u32>> = (0..40u32)
            .map(|k| (0..k * 1000).map(|i| i ^ k).collect())
            .collect();
        let slices: Vec<&[u32]> = parts.iter().map(|p| &p[..]).collect();
        try_append(&mut v, &slices, "v").unwrap();
        try_append(&mut v, &[], "v").unwrap();
        let want: Vec<u32> = std::iter::once(7).chain(parts.concat()).collect();
        assert_eq!(v, want);
    }

    #[test]
    fn an_impossible_size_is_an_error_not_an_abort() {
        let huge = usize::MAX / 4;
        for e in [
            try_zeroed::<u32>(huge, "the zeros").unwrap_err(),
            try_filled(huge, 0u32, "the zeros").unwrap_err(),
            try_with_capacity::<u32>(huge, "the zeros").unwrap_err(),
        ] {
            assert!(
                matches!(e, Error::OutOfMemory { ref what, .. } if what.starts_with("the zeros"))
            );
        }
    }
}
