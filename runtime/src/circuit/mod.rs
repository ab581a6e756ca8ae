//! The circuit format: the contract between the compiler and the runtime.
//!
//! A [`Circuit`] is a straight-line SSA program over *values*. Every value is one ciphertext
//! (a vector of `N/2` real slots). A tensor that does not fit one ciphertext spans several
//! values. Instructions are mid-level homomorphic operations ([`Instr`]): a whole linear layer
//! is one [`Instr::LinearTransform`] (diagonals evaluated by baby-step giant-step), a whole
//! activation one [`Instr::Polynomial`] (Chebyshev basis), so the executor is free to hoist
//! rotations, rescale lazily and parallelise.
//!
//! # Levels and scales
//!
//! Every value at level `l` has the scale `Δ_l` of the *scale ladder*: `Δ_top = 2^log_scale` at
//! the input level, and `Δ_{l-1} = Δ_l² / q_l`. Multiplying two values at level `l` and
//! rescaling lands exactly on `Δ_{l-1}`; constants are encoded at the scale that lands a
//! product on the ladder as well, so additions never mix scales. The level rules of each
//! instruction are listed on [`Instr`]; [`Circuit::validate`] recomputes them and refuses a
//! circuit whose annotations disagree.
//!
//! The module holds the types ([`mod@self`]), the versioned binary format (`io`, `io_step`), the
//! validation (`verify`, `checks`), the client-side packing of tensors (`packing`), the
//! container of encrypted inputs and outputs (`encrypted`), the evaluation plan of
//! polynomials (`chebyshev`) and small instruction queries (`instr`).

pub(crate) mod chebyshev;
mod checks;
mod encrypted;
mod instr;
mod io;
mod io_step;
mod packing;
mod verify;

pub use encrypted::{EncryptedTensor, Role};
pub use verify::CircuitSummary;

use crate::ckks::CkksParamsSpec;
use std::fmt;

/// Identifies a value (one ciphertext) of a circuit; prints as `%12`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// Identifies a constant slot vector of [`Circuit::constants`]; prints as `c7`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConstId(pub u32);

impl fmt::Display for ConstId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A compiled network: parameters, how the client packs the input, the program, and how the
/// client reads the output.
#[derive(Clone, Debug, PartialEq)]
pub struct Circuit {
    /// The CKKS parameter set the circuit was compiled for.
    pub params: CkksParamsSpec,
    /// How the client encrypts the input tensor.
    pub input: InputSpec,
    /// Where the output tensor lies in the result ciphertexts.
    pub output: OutputSpec,
    /// Rotation steps (in `1..slots`, sorted, distinct) the server needs Galois keys for.
    pub rotations: Vec<u32>,
    /// Constant slot vectors (diagonals, biases, masks).
    pub constants: Vec<SlotVector>,
    /// Linear transforms referenced by [`Instr::LinearTransform`].
    pub transforms: Vec<LinearTransform>,
    /// Polynomials referenced by [`Instr::Polynomial`].
    pub polynomials: Vec<ChebyshevPoly>,
    /// The program, in execution order.
    pub steps: Vec<Step>,
    /// The layers of the source network, for reports (a step points to its layer).
    pub layers: Vec<LayerInfo>,
    /// Where the circuit came from and how accurate it is predicted to be.
    pub meta: Metadata,
}

/// How the client turns an input tensor into ciphertexts.
#[derive(Clone, Debug, PartialEq)]
pub struct InputSpec {
    /// Shape of the input tensor (e.g. `[1, 1, 28, 28]`).
    pub shape: Vec<usize>,
    /// The values the input ciphertexts define, one per ciphertext.
    pub values: Vec<ValueId>,
    /// Per ciphertext, the slots that hold a tensor element: `(slot, flat element index)`.
    /// An element may appear in several slots (e.g. an im2col packing); slots not listed are
    /// zero.
    pub slots: Vec<Vec<(u32, u32)>>,
    /// The level at which the client encrypts (the top of the scale ladder).
    pub level: usize,
    /// How an image file becomes the input tensor.
    pub preprocess: Preprocess,
}

/// How an image file becomes the input tensor: `x = (pixel · pixel_scale − mean[c]) / std[c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocess {
    /// Colour channels the network expects (1 = grey, 3 = RGB).
    pub channels: usize,
    /// Image height the network expects (images are resized to it).
    pub height: usize,
    /// Image width the network expects.
    pub width: usize,
    /// Factor applied to 8-bit pixels first (`1/255` maps them to `[0, 1]`).
    pub pixel_scale: f64,
    /// Per-channel mean subtracted after scaling (empty = zeros).
    pub mean: Vec<f64>,
    /// Per-channel standard deviation divided by last (empty = ones).
    pub std: Vec<f64>,
}

