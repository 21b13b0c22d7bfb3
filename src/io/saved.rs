//! The binary container shared by saved exp-map tables and convolution operators.
//!
//! A saved file is
//!
//! ```text
//! magic      8 bytes    what the file holds (e.g. "MCNNXMAP", "MCNNCONV")
//! version    u32        the format version of that kind of file
//! header     …          fixed-size fields of that kind (all sizes of the arrays that follow)
//! arrays     …          the payload, each array's length given by the header
//! checksum   u64        [`Checksum`] of every byte before it
//! ```
//!
//! Every number is little-endian; floats are IEEE 754 bit patterns. A reader checks the magic and the
//! version first (so a file of another kind or version is named as such), then the header, then that
//! the file is exactly as long as the header says (a truncated file is refused before anything large is
//! allocated), then the checksum (a flipped byte anywhere is refused), and finally the invariants of
//! what it read (indices in range, lengths consistent): a file is either loaded whole and valid or
//! refused with an [`Error::Io`] naming it.
//!
//! Saved files are read under their own size limit, [`max_saved_bytes`]: they are as large as the
//! tables and operators they hold, often more than the 1 GiB allowed for other inputs.

use super::InputFile;
use crate::error::{Error, Result};
use crate::manifold::MeshIdentity;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Environment variable that overrides [`DEFAULT_MAX_SAVED_BYTES`] (a number of bytes).
pub const MAX_SAVED_BYTES_VAR: &str = "MANIFOLD_CNN_MAX_CACHE_BYTES";

/// The largest saved table or operator read, in bytes: 64 GiB. These files are as large as what they
/// hold (an exp-map table of 16 × 8 samples on a 1.6-million-vertex mesh is 3.6 GB), so they get a limit
/// of their own rather than the [`DEFAULT_MAX_INPUT_BYTES`](super::DEFAULT_MAX_INPUT_BYTES) of meshes
/// and arrays; within it a file is read only after its header's sizes match its length, and allocated
/// with fallible reservations, so a bad file is an error, not an abort. [`MAX_SAVED_BYTES_VAR`]
/// overrides it.
pub const DEFAULT_MAX_SAVED_BYTES: u64 = 64 << 30;

/// The limit in force for saved files: [`MAX_SAVED_BYTES_VAR`] if set, else
/// [`DEFAULT_MAX_SAVED_BYTES`].
///
/// # Errors
/// [`Error::InvalidParameter`] if the variable is set but not a number of bytes.
pub fn max_saved_bytes() -> Result<u64> {
    match std::env::var(MAX_SAVED_BYTES_VAR) {
        Err(_) => Ok(DEFAULT_MAX_SAVED_BYTES),
        Ok(v) => v.trim().parse().map_err(|_| Error::InvalidParameter {
            name: MAX_SAVED_BYTES_VAR,
            message: format!("'{v}' is not a number of bytes"),
        }),
    }
}

/// A 64-bit hash of a byte stream, for checksums and cache keys: four lanes over 32-byte blocks
/// (multiply, rotate), the tail and the length mixed in by SplitMix64's finalizer. Not cryptographic:
/// it finds corruption, not forgery. The same bytes give the same hash on every platform and in
/// every release that keeps the format version.
#[derive(Clone, Debug)]
pub struct Checksum {
    lanes: [u64; 4],
    tail: [u8; 32],
    tail_len: usize,
    len: u64,
}

const PRIME: u64 = 0x9E37_79B9_7F4A_7C15;

use crate::manifold::mix;

impl Default for Checksum {
    fn default() -> Self {
        Checksum::new()
    }
}

impl Checksum {
    /// An empty hash.
    pub fn new() -> Checksum {
        Checksum {
            lanes: [1, 2, 3, 4].map(|i: u64| mix(i.wrapping_mul(PRIME))),
            tail: [0; 32],
            tail_len: 0,
            len: 0,
        }
    }

    #[inline]
    fn block(&mut self, b: &[u8]) {
        for (k, lane) in self.lanes.iter_mut().enumerate() {
            let w = u64::from_le_bytes(b[8 * k..8 * k + 8].try_into().expect("8 bytes"));
            *lane = (*lane ^ w).wrapping_mul(PRIME).rotate_left(31);
        }
    }

