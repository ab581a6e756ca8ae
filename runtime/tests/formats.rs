//! Serialization of parameters, keys and ciphertexts: round trips that decrypt to the same
//! values, and for every format a corrupted byte, a truncated file, trailing bytes, the wrong
//! kind of file and a file of another parameter set, each refused with a clear error.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use blindfold_runtime::ckks::serial::{peek_kind, Kind, FORMAT_VERSION, MAGIC};
use blindfold_runtime::ckks::{
    Ciphertext, CkksParams, CkksParamsSpec, Decryptor, Encoder, Encryptor, EvalKeys, Evaluator,
    KeyGenerator, PublicKey, SecretKey, SecurityLevel,
};
use blindfold_runtime::{FormatError, RuntimeError};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::sync::Arc;

fn params(q0: u32) -> CkksParams {
    let spec = CkksParamsSpec::from_bits(12, &[q0, 30], &[35], 2, 30, SecurityLevel::Classical128)
        .unwrap();
    CkksParams::new(spec).unwrap()
}

struct Fixture {
    params: CkksParams,
    sk: SecretKey,
    pk: PublicKey,
    evk: EvalKeys,
    ct: Ciphertext,
    values: Vec<f64>,
}

fn fixture() -> Fixture {
    let params = params(40);
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let kg = KeyGenerator::new(&params);
    let sk = kg.secret_key(&mut rng);
    let pk = kg.public_key(&sk, &mut rng);
    let evk = kg.eval_keys(&sk, true, &[1, -3], true, &mut rng);
    let values: Vec<f64> = (0..params.slots())
        .map(|i| (i as f64 * 0.1).cos())
        .collect();
    let pt = Encoder::new(&params)
        .encode(&values, 1, params.default_scale())
        .unwrap();
    let ct = Encryptor::with_public_key(&params, &pk)
        .unwrap()
        .encrypt(&pt, &mut rng);
    Fixture {
        params,
        sk,
        pk,
        evk,
        ct,
        values,
    }
}

fn max_error(f: &Fixture, sk: &SecretKey, ct: &Ciphertext, expect: &[f64]) -> f64 {
    let dec = Decryptor::new(&f.params, sk).unwrap();
    let out = Encoder::new(&f.params).decode(&dec.decrypt(ct));
    expect
        .iter()
        .zip(&out)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

#[test]
fn params_round_trip_and_fingerprint() {
    let p = params(40);
    let bytes = p.spec().to_bytes();
    assert_eq!(peek_kind(&bytes), Some(Kind::Params));
    let back = CkksParams::new(CkksParamsSpec::from_bytes(&bytes).unwrap()).unwrap();
    assert_eq!(back.fingerprint(), p.fingerprint());
    assert_ne!(params(41).fingerprint(), p.fingerprint());
}

#[test]
fn keys_and_ciphertexts_round_trip() {
    let f = fixture();
    let sk = SecretKey::from_bytes(&f.params, &f.sk.to_bytes()).unwrap();
    let pk = PublicKey::from_bytes(&f.params, &f.pk.to_bytes(&f.params)).unwrap();
    assert_eq!(pk, f.pk);
    let evk_bytes = f.evk.to_bytes(&f.params);
    let evk = EvalKeys::from_bytes(&f.params, &evk_bytes).unwrap();
    assert_eq!(evk, f.evk);
    // Seeded keys: the serialized evaluation keys are about half of what they hold in memory.
    assert!(evk_bytes.len() < f.evk.size_bytes() * 6 / 10);
    // Sizes are known from the parameters before any key or ciphertext exists.
    let spec = f.params.spec();
    let top = f.params.max_level();
    assert_eq!(
        spec.eval_keys_len(Some(top), &[top; 3]),
        evk_bytes.len() as u64
    );
    assert_eq!(
        spec.ciphertext_len(f.ct.level(), 2),
        f.ct.to_bytes(&f.params).len() as u64
    );
    let ct = Ciphertext::from_bytes(&f.params, &f.ct.to_bytes(&f.params)).unwrap();
    assert_eq!(ct, f.ct);
    // The reloaded secret key decrypts, the reloaded evaluation keys rotate.
    assert!(max_error(&f, &sk, &ct, &f.values) < 1e-3);
    let eval = Evaluator::with_keys(&f.params, Arc::new(evk)).unwrap();
    let rotated = eval.rotate(&ct, -3).unwrap();
    let n = f.values.len();
    let expect: Vec<f64> = (0..n).map(|j| f.values[(j + n - 3) % n]).collect();
    assert!(max_error(&f, &sk, &rotated, &expect) < 1e-3);
}

/// Runs `read` on mutilated copies of `bytes` and checks each is refused the expected way.
fn check_refusals(bytes: &[u8], read: impl Fn(&[u8]) -> Result<(), RuntimeError>) {
    assert!(read(bytes).is_ok(), "the intact file loads");

    let truncated = &bytes[..bytes.len() - 1];
    assert!(matches!(
        read(truncated),
        Err(RuntimeError::Format(FormatError::Truncated { .. }))
    ));
    assert!(matches!(
        read(&bytes[..5]),
        Err(RuntimeError::Format(FormatError::Truncated { .. }))
    ));
    assert!(matches!(
        read(&[]),
        Err(RuntimeError::Format(FormatError::BadMagic { .. }))
    ));

    let mut trailing = bytes.to_vec();
    trailing.push(0);
    assert!(matches!(
        read(&trailing),
        Err(RuntimeError::Format(FormatError::TrailingBytes {
            extra: 1,
            ..
        }))
    ));

    let mut bad_version = bytes.to_vec();
    bad_version[4..6].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let err = read(&bad_version).unwrap_err();
    assert!(err.to_string().contains("unsupported"), "{err}");

    let mut bad_magic = bytes.to_vec();
    bad_magic[0] ^= 0xff;
    assert!(matches!(
        read(&bad_magic),
        Err(RuntimeError::Format(FormatError::BadMagic { .. }))
    ));
}

/// Sets every bit of one packed residue so that it exceeds its (≤ 40-bit) prime.
fn corrupt_residue(bytes: &[u8], offset: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for b in &mut out[offset..offset + 6] {
        *b = 0xff;
    }
    out
}

#[test]
fn corrupted_truncated_and_foreign_ciphertexts_are_refused() {
    let f = fixture();
    let bytes = f.ct.to_bytes(&f.params);
    check_refusals(&bytes, |b| Ciphertext::from_bytes(&f.params, b).map(|_| ()));
    let err = Ciphertext::from_bytes(&f.params, &corrupt_residue(&bytes, 40)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("corrupted ciphertext data: residue"),
        "{err}"
    );
    let other = params(41);
    let err = Ciphertext::from_bytes(&other, &bytes).unwrap_err();
    assert!(matches!(err, RuntimeError::ParamsMismatch { .. }));
    assert!(err.to_string().contains("another parameter set"), "{err}");
    // Level byte above the chain's top.
    let mut bad_level = bytes.clone();
    bad_level[23] = 9;
    let err = Ciphertext::from_bytes(&f.params, &bad_level).unwrap_err();
    assert!(
        err.to_string().contains("level 9 is above the top level 1"),
        "{err}"
    );
}

#[test]
fn corrupted_truncated_and_foreign_keys_are_refused() {
    let f = fixture();
    let evk = f.evk.to_bytes(&f.params);
    check_refusals(&evk, |b| EvalKeys::from_bytes(&f.params, b).map(|_| ()));
    let err = EvalKeys::from_bytes(&f.params, &corrupt_residue(&evk, 100)).unwrap_err();
    assert!(
        err.to_string().contains("is not below its modulus"),
        "{err}"
    );

    let pk = f.pk.to_bytes(&f.params);
    check_refusals(&pk, |b| PublicKey::from_bytes(&f.params, b).map(|_| ()));

    let sk = f.sk.to_bytes();
    check_refusals(&sk, |b| SecretKey::from_bytes(&f.params, b).map(|_| ()));
    let mut bad_sk = sk.to_vec();
    bad_sk[30] = 0xff;
    let err = SecretKey::from_bytes(&f.params, &bad_sk).unwrap_err();
    assert!(err.to_string().contains("invalid code 3"), "{err}");

    // A secret key handed over where evaluation keys are expected is refused by kind.
    let err = EvalKeys::from_bytes(&f.params, &sk).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected evaluation keys data, found secret key data"
    );
    let other = params(41);
    assert!(matches!(
        EvalKeys::from_bytes(&other, &evk),
        Err(RuntimeError::ParamsMismatch { .. })
    ));
    assert!(matches!(
        Evaluator::with_keys(&other, Arc::new(f.evk.clone())),
        Err(RuntimeError::ParamsMismatch { .. })
    ));
}

