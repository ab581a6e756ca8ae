//! The blindfold runtime: an RNS-CKKS homomorphic encryption engine.
//!
//! Layers, each using only the ones above it:
//! - [`math`]: moduli, NTT-friendly primes, the NTT (`tfhe-ntt`), RNS polynomials, basis
//!   conversion, sampling. Knows nothing about CKKS.
//! - [`ckks`]: parameters with a 128-bit security check, the encoder, keys (hybrid key
//!   switching), encryption, the evaluator, and versioned serialization.
//! - [`circuit`]: the compiled-network format (SSA program of mid-level homomorphic
//!   instructions), its binary format and its validation.
//! - [`exec`]: one interpreter of circuits over a backend: cleartext slots (simulation),
//!   operation counting, and CKKS.
//!
//! # Example
//!
//! ```
//! use blindfold_runtime::ckks::*;
//! # fn main() -> Result<(), blindfold_runtime::RuntimeError> {
//! let spec = CkksParamsSpec::from_bits(13, &[50, 40, 40], &[50], 3, 40, SecurityLevel::Classical128)?;
//! let params = CkksParams::new(spec)?;
//! let mut rng = os_rng()?;
//! let keygen = KeyGenerator::new(&params);
//! let sk = keygen.secret_key(&mut rng);
//! let pk = keygen.public_key(&sk, &mut rng);
//! let evk = keygen.eval_keys(&sk, true, &[1], false, &mut rng);
//!
//! let encoder = Encoder::new(&params);
//! let pt = encoder.encode(&[1.0, 2.0, 3.0], params.max_level(), params.default_scale())?;
//! let ct = Encryptor::with_public_key(&params, &pk)?.encrypt(&pt, &mut rng);
//!
//! let eval = Evaluator::with_keys(&params, std::sync::Arc::new(evk))?;
//! let squared = eval.mul_relin_rescale(&ct, &ct)?;
//! let rotated = eval.rotate(&squared, 1)?;
//!
//! let out = encoder.decode(&Decryptor::new(&params, &sk)?.decrypt(&rotated));
//! assert!((out[0] - 4.0).abs() < 1e-4 && (out[1] - 9.0).abs() < 1e-4);
//! # Ok(())
//! # }
//! ```

pub mod circuit;
pub mod ckks;
pub mod error;
pub mod exec;
pub mod math;

pub use error::{FormatError, ParamsError, Result, RuntimeError};
