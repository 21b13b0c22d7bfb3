//! Support shared by the test files, like nalgebra's test `utils`: each test file compiles it as its
//! own module `common` and uses a subset, so unused items are expected.
//!
//! - [`meshes`]: loading meshes and their files, build options, exp-map tables and their sanity check;
//! - [`random`]: the one seeded generator of the tests (the library's SplitMix64) and the random
//!   signals and frames drawn from it;
//! - [`angles`]: angle wrapping (written apart from the library's) and the identity-transport check;
//! - [`vec3`]: arithmetic on `[f64; 3]` points;
//! - [`slices`]: largest differences, magnitudes and norms of slices, refinement studies;
//! - [`strategies`]: proptest strategies for random meshes;
//! - [`files`]: temporary directories and the fixtures written into them;
//! - [`gradients`]: central differences and gradients checked against them;
//! - [`cli`]: the built binary, run with arguments, in a directory, its output as text or JSON.
//!
//! Scalar comparisons use `approx`'s `assert_abs_diff_eq!` directly, or [`assert_abs_diff_eq_msg!`]
//! where the failure should name the vertex, spec or sample it concerns.
#![allow(dead_code)]

pub mod angles;
pub mod cli;
pub mod files;
pub mod gradients;
pub mod meshes;
pub mod random;
pub mod slices;
pub mod strategies;
pub mod vec3;

#[allow(unused_imports)]
pub use files::TempDir;
#[allow(unused_imports)]
pub use meshes::assert_table_sane;

/// `approx::assert_abs_diff_eq!(given, expected, epsilon = ε)` with a message of context (approx's
/// macros take none): passes where `|given − expected| ≤ ε`, and on failure prints both values, the
/// tolerance and the context, e.g. the vertex.
///
/// ```ignore
/// assert_abs_diff_eq_msg!(sums[v], 2.0 * PI, epsilon = 1e-12, "vertex {v}");
/// ```
#[allow(unused_macros)]
macro_rules! assert_abs_diff_eq_msg {
    ($given:expr, $expected:expr, epsilon = $epsilon:expr, $($context:tt)+) => {{
        let (given, expected, epsilon) = ($given, $expected, $epsilon);
        assert!(
            approx::abs_diff_eq!(given, expected, epsilon = epsilon),
            "assert_abs_diff_eq!({}, {}, epsilon = {})\n    left  = {:?}\n    right = {:?}\n    \
             epsilon = {:?}\n    {}",
            stringify!($given),
            stringify!($expected),
            stringify!($epsilon),
            given,
            expected,
            epsilon,
            format_args!($($context)+)
        );
    }};
}
#[allow(unused_imports)]
pub(crate) use assert_abs_diff_eq_msg;