/// Where the client finds the output tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputSpec {
    /// Shape of the output tensor (e.g. `[1, 10]`).
    pub shape: Vec<usize>,
    /// The values the server returns, one per ciphertext.
    pub values: Vec<ValueId>,
    /// Per flat output element, `(index into values, slot)`.
    pub positions: Vec<(u32, u32)>,
}

/// A constant vector over the slots, stored sparsely: `(slot, value)` pairs sorted by slot,
/// every other slot zero.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlotVector {
    /// Non-zero entries, sorted by slot, slots distinct.
    pub entries: Vec<(u32, f64)>,
}

impl SlotVector {
    /// The dense vector of `slots` values.
    pub fn to_dense(&self, slots: usize) -> Vec<f64> {
        let mut out = vec![0.0; slots];
        for &(s, v) in &self.entries {
            if let Some(x) = out.get_mut(s as usize) {
                *x = v;
            }
        }
        out
    }
}

/// A linear map from `inputs` ciphertexts to `outputs` ciphertexts, as generalized diagonals.
///
/// Output block `j` is `Σ_blocks(j,i) Σ_k diag_k ⊙ rot(x_i, k)`, plus `bias[j]`, where
/// `rot(x, k)[s] = x[(s + k) mod slots]`. The executor evaluates it by baby-step giant-step with
/// `n1` baby steps: `k = g·n1 + b`, baby rotations of each input hoisted, one giant rotation
/// per `g ≠ 0` and output block, and one rescale per output block (one level).
#[derive(Clone, Debug, PartialEq)]
pub struct LinearTransform {
    /// Number of input ciphertexts.
    pub inputs: usize,
    /// Number of output ciphertexts.
    pub outputs: usize,
    /// Baby-step count (`≥ 1`).
    pub n1: usize,
    /// Non-empty (output block, input block) pairs.
    pub blocks: Vec<DiagonalBlock>,
    /// Optional bias per output block, added after the rescale.
    pub bias: Vec<Option<ConstId>>,
}

/// The diagonals linking one input block to one output block.
#[derive(Clone, Debug, PartialEq)]
pub struct DiagonalBlock {
    /// Output block index.
    pub output: u32,
    /// Input block index.
    pub input: u32,
    /// `(offset k in 0..slots, diagonal values)`, offsets sorted and distinct.
    pub diagonals: Vec<(u32, ConstId)>,
}

/// A polynomial `Σ c_i T_i(x)` in the Chebyshev basis of `[-1, 1]`; the compiler maps the
/// calibrated interval onto `[-1, 1]` before it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChebyshevPoly {
    /// Coefficients `c_0 … c_d`; `c_d ≠ 0` for `d ≥ 1`.
    pub coeffs: Vec<f64>,
}

/// One instruction with its annotations.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The operation.
    pub instr: Instr,
    /// Level of every value the step defines (validated).
    pub level: usize,
    /// Index into [`Circuit::layers`] of the network layer this step implements.
    pub layer: u32,
}

/// A mid-level homomorphic operation. Level rules (`l` = operand level):
///
/// | instruction | output level |
/// | --- | --- |
/// | `LinearTransform` | `l − 1` (all inputs at the same level) |
/// | `Polynomial` | `l − ChebyshevPoly::depth()` |
/// | `Add`, `Sub` | `min(la, lb)` (the higher operand is brought down) |
/// | `Mul` | `min(la, lb) − 1` (relinearized, rescaled) |
/// | `MulConst`, `MulPlain` | `l − 1` |
/// | `AddConst`, `AddPlain`, `Rotate` | `l` |
/// | `LevelDown` | the given level `< l` |
#[derive(Clone, Debug, PartialEq)]
pub enum Instr {
    /// `dst = transform(src)`.
    LinearTransform {
        /// One value per output block.
        dst: Vec<ValueId>,
        /// One value per input block.
        src: Vec<ValueId>,
        /// Index into [`Circuit::transforms`].
        transform: u32,
    },
    /// `dst = poly(src)` slot-wise.
    Polynomial {
        /// Result.
        dst: ValueId,
        /// Operand (its slots should lie in `[-1, 1]`).
        src: ValueId,
        /// Index into [`Circuit::polynomials`].
        poly: u32,
    },
    /// `dst = a + b`.
    Add {
        /// Result.
        dst: ValueId,
        /// Left operand.
        a: ValueId,
        /// Right operand.
        b: ValueId,
    },
    /// `dst = a − b`.
    Sub {
        /// Result.
        dst: ValueId,
        /// Left operand.
        a: ValueId,
        /// Right operand.
        b: ValueId,
    },
    /// `dst = a ⊙ b` (ciphertext product).
    Mul {
        /// Result.
        dst: ValueId,
        /// Left operand.
        a: ValueId,
        /// Right operand.
        b: ValueId,
    },
    /// `dst = c · src` in every slot.
    MulConst {
        /// Result.
        dst: ValueId,
        /// Operand.
        src: ValueId,
        /// The constant.
        c: f64,
    },
    /// `dst = src + c` in every slot.
    AddConst {
        /// Result.
        dst: ValueId,
        /// Operand.
        src: ValueId,
        /// The constant.
        c: f64,
    },
    /// `dst = src ⊙ constant`.
    MulPlain {
        /// Result.
        dst: ValueId,
        /// Operand.
        src: ValueId,
        /// The plaintext vector.
        constant: ConstId,
    },
    /// `dst = src + constant`.
    AddPlain {
        /// Result.
        dst: ValueId,
        /// Operand.
        src: ValueId,
        /// The plaintext vector.
        constant: ConstId,
    },
    /// `dst = rot(src, step)`: `dst[s] = src[(s + step) mod slots]`.
    Rotate {
        /// Result.
        dst: ValueId,
        /// Operand.
        src: ValueId,
        /// Rotation step in `1..slots`.
        step: u32,
    },
    /// `dst = src` brought down to `level` on the scale ladder.
    LevelDown {
        /// Result.
        dst: ValueId,
        /// Operand.
        src: ValueId,
        /// Target level, below the operand's.
        level: usize,
    },
}

