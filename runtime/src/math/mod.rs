//! Ring and RNS arithmetic: moduli, NTT-friendly primes, the NTT, polynomials in RNS form,
//! basis conversion and sampling. Nothing here knows about CKKS.

pub mod fma;
pub mod modulus;
pub mod ntt;
pub mod packed;
pub mod poly;
pub mod primes;
pub mod ring;
pub mod rns;
pub mod sampling;

pub use modulus::Modulus;
pub use ntt::NttPlan;
pub use packed::PackedLayout;
pub use poly::{Coeff, Eval, RnsPoly};
pub use ring::{Prime, RingContext, RingError};
