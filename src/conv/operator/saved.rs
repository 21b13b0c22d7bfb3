//! Saving and loading a [`ConvOperator`]: one binary file, versioned, carrying the mesh's identity.
//!
//! The format is documented on [`OPERATOR_FORMAT_VERSION`].

use super::{ConvOperator, Layout, Quadrature};
use crate::conv::Real;
use crate::error::Result;
use crate::io::saved::{first_bad, SavedReader, SavedWriter};
use crate::manifold::{Manifold, MeshIdentity};
use std::path::Path;

/// The first 8 bytes of a saved convolution operator.
pub const OPERATOR_MAGIC: &[u8; 8] = b"MCNNCONV";

/// The format version of saved convolution operators this build writes and reads
/// ([`ConvOperator::save`], [`ConvOperator::load`]).
///
/// # Format of a saved operator (version 2)
/// The container of [`io::saved`](crate::io::saved) (little-endian; a checksum of every byte at the
/// end) with
///
/// ```text
/// magic        8 bytes   "MCNNCONV"
/// version      u32       2
/// scalar       u32       bytes per coefficient: 4 (f32) or 8 (f64)
/// mesh         3 × u64   vertices N, faces F, fingerprint (MeshIdentity)
/// basis        u64       B
/// entries      u64       nnz
/// quadrature   u32       0 mean, 1 integral
/// layout       u32       0 blocks (S = 1 stored row per vertex, P = B coefficients per entry),
///                        1 per function (S = B, P = 1): [`Layout`]
/// order        u32 × N         vertex of each internal row
/// rank         u32 × N         row of each vertex (the inverse permutation)
/// row_offsets  u32 × (N·S+1)   CSR offsets of the stored rows (row p·S + k: vertex row p, part k)
/// cols         u32 × nnz       internal column of each entry
/// coefs        T × nnz·P       P coefficients per entry (T as `scalar` says)
/// t_offsets    u32 × (N·S+1)   the transposed index: CSR offsets per (column q, part k)
/// t_rows       u32 × nnz       … the vertex row of each transposed entry
/// t_entries    u32 × nnz       … and its entry in `cols`
/// checksum     u64
/// ```
///
/// Version 1 had a reserved 0 where the layout is, and only blocks.
///
/// These are the operator's own arrays: a loaded operator runs every pass exactly as the one saved
/// (bit for bit). On load every index is checked (orders are inverse permutations, offsets are
/// monotone and end at nnz, columns and rows below N, the transposed index is exactly the transpose
/// of the rows) and every coefficient is finite.
pub const OPERATOR_FORMAT_VERSION: u32 = 2;

const WHAT: &str = "convolution operator";

impl<T: Real> ConvOperator<T> {
    /// The identity of the mesh the operator was compiled for.
    pub fn mesh_identity(&self) -> MeshIdentity {
        self.mesh
    }

