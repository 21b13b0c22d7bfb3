//! NumPy `.npy` and `.npz` files: writing arrays for the CLI and later stages, reading them back.
//!
//! Arrays are written in C order, little-endian, with numpy's standard dtypes (`<f8`, `<f4`, `<u4`,
//! `<i8`, `|b1`). `.npz` archives are uncompressed, like `numpy.savez` (numpy reads them with
//! `numpy.load`). The readers accept any byte order; they refuse Fortran-ordered arrays and dtypes
//! other than the one asked for (the lenient float readers take both `f4` and `f8`; [`read_npy_f32_exact`]
//! takes `f4` only; [`read_npy_integers`] takes every integer width).
//!
//! All failures are [`Error::Io`] naming the path, with a message that says what is wrong (missing
//! array, wrong dtype, Fortran order, truncated data, ...).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use npyz::{AutoSerialize, DType, Deserialize, NpyFile, Order, TypeChar, WriterBuilder};

use crate::{Error, Result};

fn io_error(path: &str, message: impl std::fmt::Display) -> Error {
    Error::io_message(path, message.to_string())
}

/// Number of elements of `shape`, panicking if it does not match `len`.
fn check_shape(shape: &[u64], len: usize, what: &str) {
    let n = shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .unwrap_or_else(|| panic!("{what}: shape {shape:?} overflows u64"));
    assert!(
        n == len as u64,
        "{what}: shape {shape:?} has {n} element(s) but {len} were given"
    );
}

/// Writes one `.npy` stream (header and data) to `w`.
fn write_npy_to<T: AutoSerialize + Copy, W: Write>(
    w: W,
    shape: &[u64],
    data: &[T],
) -> io::Result<()> {
    let mut writer = npyz::WriteOptions::<T>::new()
        .default_dtype()
        .shape(shape)
        .writer(w)
        .begin_nd()?;
    for x in data {
        writer.push(x)?;
    }
    writer.finish()
}

/// Writes several named arrays into one `.npz` archive (a zip of `.npy` files, uncompressed).
///
/// ```no_run
/// # fn main() -> manifold_cnn::Result<()> {
/// use manifold_cnn::io::npz::NpzWriter;
/// let mut npz = NpzWriter::create("/tmp/out.npz")?;
/// npz.f64("positions", &[2, 3], &[0.0, 0.0, 0.0, 1.0, 0.0, 0.0])?;
/// npz.u32("faces", &[0, 3], &[])?;
/// npz.finish()?;
/// # Ok(()) }
/// ```
pub struct NpzWriter {
    inner: npyz::npz::NpzWriter<Sink>,
    /// The first write error of the file, shared with its [`Sink`].
    failure: Failure,
    path: String,
}

type Failure = std::sync::Arc<std::sync::Mutex<Option<io::Error>>>;

/// The archive's file as the zip writer sees it: it never reports an error. The first one is
/// recorded in `failure` and everything after it discarded (positions still advance). The zip writer
/// finalizes the archive again when dropped after a failure and prints its debug text to stderr when
/// that fails too; through this sink it cannot fail, and [`NpzWriter`] reports the recorded error,
/// once, naming the path.
struct Sink {
    file: BufWriter<File>,
    failure: Failure,
    /// The position the zip writer believes in, once the file has failed.
    position: u64,
}

impl Sink {
    /// Records `e` unless an error is already recorded; false from then on.
    fn healthy(&mut self, r: io::Result<u64>) -> bool {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        match r {
            Ok(p) if failure.is_none() => {
                self.position = p;
                true
            }
            Ok(_) => false,
            Err(e) => {
                failure.get_or_insert(e);
                false
            }
        }
    }

    fn failed(&self) -> bool {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.failed() {
            let written = self.file.write(buf);
            if let Err(e) = &written {
                if e.kind() == io::ErrorKind::Interrupted {
                    return written;
                }
            }
            let at = self.position;
            if self.healthy(written.map(|n| at + n as u64)) {
                return Ok((self.position - at) as usize);
            }
        }
        self.position += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.failed() {
            let r = self.file.flush().map(|()| self.position);
            self.healthy(r);
        }
        Ok(())
    }
}

impl io::Seek for Sink {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        if !self.failed() {
            let r = self.file.seek(to);
            if self.healthy(r) {
                return Ok(self.position);
            }
        }
        self.position = match to {
            io::SeekFrom::Start(p) => p,
            io::SeekFrom::Current(d) | io::SeekFrom::End(d) => {
                self.position.saturating_add_signed(d)
            }
        };
        Ok(self.position)
    }
}

