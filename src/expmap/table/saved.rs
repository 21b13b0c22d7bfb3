//! Saving and loading an [`ExpMapTable`]: one binary file, versioned, carrying the mesh's identity.
//!
//! The format is documented on [`TABLE_FORMAT_VERSION`].

use super::{ExpMapTable, Padding, FLAG_MIRRORED, FLAG_TRUNCATED, MAX_SAMPLES};
use crate::error::Result;
use crate::io::saved::{first_bad, SavedReader, SavedWriter};
use crate::manifold::Manifold;
use std::path::Path;

/// The first 8 bytes of a saved exp-map table.
pub const TABLE_MAGIC: &[u8; 8] = b"MCNNXMAP";

/// The format version of saved exp-map tables this build writes and reads
/// ([`ExpMapTable::save`], [`ExpMapTable::load`]).
///
/// # Format of a saved table (version 1)
/// The container of [`io::saved`](crate::io::saved) (little-endian; a checksum of every byte at the
/// end) with
///
/// ```text
/// magic          8 bytes   "MCNNXMAP"
/// version        u32       1
/// reserved       u32       0
/// mesh           3 × u64   vertices N, faces F, fingerprint (MeshIdentity)
/// rings          u64       R
/// directions     u64       A              (S = R·A samples per vertex)
/// radius         f64       ρ, absolute
/// padding        u32       0 zero, 1 clamp
/// reserved       u32       0
/// sample_radii   f64 × S
/// sample_angles  f64 × S
/// sample_weights f64 × S
/// landing_faces  u32 × N·S
/// landing_barys  f32 × 2·N·S  (b0, b1 per entry)
/// transported    f32 × N·S
/// flags          u8  × N·S
/// trace_lengths  f32 × N·A
/// checksum       u64
/// ```
///
/// The arrays are those of [`ExpMapTable`]'s storage, in its order: a loaded table equals the one
/// saved (`==`), bit for bit.
pub const TABLE_FORMAT_VERSION: u32 = 1;

const WHAT: &str = "exp-map table";

