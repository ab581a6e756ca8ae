//! The level at which a circuit uses each evaluation key: the executor over a backend whose
//! values are their levels and which records the level of every key switch.
//!
//! A key switch at level `l` reads only the residues of the key modulo `q_0 … q_l` and `P`, so a
//! client that knows the highest level of each key makes keys restricted to it
//! ([`crate::ckks::KeyGenerator::eval_keys_at_levels`]). Most rotations of a network happen
//! below the input level (every layer consumes levels), and the keys of the last layers are
//! a fraction of full ones.

use super::{Backend, Executor};
use crate::circuit::Circuit;
use crate::ckks::CkksParamsSpec;
use crate::error::{Result, RuntimeError};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The evaluation keys a circuit needs, each with the highest ciphertext level it serves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyLevels {
    /// The relinearization key, when the circuit multiplies ciphertexts.
    pub relinearization: Option<usize>,
    /// One entry per step of [`Circuit::rotations`].
    pub rotations: BTreeMap<u32, usize>,
}

impl KeyLevels {
    /// The level of the key of `step` (`None` for a step the circuit does not list).
    pub fn rotation(&self, step: u32) -> Option<usize> {
        self.rotations.get(&step).copied()
    }

    /// The length of the serialized keys ([`CkksParamsSpec::eval_keys_len`]).
    pub fn eval_keys_len(&self, spec: &CkksParamsSpec) -> u64 {
        let levels: Vec<usize> = self.rotations.values().copied().collect();
        spec.eval_keys_len(self.relinearization, &levels)
    }
}

/// The key levels of `circuit`, from one execution (levels depend on the circuit only, never
/// on the input). A key the circuit lists but no step uses gets the input level.
pub fn key_levels(circuit: &Circuit) -> Result<KeyLevels> {
    let slots = circuit.slots();
    let backend = LevelBackend {
        slots,
        seen: Mutex::default(),
    };
    let executor = Executor::new(circuit, backend)?;
    let top = circuit.input.level;
    executor.run(vec![top; circuit.input.values.len()])?;
    let seen = executor
        .backend()
        .seen
        .lock()
        .map_err(|_| RuntimeError::InvalidCircuit {
            detail: "the key-level pass panicked".into(),
        })?
        .clone();
    let rotations = circuit
        .rotations
        .iter()
        .map(|&step| {
            let used = seen.rotations.get(&(step % slots.max(1) as u32));
            (step, used.copied().unwrap_or(top))
        })
        .collect();
    Ok(KeyLevels {
        relinearization: circuit
            .needs_relinearization()
            .then(|| seen.relinearization.unwrap_or(top)),
        rotations,
    })
}

/// [`Backend`] whose values are their levels; records the level of every key switch.
struct LevelBackend {
    slots: usize,
    seen: Mutex<KeyLevels>,
}

impl LevelBackend {
    fn record(&self, update: impl FnOnce(&mut KeyLevels)) {
        if let Ok(mut seen) = self.seen.lock() {
            update(&mut seen);
        }
    }

    fn rotation(&self, level: usize, step: u32) {
        let step = step % self.slots.max(1) as u32;
        if step != 0 {
            self.record(|seen| {
                let entry = seen.rotations.entry(step).or_insert(level);
                *entry = (*entry).max(level);
            });
        }
    }
}

impl Backend for LevelBackend {
    type Value = usize;
    type Plain = ();

    fn slots(&self) -> usize {
        self.slots
    }

    fn scale(&self, _level: usize) -> Result<f64> {
        Ok(1.0)
    }

    fn modulus(&self, _level: usize) -> Result<f64> {
        Ok(1.0)
    }

    fn encode(&self, _values: &[f64], _level: usize, _scale: f64) -> Result<()> {
        Ok(())
    }

    fn add(&self, a: &usize, b: &usize) -> Result<usize> {
        Ok(*a.min(b))
    }

    fn sub(&self, a: &usize, b: &usize) -> Result<usize> {
        Ok(*a.min(b))
    }

    fn neg(&self, a: &usize) -> Result<usize> {
        Ok(*a)
    }

    fn mul_plain(&self, a: &usize, _p: &()) -> Result<usize> {
        Ok(*a)
    }

    fn add_plain(&self, a: &usize, _p: &()) -> Result<usize> {
        Ok(*a)
    }

    fn mul_const(&self, a: &usize, _c: f64, _const_scale: f64) -> Result<usize> {
        Ok(*a)
    }

    fn add_const(&self, a: &usize, _c: f64) -> Result<usize> {
        Ok(*a)
    }

    fn mul(&self, a: &usize, b: &usize) -> Result<usize> {
        let level = *a.min(b);
        self.record(|seen| {
            seen.relinearization = Some(seen.relinearization.map_or(level, |l| l.max(level)));
        });
        Ok(level)
    }

    fn rescale(&self, a: &usize) -> Result<usize> {
        Ok(a.saturating_sub(1))
    }

    fn drop_to(&self, _a: &usize, level: usize) -> Result<usize> {
        Ok(level)
    }

    fn rotate(&self, a: &usize, step: u32) -> Result<usize> {
        self.rotation(*a, step);
        Ok(*a)
    }

    fn rotate_hoisted(&self, a: &usize, steps: &[u32]) -> Result<Vec<usize>> {
        for &step in steps {
            self.rotation(*a, step);
        }
        Ok(vec![*a; steps.len()])
    }
}