impl std::fmt::Debug for NpzWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpzWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl NpzWriter {
    /// Creates (or truncates) the archive at `path`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the file cannot be created.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path_s = path.as_ref().display().to_string();
        let file = File::create(path.as_ref()).map_err(|e| Error::io(&path_s, e))?;
        let failure = Failure::default();
        let sink = Sink {
            file: BufWriter::new(file),
            failure: failure.clone(),
            position: 0,
        };
        Ok(NpzWriter {
            inner: npyz::npz::NpzWriter::new(sink),
            failure,
            path: path_s,
        })
    }

    /// The recorded write error of the file, if any, as `context: error`.
    fn check(&self, context: &dyn std::fmt::Display) -> Result<()> {
        match &*self.failure.lock().unwrap_or_else(|p| p.into_inner()) {
            None => Ok(()),
            Some(e) => Err(io_error(&self.path, format_args!("{context}{e}"))),
        }
    }

    fn array<T: AutoSerialize + Copy>(
        &mut self,
        name: &str,
        shape: &[u64],
        data: &[T],
    ) -> Result<()> {
        check_shape(shape, data.len(), &format!("NpzWriter: array '{name}'"));
        let bytes = (data.len() as u64).saturating_mul(std::mem::size_of::<T>() as u64);
        let options = npyz::zip::write::FileOptions::default()
            .compression_method(npyz::zip::CompressionMethod::Stored)
            .large_file(bytes >= u64::from(u32::MAX) - (1 << 20));
        let context = format!("array '{name}': ");
        self.check(&context)?;
        let path = &self.path;
        let err = |e: &dyn std::fmt::Display| io_error(path, format_args!("{context}{e}"));
        let zip = self.inner.zip_writer();
        zip.start_file(npyz::npz::file_name_from_array_name(name), options)
            .map_err(|e| err(&e))?;
        let mut buf = BufWriter::with_capacity(1 << 16, zip);
        let written = write_npy_to(&mut buf, shape, data).and_then(|()| buf.flush());
        drop(buf);
        // The file's own error first: the sink swallowed it, so what the npy writer saw is secondary.
        self.check(&context)?;
        written.map_err(|e| err(&e))
    }

    /// Adds a `float64` array of the given shape (C order).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] on a write failure.
    ///
    /// # Panics
    ///
    /// If the product of `shape` is not `data.len()`.
    pub fn f64(&mut self, name: &str, shape: &[u64], data: &[f64]) -> Result<()> {
        self.array(name, shape, data)
    }

    /// Adds a `float32` array; as [`f64`](Self::f64).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] on a write failure.
    ///
    /// # Panics
    ///
    /// If the product of `shape` is not `data.len()`.
    pub fn f32(&mut self, name: &str, shape: &[u64], data: &[f32]) -> Result<()> {
        self.array(name, shape, data)
    }

    /// Adds a `uint32` array; as [`f64`](Self::f64).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] on a write failure.
    ///
    /// # Panics
    ///
    /// If the product of `shape` is not `data.len()`.
    pub fn u32(&mut self, name: &str, shape: &[u64], data: &[u32]) -> Result<()> {
        self.array(name, shape, data)
    }

    /// Adds an `int64` array; as [`f64`](Self::f64).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] on a write failure.
    ///
    /// # Panics
    ///
    /// If the product of `shape` is not `data.len()`.
    pub fn i64(&mut self, name: &str, shape: &[u64], data: &[i64]) -> Result<()> {
        self.array(name, shape, data)
    }

    /// Adds a numpy `bool` array (`|b1`, one byte per element); as [`f64`](Self::f64).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] on a write failure.
    ///
    /// # Panics
    ///
    /// If the product of `shape` is not `data.len()`.
    pub fn bool(&mut self, name: &str, shape: &[u64], data: &[bool]) -> Result<()> {
        self.array(name, shape, data)
    }

    /// Writes the archive's directory and flushes the file. Dropping the writer without calling
    /// this also finishes the archive, but silently ignores errors (nothing is printed).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] on a write failure.
    pub fn finish(mut self) -> Result<()> {
        self.check(&"")?;
        let finished = self.inner.zip_writer().finish();
        self.check(&"")?;
        let mut sink = finished.map_err(|e| io_error(&self.path, e))?;
        let flushed = sink.file.flush();
        flushed.map_err(|e| Error::io(&self.path, e))
    }
}

