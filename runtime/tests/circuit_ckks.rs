//! The executor over real CKKS (`exec::CkksBackend`) against the slot simulator on the same circuits: the scale ladder
//! keeps every operand pair at equal scales (the evaluator refuses mismatches), rotations go the
//! same direction, and decrypted results agree with the simulation to CKKS precision.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod common;

use blindfold_runtime::circuit::*;
use blindfold_runtime::ckks::*;
use blindfold_runtime::exec::{scale_ladder, Backend, CkksBackend, Executor, SlotBackend};
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

/// Keys for `circuit`, encrypts `tensor`, runs on CKKS, decrypts; returns the output tensor
/// and the level of each result.
fn run_encrypted(circuit: &Circuit, tensor: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let run = run_encrypted_with(circuit, tensor, None);
    (run.tensor, run.levels)
}

/// What [`run_encrypted_with`] returns.
struct EncryptedRun {
    /// The decrypted output tensor.
    tensor: Vec<f64>,
    /// The level of each output ciphertext.
    levels: Vec<usize>,
    /// The output ciphertexts.
    outputs: Vec<Ciphertext>,
    /// Plaintexts the backend kept, and their bytes.
    kept: (usize, usize),
}

/// [`run_encrypted`] with a plaintext cache budget (`None`: the default). Keys and encryption
/// are seeded, so two calls encrypt the same ciphertexts.
fn run_encrypted_with(circuit: &Circuit, tensor: &[f64], cache: Option<usize>) -> EncryptedRun {
    let params = CkksParams::new(circuit.params.clone()).unwrap();
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let kg = KeyGenerator::new(&params);
    let sk = kg.secret_key(&mut rng);
    let pk = kg.public_key(&sk, &mut rng);
    let rotations: Vec<i64> = circuit.rotations.iter().map(|&r| i64::from(r)).collect();
    let evk = kg.eval_keys(&sk, true, &rotations, false, &mut rng);
    let mut backend = CkksBackend::new(circuit, Arc::new(evk)).unwrap();
    if let Some(bytes) = cache {
        backend = backend.with_plaintext_cache(bytes);
    }
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
    let executor = Executor::new(circuit, backend).unwrap();
    let outputs = executor.run(inputs).unwrap();
    let decryptor = Decryptor::new(&params, &sk).unwrap();
    let levels = outputs.iter().map(Ciphertext::level).collect();
    let slots: Vec<Vec<f64>> = outputs
        .iter()
        .map(|ct| encoder.decode(&decryptor.decrypt(ct)))
        .collect();
    EncryptedRun {
        tensor: circuit.output.unpack(&slots).unwrap(),
        levels,
        kept: executor.backend().plaintext_cache(),
        outputs,
    }
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

/// Two inputs through a 2 × 2-block transform (several giant steps per output block, a bias)
/// and a degree-15 polynomial; returns the circuit and an input tensor.
/// The chain of [`spec`] with 30-bit primes above a 40-bit base: the kept plaintexts pack every
/// limb but the first in 32-bit words.
fn narrow_spec() -> CkksParamsSpec {
    CkksParamsSpec::from_bits(
        14,
        &[40, 30, 30, 30, 30, 30],
        &[50, 50],
        3,
        30,
        SecurityLevel::Classical128,
    )
    .unwrap()
}

fn transform_circuit() -> (Circuit, Vec<f64>) {
    transform_circuit_with(spec())
}

fn transform_circuit_with(spec: CkksParamsSpec) -> (Circuit, Vec<f64>) {
    let (mut b, x) = Builder::new(spec, 2, 5);
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
    (circuit, tensor)
}

#[test]
fn transform_then_polynomial_on_ckks_match_the_simulation() {
    let (circuit, tensor) = transform_circuit();
    let expected = blindfold_runtime::exec::simulate(&circuit, &tensor).unwrap();
    let (got, levels) = run_encrypted(&circuit, &tensor);
    assert_eq!(levels, [0, 4]);
    let err = max_err(&got, &expected);
    eprintln!("transform + polynomial: CKKS vs simulation {err:.2e}");
    assert!(err < 5e-6, "error {err}");
}

#[test]
fn kept_plaintexts_give_the_same_ciphertexts_as_encoding_at_each_use() {
    for (circuit, tensor) in [transform_circuit(), {
        let (circuit, _) = common::mixed_circuit(spec(), 5);
        let tensor = Rng::new(6).vector(2 * circuit.slots());
        (circuit, tensor)
    }] {
        let encodes = blindfold_runtime::exec::count(&circuit).unwrap().encodes as usize;
        let cached = run_encrypted_with(&circuit, &tensor, None);
        let fresh = run_encrypted_with(&circuit, &tensor, Some(0));
        // Every operand is distinct here, so the cache holds one plaintext per encoding a run
        // asks for; without a budget nothing is kept, and the results are the same bits.
        assert_eq!(cached.kept.0, encodes);
        assert!(cached.kept.1 > 0);
        assert_eq!(fresh.kept, (0, 0));
        assert!(
            cached.outputs == fresh.outputs,
            "cached and uncached runs differ"
        );
        let expected = blindfold_runtime::exec::simulate(&circuit, &tensor).unwrap();
        assert!(max_err(&cached.tensor, &expected) < 5e-6);
    }
}

#[test]
fn kept_plaintexts_take_half_the_memory_at_32_bit_primes() {
    let (wide_circuit, tensor) = transform_circuit();
    let wide = run_encrypted_with(&wide_circuit, &tensor, None);
    let (circuit, tensor) = transform_circuit_with(narrow_spec());
    let narrow = run_encrypted_with(&circuit, &tensor, None);
    let fresh = run_encrypted_with(&circuit, &tensor, Some(0));
    assert!(
        narrow.outputs == fresh.outputs,
        "packed plaintexts give other ciphertexts than encoding at each use"
    );
    let expected = blindfold_runtime::exec::simulate(&circuit, &tensor).unwrap();
    assert!(max_err(&narrow.tensor, &expected) < 1e-3);
    // The same operands at levels 4 and 5: 64 bits for the 40-bit base prime, 32 for the
    // others, against 64 for every limb of the wide chain (6/10 and 7/12 of the bytes).
    assert_eq!(narrow.kept.0, wide.kept.0);
    let ratio = narrow.kept.1 as f64 / wide.kept.1 as f64;
    assert!((0.58..=0.6).contains(&ratio), "packed/full bytes {ratio}");
}

#[test]
fn the_plaintext_cache_stays_within_its_budget() {
    let (circuit, tensor) = transform_circuit();
    let all = run_encrypted_with(&circuit, &tensor, None);
    // Operands are kept in the order of use until the budget is spent; the others are encoded
    // at each use, with the same results.
    let budget = all.kept.1 / 2;
    let partial = run_encrypted_with(&circuit, &tensor, Some(budget));
    let (kept, bytes) = partial.kept;
    assert!(
        bytes <= budget,
        "{bytes} bytes kept for a budget of {budget}"
    );
    assert!(
        0 < kept && kept < all.kept.0,
        "{kept} of {} kept",
        all.kept.0
    );
    assert!(partial.outputs == all.outputs);
}

#[test]
fn the_backend_refuses_keys_without_the_circuit_rotations() {
    let (circuit, _) = common::mixed_circuit(spec(), 5);
    assert!(!circuit.rotations.is_empty());
    let params = CkksParams::new(circuit.params.clone()).unwrap();
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let kg = KeyGenerator::new(&params);
    let sk = kg.secret_key(&mut rng);
    let keys = kg.eval_keys(&sk, true, &[], false, &mut rng);
    let err = CkksBackend::new(&circuit, Arc::new(keys)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("the evaluation keys do not fit this circuit: no rotation key for")
            && message.contains("blindfold keygen"),
        "{message}"
    );
}

#[test]
fn one_prepared_executor_serves_two_clients_with_their_own_keys() {
    let (circuit, tensor) = transform_circuit();
    let expected = blindfold_runtime::exec::simulate(&circuit, &tensor).unwrap();
    let params = CkksParams::new(circuit.params.clone()).unwrap();
    let rotations: Vec<i64> = circuit.rotations.iter().map(|&r| i64::from(r)).collect();
    let prepared = Executor::new(&circuit, CkksBackend::without_keys(&circuit).unwrap()).unwrap();
    let kept = prepared.backend().plaintext_cache();
    assert!(kept.0 > 0, "the keyless executor prepared no plaintext");
    let top = circuit.input.level;
    let ladder = scale_ladder(&circuit.params, top);
    let encoder = Encoder::new(&params);
    for seed in [21u8, 22] {
        let mut rng = ChaCha20Rng::from_seed([seed; 32]);
        let kg = KeyGenerator::new(&params);
        let sk = kg.secret_key(&mut rng);
        let evk = kg.eval_keys(&sk, true, &rotations, false, &mut rng);
        let executor = prepared.with_keys(Arc::new(evk)).unwrap();
        // The plaintexts are shared, not encoded again.
        assert_eq!(executor.backend().plaintext_cache(), kept);
        let encryptor = Encryptor::with_secret_key(&params, &sk).unwrap();
        let inputs = circuit
            .input
            .pack(&tensor, params.slots())
            .unwrap()
            .iter()
            .map(|v| encryptor.encrypt(&encoder.encode(v, top, ladder[top]).unwrap(), &mut rng))
            .collect();
        let outputs = executor.run(inputs).unwrap();
        let decryptor = Decryptor::new(&params, &sk).unwrap();
        let slots: Vec<Vec<f64>> = outputs
            .iter()
            .map(|ct| encoder.decode(&decryptor.decrypt(ct)))
            .collect();
        let got = circuit.output.unpack(&slots).unwrap();
        let err = max_err(&got, &expected);
        assert!(err < 5e-6, "client {seed}: error {err}");
    }
    // Keys without the circuit's rotations are refused at binding, not half-way through a run.
    let mut rng = ChaCha20Rng::from_seed([23; 32]);
    let kg = KeyGenerator::new(&params);
    let sk = kg.secret_key(&mut rng);
    let partial = kg.eval_keys(
        &sk,
        true,
        &rotations[..rotations.len() - 1],
        false,
        &mut rng,
    );
    let err = prepared.with_keys(Arc::new(partial)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the evaluation keys do not fit this circuit: no rotation key for step"),
        "{err}"
    );
}

#[test]
fn encrypted_tensors_round_trip_and_refuse_another_circuit_or_role() {
    let (circuit, _) = common::mixed_circuit(spec(), 5);
    let (other, _) = common::mixed_circuit(spec(), 4);
    let params = CkksParams::new(circuit.params.clone()).unwrap();
    let mut rng = ChaCha20Rng::from_seed([4; 32]);
    let sk = KeyGenerator::new(&params).secret_key(&mut rng);
    let encryptor = Encryptor::with_secret_key(&params, &sk).unwrap();
    let pt = Encoder::new(&params)
        .encode(&[1.0, 2.0], 5, params.default_scale())
        .unwrap();
    let tensor = EncryptedTensor {
        circuit: circuit.fingerprint(),
        role: Role::Input,
        ciphertexts: vec![
            encryptor.encrypt(&pt, &mut rng),
            encryptor.encrypt(&pt, &mut rng),
        ],
    };
    let bytes = tensor.to_bytes(&params);
    let back = EncryptedTensor::from_bytes(&circuit, Role::Input, &bytes).unwrap();
    assert_eq!(back.ciphertexts, tensor.ciphertexts);

    let err = EncryptedTensor::from_bytes(&other, Role::Input, &bytes)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("an encrypted input made for circuit ")
            && err.ends_with("encrypt with the same .bfc file the server runs"),
        "{err}"
    );
    let err = EncryptedTensor::from_bytes(&circuit, Role::Output, &bytes)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "expected an encrypted output but the file holds an encrypted input"
    );
    for cut in [0, 7, 30, bytes.len() / 2, bytes.len() - 1] {
        assert!(EncryptedTensor::from_bytes(&circuit, Role::Input, &bytes[..cut]).is_err());
    }
}
