//! Generated meshes: the primitives named by specs such as `icosphere:3` or `flat-torus:32x32`.
//!
//! | spec                  | surface                                       | V                 | F              | χ |
//! |-----------------------|-----------------------------------------------|-------------------|----------------|---|
//! | `icosphere:L`         | unit sphere, icosahedron split `L` times      | `10·4^L + 2`      | `20·4^L`       | 2 |
//! | `grid:NXxNY`          | flat unit-spaced square with boundary         | `NX·NY`           | `2(NX−1)(NY−1)`| 1 |
//! | `flat-torus:NXxNY`    | periodic grid, edge lengths only              | `NX·NY`           | `2·NX·NY`      | 0 |
//! | `flat-mobius:NXxNY`   | grid glued with a half twist, lengths only    | `NX·NY`           | `2·NX(NY−1)`   | 0 |
//! | `cube:N`              | surface of `[−1, 1]³`, `N×N` cells per side   | `6N² + 2`         | `12N²`         | 2 |
//! | `cone:N`              | developable cone, apex defect `2π/N`          | `1 + 6S`          | `11S`          | 1 |
//! | `torus:NUxNV`         | torus of revolution, radii 1 and 0.4          | `NU·NV`           | `2·NU·NV`      | 0 |
//! | `mobius:NUxNV`        | embedded Möbius band, width 0.5               | `NU·NV`           | `2·NU(NV−1)`   | 0 |
//!
//! (`S = max(4N, 12)` sectors for the cone.) Names are matched ignoring ASCII case, with `_` accepted
//! for `-`; the separator of two sizes is `x` or `X`; numbers are plain decimal digits (surrounding
//! spaces allowed).
//!
//! **Frames.** Every generator orders faces and corners so that the *reference outgoing edge* of each
//! vertex (polar angle 0 of its tangent frame; see [`MeshSource`]) is as symmetric as the surface
//! allows: on grids, tori and Möbius strips every vertex `(x, y)` that has a cell of its own is corner 0
//! of that cell's first triangle with corner 1 = `(x + 1, y)`, so reference edges point along +x. Each
//! function documents its own.
//!
//! **Orientation.** All faces are oriented consistently, counter-clockwise seen from outside (from +z for
//! the flat ones, in unrolled coordinates for the intrinsic ones), except across the twist seam of the
//! Möbius strips, where no orientation can be consistent.
//!
//! **Sizes.** Every generator rejects meshes with more than [`MAX_VERTICES`] vertices or [`MAX_FACES`]
//! faces (so indices and halfedge ids `3f + k` fit in `u32` with room to spare).

use std::f64::consts::PI;
use std::fmt;

use crate::error::{Error, Result};
use crate::mesh::MeshSource;
use crate::subdivide::{edge_table, split_faces};
use nalgebra::Vector3;

/// The most vertices a generated mesh may have (2²⁶ = 67,108,864; `icosphere:11` has 41,943,042).
pub const MAX_VERTICES: usize = 1 << 26;
/// The most faces a generated (or subdivided) mesh may have (2²⁷ = 134,217,728).
pub const MAX_FACES: usize = 1 << 27;
/// The highest icosphere level (`icosphere:11`: 41,943,042 vertices, 83,886,080 faces).
pub const MAX_ICOSPHERE_LEVEL: u32 = 11;
/// The primitive names, as written in specs.
pub const NAMES: [&str; 8] = [
    "icosphere",
    "grid",
    "flat-torus",
    "flat-mobius",
    "cube",
    "cone",
    "torus",
    "mobius",
];

/// Cone resolution used by `cone:N`: `max(4N, 12)` sectors (a multiple of `N`).
pub fn cone_sectors(n: u32) -> u32 {
    n.saturating_mul(4).max(12)
}
/// Cone resolution used by `cone:N`: rings of vertices between apex and rim (the rim is the last).
pub const CONE_RINGS: u32 = 6;
/// Major radius of `torus:NUxNV` (distance from the axis to the tube's centre circle).
pub const TORUS_MAJOR_RADIUS: f64 = 1.0;
/// Minor radius of `torus:NUxNV` (radius of the tube).
pub const TORUS_MINOR_RADIUS: f64 = 0.4;
/// Radius of the centre circle of `mobius:NUxNV`.
pub const MOBIUS_RADIUS: f64 = 1.0;
/// Width of `mobius:NUxNV` across the band (from −0.25 to 0.25 about the centre circle).
pub const MOBIUS_WIDTH: f64 = 0.5;

/// A parsed primitive spec. Fields are the sizes as written in the spec; [`Primitive::generate`] (and
/// [`Primitive::parse`]) check their ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Primitive {
    /// `icosphere:LEVEL`, see [`icosphere`].
    Icosphere {
        /// Subdivision level, `0..=11`.
        level: u32,
    },
    /// `grid:NXxNY`, see [`grid`].
    Grid {
        /// Vertices along x, at least 2.
        nx: u32,
        /// Vertices along y, at least 2.
        ny: u32,
    },
    /// `flat-torus:NXxNY`, see [`flat_torus`].
    FlatTorus {
        /// Vertices along x, at least 3.
        nx: u32,
        /// Vertices along y, at least 3.
        ny: u32,
    },
    /// `flat-mobius:NXxNY`, see [`flat_mobius`].
    FlatMobius {
        /// Vertices around the core (periodic with a half twist), at least 3.
        nx: u32,
        /// Vertices across the strip, at least 2.
        ny: u32,
    },
    /// `cube:N`, see [`cube`].
    Cube {
        /// Cells along each edge of the cube, at least 1.
        n: u32,
    },
    /// `cone:N`, see [`cone`].
    Cone {
        /// The apex angle defect is `2π/n`; at least 2.
        n: u32,
    },
    /// `torus:NUxNV`, see [`torus`].
    Torus {
        /// Vertices around the big circle, at least 3.
        nu: u32,
        /// Vertices around the tube, at least 3.
        nv: u32,
    },
    /// `mobius:NUxNV`, see [`mobius`].
    Mobius {
        /// Vertices around the centre circle, at least 3.
        nu: u32,
        /// Vertices across the band, at least 2.
        nv: u32,
    },
}

