//! Field types: the irreducible representations of SO(2) and O(2) a feature can carry, and their
//! direct sums.

use crate::error::{Error, Result};
use crate::transport::O2;
use std::fmt;

/// One irreducible field: how its components change when the frame they are written in changes.
///
/// With `g = (γ, r)` an element of O(2) ([`O2`]: rotation by γ after a reflection when `r`), the field's
/// representation is
///
/// ```text
/// Scalar:        ρ(g) = 1
/// Pseudoscalar:  ρ(g) = −1 if r, else 1
/// Order(m ≥ 1):  ρ(g) = R(mγ) · S^r,   R(a) = [cos a  −sin a; sin a  cos a],   S = diag(1, −1)
/// ```
///
/// (as a complex number `z = x + iy`, order m: `z ↦ e^{imγ} z`, or `e^{imγ} z̄` after a reflection).
/// On an orientable mesh only rotations occur and a pseudoscalar is a scalar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// Order 0, unchanged by every frame change (one channel).
    Scalar,
    /// Order 0, sign flipped by reflections (one channel).
    Pseudoscalar,
    /// Order m ≥ 1: a pair of channels `(x, y)` rotating by mγ (two channels).
    Order(u32),
}

/// The largest order accepted (the kernel's angular frequencies reach twice it).
pub const MAX_ORDER: u32 = 16;

impl Field {
    /// Channels the field occupies: 1 for order 0, 2 otherwise.
    pub fn dim(self) -> usize {
        match self {
            Field::Order(_) => 2,
            _ => 1,
        }
    }

    /// The order m (0 for scalars and pseudoscalars).
    pub fn order(self) -> u32 {
        match self {
            Field::Order(m) => m,
            _ => 0,
        }
    }

    /// The reflection's action on component `i`: `S = diag(1, −1)` for order m ≥ 1, `+1` for a scalar,
    /// `−1` for a pseudoscalar.
    pub fn reflection_sign(self, i: usize) -> f64 {
        match self {
            Field::Scalar => 1.0,
            Field::Pseudoscalar => -1.0,
            Field::Order(_) => [1.0, -1.0][i],
        }
    }

    /// `x ← ρ(g) x` for the field's components `x` (length [`dim`](Self::dim)).
    pub fn act(self, g: O2, x: &mut [f64]) {
        match self {
            Field::Scalar => {}
            Field::Pseudoscalar => {
                if g.reflect {
                    x[0] = -x[0];
                }
            }
            Field::Order(m) => {
                let y = if g.reflect { -x[1] } else { x[1] };
                let (s, c) = (m as f64 * g.angle).sin_cos();
                let x0 = x[0];
                x[0] = c * x0 - s * y;
                x[1] = s * x0 + c * y;
            }
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Scalar => write!(f, "0"),
            Field::Pseudoscalar => write!(f, "0-"),
            Field::Order(m) => write!(f, "{m}"),
        }
    }
}

/// A direct sum of fields, in channel order: `8x0 + 8x1 + 4x2` is 8 scalars (channels 0–7), then 8
/// fields of order 1 (channels 8–23, `(x, y)` pairs), then 4 of order 2 (channels 24–31).
///
/// # Example
/// ```
/// use manifold_cnn::fields::{Field, FieldType};
/// let t = FieldType::parse("8x0 + 2x0- + 4x1 + 2x3").unwrap();
/// assert_eq!(t.channels(), 8 + 2 + 8 + 4);
/// assert_eq!(t.to_string(), "8x0+2x0-+4x1+2x3");
/// assert_eq!(t.field_offsets()[10], (Field::Order(1), 10));
/// assert!(FieldType::parse("3x0").unwrap().is_scalar());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct FieldType {
    /// `(field, multiplicity)` runs, in channel order, adjacent runs of one field merged.
    runs: Vec<(Field, usize)>,
}

/// The most channels a field type may have.
pub const MAX_CHANNELS: usize = 1 << 20;

impl FieldType {
    /// `n` scalars.
    pub fn scalars(n: usize) -> FieldType {
        FieldType::from_runs(&[(Field::Scalar, n)])
    }

    /// The type of the given runs `(field, multiplicity)` in channel order (empty runs dropped).
    pub fn from_runs(runs: &[(Field, usize)]) -> FieldType {
        let mut t = FieldType::default();
        for &(f, n) in runs {
            t.push(f, n);
        }
        t
    }

