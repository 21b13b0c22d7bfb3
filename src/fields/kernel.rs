//! The complete space of gauge-equivariant kernels between two field types, and how the convolution
//! evaluates it.

use super::types::{Field, FieldType};
use crate::error::{Error, Result};
use crate::kernel::RadialBasis;

/// The most free parameters a [`FieldKernel`] may have (2²⁸: a gigabyte of `f32` weights).
pub const MAX_PARAMS: usize = 1 << 28;

/// An angular function of the sample direction θ at `p`: `1`, `cos nθ` or `sin nθ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Angular {
    One,
    Cos(u32),
    Sin(u32),
}

impl Angular {
    fn eval(self, theta: f64) -> f64 {
        match self {
            Angular::One => 1.0,
            Angular::Cos(n) => (n as f64 * theta).cos(),
            Angular::Sin(n) => (n as f64 * theta).sin(),
        }
    }
}

/// A function of the landing corner's transport: `1`, `σ`, `cos mψ`, `sin mψ`, `σ cos mψ` or
/// `σ sin mψ`, with ψ the geodesic's direction at the landing corner in that corner's frame and
/// σ = ±1 whether the transport to `p` keeps the orientation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Carried {
    /// 0: no ψ dependence (order-0 inputs).
    order: u32,
    sin: bool,
    signed: bool,
}

impl Carried {
    fn eval(self, psi: f64, sigma: f64) -> f64 {
        let s = if self.signed { sigma } else { 1.0 };
        let a = self.order as f64 * psi;
        s * match (self.order, self.sin) {
            (0, _) => 1.0,
            (_, false) => a.cos(),
            (_, true) => a.sin(),
        }
    }
}

/// One input class of a [`FieldKernel`]: every input field of one kind, and the basis functions
/// the convolution gathers them with.
#[derive(Clone, Debug, PartialEq)]
pub struct InputClass {
    /// The kind of field.
    pub field: Field,
    /// The input channels of the class, in order (fields of this kind, each `field.dim()` channels).
    pub channels: Vec<usize>,
    /// First basis function of the class in [`FieldKernel::sampled_len`]'s numbering.
    pub basis_start: usize,
    /// Number of basis functions of the class.
    pub basis_len: usize,
    carried: Vec<Carried>,
}

/// The gauge-equivariant kernels from fields of type `input` to fields of type `output`, with radial
/// profiles: every `K` with
///
/// ```text
/// K(r, θ + γ) = ρ_out(γ) K(r, θ) ρ_in(γ)⁻¹        for every rotation γ
/// K(r, −θ)    = ρ_out(s) K(r, θ) ρ_in(s)⁻¹          s the reflection, when `reflections`
/// ```
///
/// is `K(r, θ) = Σ_ρ R_ρ(r) ρ_out(θ) K0_ρ ρ_in(−θ)` with `K0_ρ` any matrix (SO(2)), or one whose entry
/// `(i, j)` is zero unless the reflection acts on output component `i` and input component `j` with
/// the same sign (O(2)): the free parameters are the entries of the `K0_ρ`, one block per (output
/// field, input field, radial profile). For orders `m_in → m_out` the angular frequencies of `K` are
/// `m_out ± m_in` (4 parameters per profile, 2 under O(2)); scalar → order m has frequency m (2, or 1),
/// scalar → scalar is isotropic (1), scalar ↔ pseudoscalar vanishes under O(2).
///
/// # In the convolution
/// The value `z` of an input field at a landing corner is carried to `p` by the transport `T` along
/// the traced geodesic, the map of directions that takes ψ, the geodesic's direction at the corner in
/// the corner's frame, to θ, the sample's direction at `p` in `p`'s frame: `α ↦ α + (θ − ψ)` where the
/// two frames have the same orientation (σ = 1), `α ↦ (θ + ψ) − α` where the transport reverses it
/// (σ = −1, only on non-orientable meshes). Then
///
/// ```text
/// K(θ) ρ_in(T) z = ρ_out(θ) K0 σ_in^ε ρ_in(−ψ) z
/// ```
///
/// (σ_in = ρ_in(s), ε = 1 for a reflection), because `ρ_in(T) = ρ_in(θ) σ_in^ε ρ_in(−ψ)`. Every entry
/// of the right side is ± a parameter times `R_ρ(r) · a(θ) · c(ψ, σ) · z_l` with `a ∈ {1, cos nθ,
/// sin nθ}` and `c ∈ {1, σ, cos mψ, sin mψ, σ cos mψ, σ sin mψ}`: those products are the basis
/// functions the convolution compiles (one operator per input class), and the weights `W_b` it
/// multiplies them with are the parameters placed by [`weight_map`](Self::weight_map).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldKernel {
    input: FieldType,
    output: FieldType,
    radial: RadialBasis,
    reflections: bool,
    angular: Vec<Angular>,
    classes: Vec<InputClass>,
}

