//! Standard output and standard error for every command, through one place.
//!
//! `println!` panics when stdout is a closed pipe (`manifold-cnn tour | head`) or a full device
//! (`> /dev/full`). Here a failed write is an [`Error`] that the command returns like any other, so
//! that `main` reports it once: a broken pipe ends the process quietly with status 141 (128 + SIGPIPE,
//! what a shell reports for `yes | head`), every other failure with a message and status 2.
//! Diagnostics on stderr are best effort: when stderr itself fails there is nowhere to report it.

use manifold_cnn::Error;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write to stdout failed because its reader went away.
static BROKEN_PIPE: AtomicBool = AtomicBool::new(false);

/// The path standard output is named by in errors.
pub const STDOUT: &str = "standard output";

/// Writes formatted text to stdout (the expansion of [`outln!`](crate::outln)).
///
/// # Errors
/// [`Error::Io`] naming standard output; a broken pipe is also remembered for [`broken_pipe`].
pub fn write(args: std::fmt::Arguments) -> Result<(), Error> {
    std::io::stdout()
        .lock()
        .write_fmt(args)
        .map_err(stdout_error)
}

/// Flushes stdout: text still buffered must fail here, not be lost at exit.
///
/// # Errors
/// As [`write`].
pub fn flush() -> Result<(), Error> {
    std::io::stdout().lock().flush().map_err(stdout_error)
}

fn stdout_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        BROKEN_PIPE.store(true, Ordering::Relaxed);
    }
    Error::io(STDOUT, e)
}

/// Whether stdout's reader went away: the output is not wanted any more, which is no error to
/// report.
pub fn broken_pipe() -> bool {
    BROKEN_PIPE.load(Ordering::Relaxed)
}

/// Writes formatted text to stderr, ignoring failure.
pub fn diagnostic(args: std::fmt::Arguments) {
    let _ = std::io::stderr().lock().write_fmt(args);
}
