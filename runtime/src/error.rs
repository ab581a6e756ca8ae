//! Errors of the runtime crate.

use thiserror::Error;

/// Result alias of the runtime crate.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Everything that can go wrong in the runtime: invalid parameters, mismatched operands,
/// missing keys and unreadable files. Messages say what was expected and what was found.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// A parameter set is malformed or insecure.
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// A serialized object could not be read.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Two operands are at different levels.
    #[error("level mismatch: left operand at level {lhs}, right operand at level {rhs}; drop the higher one first")]
    LevelMismatch {
        /// Level of the left operand.
        lhs: usize,
        /// Level of the right operand.
        rhs: usize,
    },
    /// Two operands have different scales.
    #[error("scale mismatch: left operand at scale 2^{:.4}, right operand at scale 2^{:.4}", lhs.log2(), rhs.log2())]
    ScaleMismatch {
        /// Scale of the left operand.
        lhs: f64,
        /// Scale of the right operand.
        rhs: f64,
    },
    /// An operation needs a level the operand does not have.
    #[error("{op} needs a ciphertext at level >= {needed}, found level {found}")]
    LevelTooLow {
        /// The operation.
        op: &'static str,
        /// The minimal level.
        needed: usize,
        /// The operand's level.
        found: usize,
    },
    /// A requested level is above the operand's current level or the chain's top.
    #[error("cannot bring an operand from level {from} to level {to}: levels only go down (top level is {max})")]
    LevelOutOfRange {
        /// Current level.
        from: usize,
        /// Requested level.
        to: usize,
        /// Highest level of the parameter set.
        max: usize,
    },
    /// A ciphertext with three parts (not yet relinearized) was given where two are needed.
    #[error("{op} expects a relinearized ciphertext (2 parts), found {parts} parts")]
    NotRelinearized {
        /// The operation.
        op: &'static str,
        /// Number of polynomials in the ciphertext.
        parts: usize,
    },
    /// No relinearization key was provided.
    #[error("ciphertext multiplication needs a relinearization key; generate evaluation keys with relinearization")]
    MissingRelinKey,
    /// No Galois key for a rotation or conjugation.
    #[error("no rotation key for {what} (Galois element {element}); generate evaluation keys including it")]
    MissingGaloisKey {
        /// Human description: "rotation by 3" or "conjugation".
        what: String,
        /// The Galois element.
        element: u64,
    },
    /// A key made for lower levels than the ciphertext it should switch.
    #[error(
        "the {what} key serves ciphertexts up to level {key_level}, this one is at level {level}; \
         make the evaluation keys for this circuit (`blindfold keygen`)"
    )]
    KeyLevelTooLow {
        /// Human description: "rotation by 3", "relinearization".
        what: String,
        /// The highest level the key serves.
        key_level: usize,
        /// The ciphertext's level.
        level: usize,
    },
    /// Evaluation keys lack what a circuit needs (checked before running).
    #[error("the evaluation keys do not fit this circuit: {detail}; make them with `blindfold keygen` for this circuit")]
    MissingKeys {
        /// Which keys are missing.
        detail: String,
    },
    /// An encrypted tensor belongs to another circuit, or is an output where an input is
    /// expected (or the reverse).
    #[error("{detail}")]
    WrongCircuit {
        /// What was expected and found, with the fix.
        detail: String,
    },
    /// More values than slots.
    #[error("{given} values do not fit in {slots} slots")]
    TooManyValues {
        /// Number of values given.
        given: usize,
        /// Number of slots.
        slots: usize,
    },
    /// A value cannot be encoded at the requested scale.
    #[error("cannot encode {value} at scale 2^{:.2}: {reason}", scale.log2())]
    Encode {
        /// The offending value.
        value: f64,
        /// The scale.
        scale: f64,
        /// Why.
        reason: &'static str,
    },
    /// The operating system's entropy source failed.
    #[error("cannot seed the random number generator from the operating system: {0}")]
    Randomness(String),
    /// A circuit breaks a structural rule (SSA, references, levels, rotation keys); the detail
    /// names the step, the instruction and the value.
    #[error("invalid circuit: {detail}")]
    InvalidCircuit {
        /// What is wrong, e.g. `step 12 (mul): operand %7 is used before it is defined`.
        detail: String,
    },
    /// Data given to a circuit does not match its input or output description (tensor length,
    /// number of ciphertexts, slot vector length).
    #[error("shape mismatch: {detail}")]
    ShapeMismatch {
        /// What was expected and what was found.
        detail: String,
    },
    /// A circuit step failed while executing (e.g. a missing key); wraps the cause.
    #[error("step {index} ({op}): {source}")]
    Step {
        /// Index of the step in the circuit.
        index: usize,
        /// Instruction name.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: Box<RuntimeError>,
    },
    /// The object was made for another parameter set.
    #[error("{what} belongs to another parameter set (fingerprint {found}, expected {expected}); use the keys, ciphertexts and circuit of one parameter set together")]
    ParamsMismatch {
        /// What was checked.
        what: &'static str,
        /// Expected fingerprint (hex).
        expected: String,
        /// Found fingerprint (hex).
        found: String,
    },
}

