//! The CKKS backend: the executor's operations on real ciphertexts, with the evaluation keys a
//! client made for the circuit. It holds no secret.

use super::{scale_ladder, Backend};
use crate::circuit::Circuit;
use crate::ckks::keys::galois_element_for_rotation;
use crate::ckks::{Ciphertext, CkksParams, EvalKeys, Evaluator, Plaintext};
use crate::error::{Result, RuntimeError};
use std::sync::Arc;

/// Runs circuit steps on ciphertexts. Built for one circuit: it checks at construction that the
/// keys belong to the circuit's parameter set and hold every rotation (and the relinearization
/// key) the circuit needs, so a run never stops half-way on a missing key.
#[derive(Clone, Debug)]
pub struct CkksBackend {
    eval: Evaluator,
    ladder: Vec<f64>,
}

impl CkksBackend {
    /// The backend of `circuit` with the client's evaluation keys.
    pub fn new(circuit: &Circuit, keys: Arc<EvalKeys>) -> Result<Self> {
        let params = CkksParams::new(circuit.params.clone())?;
        let eval = Evaluator::with_keys(&params, keys.clone())?;
        let missing: Vec<u32> = circuit
            .rotations
            .iter()
            .copied()
            .filter(|&r| {
                let g = galois_element_for_rotation(i64::from(r), &params);
                g != 1 && !keys.galois.contains_key(&g)
            })
            .collect();
        if !missing.is_empty() {
            return Err(RuntimeError::MissingKeys {
                detail: format!(
                    "no rotation key for step{} {}",
                    if missing.len() == 1 { "" } else { "s" },
                    list(&missing)
                ),
            });
        }
        if circuit.needs_relinearization() && !keys.has_relin() {
            return Err(RuntimeError::MissingKeys {
                detail: "no relinearization key, and the circuit multiplies ciphertexts".into(),
            });
        }
        Ok(Self {
            eval,
            ladder: scale_ladder(&circuit.params, circuit.input.level),
        })
    }

    /// The evaluator (parameters and encoder).
    pub fn evaluator(&self) -> &Evaluator {
        &self.eval
    }
}

fn list(steps: &[u32]) -> String {
    const SHOWN: usize = 8;
    let mut s: Vec<String> = steps.iter().take(SHOWN).map(u32::to_string).collect();
    if steps.len() > SHOWN {
        s.push(format!("and {} more", steps.len() - SHOWN));
    }
    s.join(", ")
}

impl Backend for CkksBackend {
    type Value = Ciphertext;
    type Plain = Plaintext;

    fn slots(&self) -> usize {
        self.eval.params().slots()
    }

    fn scale(&self, level: usize) -> Result<f64> {
        self.ladder
            .get(level)
            .copied()
            .ok_or(RuntimeError::LevelOutOfRange {
                from: level,
                to: level,
                max: self.ladder.len().saturating_sub(1),
            })
    }

    fn modulus(&self, level: usize) -> Result<f64> {
        if level > self.eval.params().max_level() {
            return Err(RuntimeError::LevelOutOfRange {
                from: level,
                to: level,
                max: self.eval.params().max_level(),
            });
        }
        Ok(self.eval.params().q(level) as f64)
    }

    fn encode(&self, values: &[f64], level: usize, scale: f64) -> Result<Plaintext> {
        self.eval.encoder().encode(values, level, scale)
    }

    fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.eval.add(a, b)
    }

    fn add_assign(&self, a: &mut Ciphertext, b: &Ciphertext) -> Result<()> {
        self.eval.add_assign(a, b)
    }

    fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.eval.sub(a, b)
    }

    fn neg(&self, a: &Ciphertext) -> Result<Ciphertext> {
        Ok(self.eval.neg(a))
    }

    fn mul_plain(&self, a: &Ciphertext, p: &Plaintext) -> Result<Ciphertext> {
        self.eval.mul_plain(a, p)
    }

    fn add_plain(&self, a: &Ciphertext, p: &Plaintext) -> Result<Ciphertext> {
        self.eval.add_plain(a, p)
    }

    fn mul_const(&self, a: &Ciphertext, c: f64, const_scale: f64) -> Result<Ciphertext> {
        self.eval.mul_const(a, c, const_scale)
    }

    fn add_const(&self, a: &Ciphertext, c: f64) -> Result<Ciphertext> {
        self.eval.add_const(a, c)
    }

    fn mul(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.eval.mul_relin(a, b)
    }

    fn rescale(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.eval.rescale(a)
    }

    fn drop_to(&self, a: &Ciphertext, level: usize) -> Result<Ciphertext> {
        self.eval.drop_to_level(a, level)
    }

    fn rotate(&self, a: &Ciphertext, step: u32) -> Result<Ciphertext> {
        self.eval.rotate(a, i64::from(step))
    }

    fn rotate_hoisted(&self, a: &Ciphertext, steps: &[u32]) -> Result<Vec<Ciphertext>> {
        let steps: Vec<i64> = steps.iter().map(|&s| i64::from(s)).collect();
        self.eval.rotate_hoisted(a, &steps)
    }
}