/// Parses and generates a primitive mesh spec (`icosphere:3`, `grid:8x8`, …; see the [module
/// docs](self)). The source's `name` is `spec` as given.
///
/// # Returns
/// `Ok(None)` if `spec` is not a primitive spec, e.g. a file path (see [`Primitive::parse`] for the exact
/// rule).
///
/// # Errors
/// [`Error::InvalidSpec`] naming the spec, for an unknown primitive name, missing or garbled numbers,
/// or sizes out of range.
///
/// # Example
/// ```
/// let s = manifold_cnn::primitives::generate("grid:3x4").unwrap().unwrap();
/// assert_eq!((s.vertex_count, s.faces.len()), (12, 12));
/// assert!(manifold_cnn::primitives::generate("meshes/bull.obj").unwrap().is_none());
/// assert!(manifold_cnn::primitives::generate("grid:1x4").is_err());
/// ```
pub fn generate(spec: &str) -> Result<Option<MeshSource>> {
    let Some(p) = Primitive::parse(spec)? else {
        return Ok(None);
    };
    let mut source = p.generate().map_err(|e| spec_error(spec, e))?;
    source.name = spec.to_string();
    Ok(Some(source))
}

/// Whether the part of `spec` before the first `:` (all of it, if there is none) is a known primitive
/// name. A spec for which this is true never loads as a file.
pub fn is_primitive(spec: &str) -> bool {
    let name = spec.split_once(':').map_or(spec, |(n, _)| n);
    canonical_name(name).is_some()
}

fn canonical_name(name: &str) -> Option<&'static str> {
    let name = name.trim().to_ascii_lowercase().replace('_', "-");
    NAMES.iter().copied().find(|&n| n == name)
}

fn usage(name: &str) -> &'static str {
    match name {
        "icosphere" => "icosphere:LEVEL, e.g. icosphere:3",
        "grid" => "grid:NXxNY, e.g. grid:16x16",
        "flat-torus" => "flat-torus:NXxNY, e.g. flat-torus:16x16",
        "flat-mobius" => "flat-mobius:NXxNY, e.g. flat-mobius:24x6",
        "cube" => "cube:N, e.g. cube:8",
        "cone" => "cone:N, e.g. cone:4",
        "torus" => "torus:NUxNV, e.g. torus:32x12",
        _ => "mobius:NUxNV, e.g. mobius:48x6",
    }
}

fn spec_error(spec: &str, e: Error) -> Error {
    match e {
        Error::InvalidParameter { name, message } => Error::InvalidSpec {
            spec: spec.to_string(),
            message: format!("{name}: {message}"),
        },
        other => other,
    }
}

/// Parses one size: decimal digits only (surrounding spaces allowed).
fn parse_size(text: &str, what: &str) -> std::result::Result<u32, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("{what} is missing"));
    }
    if !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{what} = '{t}' is not a whole number (digits 0-9 only)"
        ));
    }
    t.parse::<u32>()
        .map_err(|_| format!("{what} = {t} is too large"))
}

