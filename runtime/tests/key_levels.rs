//! Evaluation keys restricted to the levels a circuit uses them at: the executor finds those
//! levels, a restricted key switches exactly like the full key below its level and refuses
//! ciphertexts above it, restricted keys round-trip through their format (and version-1 files
//! of full keys still read), and a backend refuses keys restricted below what its circuit
//! needs.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod common;

use blindfold_runtime::circuit::*;
use blindfold_runtime::ckks::serial::FORMAT_VERSION;
use blindfold_runtime::ckks::*;
use blindfold_runtime::exec::{key_levels, CkksBackend};
use blindfold_runtime::RuntimeError;
use common::{deep_spec, Builder};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::sync::Arc;

/// Input at level 5: a rotation by 1 there, a square (relinearization at 5), then a rotation
/// by 2 at level 4 and by 1 again at level 3 after another square.
fn circuit() -> Circuit {
    let (mut b, x) = Builder::new(deep_spec(), 1, 5);
    let r1 = b.op(|dst| Instr::Rotate {
        dst,
        src: x[0],
        step: 1,
    });
    let sq = b.op(|dst| Instr::Mul { dst, a: r1, b: r1 });
    let r2 = b.op(|dst| Instr::Rotate {
        dst,
        src: sq,
        step: 2,
    });
    let sq2 = b.op(|dst| Instr::Mul { dst, a: r2, b: r2 });
    let r3 = b.op(|dst| Instr::Rotate {
        dst,
        src: sq2,
        step: 1,
    });
    b.finish(&[r3])
}

#[test]
fn the_executor_finds_the_highest_level_of_every_key() {
    let levels = key_levels(&circuit()).unwrap();
    assert_eq!(levels.relinearization, Some(5));
    assert_eq!(levels.rotation(1), Some(5));
    assert_eq!(levels.rotation(2), Some(4));
    assert_eq!(levels.rotation(3), None);
    // The serialized size accounts for the restriction: the key of step 2 (level 4 of 6) is
    // smaller than a full one.
    let spec = deep_spec();
    let full = spec.eval_keys_len(Some(6), &[6, 6]);
    let restricted = levels.eval_keys_len(&spec);
    assert!(restricted < full, "{restricted} >= {full}");
    assert_eq!(restricted, spec.eval_keys_len(Some(5), &[5, 4]));
}

struct Keys {
    params: CkksParams,
    sk: SecretKey,
    full: EvalKeys,
    restricted: EvalKeys,
}

/// The same keys twice from one seed: every key at the top level, and restricted to level 2.
fn keys() -> Keys {
    let params = CkksParams::new(deep_spec()).unwrap();
    let kg = KeyGenerator::new(&params);
    let sk = kg.secret_key(&mut ChaCha20Rng::from_seed([1; 32]));
    let full = kg.eval_keys(&sk, true, &[1], false, &mut ChaCha20Rng::from_seed([2; 32]));
    let restricted = kg.eval_keys_at_levels(
        &sk,
        Some(2),
        &[(1, 2)],
        None,
        &mut ChaCha20Rng::from_seed([2; 32]),
    );
    Keys {
        params,
        sk,
        full,
        restricted,
    }
}

fn encrypt(k: &Keys, level: usize) -> Ciphertext {
    let values: Vec<f64> = (0..k.params.slots()).map(|i| (i as f64).sin()).collect();
    let pt = Encoder::new(&k.params)
        .encode(&values, level, k.params.default_scale())
        .unwrap();
    Encryptor::with_secret_key(&k.params, &k.sk)
        .unwrap()
        .encrypt(&pt, &mut ChaCha20Rng::from_seed([3; 32]))
}

#[test]
fn a_restricted_key_switches_exactly_like_the_full_one_up_to_its_level() {
    let k = keys();
    assert!(k.restricted.size_bytes() * 2 < k.full.size_bytes());
    let full = Evaluator::with_keys(&k.params, Arc::new(k.full.clone())).unwrap();
    let restricted = Evaluator::with_keys(&k.params, Arc::new(k.restricted.clone())).unwrap();
    for level in 0..=2 {
        let ct = encrypt(&k, level);
        assert_eq!(
            restricted.rotate(&ct, 1).unwrap(),
            full.rotate(&ct, 1).unwrap()
        );
        assert_eq!(
            restricted.mul_relin(&ct, &ct).unwrap(),
            full.mul_relin(&ct, &ct).unwrap()
        );
        assert_eq!(
            restricted.rotate_hoisted(&ct, &[0, 1]).unwrap(),
            full.rotate_hoisted(&ct, &[0, 1]).unwrap()
        );
    }
    let high = encrypt(&k, 3);
    let err = restricted.rotate(&high, 1).unwrap_err();
    assert!(matches!(err, RuntimeError::KeyLevelTooLow { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "the rotation by 1 key serves ciphertexts up to level 2, this one is at level 3; make \
         the evaluation keys for this circuit (`blindfold keygen`)"
    );
    let err = restricted.mul_relin(&high, &high).unwrap_err();
    assert!(matches!(err, RuntimeError::KeyLevelTooLow { .. }), "{err}");
}

#[test]
fn restricted_keys_round_trip_and_version_1_keys_still_read() {
    let k = keys();
    let bytes = k.restricted.to_bytes(&k.params);
    assert_eq!(
        bytes.len() as u64,
        k.params.spec().eval_keys_len(Some(2), &[2])
    );
    assert_eq!(
        EvalKeys::from_bytes(&k.params, &bytes).unwrap(),
        k.restricted
    );

    // Version 1 wrote no level: a relinearization key alone, full, without its 4 level bytes
    // (after the 23-byte header, the presence flag and the 32-byte seed).
    let full = KeyGenerator::new(&k.params).eval_keys(
        &k.sk,
        true,
        &[],
        false,
        &mut ChaCha20Rng::from_seed([4; 32]),
    );
    let mut v1 = full.to_bytes(&k.params);
    assert_eq!(FORMAT_VERSION, 2);
    v1[4..6].copy_from_slice(&1u16.to_le_bytes());
    let level_at = 23 + 1 + 32;
    assert_eq!(v1[level_at..level_at + 4], 6u32.to_le_bytes());
    v1.drain(level_at..level_at + 4);
    assert_eq!(EvalKeys::from_bytes(&k.params, &v1).unwrap(), full);
}

#[test]
fn a_backend_refuses_keys_restricted_below_its_circuit() {
    let circuit = circuit();
    let params = CkksParams::new(circuit.params.clone()).unwrap();
    let kg = KeyGenerator::new(&params);
    let sk = kg.secret_key(&mut ChaCha20Rng::from_seed([5; 32]));
    let mut rng = ChaCha20Rng::from_seed([6; 32]);
    let fits = kg.eval_keys_at_levels(&sk, Some(5), &[(1, 5), (2, 4)], None, &mut rng);
    CkksBackend::new(&circuit, Arc::new(fits)).unwrap();
    let low = kg.eval_keys_at_levels(&sk, Some(5), &[(1, 5), (2, 3)], None, &mut rng);
    let err = CkksBackend::new(&circuit, Arc::new(low)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the evaluation keys do not fit this circuit: the rotation by 2 key serves ciphertexts \
         up to level 3, but the circuit uses it at level 4; make them with `blindfold keygen` \
         for this circuit"
    );
}
