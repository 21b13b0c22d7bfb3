//! What `convolve` and `train` say while they compile a mesh (exp-map table, then operator): progress
//! on stderr for a stage that runs longer than a second, as `expmap` reports its table, warnings
//! for cache files that cannot be used or written, and a count of what the cache held.

use manifold_cnn::conv::{CompileEvent, Stage};
use std::time::Instant;

/// Prints a compile's [`CompileEvent`]s under a label (`convolve`, `train: MESH`).
pub struct CompileReport {
    label: String,
    last: Instant,
    /// Stages loaded from the cache.
    pub loaded: usize,
    /// Whether the operator (not only the table) was loaded from the cache.
    pub operator_loaded: bool,
    /// Stages written to the cache.
    pub saved: usize,
}

impl CompileReport {
    /// A report whose lines start with `label`.
    pub fn new(label: impl Into<String>) -> CompileReport {
        CompileReport {
            label: label.into(),
            last: Instant::now(),
            loaded: 0,
            operator_loaded: false,
            saved: 0,
        }
    }

    /// Sets the label of the lines that follow.
    pub fn set_label(&mut self, label: impl Into<String>) {
        self.label = label.into();
    }

    /// Handles one event.
    pub fn event(&mut self, e: CompileEvent<'_>) {
        let label = &self.label;
        match e {
            CompileEvent::Loaded { stage, .. } => {
                self.loaded += 1;
                self.operator_loaded |= stage == Stage::Operator;
            }
            CompileEvent::Saved { .. } => self.saved += 1,
            CompileEvent::Rejected { stage, path, error } => errln!(
                "{label}: warning: the cached {} {} cannot be used ({error}); compiling it again",
                stage.name(),
                path.display()
            ),
            CompileEvent::NotSaved { stage, path, error } => errln!(
                "{label}: warning: could not write the {} to the cache as {} ({error})",
                stage.name(),
                path.display()
            ),
            CompileEvent::Progress {
                stage,
                done,
                seconds,
            } => {
                // As `expmap`: a line at most once a second, once the stage has run for a second.
                if seconds < 1.0 || self.last.elapsed().as_secs_f64() < 1.0 {
                    return;
                }
                match (stage, done) {
                    (Stage::Table, Some((done, total))) if done < total => errln!(
                        "{label}: exp-map table {done} / {total} vertices ({:.0}%), {seconds:.1} s",
                        100.0 * done as f64 / total as f64
                    ),
                    (Stage::Operator, _) => {
                        errln!("{label}: compiling the operator, {seconds:.1} s")
                    }
                    _ => return,
                }
                self.last = Instant::now();
            }
            CompileEvent::Compiled { stage, seconds } if seconds >= 1.0 => {
                errln!("{label}: {} compiled in {seconds:.1} s", stage.name());
            }
            _ => {}
        }
    }
}