    /// Adds bytes.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.tail_len > 0 {
            let take = (32 - self.tail_len).min(bytes.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&bytes[..take]);
            self.tail_len += take;
            bytes = &bytes[take..];
            if self.tail_len < 32 {
                return;
            }
            let t = self.tail;
            self.block(&t);
            self.tail_len = 0;
        }
        let mut blocks = bytes.chunks_exact(32);
        for b in &mut blocks {
            self.block(b);
        }
        let rest = blocks.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// The hash of everything added.
    pub fn finish(&self) -> u64 {
        let mut h = mix(self.len ^ PRIME);
        for &l in &self.lanes {
            h = mix(h ^ l).rotate_left(17);
        }
        let mut tail = [0u8; 32];
        tail[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        for w in tail.chunks_exact(8) {
            h = mix(h ^ u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        h
    }
}

/// A value of a saved file's arrays: how it is written and read.
pub trait Pod: Copy {
    /// Bytes per value.
    const SIZE: usize;
    /// Appends the little-endian bytes.
    fn put(self, out: &mut Vec<u8>);
    /// Reads from exactly `SIZE` bytes.
    fn get(b: &[u8]) -> Self;
}

macro_rules! pod {
    ($($t:ty),*) => {$(
        impl Pod for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            #[inline]
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn get(b: &[u8]) -> Self {
                <$t>::from_le_bytes(b.try_into().expect("sized"))
            }
        }
    )*};
}
pod!(u8, u32, u64, f32, f64);

impl Pod for [f32; 2] {
    const SIZE: usize = 8;
    #[inline]
    fn put(self, out: &mut Vec<u8>) {
        self[0].put(out);
        self[1].put(out);
    }
    #[inline]
    fn get(b: &[u8]) -> Self {
        [f32::get(&b[..4]), f32::get(&b[4..])]
    }
}

/// Bytes converted per step when writing or reading an array.
const CHUNK: usize = 1 << 20;

/// Writes a saved file: every byte through the checksum, which [`finish`](Self::finish) appends.
pub struct SavedWriter {
    out: BufWriter<std::fs::File>,
    path: PathBuf,
    sum: Checksum,
    buf: Vec<u8>,
}

impl SavedWriter {
    /// Creates `path` (use it inside [`write_atomically`](super::write_atomically)) and writes the
    /// magic and the version.
    ///
    /// # Errors
    /// [`Error::Io`] naming `path`.
    pub fn create(path: &Path, magic: &[u8; 8], version: u32) -> Result<SavedWriter> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path.display(), e))?;
        let mut w = SavedWriter {
            out: BufWriter::with_capacity(CHUNK, file),
            path: path.to_path_buf(),
            sum: Checksum::new(),
            buf: Vec::with_capacity(CHUNK),
        };
        w.bytes(magic)?;
        w.u32(version)?;
        Ok(w)
    }

    fn bytes(&mut self, b: &[u8]) -> Result<()> {
        self.sum.update(b);
        self.out
            .write_all(b)
            .map_err(|e| Error::io(self.path.display(), e))
    }

    /// Writes a `u32`.
    ///
    /// # Errors
    /// If writing fails.
    pub fn u32(&mut self, v: u32) -> Result<()> {
        self.bytes(&v.to_le_bytes())
    }

    /// Writes a `u64`.
    ///
    /// # Errors
    /// If writing fails.
    pub fn u64(&mut self, v: u64) -> Result<()> {
        self.bytes(&v.to_le_bytes())
    }

    /// Writes the identity of the mesh the stage was built for: vertices, faces and fingerprint, one
    /// `u64` each.
    ///
    /// # Errors
    /// If writing fails.
    pub fn mesh_identity(&mut self, id: MeshIdentity) -> Result<()> {
        self.u64(id.vertices as u64)?;
        self.u64(id.faces as u64)?;
        self.u64(id.fingerprint)
    }

    /// Writes an `f64`.
    ///
    /// # Errors
    /// If writing fails.
    pub fn f64(&mut self, v: f64) -> Result<()> {
        self.bytes(&v.to_le_bytes())
    }

    /// Writes the values of an iterator (their count is the header's business).
    ///
    /// # Errors
    /// If writing fails.
    pub fn array<P: Pod>(&mut self, values: impl IntoIterator<Item = P>) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        for v in values {
            v.put(&mut buf);
            if buf.len() >= CHUNK {
                self.bytes(&buf)?;
                buf.clear();
            }
        }
        let r = self.bytes(&buf);
        self.buf = buf;
        r
    }

    /// Appends the checksum and flushes.
    ///
    /// # Errors
    /// If writing fails.
    pub fn finish(mut self) -> Result<()> {
        let sum = self.sum.finish();
        self.out
            .write_all(&sum.to_le_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|e| Error::io(self.path.display(), e))
    }
}

