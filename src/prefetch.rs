//! A hint to the processor that a value will be read soon, for the mesh build's random-access walks:
//! issued a few elements ahead, it lets the memory system fetch many independent cache lines at once
//! instead of one dependent miss after another.

/// Asks for the cache line holding `x` to be loaded. A hint only: it never faults and changes nothing
/// but timing (a no-op off x86-64).
#[inline(always)]
pub(crate) fn prefetch<T>(x: &T) {
    prefetch_ptr(x as *const T);
}

/// As [`prefetch`], for any address, valid or not.
#[inline(always)]
pub(crate) fn prefetch_ptr<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing architecturally and cannot fault, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