impl ExpMapTable {
    /// Writes the table to `path` in the format of [`TABLE_FORMAT_VERSION`] (atomically: the file is
    /// complete or not there).
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) naming `path` if writing fails.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable};
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// let m = Manifold::load("icosphere:1", &BuildOptions::default()).unwrap();
    /// let t = ExpMapTable::build(&m, &ExpMapOptions::default()).unwrap();
    /// let path = std::env::temp_dir().join(format!("doc-table-{}.xmap", std::process::id()));
    /// t.save(&path).unwrap();
    /// assert_eq!(ExpMapTable::load(&path, &m).unwrap(), t);
    /// let other = Manifold::load("icosphere:2", &BuildOptions::default()).unwrap();
    /// assert!(ExpMapTable::load(&path, &other).is_err());
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::io::write_atomically(path.as_ref(), |tmp| self.write_to(tmp))
    }

    fn write_to(&self, path: &Path) -> Result<()> {
        let mut w = SavedWriter::create(path, TABLE_MAGIC, TABLE_FORMAT_VERSION)?;
        w.u32(0)?;
        w.mesh_identity(self.mesh)?;
        w.u64(self.rings as u64)?;
        w.u64(self.directions as u64)?;
        w.f64(self.radius)?;
        w.u32(self.padding.code() as u32)?;
        w.u32(0)?;
        w.array(self.sample_radii.iter().copied())?;
        w.array(self.sample_angles.iter().copied())?;
        w.array(self.sample_weights.iter().copied())?;
        w.array(self.landing_faces.iter().copied())?;
        w.array(self.landing_barys.iter().flatten().copied())?;
        w.array(self.transported_angles.iter().copied())?;
        w.array(self.flags.iter().copied())?;
        w.array(self.trace_lengths.iter().copied())?;
        w.finish()
    }

    /// Reads a table written by [`save`](Self::save) for use with the manifold `m`.
    ///
    /// Everything is checked: the format and its version, the mesh (the table's
    /// [`MeshIdentity`](crate::manifold::MeshIdentity) must be `m`'s), the length of the file against its header, a checksum of
    /// every byte, and the table's invariants (faces in range, finite coordinates and angles, known
    /// flags). A file that fails any of them is refused; none can make this panic.
    ///
    /// Read under its own size limit, [`max_saved_bytes`](crate::io::saved::max_saved_bytes).
    ///
    /// # Errors
    /// [`Error::MeshMismatch`](crate::Error::MeshMismatch) naming both identities if the table was built for another mesh;
    /// [`Error::Io`](crate::Error::Io) naming the file for anything else (unreadable, another kind of file, another
    /// format version, truncated, corrupted, invalid).
    pub fn load(path: impl AsRef<Path>, m: &Manifold) -> Result<ExpMapTable> {
        let mut r = SavedReader::open(path.as_ref(), WHAT, TABLE_MAGIC, TABLE_FORMAT_VERSION)?;
        let reserved = r.u32()?;
        let built_for = r.mesh_identity()?;
        let (rings, directions, radius) = (r.u64()?, r.u64()?, r.f64()?);
        let (padding, reserved2) = (r.u32()?, r.u32()?);
        if reserved != 0 || reserved2 != 0 {
            return Err(r.invalid("reserved header fields are not zero".into()));
        }
        m.check_identity("saved exp-map table", built_for)?;
        let (nv, nf) = (built_for.vertices, built_for.faces);
        let padding = Padding::from_code(padding)
            .ok_or_else(|| r.invalid(format!("unknown padding policy {padding}")))?;
        let samples = rings.checked_mul(directions);
        if rings == 0 || directions == 0 || samples.is_none_or(|s| s > MAX_SAMPLES as u64) {
            return Err(r.invalid(format!(
                "{rings} rings × {directions} directions (each at least 1, at most {MAX_SAMPLES} \
                 samples)"
            )));
        }
        if !(radius.is_finite() && radius > 0.0) {
            return Err(r.invalid(format!("radius {radius} is not positive and finite")));
        }
        let (nr, na) = (rings as usize, directions as usize);
        let ns = nr * na;
        let Some(n) = nv.checked_mul(ns) else {
            return Err(r.invalid("the header's array sizes overflow".into()));
        };
        // Bytes: 3 f64 per sample of the grid, 17 per entry, 4 per trace.
        let payload = (n as u64)
            .checked_mul(17)
            .zip((nv as u64).checked_mul(4 * na as u64))
            .and_then(|(entries, traces)| entries.checked_add(traces)?.checked_add(24 * ns as u64));
        r.expect_payload(payload)?;
        let sample_radii = r.array::<f64>(ns)?;
        let sample_angles = r.array::<f64>(ns)?;
        let sample_weights = r.array::<f64>(ns)?;
        let landing_faces = r.array::<u32>(n)?;
        let landing_barys = r.array::<[f32; 2]>(n)?;
        let transported_angles = r.array::<f32>(n)?;
        let flags = r.array::<u8>(n)?;
        let trace_lengths = r.array::<f32>(nv * na)?;
        r.finish()?;
        let invalid = |m: String| Err(r.invalid(m));
        // The grid: finite, positive radii; finite angles; non-negative finite weights.
        if let Some(s) = (0..ns).find(|&s| {
            !(sample_radii[s].is_finite()
                && sample_radii[s] > 0.0
                && sample_angles[s].is_finite()
                && sample_weights[s].is_finite()
                && sample_weights[s] >= 0.0)
        }) {
            return invalid(format!(
                "sample {s}: radius {}, angle {}, weight {}",
                sample_radii[s], sample_angles[s], sample_weights[s]
            ));
        }
        if let Some(e) = first_bad(&landing_faces, |&f| f as usize >= nf) {
            return invalid(format!(
                "entry {e}: landing face {} of a mesh of {nf} faces",
                landing_faces[e]
            ));
        }
        if let Some(e) = first_bad(&landing_barys, |b| !(b[0].is_finite() && b[1].is_finite())) {
            return invalid(format!(
                "entry {e}: barycentric coordinates {:?}",
                landing_barys[e]
            ));
        }
        if let Some(e) = first_bad(&transported_angles, |a| !a.is_finite()) {
            return invalid(format!(
                "entry {e}: transported angle {}",
                transported_angles[e]
            ));
        }
        let known = FLAG_TRUNCATED | FLAG_MIRRORED;
        if let Some(e) = first_bad(&flags, |&f| f & !known != 0) {
            return invalid(format!("entry {e}: unknown flags {:#04x}", flags[e]));
        }
        if let Some(t) = first_bad(&trace_lengths, |l| !(l.is_finite() && *l >= 0.0)) {
            return invalid(format!("trace {t}: length {}", trace_lengths[t]));
        }
        Ok(ExpMapTable {
            mesh: built_for,
            vertices: nv,
            rings: nr,
            directions: na,
            radius,
            padding,
            sample_radii,
            sample_angles,
            sample_weights,
            landing_faces,
            landing_barys,
            transported_angles,
            flags,
            trace_lengths,
        })
    }
}