/// One layer of the source network, as the report shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerInfo {
    /// Name of the network node(s), e.g. `/conv1/Conv`.
    pub name: String,
    /// What the layer does, e.g. `conv 5x5 1->8 + avgpool` or `relu ~ chebyshev 15`.
    pub kind: String,
    /// Shape of the layer's input tensor.
    pub input_shape: Vec<usize>,
    /// Shape of the layer's output tensor.
    pub output_shape: Vec<usize>,
}

/// Provenance and predicted accuracy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    /// Name of the source model (file stem).
    pub model: String,
    /// Activation approximations made by the compiler.
    pub activations: Vec<ActivationInfo>,
    /// Accuracy measured at compile time, when calibration data had labels.
    pub calibration: Option<CalibrationInfo>,
}

/// One activation replaced by a polynomial.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivationInfo {
    /// Layer name.
    pub layer: String,
    /// The original function (`relu`, `sigmoid`, `tanh`, `polynomial`).
    pub function: String,
    /// Degree of the polynomial.
    pub degree: usize,
    /// The interval the polynomial approximates the function on.
    pub interval: (f64, f64),
}

/// Accuracy on the calibration set, measured by the compiler.
#[derive(Clone, Debug, PartialEq)]
pub struct CalibrationInfo {
    /// Number of calibration images.
    pub images: usize,
    /// Of which labelled.
    pub labelled: usize,
    /// Accuracy of the original network (exact activations), in `[0, 1]`.
    pub original_accuracy: f64,
    /// Accuracy of the circuit on cleartext slots, in `[0, 1]`.
    pub simulated_accuracy: f64,
    /// The largest |output| of the circuit over the calibration images (`None` in circuits
    /// written before it was recorded).
    pub max_abs_output: Option<f64>,
}

/// Scores above this multiple of the largest calibrated |output| are reported as out of range.
pub const OUT_OF_RANGE_FACTOR: f64 = 1.5;

impl Metadata {
    /// Why `scores` cannot be trusted, if they exceed [`OUT_OF_RANGE_FACTOR`] times the largest
    /// |output| of the calibration images (or are not finite); `None` when they look like a
    /// calibration image's.
    ///
    /// Why: a polynomial activation is accurate only on its calibrated interval and grows like a
    /// Chebyshev polynomial outside it, so an image that drives an activation beyond the
    /// interval gets meaningless scores, far beyond the calibrated outputs (or wrapped around the
    /// ciphertext modulus, which is sized for them). Only the owner of the scores can check.
    pub fn out_of_range(&self, scores: &[f64]) -> Option<String> {
        let bound = self.calibration.as_ref()?.max_abs_output?;
        let largest = scores
            .iter()
            .map(|v| {
                if v.is_finite() {
                    v.abs()
                } else {
                    f64::INFINITY
                }
            })
            .fold(0.0, f64::max);
        (largest > OUT_OF_RANGE_FACTOR * bound).then(|| {
            format!(
                "the scores are out of range: |score| reaches {largest:.3e}, above \
                 {OUT_OF_RANGE_FACTOR} times the largest of the calibration images ({bound:.3}); \
                 the image probably drove an activation outside the interval its polynomial was \
                 fitted on, and the class is unreliable (compile with calibration images that \
                 cover such inputs)"
            )
        })
    }
}
