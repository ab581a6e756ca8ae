//! The CKKS scheme over the RNS ring of [`crate::math`]: parameters, encoding, keys, encryption,
//! homomorphic evaluation and serialization. Scheme code never touches NTT tables or CRT
//! constants directly; it calls `math`.

pub mod ciphertext;
pub mod encoder;
pub mod encrypt;
pub mod evaluator;
pub mod keys;
pub(crate) mod keyswitch;
pub mod params;
pub mod plaintext;
pub mod security;
pub mod serial;

pub use ciphertext::Ciphertext;
pub use encoder::Encoder;
pub use encrypt::{Decryptor, Encryptor};
pub use evaluator::Evaluator;
pub(crate) use evaluator::{PlainResidues, Residues};
pub use keys::{os_rng, EvalKeys, KeyGenerator, PublicKey, SecretKey, SwitchingKey};
pub use params::{CkksParams, CkksParamsSpec};
pub use plaintext::Plaintext;
pub use security::SecurityLevel;