/// Writes a single `float32` array as a `.npy` file (C order).
///
/// # Errors
///
/// [`Error::Io`] if the file cannot be created or written.
///
/// # Panics
///
/// If the product of `shape` is not `data.len()`.
pub fn write_npy_f32(path: impl AsRef<Path>, shape: &[u64], data: &[f32]) -> Result<()> {
    check_shape(shape, data.len(), "write_npy_f32");
    let path_s = path.as_ref().display().to_string();
    let err = |e: io::Error| Error::io(&path_s, e);
    let file = File::create(path.as_ref()).map_err(err)?;
    let mut w = BufWriter::with_capacity(1 << 16, file);
    write_npy_to(&mut w, shape, data).map_err(err)?;
    w.flush().map_err(err)
}

/// Which element types a reader accepts.
trait ReadAs: Sized {
    /// Name for messages.
    const WHAT: &'static str;
    fn read<R: Read>(file: NpyFile<R>) -> io::Result<Vec<Self>>;
}

fn read_exact_type<T: Deserialize, R: Read>(file: NpyFile<R>) -> io::Result<Vec<T>> {
    file.into_vec::<T>()
}

/// Reads a float array of either width, converting to `T`.
fn read_float<T, R: Read>(file: NpyFile<R>) -> io::Result<Vec<T>>
where
    T: Deserialize + FromF32F64,
{
    let size = match file.dtype() {
        npyz::DType::Plain(ts) if ts.type_char() == TypeChar::Float => ts.size_field(),
        _ => 0,
    };
    match size {
        4 => Ok(file
            .into_vec::<f32>()?
            .into_iter()
            .map(T::from_f32)
            .collect()),
        8 => Ok(file
            .into_vec::<f64>()?
            .into_iter()
            .map(T::from_f64)
            .collect()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("dtype {} is not float32 or float64", file.dtype().descr()),
        )),
    }
}

trait FromF32F64 {
    fn from_f32(x: f32) -> Self;
    fn from_f64(x: f64) -> Self;
}
impl FromF32F64 for f32 {
    fn from_f32(x: f32) -> Self {
        x
    }
    fn from_f64(x: f64) -> Self {
        x as f32
    }
}
impl FromF32F64 for f64 {
    fn from_f32(x: f32) -> Self {
        f64::from(x)
    }
    fn from_f64(x: f64) -> Self {
        x
    }
}

impl ReadAs for f32 {
    const WHAT: &'static str = "float32";
    fn read<R: Read>(file: NpyFile<R>) -> io::Result<Vec<Self>> {
        read_float(file)
    }
}
impl ReadAs for f64 {
    const WHAT: &'static str = "float64";
    fn read<R: Read>(file: NpyFile<R>) -> io::Result<Vec<Self>> {
        read_float(file)
    }
}
impl ReadAs for u8 {
    const WHAT: &'static str = "uint8";
    fn read<R: Read>(file: NpyFile<R>) -> io::Result<Vec<Self>> {
        read_exact_type(file)
    }
}
impl ReadAs for u32 {
    const WHAT: &'static str = "uint32";
    fn read<R: Read>(file: NpyFile<R>) -> io::Result<Vec<Self>> {
        read_exact_type(file)
    }
}
impl ReadAs for i64 {
    const WHAT: &'static str = "int64";
    fn read<R: Read>(file: NpyFile<R>) -> io::Result<Vec<Self>> {
        read_exact_type(file)
    }
}
impl ReadAs for bool {
    const WHAT: &'static str = "bool";
    fn read<R: Read>(file: NpyFile<R>) -> io::Result<Vec<Self>> {
        read_exact_type(file)
    }
}

/// A reader that counts the bytes it has delivered (shared, so that it can be read while the
/// `NpyFile` owns the reader).
struct Counted<R> {
    inner: R,
    count: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Reads the data of one `.npy` stream with `read`; `what` (the element type asked for) prefixes
/// messages.
fn read_npy_stream<T, R: Read>(
    reader: R,
    what: &str,
    read: impl FnOnce(NpyFile<Counted<R>>) -> io::Result<Vec<T>>,
) -> io::Result<(Vec<u64>, Vec<T>)> {
    let count = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let file = NpyFile::new(Counted {
        inner: reader,
        count: count.clone(),
    })?;
    let header = count.get();
    if file.order() == Order::Fortran && file.shape().iter().filter(|&&d| d > 1).count() > 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "array is in Fortran order; only C order is supported",
        ));
    }
    let shape = file.shape().to_vec();
    // The data the header promises, to name a truncated file's shortfall.
    let item = file.dtype().num_bytes().map(|b| b as u64);
    let expected = item.and_then(|b| shape.iter().try_fold(b, |a, &d| a.checked_mul(d)));
    let data = read(file).map_err(|e| match (e.kind(), expected) {
        (io::ErrorKind::UnexpectedEof, Some(expected)) => io::Error::new(
            e.kind(),
            format!(
                "truncated: the header promises {expected} bytes of data (shape {shape:?}), the \
                 file holds {} after its {header}-byte header",
                count.get() - header
            ),
        ),
        _ => io::Error::new(e.kind(), format!("reading as {what}: {e}")),
    })?;
    Ok((shape, data))
}