/// Why a parameter set was refused.
#[derive(Clone, Debug, Error, PartialEq)]
#[non_exhaustive]
pub enum ParamsError {
    /// The ring degree is outside the supported range.
    #[error("ring degree 2^{log_n} is not supported: use log_n between 12 and 16")]
    RingDegree {
        /// The requested log2 of the degree.
        log_n: u32,
    },
    /// The modulus chain is above the security bound.
    #[error("parameters are below {security}-bit security: N = 2^{log_n} allows log2(QP) <= {bound}, but the chain has log2(QP) = {log_qp:.1}; use fewer or smaller primes, or a larger ring degree")]
    Insecure {
        /// log2 of the ring degree.
        log_n: u32,
        /// log2 of the product of all primes.
        log_qp: f64,
        /// The maximal log2(QP).
        bound: u32,
        /// The security level checked.
        security: u32,
    },
    /// A prime is unusable.
    #[error("modulus {q} is not a prime congruent to 1 mod 2N = {two_n} below 2^61")]
    BadPrime {
        /// The prime.
        q: u64,
        /// 2N.
        two_n: u64,
    },
    /// A prime appears twice.
    #[error("modulus {q} appears more than once in the chain; all primes must be distinct")]
    DuplicatePrime {
        /// The repeated prime.
        q: u64,
    },
    /// No prime of the requested size exists.
    #[error("no {count} distinct NTT-friendly primes of {bits} bits for N = 2^{log_n}")]
    NoPrimes {
        /// Requested bit size.
        bits: u32,
        /// How many were needed.
        count: usize,
        /// log2 of the ring degree.
        log_n: u32,
    },
    /// Some other structural problem.
    #[error("invalid parameters: {0}")]
    Invalid(String),
}

/// Why a serialized object was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The data does not start with the blindfold magic bytes.
    #[error("not a blindfold {expected} file (bad magic bytes)")]
    BadMagic {
        /// Which kind of file was expected.
        expected: &'static str,
    },
    /// The file has another type (e.g. a public key given as a ciphertext).
    #[error("expected {expected} data, found {found} data")]
    WrongKind {
        /// Expected kind.
        expected: &'static str,
        /// Found kind.
        found: String,
    },
    /// The format version is not supported.
    #[error(
        "unsupported {kind} format version {found} (this build reads versions 1 to {supported})"
    )]
    Version {
        /// Kind of object.
        kind: &'static str,
        /// Version found.
        found: u16,
        /// Version supported.
        supported: u16,
    },
    /// The data ends early.
    #[error("truncated {kind} data: needed {needed} more bytes at offset {offset}")]
    Truncated {
        /// Kind of object.
        kind: &'static str,
        /// Where reading stopped.
        offset: usize,
        /// How many bytes were missing.
        needed: usize,
    },
    /// Extra bytes follow the object.
    #[error("{kind} data has {extra} unexpected trailing bytes")]
    TrailingBytes {
        /// Kind of object.
        kind: &'static str,
        /// Number of extra bytes.
        extra: usize,
    },
    /// A field has an impossible value.
    #[error("corrupted {kind} data: {detail}")]
    Corrupted {
        /// Kind of object.
        kind: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The object is larger than the reader accepts.
    #[error("{kind} data of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Kind of object.
        kind: &'static str,
        /// Declared or actual size.
        size: u64,
        /// The limit.
        limit: u64,
    },
}
