//! The blindfold compiler: turns a trained ONNX network into a CKKS circuit.
//!
//! The pipeline (see `docs/ARCHITECTURE.md`): [`import`] (ONNX into the tensor [`ir`], refusing what
//! cannot be encrypted with an error naming the node) → [`passes`] (normalisation: batch-norm
//! folding, constant folding, bias merging, squares) → the back end (activation
//! approximation, layout, CKKS parameters, lowering), which lands separately.
//! [`mod@reference`] is the float64 interpreter of the IR: the oracle of every later stage.
//!
//! ```no_run
//! use blindfold_compiler::{import::{load_onnx, ImportOptions}, ir::Tensor, reference};
//! let model = load_onnx("models/mnist_relu.onnx", &ImportOptions::default())?;
//! let image = Tensor::zeros(model.input_shape.clone());
//! let logits = reference::run(&model.graph, &image)?;
//! println!("class {:?}", logits.argmax());
//! # Ok::<(), blindfold_compiler::CompileError>(())
//! ```

pub mod approx;
pub mod compile;
pub mod error;
pub mod import;
pub mod ir;
pub mod layout;
pub mod lower;
pub mod params;
pub mod passes;
pub mod reference;
pub mod report;

pub use blindfold_runtime as runtime;
pub use compile::{compile, Calibration, CompileOptions, Compiled};
pub use error::{CompileError, Result};