/// Opens the `.npy` file at `path` and reads it with `read`; errors name the path.
fn read_npy_file<T>(
    path: &Path,
    what: &str,
    read: impl FnOnce(NpyFile<Counted<BufReader<super::InputFile>>>) -> io::Result<Vec<T>>,
) -> Result<(Vec<u64>, Vec<T>)> {
    let path_s = path.display().to_string();
    let file = super::open_input(path)?;
    read_npy_stream(BufReader::new(file), what, read).map_err(|e| Error::io(&path_s, e))
}

/// numpy's name of a dtype with its descriptor, e.g. `float64 ('<f8')`; the descriptor alone for
/// structured and exotic dtypes.
fn dtype_name(dtype: &DType) -> String {
    let DType::Plain(ts) = dtype else {
        return dtype.descr();
    };
    let kind = match ts.type_char() {
        TypeChar::Bool => return format!("bool ({})", dtype.descr()),
        TypeChar::Int => "int",
        TypeChar::Uint => "uint",
        TypeChar::Float => "float",
        TypeChar::Complex => "complex",
        _ => return dtype.descr(),
    };
    format!("{kind}{} ({})", ts.size_field() * 8, dtype.descr())
}

fn dtype_error(dtype: &DType, expected: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("dtype {} is not {expected}", dtype_name(dtype)),
    )
}

/// Reads a `.npy` file holding a `float32` or `float64` array (converted to `f32`) in C order;
/// returns its shape and data.
///
/// # Errors
///
/// [`Error::Io`] if the file cannot be read, is larger than the input limit
/// ([`max_input_bytes`](super::max_input_bytes)), is not a valid `.npy` file, has another dtype, is
/// in Fortran order (with more than one non-trivial axis), or is truncated.
pub fn read_npy_f32(path: impl AsRef<Path>) -> Result<(Vec<u64>, Vec<f32>)> {
    read_npy_file(path.as_ref(), f32::WHAT, f32::read)
}

/// Reads a `.npy` file holding a `float32` array, refusing every other dtype (`float64` included),
/// for formats that are float32 by definition; returns its shape and data (C order).
///
/// # Errors
///
/// As [`read_npy_f32`]; the message for a wrong dtype names it (`dtype float64 ('<f8') is not
/// float32`).
pub fn read_npy_f32_exact(path: impl AsRef<Path>) -> Result<(Vec<u64>, Vec<f32>)> {
    read_npy_file(path.as_ref(), "float32", |file| {
        let dtype = file.dtype();
        match &dtype {
            DType::Plain(ts) if ts.type_char() == TypeChar::Float && ts.size_field() == 4 => {
                file.into_vec::<f32>()
            }
            _ => Err(dtype_error(&dtype, "float32")),
        }
    })
}

/// Reads a `.npy` file holding integers of any width, signed or not (`int8` … `int64`, `uint8` …
/// `uint64`), widened to `i64`; returns its shape and data (C order).
///
/// # Errors
///
/// As [`read_npy_f32`]; also for any other dtype (floats and bools included; the message names the
/// dtype) and for a `uint64` value above `i64::MAX`.
pub fn read_npy_integers(path: impl AsRef<Path>) -> Result<(Vec<u64>, Vec<i64>)> {
    fn widen<T: Deserialize + Into<i64>, R: Read>(file: NpyFile<R>) -> io::Result<Vec<i64>> {
        Ok(file.into_vec::<T>()?.into_iter().map(Into::into).collect())
    }
    read_npy_file(path.as_ref(), "integers", |file| {
        let dtype = file.dtype();
        let (kind, size) = match &dtype {
            DType::Plain(ts) => (ts.type_char(), ts.size_field()),
            _ => return Err(dtype_error(&dtype, "an integer type")),
        };
        match (kind, size) {
            (TypeChar::Int, 1) => widen::<i8, _>(file),
            (TypeChar::Int, 2) => widen::<i16, _>(file),
            (TypeChar::Int, 4) => widen::<i32, _>(file),
            (TypeChar::Int, 8) => widen::<i64, _>(file),
            (TypeChar::Uint, 1) => widen::<u8, _>(file),
            (TypeChar::Uint, 2) => widen::<u16, _>(file),
            (TypeChar::Uint, 4) => widen::<u32, _>(file),
            (TypeChar::Uint, 8) => file
                .into_vec::<u64>()?
                .into_iter()
                .enumerate()
                .map(|(i, x)| {
                    i64::try_from(x).map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("element {i}: {x} does not fit in int64"),
                        )
                    })
                })
                .collect(),
            _ => Err(dtype_error(&dtype, "an integer type")),
        }
    })
}