/// One parameter: output field, input field, radial profile, entry `(i, j)` of `K0`.
#[derive(Clone, Copy, Debug)]
struct Param {
    out_field: usize,
    in_field: usize,
    radial: usize,
    i: usize,
    j: usize,
}

impl FieldKernel {
    /// The equivariant kernels from `input` to `output` with the given radial profiles; with
    /// `reflections`, equivariant under O(2) (needed on non-orientable meshes), else SO(2).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the kernel space is empty (e.g. scalars to pseudoscalars only,
    /// under O(2)) or could have more than [`MAX_PARAMS`] parameters.
    pub fn new(
        input: &FieldType,
        output: &FieldType,
        radial: RadialBasis,
        reflections: bool,
    ) -> Result<FieldKernel> {
        // The parameters are at most R·C_in·C_out: bounded before any is listed.
        let bound =
            (radial.len() as u128) * (input.channels() as u128) * (output.channels() as u128);
        if bound > MAX_PARAMS as u128 {
            return Err(Error::InvalidParameter {
                name: "fields",
                message: format!(
                    "{input} → {output} with {} radial profiles has up to {bound} parameters; the limit is {MAX_PARAMS}",
                    radial.len()
                ),
            });
        }
        let mut angular = Vec::new();
        let outs = output.distinct();
        if outs.iter().any(|f| f.order() == 0) {
            angular.push(Angular::One);
        }
        for f in &outs {
            if let Field::Order(n) = *f {
                angular.extend([Angular::Cos(n), Angular::Sin(n)]);
            }
        }
        let per_carried = radial.len() * angular.len();
        let mut classes = Vec::new();
        let mut start = 0;
        for f in input.distinct() {
            let carried: Vec<Carried> = match f {
                Field::Scalar => vec![Carried {
                    order: 0,
                    sin: false,
                    signed: false,
                }],
                Field::Pseudoscalar => vec![Carried {
                    order: 0,
                    sin: false,
                    signed: true,
                }],
                Field::Order(m) => {
                    let signs: &[bool] = if reflections {
                        &[false, true]
                    } else {
                        &[false]
                    };
                    signs
                        .iter()
                        .flat_map(|&signed| {
                            [false, true].map(|sin| Carried {
                                order: m,
                                sin,
                                signed,
                            })
                        })
                        .collect()
                }
            };
            let channels = input
                .field_offsets()
                .into_iter()
                .filter(|&(g, _)| g == f)
                .flat_map(|(g, c)| c..c + g.dim())
                .collect();
            let len = per_carried * carried.len();
            classes.push(InputClass {
                field: f,
                channels,
                basis_start: start,
                basis_len: len,
                carried,
            });
            start += len;
        }
        let k = FieldKernel {
            input: input.clone(),
            output: output.clone(),
            radial,
            reflections,
            angular,
            classes,
        };
        if k.params().is_empty() {
            return Err(Error::InvalidParameter {
                name: "fields",
                message: format!(
                    "no {} kernel maps {input} to {output}",
                    if reflections { "O(2)" } else { "SO(2)" }
                ),
            });
        }
        Ok(k)
    }

