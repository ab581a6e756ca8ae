//! The executor over real CKKS (a minimal backend on `ckks::Evaluator`, written here to prove the
//! `Backend` trait fits it) against the slot simulator on the same circuits: the scale ladder
//! keeps every operand pair at equal scales (the evaluator refuses mismatches), rotations go the
//! same direction, and decrypted results agree with the simulation to CKKS precision.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod common;

use blindfold_runtime::circuit::*;
use blindfold_runtime::ckks::*;
use blindfold_runtime::exec::{scale_ladder, Backend, Executor, SlotBackend};
use blindfold_runtime::{Result, RuntimeError};
use common::{max_err, Builder, Rng};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::sync::Arc;

/// `N = 2^14`, five 40-bit levels above a 50-bit base prime, three key-switching digits of two
/// primes each under 100 bits of special primes (350 of 438 bits).
fn spec() -> CkksParamsSpec {
    CkksParamsSpec::from_bits(
        14,
        &[50, 40, 40, 40, 40, 40],
        &[50, 50],
        3,
        40,
        SecurityLevel::Classical128,
    )
    .unwrap()
}

struct Ckks {
    eval: Evaluator,
    ladder: Vec<f64>,
}

impl Backend for Ckks {
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
                max: self.ladder.len() - 1,
            })
    }

    fn modulus(&self, level: usize) -> Result<f64> {
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

/// Keys for `circuit`, encrypts `tensor`, runs on CKKS, decrypts; returns the output tensor
/// and the level of each result.
fn run_encrypted(circuit: &Circuit, tensor: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let params = CkksParams::new(circuit.params.clone()).unwrap();
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let kg = KeyGenerator::new(&params);
    let sk = kg.secret_key(&mut rng);
    let pk = kg.public_key(&sk, &mut rng);
    let rotations: Vec<i64> = circuit.rotations.iter().map(|&r| i64::from(r)).collect();
    let evk = kg.eval_keys(&sk, true, &rotations, false, &mut rng);
    let eval = Evaluator::with_keys(&params, Arc::new(evk)).unwrap();
    let top = circuit.input.level;
    let ladder = scale_ladder(&circuit.params, top);
    let encoder = Encoder::new(&params);
    let encryptor = Encryptor::with_public_key(&params, &pk).unwrap();
    let inputs = circuit
        .input
        .pack(tensor, params.slots())
        .unwrap()
        .iter()
        .map(|v| encryptor.encrypt(&encoder.encode(v, top, ladder[top]).unwrap(), &mut rng))
        .collect();
    let executor = Executor::new(circuit, Ckks { eval, ladder }).unwrap();
    let outputs = executor.run(inputs).unwrap();
    let decryptor = Decryptor::new(&params, &sk).unwrap();
    let levels = outputs.iter().map(Ciphertext::level).collect();
    let slots: Vec<Vec<f64>> = outputs
        .iter()
        .map(|ct| encoder.decode(&decryptor.decrypt(ct)))
        .collect();
    (circuit.output.unpack(&slots).unwrap(), levels)
}

#[test]
fn the_slot_backend_rotates_like_the_evaluator() {
    let params = CkksParams::new(spec()).unwrap();
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let kg = KeyGenerator::new(&params);
    let sk = kg.secret_key(&mut rng);
    let evk = kg.eval_keys(&sk, false, &[3, 100], false, &mut rng);
    let eval = Evaluator::with_keys(&params, Arc::new(evk)).unwrap();
    let encoder = Encoder::new(&params);
    let values = Rng::new(2).vector(params.slots());
    let pt = encoder.encode(&values, 2, params.default_scale()).unwrap();
    let ct = Encryptor::with_secret_key(&params, &sk)
        .unwrap()
        .encrypt(&pt, &mut rng);
    let slots = SlotBackend::new(params.slots());
    let decryptor = Decryptor::new(&params, &sk).unwrap();
    for step in [3u32, 100] {
        let expected = slots.rotate(&values, step).unwrap();
        assert_eq!(expected, common::rot(&values, step as usize));
        let got = encoder.decode(&decryptor.decrypt(&eval.rotate(&ct, i64::from(step)).unwrap()));
        assert!(max_err(&got, &expected) < 1e-6, "rotation by {step}");
    }
}

#[test]
fn mixed_levels_on_ckks_match_the_simulation() {
    let (circuit, _) = common::mixed_circuit(spec(), 5);
    let slots = circuit.slots();
    let tensor = Rng::new(5).vector(2 * slots);
    let expected = common::mixed_expected(&tensor, slots);
    let (got, levels) = run_encrypted(&circuit, &tensor);
    assert_eq!(levels, [2, 1, 4]);
    let err = max_err(&got, &expected);
    eprintln!("mixed levels: CKKS vs simulation {err:.2e}");
    assert!(err < 1e-5, "error {err}");
}

#[test]
fn transform_then_polynomial_on_ckks_match_the_simulation() {
    let (mut b, x) = Builder::new(spec(), 2, 5);
    let slots = b.slots();
    let mut rng = Rng::new(11);
    let mut blocks = Vec::new();
    for (j, i, offsets) in [
        (0u32, 0u32, vec![0u32, 1, 2, 5, 9, 17]),
        (0, 1, vec![3, 4, slots as u32 - 1]),
        (1, 0, vec![0, 8]),
        (1, 1, vec![6, 7, 12]),
    ] {
        let diagonals = offsets
            .into_iter()
            .map(|k| {
                let d: Vec<f64> = rng.vector(slots).iter().map(|v| v / 9.0).collect();
                (k, b.constant(&d))
            })
            .collect();
        blocks.push(DiagonalBlock {
            output: j,
            input: i,
            diagonals,
        });
    }
    let bias: Vec<f64> = rng.vector(slots).iter().map(|v| v / 10.0).collect();
    let bias = b.constant(&bias);
    let t = b.transform(LinearTransform {
        inputs: 2,
        outputs: 2,
        n1: 4,
        blocks,
        bias: vec![None, Some(bias)],
    });
    let y = vec![b.value(), b.value()];
    b.push(Instr::LinearTransform {
        dst: y.clone(),
        src: x,
        transform: t,
    });
    let coeffs: Vec<f64> = rng.vector(16).iter().map(|v| v / 4.0).collect();
    let p = b.polynomial(coeffs);
    let z = b.op(|dst| Instr::Polynomial {
        dst,
        src: y[0],
        poly: p,
    });
    let sum = b.op(|dst| Instr::Add { dst, a: z, b: y[1] });
    let circuit = b.finish(&[sum, y[1]]);
    assert_eq!(circuit.validate().unwrap().depth, 5);

    let tensor = rng.vector(2 * slots);
    let expected = blindfold_runtime::exec::simulate(&circuit, &tensor).unwrap();
    let (got, levels) = run_encrypted(&circuit, &tensor);
    assert_eq!(levels, [0, 4]);
    let err = max_err(&got, &expected);
    eprintln!("transform + polynomial: CKKS vs simulation {err:.2e}");
    assert!(err < 5e-6, "error {err}");
}