fn read_npz<T: ReadAs>(path: &Path, name: &str) -> Result<(Vec<u64>, Vec<T>)> {
    super::check_input_size(path)?;
    let path_s = path.display().to_string();
    let mut archive = npyz::npz::NpzArchive::open(path).map_err(|e| Error::io(&path_s, e))?;
    let array = archive
        .by_name(name)
        .map_err(|e| io_error(&path_s, format_args!("array '{name}': {e}")))?
        .ok_or_else(|| {
            io_error(
                &path_s,
                format_args!("no array named '{name}' in the archive"),
            )
        })?;
    let shape = array.shape().to_vec();
    if array.order() == Order::Fortran && shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err(io_error(
            &path_s,
            format_args!("array '{name}' is in Fortran order; only C order is supported"),
        ));
    }
    let data = T::read(array).map_err(|e| {
        io_error(
            &path_s,
            format_args!("array '{name}': reading as {}: {e}", T::WHAT),
        )
    })?;
    Ok((shape, data))
}

/// Names of the arrays in an `.npz` archive, in archive order.
///
/// # Errors
///
/// [`Error::Io`] if the file cannot be read or is not a zip archive.
pub fn npz_array_names(path: impl AsRef<Path>) -> Result<Vec<String>> {
    let path_s = path.as_ref().display().to_string();
    let archive = npyz::npz::NpzArchive::open(path.as_ref()).map_err(|e| Error::io(&path_s, e))?;
    Ok(archive.array_names().map(str::to_string).collect())
}

/// Reads array `name` of an `.npz` archive as `f64` (from `float64` or `float32`); returns shape
/// and data (C order).
///
/// # Errors
///
/// [`Error::Io`] if the archive cannot be read, has no such array, or the array has another dtype or
/// Fortran order.
pub fn read_npz_f64(path: impl AsRef<Path>, name: &str) -> Result<(Vec<u64>, Vec<f64>)> {
    read_npz(path.as_ref(), name)
}

/// As [`read_npz_f64`], converting to `f32`.
///
/// # Errors
///
/// As [`read_npz_f64`].
pub fn read_npz_f32(path: impl AsRef<Path>, name: &str) -> Result<(Vec<u64>, Vec<f32>)> {
    read_npz(path.as_ref(), name)
}

/// As [`read_npz_f64`], for a `uint32` array (no conversion from other dtypes).
///
/// # Errors
///
/// As [`read_npz_f64`].
pub fn read_npz_u32(path: impl AsRef<Path>, name: &str) -> Result<(Vec<u64>, Vec<u32>)> {
    read_npz(path.as_ref(), name)
}

/// As [`read_npz_f64`], for a `uint8` array (no conversion from other dtypes).
///
/// # Errors
///
/// As [`read_npz_f64`].
pub fn read_npz_u8(path: impl AsRef<Path>, name: &str) -> Result<(Vec<u64>, Vec<u8>)> {
    read_npz(path.as_ref(), name)
}

/// As [`read_npz_f64`], for an `int64` array (no conversion from other dtypes).
///
/// # Errors
///
/// As [`read_npz_f64`].
pub fn read_npz_i64(path: impl AsRef<Path>, name: &str) -> Result<(Vec<u64>, Vec<i64>)> {
    read_npz(path.as_ref(), name)
}

/// As [`read_npz_f64`], for a numpy `bool` array.
///
/// # Errors
///
/// As [`read_npz_f64`].
pub fn read_npz_bool(path: impl AsRef<Path>, name: &str) -> Result<(Vec<u64>, Vec<bool>)> {
    read_npz(path.as_ref(), name)
}