    /// The input field type.
    pub fn input(&self) -> &FieldType {
        &self.input
    }
    /// The output field type.
    pub fn output(&self) -> &FieldType {
        &self.output
    }
    /// The radial profiles.
    pub fn radial(&self) -> RadialBasis {
        self.radial
    }
    /// Whether the kernels are O(2)-equivariant (else SO(2)).
    pub fn reflections(&self) -> bool {
        self.reflections
    }
    /// The input classes (one per kind of input field), each compiled into its own operator.
    pub fn classes(&self) -> &[InputClass] {
        &self.classes
    }
    /// Number of free parameters.
    pub fn param_count(&self) -> usize {
        self.params().len()
    }
    /// Number of basis functions the convolution compiles, all classes together.
    pub fn sampled_len(&self) -> usize {
        self.classes.iter().map(|c| c.basis_len).sum()
    }

    /// The parameters in their storage order: output field, input field, radial profile, then
    /// `K0`'s entry `(i, j)` row-major.
    fn params(&self) -> Vec<Param> {
        let mut out = Vec::new();
        for (o, (fo, _)) in self.output.field_offsets().into_iter().enumerate() {
            for (f, (fi, _)) in self.input.field_offsets().into_iter().enumerate() {
                for radial in 0..self.radial.len() {
                    for i in 0..fo.dim() {
                        for j in 0..fi.dim() {
                            let allowed = !self.reflections
                                || fo.reflection_sign(i) * fi.reflection_sign(j) > 0.0;
                            if allowed {
                                out.push(Param {
                                    out_field: o,
                                    in_field: f,
                                    radial,
                                    i,
                                    j,
                                });
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Writes the values of all [`sampled_len`](Self::sampled_len) basis functions at a sample of
    /// radius `r` (units of the disc radius) and direction θ at `p`, whose value comes from a landing
    /// corner that sees the geodesic at ψ, carried with orientation `σ = ±1`. Class `c`'s functions are
    /// at `basis_start..basis_start + basis_len`, numbered `(radial · A + angular) · C + carried`.
    pub fn eval(&self, r: f64, theta: f64, psi: f64, sigma: f64, out: &mut [f64]) {
        self.eval_corners(r, theta, &[(psi, sigma)], &mut Vec::new(), out);
    }

    /// [`eval`](Self::eval) at several `(ψ, σ)` of one sample `(r, θ)`, [`sampled_len`](Self::sampled_len)
    /// values per pair into `out`: the radial profiles times the angular functions of θ,
    /// `R_ρ(r)·a(θ)`, are computed once (into `scratch`) for all of them, and each value is the
    /// same product, bit for bit, as `eval` of its pair alone.
    ///
    /// # Panics
    /// If `out` holds fewer than `corners.len() · sampled_len()` values.
    pub fn eval_corners(
        &self,
        r: f64,
        theta: f64,
        corners: &[(f64, f64)],
        scratch: &mut Vec<f64>,
        out: &mut [f64],
    ) {
        let (na, nr, nb) = (self.angular.len(), self.radial.len(), self.sampled_len());
        assert!(
            out.len() >= corners.len() * nb,
            "{} values for {} corners of {nb} basis functions",
            out.len(),
            corners.len()
        );
        let mut ang = [0.0f64; 2 * super::types::MAX_ORDER as usize + 1];
        for (a, f) in ang.iter_mut().zip(&self.angular) {
            *a = f.eval(theta);
        }
        scratch.clear();
        for rho in 0..nr {
            let rv = self.radial.value(rho, r);
            scratch.extend(ang[..na].iter().map(|&a| rv * a));
        }
        for (&(psi, sigma), out) in corners.iter().zip(out.chunks_exact_mut(nb)) {
            for class in &self.classes {
                let nc = class.carried.len();
                let mut carried = [0.0f64; 4];
                for (v, c) in carried.iter_mut().zip(&class.carried) {
                    *v = c.eval(psi, sigma);
                }
                let carried = &carried[..nc];
                let o = &mut out[class.basis_start..class.basis_start + class.basis_len];
                for (i, &ra) in scratch.iter().enumerate() {
                    for (k, &c) in carried.iter().enumerate() {
                        o[i * nc + k] = ra * c;
                    }
                }
            }
        }
    }

    /// Where each parameter goes in class `class`'s weights `W` (`basis_len × C_class × C_out`,
    /// row-major, `C_class` the class's input channels): for every entry, the parameter's index and
    /// its sign, or sign 0 (and index 0) for an entry no parameter reaches.
    ///
    /// # Panics
    /// If `class` is not a class index.
    pub fn weight_map(&self, class: usize) -> (Vec<u32>, Vec<i8>) {
        let cl = &self.classes[class];
        let c_out = self.output.channels();
        let c_in = cl.channels.len();
        let n = cl.basis_len * c_in * c_out;
        let (mut idx, mut sign) = (vec![0u32; n], vec![0i8; n]);
        let in_fields = self.input.field_offsets();
        let out_fields = self.output.field_offsets();
        let na = self.angular.len();
        let nc = cl.carried.len();
        for (pi, p) in self.params().iter().enumerate() {
            let (fi, ci) = in_fields[p.in_field];
            if fi != cl.field {
                continue;
            }
            let (fo, co) = out_fields[p.out_field];
            // Local channel of the field's first component within the class.
            let local = cl
                .channels
                .iter()
                .position(|&c| c == ci)
                .expect("class channel");
            for a in 0..fo.dim() {
                // ρ_out(θ)[a, i]: 1 (order 0), or the rotation R(nθ) = [cos −sin; sin cos].
                let (ang, s_ang) = match fo {
                    Field::Order(n) => match (a, p.i) {
                        (0, 0) | (1, 1) => (Angular::Cos(n), 1),
                        (0, 1) => (Angular::Sin(n), -1),
                        _ => (Angular::Sin(n), 1),
                    },
                    _ => (Angular::One, 1),
                };
                let t = self
                    .angular
                    .iter()
                    .position(|&x| x == ang)
                    .expect("angular");
                for l in 0..fi.dim() {
                    // σ_in^ε ρ_in(−ψ)[j, l]: R(−mψ) = [cos sin; −sin cos], row 1 times σ under O(2);
                    // σ for a pseudoscalar.
                    let (car, s_car) = match fi {
                        Field::Order(m) => {
                            let signed = self.reflections && p.j == 1;
                            let (sin, s) = match (p.j, l) {
                                (0, 0) | (1, 1) => (false, 1),
                                (0, 1) => (true, 1),
                                _ => (true, -1),
                            };
                            (
                                Carried {
                                    order: m,
                                    sin,
                                    signed,
                                },
                                s,
                            )
                        }
                        Field::Pseudoscalar => (cl.carried[0], 1),
                        Field::Scalar => (cl.carried[0], 1),
                    };
                    let k = cl.carried.iter().position(|&x| x == car).expect("carried");
                    let b = (p.radial * na + t) * nc + k;
                    let e = (b * c_in + local + l) * c_out + co + a;
                    debug_assert_eq!(sign[e], 0, "each weight holds one parameter");
                    idx[e] = pi as u32;
                    sign[e] = s_ang * s_car;
                }
            }
        }
        (idx, sign)
    }

    /// The kernel `K(r, θ)` for parameters `params` as a dense `C_out × C_in` matrix (row-major),
    /// straight from `Σ_ρ R_ρ(r) ρ_out(θ) K0_ρ ρ_in(−θ)`: the reference the compiled form is tested
    /// against.
    ///
    /// # Panics
    /// If `params.len() != param_count()`.
    pub fn matrix(&self, params: &[f64], r: f64, theta: f64) -> Vec<f64> {
        assert_eq!(params.len(), self.param_count(), "one value per parameter");
        let (c_in, c_out) = (self.input.channels(), self.output.channels());
        let in_fields = self.input.field_offsets();
        let out_fields = self.output.field_offsets();
        let mut k = vec![0.0; c_out * c_in];
        let rot = |f: Field, angle: f64| -> [[f64; 2]; 2] {
            let (s, c) = (f.order() as f64 * angle).sin_cos();
            [[c, -s], [s, c]]
        };
        for (&w, p) in params.iter().zip(self.params()) {
            let (fo, co) = out_fields[p.out_field];
            let (fi, ci) = in_fields[p.in_field];
            let (ro, ri) = (rot(fo, theta), rot(fi, -theta));
            let rv = self.radial.value(p.radial, r);
            for a in 0..fo.dim() {
                for l in 0..fi.dim() {
                    k[(co + a) * c_in + ci + l] += rv * ro[a][p.i] * w * ri[p.j][l];
                }
            }
        }
        k
    }
}