    fn push(&mut self, f: Field, n: usize) {
        if n == 0 {
            return;
        }
        match self.runs.last_mut() {
            Some((g, k)) if *g == f => *k += n,
            _ => self.runs.push((f, n)),
        }
    }

    /// Parses `"N x F + N x F + …"` with `F` an order (`0`, `1`, `2`, …) or `0-` for pseudoscalars;
    /// `N x` may be left out (one field), spaces are ignored.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`fields`) naming the term that is not a field, an order above
    /// [`MAX_ORDER`], an empty type, or more than [`MAX_CHANNELS`] channels.
    pub fn parse(s: &str) -> Result<FieldType> {
        let bad = |message: String| Error::InvalidParameter {
            name: "fields",
            message,
        };
        let text: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let mut t = FieldType::default();
        let mut channels = 0usize;
        for term in text.split('+') {
            let (count, field) = match term.split_once(['x', 'X']) {
                Some((n, f)) => (
                    n.parse::<usize>()
                        .map_err(|_| bad(format!("'{term}': '{n}' is not a count")))?,
                    f,
                ),
                None => (1, term),
            };
            let field = match field {
                "0-" => Field::Pseudoscalar,
                "0" => Field::Scalar,
                f => match f.parse::<u32>() {
                    Ok(m) if (1..=MAX_ORDER).contains(&m) => Field::Order(m),
                    Ok(m) => {
                        return Err(bad(format!(
                            "'{term}': order {m} is above the largest, {MAX_ORDER}"
                        )))
                    }
                    Err(_) => {
                        return Err(bad(format!(
                            "'{term}' is not a field (N x ORDER, e.g. 8x1; 0- for pseudoscalars)"
                        )))
                    }
                },
            };
            channels = count
                .checked_mul(field.dim())
                .and_then(|c| c.checked_add(channels))
                .filter(|&c| c <= MAX_CHANNELS)
                .ok_or_else(|| bad(format!("more than {MAX_CHANNELS} channels")))?;
            t.push(field, count);
        }
        if t.runs.is_empty() {
            return Err(bad(format!("'{s}' has no fields")));
        }
        Ok(t)
    }

    /// The runs `(field, multiplicity)` in channel order.
    pub fn runs(&self) -> &[(Field, usize)] {
        &self.runs
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.runs.iter().map(|&(f, n)| f.dim() * n).sum()
    }

    /// Number of fields.
    pub fn field_count(&self) -> usize {
        self.runs.iter().map(|&(_, n)| n).sum()
    }

    /// Whether every field is a scalar (features an ordinary layer may take).
    pub fn is_scalar(&self) -> bool {
        self.runs.iter().all(|&(f, _)| f == Field::Scalar)
    }

    /// Every field with the channel it starts at.
    pub fn field_offsets(&self) -> Vec<(Field, usize)> {
        let mut out = Vec::with_capacity(self.field_count());
        let mut c = 0;
        for &(f, n) in &self.runs {
            for _ in 0..n {
                out.push((f, c));
                c += f.dim();
            }
        }
        out
    }

    /// The distinct fields, in increasing order (scalars, pseudoscalars, orders 1, 2, …).
    pub fn distinct(&self) -> Vec<Field> {
        let mut f: Vec<Field> = self.runs.iter().map(|&(f, _)| f).collect();
        f.sort_unstable();
        f.dedup();
        f
    }

    /// The largest order.
    pub fn max_order(&self) -> u32 {
        self.runs.iter().map(|&(f, _)| f.order()).max().unwrap_or(0)
    }

    /// `x ← ρ(g) x` for one vertex's channels `x` (length [`channels`](Self::channels)).
    ///
    /// # Panics
    /// If `x` has another length.
    pub fn act(&self, g: O2, x: &mut [f64]) {
        assert_eq!(x.len(), self.channels(), "one value per channel");
        for (f, c) in self.field_offsets() {
            f.act(g, &mut x[c..c + f.dim()]);
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (field, n)) in self.runs.iter().enumerate() {
            if i > 0 {
                write!(f, "+")?;
            }
            write!(f, "{n}x{field}")?;
        }
        Ok(())
    }
}