fn io_error(path: &Path, message: String) -> Error {
    Error::io_message(path.display(), message)
}

/// Reads a saved file written by [`SavedWriter`], checking as it goes.
pub struct SavedReader {
    input: InputFile,
    path: PathBuf,
    /// What the file holds, for messages ("exp-map table").
    what: &'static str,
    sum: Checksum,
    /// The file's length where it is a regular file.
    len: Option<u64>,
    read: u64,
    buf: Vec<u8>,
}

impl SavedReader {
    /// Opens `path` under [`max_saved_bytes`], checks the magic and the version.
    ///
    /// # Errors
    /// [`Error::Io`] naming `path`: unreadable, larger than the limit, not a file of this kind (other
    /// magic bytes), or another format version.
    pub fn open(
        path: &Path,
        what: &'static str,
        magic: &[u8; 8],
        version: u32,
    ) -> Result<SavedReader> {
        let limit = max_saved_bytes()?;
        let input = super::open_limited(path, limit, MAX_SAVED_BYTES_VAR)?;
        // The open file's own length (not the path's again: that could name another file by now).
        let len = input
            .file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        let mut r = SavedReader {
            input,
            path: path.to_path_buf(),
            what,
            sum: Checksum::new(),
            len,
            read: 0,
            buf: Vec::new(),
        };
        let mut got = [0u8; 8];
        r.fill(&mut got)
            .map_err(|_| r.invalid(format!("too short to be a saved {what} ({} bytes)", r.read)))?;
        if &got != magic {
            return Err(r.invalid(format!(
                "not a saved {what}: the file starts with {:?}, expected {:?}",
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(magic)
            )));
        }
        let v = r.u32()?;
        if v != version {
            return Err(r.invalid(format!(
                "a saved {what} of format version {v}; this build reads version {version} \
                 (save it again with this build)"
            )));
        }
        Ok(r)
    }

    /// An [`Error::Io`] naming the file, saying it is not a valid saved file of this kind.
    pub fn invalid(&self, message: String) -> Error {
        io_error(
            &self.path,
            format!("invalid saved {}: {message}", self.what),
        )
    }