#[test]
fn corrupted_parameter_files_are_refused() {
    let bytes = params(40).spec().to_bytes();
    check_refusals(&bytes, |b| CkksParamsSpec::from_bytes(b).map(|_| ()));
    assert_eq!(&bytes[..4], &MAGIC);
    // A changed prime is caught when the set is validated.
    let mut spec = CkksParamsSpec::from_bytes(&bytes).unwrap();
    spec.q[1] += 2;
    assert!(CkksParams::new(spec).is_err());
    // An absurd prime count does not allocate: it is refused.
    let mut huge = bytes.clone();
    huge[11..15].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(CkksParamsSpec::from_bytes(&huge).is_err());
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Any single corrupted byte or cut of a ciphertext or key file yields `Ok` or `Err`,
        /// never a panic.
        #[test]
        fn mutated_files_never_panic(pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
            let p = params(40);
            let mut rng = ChaCha20Rng::from_seed([5; 32]);
            let kg = KeyGenerator::new(&p);
            let sk = kg.secret_key(&mut rng);
            let evk = kg.eval_keys(&sk, true, &[2], false, &mut rng).to_bytes(&p);
            let pt = Encoder::new(&p).encode(&[0.5], 1, p.default_scale()).unwrap();
            let ct = Encryptor::with_secret_key(&p, &sk).unwrap().encrypt(&pt, &mut rng).to_bytes(&p);
            for bytes in [evk, ct, sk.to_bytes().to_vec()] {
                let mut mutated = bytes.clone();
                let i = pos.index(mutated.len());
                mutated[i] = byte;
                let _ = EvalKeys::from_bytes(&p, &mutated);
                let _ = Ciphertext::from_bytes(&p, &mutated);
                let _ = SecretKey::from_bytes(&p, &mutated);
                let cut_at = cut.index(bytes.len());
                prop_assert!(Ciphertext::from_bytes(&p, &bytes[..cut_at]).is_err());
                prop_assert!(EvalKeys::from_bytes(&p, &bytes[..cut_at]).is_err());
            }
        }
    }
}
