//! Wavefront OBJ reading and writing (triangle and polygon meshes only).
//!
//! This is a small reader of its own rather than `tobj` because `tobj` renumbers vertices by first
//! use, splits the mesh per `o`/`g` group, drops unreferenced vertices and reports no line numbers.
//! Here the vertex numbering of the file is kept exactly (vertex `k` is the `k`-th `v` line, 0-based),
//! every triangle remembers the line of its `f` statement, and every error names the file and line.
//!
//! # What is read
//!
//! * `v x y z [more]`: a vertex. The first three numbers are the position; up to four more numbers
//!   are accepted and ignored (a `w` weight and/or `r g b [a]` colour values; note that the weight is
//!   *not* divided out, unlike some readers). Every value must be a number; `nan`, `inf` and `-inf`
//!   are accepted and kept (the mesh builder reports them as
//!   [`NonFiniteCoordinate`](crate::Error::NonFiniteCoordinate) with the vertex's line).
//! * `f c0 c1 c2 ...`: a polygon of at least three corners, each `a`, `a/b`, `a//c` or `a/b/c`, where
//!   `a` is a 1-based vertex index, or a negative index relative to the vertices defined so far
//!   (`-1` is the last one). Texture and normal indices `b`, `c` must be integers but are otherwise
//!   ignored. A polygon with `n` corners becomes the `n - 2` triangles `(0, i, i + 1)`, `i = 1..n-1`
//!   (a fan, as `tobj` does), each counted as its own face.
//! * Ignored: `vt`, `vn`, `vp`, `o`, `g`, `s`, `mg`, `usemtl`, `mtllib`, `l`, `p` and the other
//!   display/rendering attribute statements (`lod`, `bevel`, `c_interp`, `d_interp`, `shadow_obj`,
//!   `trace_obj`, `maplib`, `usemap`), blank lines, and comments: everything from a `#` to the end of
//!   the line. Lines may end in `\n` or `\r\n` (CR-only endings are an error that says so). The bytes
//!   of comments and ignored statements are not looked at (they may be Latin-1, say); `v` and `f`
//!   lines must be valid UTF-8. A UTF-8 byte order mark at the very start of the file is skipped.
//!
//! # Errors
//!
//! [`Error::Parse`] with the 1-based line for: a number that does not parse, a `v` line with fewer
//! than three or more than seven numbers, an `f` line with fewer than three corners, vertex index 0,
//! a malformed corner, invalid UTF-8 on a `v` or `f` line, free-form geometry statements (`cstype`,
//! `curv`, `surf`, ...), any unknown statement, and line continuation (a `\` at the end of a line,
//! which is not supported). Parse errors are reported in file order, first one wins.
//!
//! Once the whole file has parsed, face indices are checked against the number of vertices (a
//! positive index may refer to a vertex defined later in the file): the first triangle, in input
//! order, with an index out of range gives [`Error::FaceIndexOutOfRange`], with the 0-based index
//! (negative for a relative index reaching before the first vertex) and the line.
//!
//! Nothing else is checked here (degenerate, duplicate or non-manifold faces, unreferenced vertices,
//! non-finite coordinates, an empty mesh); that is the mesh builder's job.

use std::io::Write;
use std::path::Path;

use crate::{Error, MeshSource, Result};

/// Reads an OBJ file into a [`MeshSource`] named after the path, keeping the file's vertex order and
/// recording the line of every vertex and face. See the [module docs](self) for the accepted syntax.
///
/// # Errors
///
/// [`Error::Io`] if the file cannot be read or is larger than the input limit
/// ([`max_input_bytes`](super::max_input_bytes)), otherwise as [`parse_obj`].
pub fn read_obj(path: impl AsRef<Path>) -> Result<MeshSource> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = super::read_input(path)?;
    parse_obj(&bytes, &name)
}

