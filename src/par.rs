//! Small parallel helpers shared by the build passes.

use rayon::prelude::*;

/// Items per parallel task where each costs a few nanoseconds (a copy, a flag, a union): fewer
/// would spend more on scheduling than on the work.
pub(crate) const CHEAP_ITEMS_PER_TASK: usize = 4096;

/// Items per parallel task where each costs ~100 ns (a face's or a vertex's geometry: square roots,
/// a few trigonometric functions).
pub(crate) const GEOMETRY_ITEMS_PER_TASK: usize = 1024;

/// Indices per task of [`first_where`].
const CHUNK: usize = CHEAP_ITEMS_PER_TASK;

/// The smallest `i < n` with `pred(i)`, searched in parallel over chunks of indices.
///
/// (rayon's `position_first` over a range does the same but, measured here, some 30 times slower: it
/// hands out single indices to a generic search.)
pub(crate) fn first_where(n: usize, pred: impl Fn(usize) -> bool + Sync) -> Option<usize> {
    (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .find_map_first(|b| (b * CHUNK..((b + 1) * CHUNK).min(n)).find(|&i| pred(i)))
}

#[cfg(test)]
mod tests {
    use super::first_where;

    #[test]
    fn finds_the_smallest_index() {
        let n = 3 * super::CHUNK + 17;
        for hits in [
            vec![],
            vec![0],
            vec![n - 1],
            vec![5000, 9000, 12_000],
            vec![4095, 4096],
        ] {
            let expected = hits.iter().min().copied();
            assert_eq!(first_where(n, |i| hits.contains(&i)), expected, "{hits:?}");
        }
        assert_eq!(first_where(0, |_| true), None);
    }
}
