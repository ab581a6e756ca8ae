//! blindfold: compile trained convolutional networks into CKKS circuits and classify encrypted
//! images.
//!
//! This facade re-exports the two crates: [`runtime`] (the CKKS engine) and [`compiler`].

pub mod compile;
pub mod dataset;

pub use compile::{compile_file, Error};

pub use blindfold_compiler as compiler;
pub use blindfold_runtime as runtime;