/// Parses OBJ text into a [`MeshSource`]; `name` becomes the source's name and the `path` of errors.
///
/// The result has `positions`, `vertex_count`, `faces` (0-based), `face_lines` and `vertex_lines`
/// (1-based) filled in. Never panics, whatever the bytes.
///
/// # Errors
///
/// [`Error::Parse`] on malformed input and [`Error::FaceIndexOutOfRange`] for a face index past the
/// vertices; see the [module docs](self).
pub fn parse_obj(bytes: &[u8], name: &str) -> Result<MeshSource> {
    let mut parser = Parser {
        name,
        positions: Vec::new(),
        vertex_lines: Vec::new(),
        faces: Vec::new(),
        face_lines: Vec::new(),
        corners: Vec::new(),
        first_bad: None,
    };
    // A UTF-8 byte order mark at the start of the file (some Windows tools write one) is skipped.
    let mut rest = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut line_no = 0usize;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        line_no += 1;
        parser.line(line, line_no)?;
    }
    parser.finish()
}

/// Writes a triangle mesh as OBJ: one `v x y z` line per position (in order, with enough digits to
/// read back exactly; non-finite values as `NaN`, `inf`, `-inf`) and one `f a b c` line per face
/// (1-based indices). Reading the file back with [`read_obj`] gives the same positions and faces.
///
/// # Errors
///
/// [`Error::Io`] if the file cannot be created or written.
pub fn write_obj(path: impl AsRef<Path>, positions: &[[f64; 3]], faces: &[[u32; 3]]) -> Result<()> {
    let path = path.as_ref();
    let io_err = |e: std::io::Error| Error::io(path.display(), e);
    let file = std::fs::File::create(path).map_err(io_err)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 16, file);
    write_obj_to(&mut w, positions, faces).map_err(io_err)?;
    w.flush().map_err(io_err)
}

fn write_obj_to(
    w: &mut impl Write,
    positions: &[[f64; 3]],
    faces: &[[u32; 3]],
) -> std::io::Result<()> {
    writeln!(w, "# {} vertices, {} faces", positions.len(), faces.len())?;
    // `{:?}` is the shortest representation that reads back to the same f64 (with an exponent for
    // very large or small magnitudes, unlike `{}`).
    for p in positions {
        writeln!(w, "v {:?} {:?} {:?}", p[0], p[1], p[2])?;
    }
    for f in faces {
        writeln!(
            w,
            "f {} {} {}",
            u64::from(f[0]) + 1,
            u64::from(f[1]) + 1,
            u64::from(f[2]) + 1
        )?;
    }
    Ok(())
}

/// Statements that carry nothing a triangle mesh needs.
const IGNORED: &[&[u8]] = &[
    b"vt",
    b"vn",
    b"vp",
    b"o",
    b"g",
    b"s",
    b"mg",
    b"usemtl",
    b"mtllib",
    b"l",
    b"p",
    b"lod",
    b"bevel",
    b"c_interp",
    b"d_interp",
    b"shadow_obj",
    b"trace_obj",
    b"maplib",
    b"usemap",
];

/// Free-form geometry statements: silently dropping them would lose surface, so they are errors.
const FREE_FORM: &[&[u8]] = &[
    b"cstype", b"deg", b"bmat", b"step", b"curv", b"curv2", b"surf", b"parm", b"trim", b"hole",
    b"scrv", b"sp", b"end", b"con", b"ctech", b"stech",
];

/// The first corner whose index could not be stored as a `u32` (negative or huge): triangle, slot,
/// and the 0-based index.
struct BadIndex {
    face: usize,
    slot: usize,
    index: i64,
}

struct Parser<'a> {
    name: &'a str,
    positions: Vec<[f64; 3]>,
    vertex_lines: Vec<usize>,
    faces: Vec<[u32; 3]>,
    face_lines: Vec<usize>,
    /// Resolved 0-based corner indices of the current `f` line (reused across lines).
    corners: Vec<i64>,
    first_bad: Option<BadIndex>,
}

/// Stand-in for an index that does not fit a `u32`; always out of range since there are fewer than
/// `u32::MAX` vertices.
const PLACEHOLDER: u32 = u32::MAX;

/// At most this many bytes of an offending token are quoted in an error message.
const QUOTE_MAX: usize = 40;