    /// Writes the operator to `path` in the format of [`OPERATOR_FORMAT_VERSION`] (atomically: the
    /// file is complete or not there).
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) naming `path` if writing fails.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::conv::{ConvOperator, Gauge, SpanningTree};
    /// use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable};
    /// use manifold_cnn::kernel::{KernelBasis, PolarBins};
    /// use manifold_cnn::{BuildOptions, Manifold};
    /// let m = Manifold::load("icosphere:1", &BuildOptions::default()).unwrap();
    /// let table = ExpMapTable::build(&m, &ExpMapOptions::default()).unwrap();
    /// let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    /// let basis = KernelBasis::Bins(PolarBins::new(2, 4).unwrap());
    /// let op = ConvOperator::<f32>::new(&m, &table, &basis, &gauge).unwrap();
    /// let path = std::env::temp_dir().join(format!("doc-op-{}.conv", std::process::id()));
    /// op.save(&path).unwrap();
    /// let back = ConvOperator::<f32>::load(&path, &m).unwrap();
    /// assert_eq!(back.csr(), op.csr());
    /// // Another scalar type is refused, not converted.
    /// assert!(ConvOperator::<f64>::load(&path, &m).is_err());
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::io::write_atomically(path.as_ref(), |tmp| self.write_to(tmp))
    }

    fn write_to(&self, path: &Path) -> Result<()> {
        let mut w = SavedWriter::create(path, OPERATOR_MAGIC, OPERATOR_FORMAT_VERSION)?;
        w.u32(std::mem::size_of::<T>() as u32)?;
        w.mesh_identity(self.mesh)?;
        w.u64(self.basis as u64)?;
        w.u64(self.cols.len() as u64)?;
        w.u32(self.quadrature.code() as u32)?;
        w.u32(self.layout.code())?;
        for a in [&self.order, &self.rank, &self.row_offsets, &self.cols] {
            w.array(a.iter().copied())?;
        }
        if std::mem::size_of::<T>() == 4 {
            // Exact: an f32 coefficient widened to f64 and back.
            w.array(self.coefs.iter().map(|c| c.to_f64() as f32))?;
        } else {
            w.array(self.coefs.iter().map(|c| c.to_f64()))?;
        }
        for a in [&self.t_offsets, &self.t_rows, &self.t_entries] {
            w.array(a.iter().copied())?;
        }
        w.finish()
    }

    /// Reads an operator written by [`save`](Self::save) for use with the manifold `m`.
    ///
    /// Everything is checked: the format and its version, the scalar type (an `f64` operator is not
    /// loaded as `f32`, nor the reverse), the mesh (the operator's [`MeshIdentity`] must be `m`'s),
    /// the length of the file against its header, a checksum of every byte, and every index the
    /// passes rely on (see [`OPERATOR_FORMAT_VERSION`]). A file that fails any of them is refused;
    /// none can make this panic or make a later pass read out of bounds.
    ///
    /// Read under its own size limit, [`max_saved_bytes`](crate::io::saved::max_saved_bytes).
    ///
    /// # Errors
    /// [`Error::MeshMismatch`](crate::Error::MeshMismatch) naming both identities if the operator was compiled for another mesh;
    /// [`Error::Io`](crate::Error::Io) naming the file for anything else (unreadable, another kind of file, another
    /// format version or scalar type, truncated, corrupted, invalid).
    pub fn load(path: impl AsRef<Path>, m: &Manifold) -> Result<ConvOperator<T>> {
        let mut r =
            SavedReader::open(path.as_ref(), WHAT, OPERATOR_MAGIC, OPERATOR_FORMAT_VERSION)?;
        let scalar = r.u32()?;
        let built_for = r.mesh_identity()?;
        let (basis, nnz) = (r.u64()?, r.u64()?);
        let (quadrature, layout) = (r.u32()?, r.u32()?);
        let size = std::mem::size_of::<T>();
        let name = |bytes: u32| match bytes {
            4 => "f32".to_string(),
            8 => "f64".to_string(),
            b => format!("{b}-byte"),
        };
        if scalar as usize != size {
            return Err(r.invalid(format!(
                "it holds {} coefficients, but was loaded as {}",
                name(scalar),
                name(size as u32)
            )));
        }
        m.check_identity("saved convolution operator", built_for)?;
        let quadrature = Quadrature::from_code(quadrature)
            .ok_or_else(|| r.invalid(format!("unknown quadrature {quadrature}")))?;
        let layout = Layout::from_code(layout)
            .ok_or_else(|| r.invalid(format!("unknown coefficient layout {layout}")))?;
        let n = built_for.vertices;
        if basis == 0 || nnz > u32::MAX as u64 || n > u32::MAX as usize {
            return Err(r.invalid(format!(
                "{basis} basis functions, {nnz} entries on {n} vertices (at least 1 basis function, \
                 at most 2^32 − 1 entries and vertices)"
            )));
        }
        let (nb, nnz) = (usize::try_from(basis).ok(), nnz as usize);
        // Stored rows per vertex and coefficients per entry.
        let stack = nb.map(|nb| layout.stack(nb));
        let rows = stack.and_then(|s| n.checked_mul(s));
        let ncoef = nb.zip(stack).and_then(|(nb, s)| nnz.checked_mul(nb / s));
        let (Some(nb), Some(rows), Some(ncoef)) = (nb, rows, ncoef) else {
            return Err(r.invalid("the header's array sizes overflow".into()));
        };
        // Bytes: order and rank (8N), two offset arrays (8 · (rows + 1)), three index arrays
        // (12 · nnz) and the coefficients.
        let payload = (ncoef as u64).checked_mul(size as u64).and_then(|c| {
            c.checked_add(8 * n as u64)?
                .checked_add((rows as u64).checked_add(1)?.checked_mul(8)?)?
                .checked_add(12 * nnz as u64)
        });
        r.expect_payload(payload)?;
        let order = r.array::<u32>(n)?;
        let rank = r.array::<u32>(n)?;
        let row_offsets = r.array::<u32>(rows + 1)?;
        let cols = r.array::<u32>(nnz)?;
        let coefs: Vec<T> = if size == 4 {
            r.array_map(ncoef, |x: f32| T::from_f64(x as f64))?
        } else {
            r.array_map(ncoef, T::from_f64)?
        };
        let t_offsets = r.array::<u32>(rows + 1)?;
        let t_rows = r.array::<u32>(nnz)?;
        let t_entries = r.array::<u32>(nnz)?;
        r.finish()?;
        let op = ConvOperator {
            mesh: built_for,
            vertices: n,
            basis: nb,
            quadrature,
            layout,
            order,
            rank,
            row_offsets,
            cols,
            coefs,
            t_offsets,
            t_rows,
            t_entries,
        };
        op.validate().map_err(|m| r.invalid(m))?;
        Ok(op)
    }

    /// Every invariant of the compiled arrays, without panicking: the structure the passes' unchecked
    /// reads rely on (`check_structure`, as after a compile), finite coefficients, and the
    /// transposed index exactly the transpose of the rows (so the backward pass is the adjoint of the
    /// forward).
    pub(super) fn validate(&self) -> std::result::Result<(), String> {
        self.check_structure()?;
        let (n, nnz, stack) = (self.vertices, self.cols.len(), self.stack());
        if let Some(k) = first_bad(&self.coefs, |c| !c.to_f64().is_finite()) {
            return Err(format!(
                "entry {}: coefficient {:?} is not finite",
                k / (self.basis / stack),
                self.coefs[k]
            ));
        }
        // The transposed index: entry k of (column q, part i) is (vertex row p, entry e) with e in
        // the stored row p·stack + i and cols[e] = q, and every entry appears exactly once.
        let mut used = vec![false; nnz];
        for key in 0..n * stack {
            let (q, i) = (key / stack, key % stack);
            for k in self.t_offsets[key] as usize..self.t_offsets[key + 1] as usize {
                let (p, e) = (self.t_rows[k] as usize, self.t_entries[k] as usize);
                let row = p * stack + i;
                let in_row = p < n
                    && e < nnz
                    && (self.row_offsets[row] as usize..self.row_offsets[row + 1] as usize)
                        .contains(&e)
                    && self.cols[e] as usize == q;
                if !in_row || std::mem::replace(&mut used[e], true) {
                    return Err(format!(
                        "transposed entry {k} (column {q}, part {i}, row {p}, entry {e}) is not an \
                         entry of its row, or repeats one"
                    ));
                }
            }
        }
        Ok(())
    }
}