impl Primitive {
    /// Parses a spec `NAME:ARGS` and checks its ranges (nothing is generated).
    ///
    /// # Returns
    /// * `Ok(Some(_))` for a valid primitive spec.
    /// * `Ok(None)` if `spec` is not meant as a primitive: the part before the first `:` is not a known
    ///   name and either there is no `:`, or that part is not a word of at least two letters, digits, `-`
    ///   or `_` starting with a letter (a drive letter `C:` or a path), or the part after it contains
    ///   `/`, `\` or `.` (a path).
    ///
    /// # Errors
    /// [`Error::InvalidSpec`]: an unknown name in a spec that looks like a primitive (`sphere:3`), a known
    /// name without `:ARGS`, the wrong number of sizes, a size that is not a whole number, or a size out
    /// of range (the message names the parameter and its valid range).
    pub fn parse(spec: &str) -> Result<Option<Primitive>> {
        let bad = |message: String| Error::InvalidSpec {
            spec: spec.to_string(),
            message,
        };
        let (name, args) = match spec.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (spec, None),
        };
        let Some(name) = canonical_name(name) else {
            let word = name.trim();
            let looks_like_name = word.len() >= 2
                && word.starts_with(|c: char| c.is_ascii_alphabetic())
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            return match args {
                Some(a) if looks_like_name && !a.contains(['/', '\\', '.']) => Err(bad(format!(
                    "unknown primitive '{word}' (known: {})",
                    NAMES.join(", ")
                ))),
                _ => Ok(None),
            };
        };
        let Some(args) = args else {
            return Err(bad(format!("missing sizes: expected {}", usage(name))));
        };
        let pieces: Vec<&str> = args.split(['x', 'X']).collect();
        let expected: &[&str] = match name {
            "icosphere" => &["LEVEL"],
            "cube" | "cone" => &["N"],
            "torus" | "mobius" => &["NU", "NV"],
            _ => &["NX", "NY"],
        };
        if pieces.len() != expected.len() {
            return Err(bad(format!(
                "expected {} size{} ({}), got '{}'",
                expected.len(),
                if expected.len() == 1 { "" } else { "s" },
                usage(name),
                args
            )));
        }
        let mut v = [0u32; 2];
        for (i, (piece, what)) in pieces.iter().zip(expected).enumerate() {
            v[i] = parse_size(piece, what)
                .map_err(|m| bad(format!("{m}; expected {}", usage(name))))?;
        }
        let p = match name {
            "icosphere" => Primitive::Icosphere { level: v[0] },
            "grid" => Primitive::Grid { nx: v[0], ny: v[1] },
            "flat-torus" => Primitive::FlatTorus { nx: v[0], ny: v[1] },
            "flat-mobius" => Primitive::FlatMobius { nx: v[0], ny: v[1] },
            "cube" => Primitive::Cube { n: v[0] },
            "cone" => Primitive::Cone { n: v[0] },
            "torus" => Primitive::Torus { nu: v[0], nv: v[1] },
            _ => Primitive::Mobius { nu: v[0], nv: v[1] },
        };
        p.validate().map_err(|e| spec_error(spec, e))?;
        Ok(Some(p))
    }

    /// The primitive's name as written in specs.
    pub fn name(&self) -> &'static str {
        match self {
            Primitive::Icosphere { .. } => "icosphere",
            Primitive::Grid { .. } => "grid",
            Primitive::FlatTorus { .. } => "flat-torus",
            Primitive::FlatMobius { .. } => "flat-mobius",
            Primitive::Cube { .. } => "cube",
            Primitive::Cone { .. } => "cone",
            Primitive::Torus { .. } => "torus",
            Primitive::Mobius { .. } => "mobius",
        }
    }

    /// Number of vertices (closed form; saturates for absurd sizes).
    pub fn vertex_count(&self) -> u64 {
        let m = |a: u32, b: u32| (a as u64).saturating_mul(b as u64);
        match *self {
            Primitive::Icosphere { level } => 4u64
                .saturating_pow(level)
                .saturating_mul(10)
                .saturating_add(2),
            Primitive::Grid { nx, ny }
            | Primitive::FlatTorus { nx, ny }
            | Primitive::FlatMobius { nx, ny }
            | Primitive::Torus { nu: nx, nv: ny }
            | Primitive::Mobius { nu: nx, nv: ny } => m(nx, ny),
            Primitive::Cube { n } => m(n, n).saturating_mul(6).saturating_add(2),
            Primitive::Cone { n } => m(cone_sectors(n), CONE_RINGS).saturating_add(1),
        }
    }

    /// Number of faces (closed form; saturates for absurd sizes).
    pub fn face_count(&self) -> u64 {
        let m = |a: u32, b: u32| (a as u64).saturating_mul(b as u64).saturating_mul(2);
        match *self {
            Primitive::Icosphere { level } => 4u64.saturating_pow(level).saturating_mul(20),
            Primitive::Grid { nx, ny } => m(nx.saturating_sub(1), ny.saturating_sub(1)),
            Primitive::FlatTorus { nx, ny } | Primitive::Torus { nu: nx, nv: ny } => m(nx, ny),
            Primitive::FlatMobius { nx, ny } | Primitive::Mobius { nu: nx, nv: ny } => {
                m(nx, ny.saturating_sub(1))
            }
            Primitive::Cube { n } => m(n, n).saturating_mul(6),
            Primitive::Cone { n } => (cone_sectors(n) as u64) * (2 * CONE_RINGS as u64 - 1),
        }
    }

    /// Checks the sizes: each against its minimum (and the icosphere level against
    /// [`MAX_ICOSPHERE_LEVEL`]), and the vertex and face counts against [`MAX_VERTICES`] and
    /// [`MAX_FACES`].
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the parameter and its valid range.
    pub fn validate(&self) -> Result<()> {
        fn at_least(name: &'static str, value: u32, min: u32) -> Result<()> {
            if value < min {
                return Err(Error::InvalidParameter {
                    name,
                    message: format!("must be at least {min} (got {value})"),
                });
            }
            Ok(())
        }
        let (names, a, b): (&'static str, u32, u32) = match *self {
            Primitive::Icosphere { level } => {
                if level > MAX_ICOSPHERE_LEVEL {
                    return Err(Error::InvalidParameter {
                        name: "level",
                        message: format!(
                            "must be between 0 and {MAX_ICOSPHERE_LEVEL} (got {level}; level {MAX_ICOSPHERE_LEVEL} \
                             already has 41,943,042 vertices)"
                        ),
                    });
                }
                ("level", level, 0)
            }
            Primitive::Grid { nx, ny } => {
                at_least("nx", nx, 2)?;
                at_least("ny", ny, 2)?;
                ("nx, ny", nx, ny)
            }
            Primitive::FlatTorus { nx, ny } => {
                at_least("nx", nx, 3)?;
                at_least("ny", ny, 3)?;
                ("nx, ny", nx, ny)
            }
            Primitive::FlatMobius { nx, ny } => {
                at_least("nx", nx, 3)?;
                at_least("ny", ny, 2)?;
                ("nx, ny", nx, ny)
            }
            Primitive::Cube { n } => {
                at_least("n", n, 1)?;
                ("n", n, 0)
            }
            Primitive::Cone { n } => {
                at_least("n", n, 2)?;
                ("n", n, 0)
            }
            Primitive::Torus { nu, nv } => {
                at_least("nu", nu, 3)?;
                at_least("nv", nv, 3)?;
                ("nu, nv", nu, nv)
            }
            Primitive::Mobius { nu, nv } => {
                at_least("nu", nu, 3)?;
                at_least("nv", nv, 2)?;
                ("nu, nv", nu, nv)
            }
        };
        let (v, f) = (self.vertex_count(), self.face_count());
        if v > MAX_VERTICES as u64 || f > MAX_FACES as u64 {
            let sizes = if names.contains(',') {
                format!("{a}x{b}")
            } else {
                a.to_string()
            };
            return Err(Error::InvalidParameter {
                name: names,
                message: format!(
                    "{} {sizes} would have {v} vertices and {f} faces; the limits are {MAX_VERTICES} vertices \
                     and {MAX_FACES} faces",
                    self.name()
                ),
            });
        }
        Ok(())
    }

    /// Generates the mesh; its name is the canonical spec ([`Display`](fmt::Display)).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if [`validate`](Self::validate) fails; [`Error::OutOfMemory`] if
    /// generating the mesh and building its [`Manifold`](crate::Manifold), which is what every caller
    /// does next, would need more memory than can be allocated
    /// ([`build_memory_estimate`](crate::mesh::build_memory_estimate), checked before anything is
    /// allocated: `icosphere:11` needs ~48 GiB).
    pub fn generate(&self) -> Result<MeshSource> {
        self.validate()?;
        let name = self.to_string();
        crate::mesh::ensure_memory(
            || format!("{name} (generating it and building its manifold)"),
            crate::mesh::build_memory_estimate(self.vertex_count(), self.face_count()),
        )?;
        let mut s = match *self {
            Primitive::Icosphere { level } => icosphere_unchecked(level)?,
            Primitive::Grid { nx, ny } => grid_unchecked(nx, ny),
            Primitive::FlatTorus { nx, ny } => flat_torus_unchecked(nx, ny),
            Primitive::FlatMobius { nx, ny } => flat_mobius_unchecked(nx, ny),
            Primitive::Cube { n } => cube_unchecked(n),
            Primitive::Cone { n } => cone_unchecked(n, cone_sectors(n), CONE_RINGS),
            Primitive::Torus { nu, nv } => torus_unchecked(nu, nv),
            Primitive::Mobius { nu, nv } => mobius_unchecked(nu, nv),
        };
        debug_assert_eq!(s.vertex_count as u64, self.vertex_count());
        debug_assert_eq!(s.faces.len() as u64, self.face_count());
        s.name = name;
        Ok(s)
    }
}

