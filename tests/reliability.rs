//! No input breaks the library: size products that would overflow are refused with the documented
//! panic (never wrapped into an out-of-bounds access), and stages built for one mesh are refused by
//! another.

use manifold_cnn::conv::{Real, Signals};

/// The message of a panic caught from `f`.
fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn gemm_with_an_output_size_that_overflows_panics_instead_of_writing_out_of_bounds() {
    // m × n = 2^62 × 4 = 2^64 wraps to 0 in unchecked arithmetic, which an empty C would pass.
    let (a, b) = ([1.0f32], [1.0f32; 4]);
    let message = panic_message(|| {
        let mut c: [f32; 0] = [];
        f32::gemm(1 << 62, 1, 4, &a, 0, 0, &b, 4, 1, 0.0, &mut c);
    });
    assert!(message.contains("gemm: output of 0 values"), "{message}");
}

#[test]
fn gemm_with_a_stride_offset_that_overflows_panics() {
    // A's last offset (rows − 1)·rs + (cols − 1)·cs = 2^62 + 3·2^62 = 2^64 wraps to 0 in unchecked
    // arithmetic, which a slice of 4 would pass.
    let (a, b) = ([1.0f64; 4], [1.0f64; 4]);
    let message = panic_message(|| {
        let mut c = [0.0f64; 8];
        f64::gemm(2, 4, 1, &a, 1 << 62, 1 << 62, &b, 1, 1, 0.0, &mut c);
    });
    assert!(message.contains("exceeds its slice"), "{message}");
}

#[test]
fn forward_with_the_issues_absurd_sizes_is_refused_by_the_view() {
    // The issue's call: forward on 2^63 signals of 2 channels in an empty buffer. The view refuses
    // the shape, so no operator ever sees it.
    let err = Signals::<f32>::new(&[], 1 << 63, 2)
        .unwrap_err()
        .to_string();
    assert!(err.contains("overflows"), "{err}");
}
