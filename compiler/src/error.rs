//! The compiler's error type: every failure names the ONNX node (or the IR node) it comes from
//! and says what was expected, what was found, and what to do about it.

use std::path::PathBuf;

/// Result alias of the compiler.
pub type Result<T, E = CompileError> = std::result::Result<T, E>;

/// Everything that can go wrong while importing, transforming or interpreting a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not an ONNX model (not a protobuf `ModelProto`, a truncated file, no graph).
    #[error("{model} is not a valid ONNX model: {reason}")]
    NotOnnx {
        /// The model (file name or `<bytes>`).
        model: String,
        /// What is wrong.
        reason: String,
    },
    /// tract failed on the model (shape inference or reference inference).
    #[error("tract-onnx failed on {model}: {source:#}")]
    Import {
        /// The model (file name or `<bytes>`).
        model: String,
        /// tract's error chain.
        #[source]
        source: anyhow::Error,
    },
    /// An operation that has no encrypted counterpart (comparisons, max, division by data…).
    #[error("{op} (node '{node}') is not computable on encrypted data; {hint}")]
    NotEncryptable {
        /// ONNX op type.
        op: String,
        /// ONNX node name.
        node: String,
        /// What the user can do instead.
        hint: String,
    },
    /// An operation (or an attribute value of one) that the importer does not support.
    #[error("{op} (node '{node}') is not supported: {hint}")]
    Unsupported {
        /// ONNX op type.
        op: String,
        /// ONNX node name.
        node: String,
        /// What is unsupported and what to do about it.
        hint: String,
    },
    /// A weight (convolution kernel, dense matrix, normalisation statistics…) is computed from
    /// the input instead of being a constant.
    #[error(
        "{op} (node '{node}'): input '{input}' must be a constant (an initializer or a Constant \
         node) but depends on the model input; export the model with its weights as initializers"
    )]
    NonConstantWeight {
        /// ONNX op type.
        op: String,
        /// ONNX node name.
        node: String,
        /// The ONNX value that should be constant.
        input: String,
    },
    /// The input shape has a dimension that cannot be fixed.
    #[error("input '{input}' has a dynamic dimension {dim} ('{symbol}'); {hint}")]
    DynamicShape {
        /// The ONNX graph input.
        input: String,
        /// Axis index of the dimension.
        dim: usize,
        /// The symbol (or "?" when the dimension is unknown).
        symbol: String,
        /// What the user can do.
        hint: String,
    },
    /// A model whose batch size is fixed to N > 1 mixes images along the batch axis.
    #[error(
        "{op} (node '{node}') mixes the batch axis ({reason}); blindfold classifies images one by \
         one: export the model with a dynamic or unit batch dimension"
    )]
    BatchMixing {
        /// ONNX op type.
        op: String,
        /// ONNX node name.
        node: String,
        /// What mixes the batch.
        reason: String,
    },
    /// The model is malformed: wrong input count, inconsistent shapes, bad attribute values.
    #[error("{op} (node '{node}'): {reason}")]
    InvalidNode {
        /// ONNX op type (or IR op name).
        op: String,
        /// ONNX node name (or IR node id).
        node: String,
        /// What is wrong.
        reason: String,
    },
    /// The graph as a whole is not what the compiler needs (no input, several inputs…).
    #[error("{model}: {reason}")]
    InvalidGraph {
        /// The model.
        model: String,
        /// What is wrong.
        reason: String,
    },
    /// An input tensor given to the interpreter does not fit the model.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong.
        reason: String,
    },
    /// The IR verifier found a broken invariant (after the named pass, or after import).
    #[error("IR verification failed after {after}: {reason}")]
    Verify {
        /// The pass (or "import").
        after: String,
        /// The broken invariant, naming the node.
        reason: String,
    },
    /// A command-line or API option is out of range.
    #[error("{0}")]
    Options(String),
    /// The circuit is deeper than any secure parameter set allows without bootstrapping.
    #[error("the circuit needs {depth} levels at {scale_bits}-bit scale (log2(QP) >= {log_qp}), but {security}-bit security allows log2(QP) <= {bound} even at N = 2^16, and bootstrapping is not supported; lower --relu-degree or --scale-bits")]
    TooDeep {
        /// Levels consumed.
        depth: usize,
        /// The scale.
        scale_bits: u32,
        /// The smallest log2(QP) found.
        log_qp: u32,
        /// The bound at N = 2^16.
        bound: u32,
        /// Security level in bits.
        security: u32,
    },
    /// Lowering to a circuit failed.
    #[error("cannot lower node '{node}' ({op}) to a circuit: {reason}")]
    Lower {
        /// The IR node's name.
        node: String,
        /// Its op.
        op: String,
        /// Why.
        reason: String,
    },
    /// The runtime refused something the compiler built (a bug) or read.
    #[error(transparent)]
    Runtime(#[from] blindfold_runtime::RuntimeError),
}