impl fmt::Display for Primitive {
    /// The canonical spec, e.g. `flat-torus:16x16`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Primitive::Icosphere { level } => write!(f, "icosphere:{level}"),
            Primitive::Cube { n } => write!(f, "cube:{n}"),
            Primitive::Cone { n } => write!(f, "cone:{n}"),
            Primitive::Grid { nx, ny }
            | Primitive::FlatTorus { nx, ny }
            | Primitive::FlatMobius { nx, ny }
            | Primitive::Torus { nu: nx, nv: ny }
            | Primitive::Mobius { nu: nx, nv: ny } => write!(f, "{}:{nx}x{ny}", self.name()),
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Icosphere

/// The golden ratio φ = (1 + √5) / 2.
const PHI: f64 = 1.618_033_988_749_895;

/// Icosahedron vertices (before normalisation): the cyclic shifts of `(0, ±1, ±φ)`.
const ICOSAHEDRON_VERTICES: [[f64; 3]; 12] = [
    [0.0, 1.0, PHI],
    [0.0, -1.0, PHI],
    [0.0, 1.0, -PHI],
    [0.0, -1.0, -PHI],
    [1.0, PHI, 0.0],
    [-1.0, PHI, 0.0],
    [1.0, -PHI, 0.0],
    [-1.0, -PHI, 0.0],
    [PHI, 0.0, 1.0],
    [PHI, 0.0, -1.0],
    [-PHI, 0.0, 1.0],
    [-PHI, 0.0, -1.0],
];

/// Icosahedron faces, counter-clockwise from outside. Face `i < 12` has vertex `i` at corner 0 and its
/// partner `i ^ 1` at corner 1; the last 8 are the faces centred on the directions `(±1, ±1, ±1)`.
const ICOSAHEDRON_FACES: [[u32; 3]; 20] = [
    [0, 1, 8],
    [1, 0, 10],
    [2, 3, 11],
    [3, 2, 9],
    [4, 5, 0],
    [5, 4, 2],
    [6, 7, 3],
    [7, 6, 1],
    [8, 9, 4],
    [9, 8, 6],
    [10, 11, 7],
    [11, 10, 5],
    [0, 8, 4],
    [0, 5, 10],
    [1, 6, 8],
    [1, 10, 7],
    [2, 4, 9],
    [2, 11, 5],
    [3, 9, 6],
    [3, 7, 11],
];

/// The unit icosphere: an icosahedron whose triangles are split `level` times into four at the edge
/// midpoints, each new vertex projected to the unit sphere (`normalize(a + b)` of the edge's endpoints at
/// the level it appears). The construction commutes with the 60 rotations of the icosahedron, so the
/// mesh has the full icosahedral symmetry (to rounding).
///
/// * **Counts:** `V = 10·4^L + 2`, `F = 20·4^L`, `E = 30·4^L`; level 9: 2,621,442 vertices.
/// * **Vertices:** 0..12 are the icosahedron's, the cyclic shifts of `(0, ±1, ±φ)` normalised, in the
///   order `(0, 1, φ), (0, −1, φ), (0, 1, −φ), (0, −1, −φ), (1, φ, 0), (−1, φ, 0), (1, −φ, 0),
///   (−1, −φ, 0), (φ, 0, 1), (φ, 0, −1), (−φ, 0, 1), (−φ, 0, −1)`; then each level appends one vertex
///   per edge of the previous level, in the order of [`split_edges`](crate::subdivide::split_edges).
/// * **Faces** (counter-clockwise from outside): level 0 as in the table below; each level replaces face
///   `k` by faces `4k..4k+3` as in [`subdivide`](crate::subdivide) (the same connectivity as
///   `subdivide(&icosphere(0)?, L)`; only the positions differ).
/// * **Frames:** face `i < 12` of level 0 is `[i, i ^ 1, ·]`, so the reference edge of icosahedron vertex
///   `i` points to its partner `i ^ 1`, the vertex differing in the sign of its ±1 coordinate; the
///   assignment is equivariant under the 12 rotations that permute coordinates cyclically and flip two
///   signs. Subdivision keeps these directions; new vertices get theirs from the face order.
///
/// # Errors
/// [`Error::InvalidParameter`] (`level`) if `level > 11`.
///
/// # Complexity
/// Linear in the output: level 9 (2.6 M vertices) in about 0.3 s (release, one core).
pub fn icosphere(level: u32) -> Result<MeshSource> {
    Primitive::Icosphere { level }.generate()
}

fn icosphere_unchecked(level: u32) -> Result<MeshSource> {
    let norm = (1.0 + PHI * PHI).sqrt();
    let mut positions: Vec<[f64; 3]> = ICOSAHEDRON_VERTICES
        .iter()
        .map(|p| [p[0] / norm, p[1] / norm, p[2] / norm])
        .collect();
    let mut faces = ICOSAHEDRON_FACES.to_vec();
    let final_vertices = 10 * (1usize << (2 * level)) + 2;
    positions.reserve_exact(final_vertices - positions.len());
    for _ in 0..level {
        let vertex_count = positions.len();
        let table = edge_table(&faces, vertex_count)?;
        for &[a, b] in &table.edges {
            let s = Vector3::from(positions[a as usize]) + Vector3::from(positions[b as usize]);
            positions.push((s / s.norm()).into());
        }
        faces = split_faces(&faces, &table, vertex_count);
    }
    Ok(MeshSource::from_positions(String::new(), positions, faces))
}

// ---------------------------------------------------------------------------------------------------
// Grids, tori and strips

/// Pushes the two triangles of each cell `(x, y)`, `x < cells_x`, `y < cells_y`, row by row:
/// `[v(x,y), v(x+1,y), v(x+1,y+1)]` then `[v(x,y), v(x+1,y+1), v(x,y+1)]`, where `v` maps unrolled
/// coordinates (`x ≤ cells_x`, `y ≤ cells_y`) to vertex indices.
fn cell_faces(cells_x: u32, cells_y: u32, v: impl Fn(u32, u32) -> u32) -> Vec<[u32; 3]> {
    let mut faces = Vec::with_capacity(2 * cells_x as usize * cells_y as usize);
    for y in 0..cells_y {
        for x in 0..cells_x {
            let (a, b, c, d) = (v(x, y), v(x + 1, y), v(x + 1, y + 1), v(x, y + 1));
            faces.push([a, b, c]);
            faces.push([a, c, d]);
        }
    }
    faces
}

/// Edge lengths of unit square cells split by their (x, y)–(x+1, y+1) diagonal, face by face.
fn cell_lengths(face_count: usize) -> Vec<[f64; 3]> {
    let d = std::f64::consts::SQRT_2;
    (0..face_count)
        .map(|f| {
            if f % 2 == 0 {
                [1.0, 1.0, d]
            } else {
                [d, 1.0, 1.0]
            }
        })
        .collect()
}

/// A flat square grid with boundary, unit spacing, in the plane z = 0.
///
/// * **Counts:** `V = NX·NY`, `F = 2(NX−1)(NY−1)`, `E = 3·NX·NY − 2NX − 2NY + 1`; one boundary loop.
/// * **Vertices:** vertex `x + NX·y` is at `(x, y, 0)`, `0 ≤ x < NX`, `0 ≤ y < NY`.
/// * **Faces:** cells `(x, y)`, `x < NX−1`, `y < NY−1`, row-major (`y` outer), each split by the diagonal
///   `(x, y)–(x+1, y+1)`: `[v(x,y), v(x+1,y), v(x+1,y+1)]` then `[v(x,y), v(x+1,y+1), v(x,y+1)]`
///   (counter-clockwise seen from +z). Face edge lengths are not set (they follow from positions).
/// * **Frames:** every vertex with `x < NX−1`, `y < NY−1` has reference edge `(x, y) → (x+1, y)` (+x).
///   On the last row (`y = NY−1`) and column (`x = NX−1`) the fallback rule applies (the lowest face
///   containing the vertex): the diagonal `(x, y) → (x−1, y−1)`, except `(NX−1, 0) → (NX−1, 1)` and
///   `(0, NY−1) → (0, NY−2)`.
///
/// # Errors
/// [`Error::InvalidParameter`] if `nx < 2`, `ny < 2`, or the mesh would be too big.
pub fn grid(nx: u32, ny: u32) -> Result<MeshSource> {
    Primitive::Grid { nx, ny }.generate()
}

fn grid_unchecked(nx: u32, ny: u32) -> MeshSource {
    let mut positions = Vec::with_capacity(nx as usize * ny as usize);
    for y in 0..ny {
        for x in 0..nx {
            positions.push([x as f64, y as f64, 0.0]);
        }
    }
    let faces = cell_faces(nx - 1, ny - 1, |x, y| x + nx * y);
    MeshSource::from_positions(String::new(), positions, faces)
}

/// A flat torus: the unit-spaced grid of [`grid`] with periodic wrap in both directions. Intrinsic only
/// (it has no flat embedding in 3-D): `positions` is `None`, `face_edge_lengths` holds 1 for the sides
/// along x and y and √2 for the diagonals.
///
/// * **Counts:** `V = NX·NY`, `F = 2·NX·NY`, `E = 3·NX·NY`; no boundary; every vertex has angle sum 2π.
/// * **Vertices:** vertex `x + NX·y` is grid point `(x, y)`; coordinates are taken mod `NX`, `NY`.
/// * **Faces:** cells `(x, y)` for all `x < NX`, `y < NY`, row-major, split as in [`grid`]:
///   `[v(x,y), v(x+1,y), v(x+1,y+1)]` (lengths `[1, 1, √2]`), `[v(x,y), v(x+1,y+1), v(x,y+1)]` (lengths
///   `[√2, 1, 1]`); orientation consistent.
/// * **Frames:** every vertex has reference edge `(x, y) → (x+1, y)`, so frames are invariant under the
///   grid translations.
///
/// # Errors
/// [`Error::InvalidParameter`] if `nx < 3`, `ny < 3` (smaller would create doubled edges), or too big.
pub fn flat_torus(nx: u32, ny: u32) -> Result<MeshSource> {
    Primitive::FlatTorus { nx, ny }.generate()
}

fn flat_torus_unchecked(nx: u32, ny: u32) -> MeshSource {
    let faces = cell_faces(nx, ny, |x, y| (x % nx) + nx * (y % ny));
    let lengths = cell_lengths(faces.len());
    MeshSource::from_edge_lengths(String::new(), nx as usize * ny as usize, faces, lengths)
}

/// Vertex index of unrolled Möbius coordinates: column `nx` is column 0 flipped, `(nx, y) ≡ (0, ny−1−y)`.
fn mobius_index(nx: u32, ny: u32) -> impl Fn(u32, u32) -> u32 {
    move |x, y| {
        if x == nx {
            nx * (ny - 1 - y)
        } else {
            x + nx * y
        }
    }
}

/// A flat Möbius strip: `NX` columns around the core, periodic with a half twist, and `NY` rows across,
/// with boundary at `y = 0` and `y = NY−1` (one boundary loop of length `2·NX`). Intrinsic only:
/// `positions` is `None`, `face_edge_lengths` as in [`flat_torus`].
///
/// * **Counts:** `V = NX·NY`, `F = 2·NX(NY−1)`, `E = 3·NX·NY − 2NX`; χ = 0; non-orientable.
/// * **Vertices:** vertex `x + NX·y` is point `(x, y)` of the unrolled strip; column `NX` is identified
///   with column 0 flipped: `(NX, y) ≡ (0, NY−1−y)`.
/// * **Faces:** cells `(x, y)` for `x < NX`, `y < NY−1`, row-major, split as in [`grid`] in unrolled
///   coordinates (lengths `[1, 1, √2]` and `[√2, 1, 1]`). All faces are counter-clockwise in unrolled
///   coordinates; the edges on the seam (between column `NX−1` and column 0) are therefore used twice in
///   the same direction. Every interior vertex has angle sum exactly 2π, every boundary vertex π.
/// * **Frames:** every vertex with `y < NY−1` has reference edge along +x (unrolled; for `x = NX−1` it is
///   `(NX−1, y) → (0, NY−1−y)`), which the glide reflection of the strip preserves.
///
/// # Errors
/// [`Error::InvalidParameter`] if `nx < 3`, `ny < 2`, or too big.
pub fn flat_mobius(nx: u32, ny: u32) -> Result<MeshSource> {
    Primitive::FlatMobius { nx, ny }.generate()
}

fn flat_mobius_unchecked(nx: u32, ny: u32) -> MeshSource {
    let faces = cell_faces(nx, ny - 1, mobius_index(nx, ny));
    let lengths = cell_lengths(faces.len());
    MeshSource::from_edge_lengths(String::new(), nx as usize * ny as usize, faces, lengths)
}

/// A torus of revolution about the z axis, major radius [`TORUS_MAJOR_RADIUS`] = 1, minor radius
/// [`TORUS_MINOR_RADIUS`] = 0.4.
///
/// * **Counts:** `V = NU·NV`, `F = 2·NU·NV`, `E = 3·NU·NV`; χ = 0.
/// * **Vertices:** vertex `u + NU·v` is at `((1 + 0.4 cos φ) cos θ, (1 + 0.4 cos φ) sin θ, 0.4 sin φ)`
///   with `θ = 2πu/NU` around the big circle and `φ = 2πv/NV` around the tube.
/// * **Faces:** as [`flat_torus`] with `(x, y) = (u, v)`; counter-clockwise seen from outside (outward
///   normals).
/// * **Frames:** every vertex has reference edge `(u, v) → (u+1, v)`, along the parallel; frames are
///   invariant under the rotations by `2π/NU` about the axis.
///
/// # Errors
/// [`Error::InvalidParameter`] if `nu < 3`, `nv < 3`, or too big.
pub fn torus(nu: u32, nv: u32) -> Result<MeshSource> {
    Primitive::Torus { nu, nv }.generate()
}

fn torus_unchecked(nu: u32, nv: u32) -> MeshSource {
    let (big, small) = (TORUS_MAJOR_RADIUS, TORUS_MINOR_RADIUS);
    let mut positions = Vec::with_capacity(nu as usize * nv as usize);
    for v in 0..nv {
        let (sp, cp) = (2.0 * PI * v as f64 / nv as f64).sin_cos();
        for u in 0..nu {
            let (st, ct) = (2.0 * PI * u as f64 / nu as f64).sin_cos();
            let r = big + small * cp;
            positions.push([r * ct, r * st, small * sp]);
        }
    }
    let faces = cell_faces(nu, nv, |x, y| (x % nu) + nu * (y % nv));
    MeshSource::from_positions(String::new(), positions, faces)
}

/// An embedded Möbius band: centre circle of radius [`MOBIUS_RADIUS`] = 1 in the plane z = 0, width
/// [`MOBIUS_WIDTH`] = 0.5, one half twist.
///
/// * **Counts:** `V = NU·NV`, `F = 2·NU(NV−1)`, `E = 3·NU·NV − 2NU`; χ = 0; one boundary loop.
/// * **Vertices:** vertex `u + NU·v` is at `((1 + s cos(θ/2)) cos θ, (1 + s cos(θ/2)) sin θ,
///   s sin(θ/2))` with `θ = 2πu/NU` and `s = 0.5 (v/(NV−1) − 1/2)`; at `θ = 2π` the point with offset
///   `s` is the one at `θ = 0` with offset `−s`, which gives the gluing `(NU, v) ≡ (0, NV−1−v)`.
/// * **Faces and frames:** as [`flat_mobius`] with `(x, y) = (u, v)`.
///
/// # Errors
/// [`Error::InvalidParameter`] if `nu < 3`, `nv < 2`, or too big.
pub fn mobius(nu: u32, nv: u32) -> Result<MeshSource> {
    Primitive::Mobius { nu, nv }.generate()
}

fn mobius_unchecked(nu: u32, nv: u32) -> MeshSource {
    let mut positions = Vec::with_capacity(nu as usize * nv as usize);
    let across = 2.0 * (nv - 1) as f64;
    for v in 0..nv {
        // Exactly antisymmetric: s(NV−1−v) = −s(v).
        let s = MOBIUS_WIDTH * (2.0 * v as f64 - (nv - 1) as f64) / across;
        for u in 0..nu {
            let t = 2.0 * PI * u as f64 / nu as f64;
            let (st, ct) = t.sin_cos();
            let (sh, ch) = (0.5 * t).sin_cos();
            let r = MOBIUS_RADIUS + s * ch;
            positions.push([r * ct, r * st, s * sh]);
        }
    }
    let faces = cell_faces(nu, nv - 1, mobius_index(nu, nv));
    MeshSource::from_positions(String::new(), positions, faces)
}

// ---------------------------------------------------------------------------------------------------
// Cube

/// The six sides of the cube: (normal axis, on the + side?, axis of local s, axis of local t), with
/// `e_s × e_t` the outward normal; the local frames are permuted cyclically by (x → y → z).
const CUBE_SIDES: [(usize, bool, usize, usize); 6] = [
    (0, true, 1, 2),
    (1, true, 2, 0),
    (2, true, 0, 1),
    (0, false, 2, 1),
    (1, false, 0, 2),
    (2, false, 1, 0),
];

/// The surface of the cube `[−1, 1]³`, each side an `N×N` grid of square cells split by a diagonal.
///
/// * **Counts:** `V = 6N² + 2`, `F = 12N²`, `E = 18N²`; χ = 2. The 8 corners have angle sum 3π/2 (defect
///   π/2), every other vertex 2π.
/// * **Sides**, in order: +x, +y, +z, −x, −y, −z, each with local axes `(s, t)`: +x: (+y, +z),
///   +y: (+z, +x), +z: (+x, +y), −x: (+z, +y), −y: (+x, +z), −z: (+y, +x), so that `e_s × e_t` is the
///   outward normal. Lattice point `(s, t)`, `0 ≤ s, t ≤ N`, of a side is at coordinate `(2s − N)/N`
///   along its s axis, `(2t − N)/N` along its t axis, ±1 along the normal.
/// * **Vertices:** numbered side by side in that order, each side's lattice points row by row (`t`
///   outer, `s` inner), skipping points that lie on an earlier side (they keep that side's index): no
///   duplicates.
/// * **Faces:** side by side, each side's cells `(s, t)` row-major split as in [`grid`] (counter-clockwise
///   from outside).
/// * **Frames:** a vertex that is the `(s, t)` corner of a cell (`s, t < N`) on some side has reference
///   edge along that side's +s axis, for the first such side; the rest follow the fallback rule.
///
/// # Errors
/// [`Error::InvalidParameter`] if `n < 1` or too big.
pub fn cube(n: u32) -> Result<MeshSource> {
    Primitive::Cube { n }.generate()
}

fn cube_unchecked(n: u32) -> MeshSource {
    let side_len = n as usize + 1;
    let mut index: Vec<Vec<u32>> = Vec::with_capacity(6);
    let mut positions = Vec::with_capacity(6 * n as usize * n as usize + 2);
    let coord = |c: u32| (2.0 * c as f64 - n as f64) / n as f64;
    for (i, &(axis, plus, sa, ta)) in CUBE_SIDES.iter().enumerate() {
        let mut idx = Vec::with_capacity(side_len * side_len);
        for t in 0..=n {
            for s in 0..=n {
                let mut c = [0u32; 3];
                c[axis] = if plus { n } else { 0 };
                c[sa] = s;
                c[ta] = t;
                let earlier =
                    CUBE_SIDES[..i]
                        .iter()
                        .zip(&index)
                        .find_map(|(&(ax, pl, sb, tb), ix)| {
                            (c[ax] == if pl { n } else { 0 })
                                .then(|| ix[c[sb] as usize + side_len * c[tb] as usize])
                        });
                idx.push(earlier.unwrap_or_else(|| {
                    positions.push([coord(c[0]), coord(c[1]), coord(c[2])]);
                    (positions.len() - 1) as u32
                }));
            }
        }
        index.push(idx);
    }
    let mut faces = Vec::with_capacity(12 * n as usize * n as usize);
    for idx in &index {
        faces.extend(cell_faces(n, n, |s, t| {
            idx[s as usize + side_len * t as usize]
        }));
    }
    MeshSource::from_positions(String::new(), positions, faces)
}

// ---------------------------------------------------------------------------------------------------
// Cone

/// A developable cone whose apex has angle defect exactly `2π/N` (apex angle sum `Θ = 2π(N−1)/N`), with
/// [`cone_sectors`]`(N) = max(4N, 12)` sectors and [`CONE_RINGS`] = 6 rings, slant length 1 at the rim.
/// See [`cone_with_resolution`] for the construction, numbering and frames.
///
/// * **Counts:** with `S = max(4N, 12)`: `V = 1 + 6S`, `F = 11S`, `E = 17S`; χ = 1; one boundary loop.
///
/// # Errors
/// [`Error::InvalidParameter`] if `n < 2` or too big.
pub fn cone(n: u32) -> Result<MeshSource> {
    Primitive::Cone { n }.generate()
}

/// A developable cone of apex angle defect `2π/n`, with `sectors` sectors and `rings` rings.
///
/// * **Geometry:** the apex (vertex 0) is at the origin; ruling `k` (`0 ≤ k < S`) is the unit vector
///   `(sin α cos ψ_k, sin α sin ψ_k, −cos α)`, `ψ_k = 2πk/S`, and vertex `(i, k)` (ring `1 ≤ i ≤ R`) is at
///   `(i/R)` times ruling `k`, so the rim (ring `R`) is at slant length 1 and every sector (apex, ruling
///   `k`, ruling `k+1`) is one plane. The half-angle α is chosen so that the angle between consecutive
///   rulings is exactly `Θ/S`, `Θ = 2π(n−1)/n`: `sin α = sin(Θ/(2S)) / sin(π/S)` (from
///   `cos(Θ/S) = cos²α + sin²α cos(2π/S)`). Hence the apex angle sum is `Θ`, every interior non-apex
///   vertex has angle sum exactly 2π (π on each side of its ruling), and each rim vertex `π − Θ/S`.
/// * **Counts:** `V = 1 + R·S`, `F = (2R − 1)·S`, `E = (3R − 1)·S`; χ = 1; one boundary loop (the rim).
/// * **Vertices:** 0 is the apex; vertex `(i, k)` is `1 + (i−1)·S + k`.
/// * **Faces** (counter-clockwise seen from outside, the convex side, where the normals point away from
///   the axis and up): first the apex fan `[0, (1,k), (1,k+1)]`, `k = 0..S`; then the cells between
///   rings `i` and `i+1`, ring by ring, `k = 0..S` within a ring, with corners `A = (i,k)`,
///   `B = (i+1,k)`, `C = (i+1,k+1)`, `D = (i,k+1)`: `[A, B, C]`, `[A, C, D]` for `i < R−1`, and, on the
///   outermost ring of cells, the other diagonal `[A, B, D]`, `[B, C, D]`.
/// * **Frames:** the apex's reference edge is ruling 0; every vertex `(i, k)` with `i < R` has reference
///   edge `(i,k) → (i+1,k)`, outward along its ruling; every rim vertex `(R, k)` has reference edge
///   `(R,k) → (R,k+1)` along the rim, the first edge of its fan (so its polar angles run over
///   `[0, π − Θ/S]`). The mesh and its frames are invariant under rotation by one sector. (With `R = 1`
///   the rim is ring 1 and follows the fallback rule.)
///
/// # Errors
/// [`Error::InvalidParameter`] if `n < 2`, `sectors < 3`, `rings < 1`, or too big.
pub fn cone_with_resolution(n: u32, sectors: u32, rings: u32) -> Result<MeshSource> {
    if n < 2 {
        return Err(Error::InvalidParameter {
            name: "n",
            message: format!("must be at least 2 (got {n})"),
        });
    }
    if sectors < 3 {
        return Err(Error::InvalidParameter {
            name: "sectors",
            message: format!("must be at least 3 (got {sectors})"),
        });
    }
    if rings < 1 {
        return Err(Error::InvalidParameter {
            name: "rings",
            message: "must be at least 1 (got 0)".into(),
        });
    }
    let v = (sectors as u64) * (rings as u64) + 1;
    let f = (sectors as u64).saturating_mul(2 * rings as u64 - 1);
    if v > MAX_VERTICES as u64 || f > MAX_FACES as u64 {
        return Err(Error::InvalidParameter {
            name: "sectors, rings",
            message: format!(
                "{sectors} sectors and {rings} rings would have {v} vertices and {f} faces; the limits are \
                 {MAX_VERTICES} vertices and {MAX_FACES} faces"
            ),
        });
    }
    let mut s = cone_unchecked(n, sectors, rings);
    s.name = format!("cone:{n} ({sectors} sectors, {rings} rings)");
    Ok(s)
}

fn cone_unchecked(n: u32, sectors: u32, rings: u32) -> MeshSource {
    let (ns, nr) = (sectors, rings);
    let theta = 2.0 * PI * (n - 1) as f64 / n as f64;
    let sin_a = (theta / (2.0 * ns as f64)).sin() / (PI / ns as f64).sin();
    let cos_a = (1.0 - sin_a * sin_a).sqrt();
    let rulings: Vec<[f64; 3]> = (0..ns)
        .map(|k| {
            let (s, c) = (2.0 * PI * k as f64 / ns as f64).sin_cos();
            [sin_a * c, sin_a * s, -cos_a]
        })
        .collect();
    let mut positions = Vec::with_capacity(1 + (ns * nr) as usize);
    positions.push([0.0, 0.0, 0.0]);
    for i in 1..=nr {
        let t = i as f64 / nr as f64;
        positions.extend(rulings.iter().map(|r| [t * r[0], t * r[1], t * r[2]]));
    }
    let v = |i: u32, k: u32| 1 + (i - 1) * ns + k % ns;
    let mut faces = Vec::with_capacity(((2 * nr - 1) * ns) as usize);
    for k in 0..ns {
        faces.push([0, v(1, k), v(1, k + 1)]);
    }
    for i in 1..nr {
        for k in 0..ns {
            let (a, b, c, d) = (v(i, k), v(i + 1, k), v(i + 1, k + 1), v(i, k + 1));
            if i + 1 < nr {
                faces.push([a, b, c]);
                faces.push([a, c, d]);
            } else {
                faces.push([a, b, d]);
                faces.push([b, c, d]);
            }
        }
    }
    MeshSource::from_positions(String::new(), positions, faces)
}
