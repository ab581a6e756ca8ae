//! The error type of the facade.

use crate::compiler::CompileError;
use crate::dataset::DatasetError;
use crate::runtime::RuntimeError;

/// Why a facade operation failed: compiling, reading data, or running the CKKS engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model could not be imported or compiled.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// Images or calibration data could not be read.
    #[error("{0}")]
    Dataset(#[from] DatasetError),
    /// The CKKS engine refused an object (keys, ciphertexts, circuit) or an operation failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A secret key was given to the server side, which must never receive one; it was
    /// refused and not kept.
    #[error("{0}")]
    SecretKeyRefused(String),
    /// A file has the wrong kind for the role it was given (e.g. a secret key where the server
    /// expects evaluation keys).
    #[error("{0}")]
    WrongFile(String),
}
