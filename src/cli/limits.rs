//! What a request may cost: the memory a command is about to need, estimated before it allocates and
//! refused with the estimate when it exceeds what can be allocated.
//!
//! The limit is the smallest of the memory the kernel reports available (`MemAvailable`), the room
//! left under a cgroup's `memory.max`, and the room left under the address-space limit
//! (`ulimit -v`, `prlimit --as`); the environment variable [`MAX_MEMORY_VAR`] (bytes, or with a
//! `K`, `M`, `G` or `T` suffix, binary) replaces it.

use manifold_cnn::Error;

/// Environment variable that sets the memory limit of a request, in bytes (suffixes K, M, G, T).
pub const MAX_MEMORY_VAR: &str = "MANIFOLD_CNN_MAX_MEMORY";

const GIB: f64 = (1u64 << 30) as f64;

/// Parses a byte count with an optional binary suffix (`512`, `64M`, `4G`).
fn parse_bytes(s: &str) -> Option<f64> {
    let s = s.trim();
    let (digits, scale) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        (i, 't' | 'T') => (&s[..i], 1 << 40),
        _ => (s, 1),
    };
    digits.parse::<u64>().ok().map(|n| n as f64 * scale as f64)
}

/// A number from a `/proc` or `/sys` file: `field` followed by a number (of `unit` bytes).
fn proc_number(path: &str, field: &str, unit: f64) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let value: f64 = line[field.len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(value * unit)
}

/// The memory a request may use, in bytes, and where the figure comes from.
///
/// # Errors
/// If [`MAX_MEMORY_VAR`] is set but is not a byte count.
pub fn memory_limit() -> Result<(f64, String), Error> {
    if let Ok(v) = std::env::var(MAX_MEMORY_VAR) {
        return parse_bytes(&v)
            .map(|b| (b, format!("{MAX_MEMORY_VAR}={v}")))
            .ok_or_else(|| Error::InvalidParameter {
                name: MAX_MEMORY_VAR,
                message: format!("'{v}' is not a byte count (e.g. 8589934592 or 8G)"),
            });
    }
    let mut limits: Vec<(f64, &str)> = Vec::new();
    if let Some(b) = proc_number("/proc/meminfo", "MemAvailable:", 1024.0) {
        limits.push((b, "available memory"));
    }
    let cgroup = |f: &str| proc_number(&format!("/sys/fs/cgroup/{f}"), "", 1.0);
    if let (Some(max), Some(current)) = (cgroup("memory.max"), cgroup("memory.current")) {
        limits.push(((max - current).max(0.0), "the cgroup's memory.max"));
    }
    let address_space = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            let line = t.lines().find(|l| l.starts_with("Max address space"))?;
            line["Max address space".len()..]
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        });
    if let (Some(max), Some(used)) = (
        address_space,
        proc_number("/proc/self/status", "VmSize:", 1024.0),
    ) {
        limits.push(((max - used).max(0.0), "the address-space limit"));
    }
    Ok(limits
        .into_iter()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(b, what)| (b, what.to_string()))
        .unwrap_or((f64::INFINITY, "no known limit".into())))
}

/// Refuses a request whose parts (name, bytes) need more than [`memory_limit`], naming the estimate
/// and its largest parts.
///
/// # Errors
/// [`Error::InvalidParameter`] named `parameter` with the estimate; or as [`memory_limit`].
pub fn check_memory(
    parameter: &'static str,
    request: &str,
    parts: &[(&str, f64)],
) -> Result<(), Error> {
    let need: f64 = parts.iter().map(|p| p.1).sum();
    let (limit, source) = memory_limit()?;
    // The allocator's own reservations (each worker thread's heap takes segments of its own) come
    // on top of the arrays: without this slack a request that just fits aborts in a small allocation.
    // What the message states as allowed is the limit less the slack.
    let limit = (limit - manifold_cnn::mesh::ALLOCATOR_SLACK as f64).max(0.0);
    if need <= limit {
        return Ok(());
    }
    let mut parts = parts.to_vec();
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    let detail: Vec<String> = parts
        .iter()
        .take(3)
        .filter(|p| p.1 > 0.0)
        .map(|(name, b)| format!("{name} ~{:.3} GiB", b / GIB))
        .collect();
    Err(Error::InvalidParameter {
        name: parameter,
        message: format!(
            "{request} needs ~{:.3} GiB ({}), more than the ~{:.3} GiB allowed by {source} \
             less 64 MiB kept for the allocator (set {MAX_MEMORY_VAR} to change the limit)",
            need / GIB,
            detail.join(", "),
            limit / GIB
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn byte_counts_take_binary_suffixes() {
        assert_eq!(parse_bytes("512"), Some(512.0));
        assert_eq!(parse_bytes("64M"), Some(64.0 * 1048576.0));
        assert_eq!(parse_bytes("4g"), Some(4.0 * 1073741824.0));
        assert_eq!(parse_bytes("4 GB"), None);
        assert_eq!(parse_bytes(""), None);
    }
}