fn quote(token: &[u8]) -> String {
    let s = String::from_utf8_lossy(token);
    if s.chars().count() > QUOTE_MAX {
        let mut t: String = s.chars().take(QUOTE_MAX).collect();
        t.push_str("...");
        t
    } else {
        s.into_owned()
    }
}

impl Parser<'_> {
    fn error(&self, line: usize, message: impl Into<String>) -> Error {
        Error::Parse {
            path: self.name.to_string(),
            line,
            message: message.into(),
        }
    }

    fn line(&mut self, line: &[u8], line_no: usize) -> Result<()> {
        // A CR that does not end the line (CRLF's CR is its last byte) splits lines only in files
        // with CR-only endings, which would otherwise read as one long line of nonsense.
        let body = line.strip_suffix(b"\r").unwrap_or(line);
        if body.contains(&b'\r') {
            return Err(self.error(
                line_no,
                "carriage return (CR) inside a line: the file's line endings are CR-only (classic \
                 Mac OS), which are not supported; convert them to LF or CRLF",
            ));
        }
        let line = match line.iter().position(|&b| b == b'#') {
            Some(i) => &line[..i],
            None => line,
        };
        let line = line.trim_ascii();
        if line.is_empty() {
            return Ok(());
        }
        if line.last() == Some(&b'\\') {
            return Err(self.error(
                line_no,
                "line continuation ('\\' at the end of a line) is not supported",
            ));
        }
        let (keyword, args) = match line.iter().position(|b| b.is_ascii_whitespace()) {
            Some(i) => (&line[..i], &line[i..]),
            None => (line, &line[line.len()..]),
        };
        match keyword {
            b"v" => self.vertex(self.utf8(args, line_no)?, line_no),
            b"f" => self.face(self.utf8(args, line_no)?, line_no),
            k if IGNORED.contains(&k) => Ok(()),
            k if FREE_FORM.contains(&k) => Err(self.error(
                line_no,
                format!(
                    "free-form geometry ('{}') is not supported, only polygons",
                    quote(k)
                ),
            )),
            k => Err(self.error(line_no, format!("unknown statement '{}'", quote(k)))),
        }
    }

    fn utf8<'b>(&self, bytes: &'b [u8], line_no: usize) -> Result<&'b str> {
        std::str::from_utf8(bytes).map_err(|_| self.error(line_no, "invalid UTF-8"))
    }

    fn number(&self, token: &str, line_no: usize) -> Result<f64> {
        token.parse::<f64>().map_err(|_| {
            self.error(
                line_no,
                format!("invalid number '{}'", quote(token.as_bytes())),
            )
        })
    }

    fn vertex(&mut self, args: &str, line_no: usize) -> Result<()> {
        let mut tokens = args.split_ascii_whitespace();
        let mut p = [0.0; 3];
        for (k, c) in p.iter_mut().enumerate() {
            let t = tokens.next().ok_or_else(|| {
                self.error(
                    line_no,
                    format!("vertex has {k} coordinate(s), expected 3 (x y z)"),
                )
            })?;
            *c = self.number(t, line_no)?;
        }
        for (extra, t) in tokens.enumerate() {
            self.number(t, line_no)?;
            if extra >= 4 {
                return Err(self.error(
                    line_no,
                    "vertex has more than 7 values (expected x y z, optionally w and/or a colour)",
                ));
            }
        }
        if self.positions.len() >= PLACEHOLDER as usize {
            return Err(self.error(line_no, "too many vertices (at most 2^32 - 1)"));
        }
        self.positions.push(p);
        self.vertex_lines.push(line_no);
        Ok(())
    }

    /// Parses one corner `a`, `a/b`, `a//c` or `a/b/c`; returns the 0-based vertex index.
    fn corner(&self, token: &str, line_no: usize) -> Result<i64> {
        let bad = || {
            self.error(
                line_no,
                format!(
                    "malformed face corner '{}' (expected v, v/vt, v//vn or v/vt/vn)",
                    quote(token.as_bytes())
                ),
            )
        };
        let mut parts = token.split('/');
        let v = parts.next().unwrap_or("");
        let vt = parts.next();
        let vn = parts.next();
        if parts.next().is_some() {
            return Err(bad());
        }
        let is_int = |s: &str| parse_int(s.as_bytes()).is_some();
        match (vt, vn) {
            (None, None) => {}
            (Some(vt), None) if is_int(vt) => {}
            (Some(vt), Some(vn)) if (vt.is_empty() || is_int(vt)) && is_int(vn) => {}
            _ => return Err(bad()),
        }
        // Digits that overflow i64 are an index out of range, not a malformed corner.
        let digits = v.strip_prefix('-').unwrap_or(v);
        let overflow = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        let index = match parse_int(v.as_bytes()) {
            Some(i) => i,
            None if overflow => {
                return Err(self.error(
                    line_no,
                    format!(
                        "vertex index {} in a face is out of range (the file defines {} vertices so far)",
                        quote(v.as_bytes()),
                        self.positions.len()
                    ),
                ))
            }
            None => return Err(bad()),
        };
        match index {
            0 => Err(self.error(line_no, "vertex index 0 in a face (OBJ indices start at 1)")),
            i if i > 0 => Ok(i - 1),
            // Relative: -1 is the last vertex defined so far.
            i => Ok(self.positions.len() as i64 + i),
        }
    }

    fn face(&mut self, args: &str, line_no: usize) -> Result<()> {
        let mut corners = std::mem::take(&mut self.corners);
        corners.clear();
        for t in args.split_ascii_whitespace() {
            match self.corner(t, line_no) {
                Ok(c) => corners.push(c),
                Err(e) => {
                    self.corners = corners;
                    return Err(e);
                }
            }
        }
        if corners.len() < 3 {
            let n = corners.len();
            self.corners = corners;
            return Err(self.error(
                line_no,
                format!("face has {n} corner(s), at least 3 are needed"),
            ));
        }
        let c0 = corners[0];
        for i in 1..corners.len() - 1 {
            let tri = [c0, corners[i], corners[i + 1]];
            let face = self.faces.len();
            let mut out = [0u32; 3];
            for (slot, (&c, o)) in tri.iter().zip(out.iter_mut()).enumerate() {
                *o = match u32::try_from(c) {
                    Ok(u) if u != PLACEHOLDER => u,
                    _ => {
                        if self.first_bad.is_none() {
                            self.first_bad = Some(BadIndex {
                                face,
                                slot,
                                index: c,
                            });
                        }
                        PLACEHOLDER
                    }
                };
            }
            self.faces.push(out);
            self.face_lines.push(line_no);
        }
        self.corners = corners;
        Ok(())
    }

    fn finish(self) -> Result<MeshSource> {
        let n = self.positions.len();
        for (face, tri) in self.faces.iter().enumerate() {
            for (slot, &v) in tri.iter().enumerate() {
                if v as usize >= n {
                    let index = match &self.first_bad {
                        Some(b) if v == PLACEHOLDER && b.face == face && b.slot == slot => b.index,
                        _ => i64::from(v),
                    };
                    return Err(Error::FaceIndexOutOfRange {
                        face,
                        line: Some(self.face_lines[face]),
                        index,
                        vertices: n,
                    });
                }
            }
        }
        Ok(MeshSource {
            name: self.name.to_string(),
            vertex_count: n,
            faces: self.faces,
            positions: Some(self.positions),
            face_edge_lengths: None,
            face_lines: Some(self.face_lines),
            vertex_lines: Some(self.vertex_lines),
        })
    }
}

/// Parses an optionally signed decimal integer; `None` if malformed or out of `i64` range.
fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        value = value.checked_mul(10)?;
        value = if neg {
            value.checked_sub(d)?
        } else {
            value.checked_add(d)?
        };
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_int_edges() {
        assert_eq!(parse_int(b"12"), Some(12));
        assert_eq!(parse_int(b"-3"), Some(-3));
        assert_eq!(parse_int(b"+4"), Some(4));
        assert_eq!(parse_int(b"-"), None);
        assert_eq!(parse_int(b""), None);
        assert_eq!(parse_int(b"1x"), None);
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775808"), None);
    }
}