    /// Fills `out` from the file (and the checksum).
    fn fill(&mut self, out: &mut [u8]) -> Result<()> {
        let mut at = 0;
        while at < out.len() {
            match self.input.read(&mut out[at..]) {
                Ok(0) => {
                    return Err(self.invalid(format!(
                        "truncated: the file ends after {} bytes",
                        self.read + at as u64
                    )))
                }
                Ok(n) => at += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(self.path.display(), e)),
            }
        }
        self.read += out.len() as u64;
        self.sum.update(out);
        Ok(())
    }

    /// Reads a `u32`.
    ///
    /// # Errors
    /// If the file ends or cannot be read.
    pub fn u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        self.fill(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads a `u64`.
    ///
    /// # Errors
    /// If the file ends or cannot be read.
    pub fn u64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        self.fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads what [`SavedWriter::mesh_identity`] wrote (counts beyond `usize` read as `usize::MAX`,
    /// which no mesh matches).
    ///
    /// # Errors
    /// If the file ends or cannot be read.
    pub fn mesh_identity(&mut self) -> Result<MeshIdentity> {
        let (vertices, faces, fingerprint) = (self.u64()?, self.u64()?, self.u64()?);
        Ok(MeshIdentity {
            vertices: usize::try_from(vertices).unwrap_or(usize::MAX),
            faces: usize::try_from(faces).unwrap_or(usize::MAX),
            fingerprint,
        })
    }

    /// Reads an `f64`.
    ///
    /// # Errors
    /// If the file ends or cannot be read.
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// Once the header is read: checks that the rest of the file is `payload` bytes of arrays plus the
    /// checksum, so a truncated or padded file is refused before its arrays are allocated. `payload`
    /// is `None` where the header's sizes overflow.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file, with the length found and the length the header implies.
    pub fn expect_payload(&self, payload: Option<u64>) -> Result<()> {
        let want = payload.and_then(|p| p.checked_add(self.read + 8));
        let Some(want) = want else {
            return Err(self.invalid("the header's array sizes overflow".into()));
        };
        let limit = self.input.limit;
        if want > limit {
            return Err(self.invalid(format!(
                "the header describes {want} bytes, more than the limit of {limit} bytes for saved \
                 files; set {MAX_SAVED_BYTES_VAR} to raise it"
            )));
        }
        match self.len {
            Some(len) if len < want => Err(self.invalid(format!(
                "truncated: {len} bytes, but its header describes {want}"
            ))),
            Some(len) if len > want => Err(self.invalid(format!(
                "{len} bytes, but its header describes {want}: trailing bytes"
            ))),
            _ => Ok(()),
        }
    }

    /// Reads `n` values (allocated fallibly: an error, not an abort, if memory runs out).
    ///
    /// # Errors
    /// If the file ends or cannot be read, or the values cannot be allocated.
    pub fn array<P: Pod>(&mut self, n: usize) -> Result<Vec<P>> {
        self.array_map(n, |p: P| p)
    }

    /// Reads `n` values stored as `P`, converted by `f` as they are read (no copy of the array in
    /// its stored type).
    ///
    /// # Errors
    /// As [`array`](Self::array).
    pub fn array_map<P: Pod, X>(&mut self, n: usize, f: impl Fn(P) -> X) -> Result<Vec<X>> {
        let mut out = Vec::new();
        out.try_reserve_exact(n).map_err(|_| {
            self.invalid(format!(
                "cannot allocate {n} values of {} bytes to read it",
                P::SIZE
            ))
        })?;
        let mut buf = std::mem::take(&mut self.buf);
        let per = (CHUNK / P::SIZE).max(1);
        let mut left = n;
        while left > 0 {
            let k = left.min(per);
            buf.resize(k * P::SIZE, 0);
            let r = self.fill(&mut buf);
            if let Err(e) = r {
                self.buf = buf;
                return Err(e);
            }
            out.extend(buf.chunks_exact(P::SIZE).map(|b| f(P::get(b))));
            left -= k;
        }
        self.buf = buf;
        Ok(out)
    }

    /// Reads the checksum and checks it, and that the file ends there. (The reader stays, to name the
    /// file in the errors of the checks that follow.)
    ///
    /// # Errors
    /// [`Error::Io`] naming the file if the checksum differs (the file is corrupted) or bytes follow.
    pub fn finish(&mut self) -> Result<()> {
        let want = self.sum.finish();
        let mut b = [0u8; 8];
        // Not through `fill`: the checksum does not cover itself.
        let mut at = 0;
        while at < 8 {
            match self.input.read(&mut b[at..]) {
                Ok(0) => {
                    return Err(self.invalid(format!(
                        "truncated: the file ends after {} bytes, before its checksum",
                        self.read + at as u64
                    )))
                }
                Ok(n) => at += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(self.path.display(), e)),
            }
        }
        if u64::from_le_bytes(b) != want {
            return Err(
                self.invalid("checksum mismatch: the file is corrupted (compile it again)".into())
            );
        }
        let mut probe = [0u8; 1];
        match self.input.read(&mut probe) {
            Ok(0) => Ok(()),
            Ok(_) => Err(self.invalid("trailing bytes after the checksum".into())),
            Err(e) => Err(Error::io(self.path.display(), e)),
        }
    }
}

/// The index of the first value of `v` for which `bad` holds: in parallel over chunks, each checked
/// whole (no early exit inside a chunk, so the check vectorizes), then searched in the first bad chunk.
pub fn first_bad<T: Sync>(v: &[T], bad: impl Fn(&T) -> bool + Sync) -> Option<usize> {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 14;
    let k = v
        .par_chunks(CHUNK)
        .position_first(|c| c.iter().fold(false, |any, x| any | bad(x)))?;
    let chunk = &v[k * CHUNK..((k + 1) * CHUNK).min(v.len())];
    chunk.iter().position(bad).map(|i| k * CHUNK + i)
}

#[cfg(test)]
mod tests {
    use super::Checksum;

    #[test]
    fn checksum_does_not_depend_on_how_bytes_are_split() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut whole = Checksum::new();
        whole.update(&data);
        for split in [1, 5, 31, 32, 33, 100, 999] {
            let mut parts = Checksum::new();
            for c in data.chunks(split) {
                parts.update(c);
            }
            assert_eq!(parts.finish(), whole.finish(), "split {split}");
        }
        let mut flipped = data.clone();
        flipped[500] ^= 1;
        let mut f = Checksum::new();
        f.update(&flipped);
        assert_ne!(f.finish(), whole.finish());
        let mut shorter = Checksum::new();
        shorter.update(&data[..999]);
        assert_ne!(shorter.finish(), whole.finish());
    }
}
