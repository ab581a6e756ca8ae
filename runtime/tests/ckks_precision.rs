//! Every evaluator operation against the same computation in f64, reported in bits of
//! precision (`-log2(max |error|)` over all slots, values in [-1, 1], scale 2^40). All parameter
//! sets are 128-bit secure. Thresholds sit 1 to 1.5 bits below the measured precision
//! (docs/ckks.md lists the measurements).

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use blindfold_runtime::ckks::{
    Ciphertext, CkksParams, CkksParamsSpec, Decryptor, Encoder, Encryptor, Evaluator, KeyGenerator,
    SecretKey, SecurityLevel,
};
use blindfold_runtime::RuntimeError;
use num_complex::Complex64;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::sync::Arc;

struct Setup {
    params: CkksParams,
    encoder: Encoder,
    sk: SecretKey,
    eval: Evaluator,
    encryptor_pk: blindfold_runtime::ckks::PublicKey,
    rng: ChaCha20Rng,
}

impl Setup {
    fn new(log_n: u32, q_bits: &[u32], p_bits: &[u32], dnum: usize, rotations: &[i64]) -> Self {
        let spec =
            CkksParamsSpec::from_bits(log_n, q_bits, p_bits, dnum, 40, SecurityLevel::Classical128)
                .unwrap();
        let params = CkksParams::new(spec).unwrap();
        let mut rng = ChaCha20Rng::from_seed([42; 32]);
        let keygen = KeyGenerator::new(&params);
        let sk = keygen.secret_key(&mut rng);
        let pk = keygen.public_key(&sk, &mut rng);
        let evk = keygen.eval_keys(&sk, true, rotations, true, &mut rng);
        let eval = Evaluator::with_keys(&params, Arc::new(evk)).unwrap();
        Self {
            encoder: Encoder::new(&params),
            params,
            sk,
            eval,
            encryptor_pk: pk,
            rng,
        }
    }

    fn values(&self, seed: u64) -> Vec<f64> {
        (0..self.params.slots())
            .map(|i| {
                // A multiplicative hash: the product wraps modulo 2^64 on purpose.
                let x = ((i as u64 + 1) * (seed * 2 + 1)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11;
                (x as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    fn encrypt(&mut self, values: &[f64]) -> Ciphertext {
        let pt = self
            .encoder
            .encode(values, self.params.max_level(), self.params.default_scale())
            .unwrap();
        Encryptor::with_public_key(&self.params, &self.encryptor_pk)
            .unwrap()
            .encrypt(&pt, &mut self.rng)
    }

    fn decrypt(&self, ct: &Ciphertext) -> Vec<f64> {
        let dec = Decryptor::new(&self.params, &self.sk).unwrap();
        self.encoder.decode(&dec.decrypt(ct))
    }

    fn precision_bits(&self, ct: &Ciphertext, expect: &[f64]) -> f64 {
        let got = self.decrypt(ct);
        let max = expect
            .iter()
            .zip(&got)
            .map(|(e, g)| (e - g).abs())
            .fold(0.0f64, f64::max);
        -max.log2()
    }
}

fn small() -> Setup {
    Setup::new(13, &[50, 40, 40], &[50], 3, &[1, -1, 5, 100, -4095, 4000])
}

#[test]
fn encrypt_decrypt_public_and_secret_key_logn13() {
    let mut s = small();
    let v = s.values(1);
    let ct = s.encrypt(&v);
    let bits = s.precision_bits(&ct, &v);
    assert!(bits >= 22.0, "public-key encryption: {bits:.1} bits");
    let pt = s.encoder.encode(&v, 1, s.params.default_scale()).unwrap();
    let ct = Encryptor::with_secret_key(&s.params, &s.sk)
        .unwrap()
        .encrypt(&pt, &mut s.rng);
    assert_eq!(ct.level(), 1);
    let bits = s.precision_bits(&ct, &v);
    assert!(
        bits >= 29.0,
        "secret-key encryption at level 1: {bits:.1} bits"
    );
}

#[test]
fn additions_and_plaintext_ops_logn13() {
    let mut s = small();
    let (a, b) = (s.values(1), s.values(2));
    let (ca, cb) = (s.encrypt(&a), s.encrypt(&b));
    let e = &s.eval;
    let sum: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    let diff: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    let neg: Vec<f64> = a.iter().map(|x| -x).collect();
    assert!(s.precision_bits(&e.add(&ca, &cb).unwrap(), &sum) >= 22.0);
    assert!(s.precision_bits(&e.sub(&ca, &cb).unwrap(), &diff) >= 22.0);
    assert!(s.precision_bits(&e.neg(&ca), &neg) >= 22.0);

    let level = s.params.max_level();
    let scale = s.params.default_scale();
    let pb = s.encoder.encode(&b, level, scale).unwrap();
    assert!(s.precision_bits(&e.add_plain(&ca, &pb).unwrap(), &sum) >= 22.0);
    assert!(s.precision_bits(&e.sub_plain(&ca, &pb).unwrap(), &diff) >= 22.0);

    let prod: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
    let mut cp = e.mul_plain(&ca, &pb).unwrap();
    e.rescale_assign(&mut cp).unwrap();
    assert_eq!(cp.level(), level - 1);
    assert!(s.precision_bits(&cp, &prod) >= 22.0);

    let shifted: Vec<f64> = a.iter().map(|x| x + 0.75).collect();
    assert!(s.precision_bits(&e.add_const(&ca, 0.75).unwrap(), &shifted) >= 22.0);
    let tripled: Vec<f64> = a.iter().map(|x| 3.0 * x).collect();
    let c3 = e.mul_const(&ca, 3.0, 1.0).unwrap();
    assert_eq!(c3.level(), level, "an integer constant needs no rescale");
    assert!(s.precision_bits(&c3, &tripled) >= 20.5);
    let scaled: Vec<f64> = a.iter().map(|x| -0.3 * x).collect();
    let c = e.rescale(&e.mul_const(&ca, -0.3, scale).unwrap()).unwrap();
    assert!(s.precision_bits(&c, &scaled) >= 22.0);
}

#[test]
fn mul_relin_rescale_chain_depth5_keeps_20_bits_logn14() {
    // q0 = 60 bits, five 40-bit levels, two 50-bit special primes: log QP = 360 <= 438.
    let mut s = Setup::new(14, &[60, 40, 40, 40, 40, 40], &[50, 50], 3, &[]);
    let v = s.values(3);
    // Values in [0.5, 1] keep the product of six factors away from zero.
    let v: Vec<f64> = v.iter().map(|x| 0.75 + x / 4.0).collect();
    let mut ct = s.encrypt(&v);
    let mut expect = v.clone();
    for depth in 1..=5 {
        // Multiply by a fresh encryption made at the running level and exact scale.
        let pt = s.encoder.encode(&v, ct.level(), ct.scale()).unwrap();
        let other = Encryptor::with_public_key(&s.params, &s.encryptor_pk)
            .unwrap()
            .encrypt(&pt, &mut s.rng);
        ct = s.eval.mul_relin_rescale(&ct, &other).unwrap();
        for (e, x) in expect.iter_mut().zip(&v) {
            *e *= x;
        }
        let bits = s.precision_bits(&ct, &expect);
        assert!(bits >= 20.0, "depth {depth}: {bits:.1} bits");
        assert_eq!(ct.level(), 5 - depth);
    }
}

#[test]
fn rotations_by_positive_and_negative_steps_logn13() {
    let mut s = small();
    let v = s.values(4);
    let ct = s.encrypt(&v);
    let slots = s.params.slots() as i64;
    for step in [1i64, -1, 5, 100, -4095, 4000] {
        let rotated: Vec<f64> = (0..slots)
            .map(|j| v[(j + step).rem_euclid(slots) as usize])
            .collect();
        let out = s.eval.rotate(&ct, step).unwrap();
        let bits = s.precision_bits(&out, &rotated);
        assert!(bits >= 22.0, "step {step}: {bits:.1} bits");
    }
}

#[test]
fn hoisted_rotations_equal_plain_rotations_logn13() {
    let mut s = small();
    let v = s.values(5);
    let ct = s.encrypt(&v);
    let steps = [1i64, 0, 5, -1, 100];
    let hoisted = s.eval.rotate_hoisted(&ct, &steps).unwrap();
    for (step, h) in steps.iter().zip(&hoisted) {
        // Exact basis conversion makes the automorphism commute with ModUp exactly, so sharing
        // the decomposition changes nothing: the ciphertexts are identical.
        let plain = s.eval.rotate(&ct, *step).unwrap();
        assert!(
            *h == plain,
            "step {step}: hoisted rotation differs from the plain one"
        );
        let slots = s.params.slots() as i64;
        let expect: Vec<f64> = (0..slots)
            .map(|j| v[(j + step).rem_euclid(slots) as usize])
            .collect();
        assert!(s.precision_bits(h, &expect) >= 22.0);
    }
}

#[test]
fn fused_plaintext_product_sums_equal_term_by_term_logn13() {
    let mut s = small();
    let (a, b, c) = (s.values(1), s.values(2), s.values(3));
    let (ca, cb) = (s.encrypt(&a), s.encrypt(&b));
    let level = s.params.max_level();
    let scale = s.params.default_scale();
    let pc = s.encoder.encode(&c, level, scale).unwrap();
    let pa = s.encoder.encode(&a, level, scale).unwrap();
    let e = &s.eval;
    let fused = e.mul_plain_sum(&[(&ca, &pc), (&cb, &pa)]).unwrap();
    let mut sequential = e.mul_plain(&ca, &pc).unwrap();
    e.add_assign(&mut sequential, &e.mul_plain(&cb, &pa).unwrap())
        .unwrap();
    // Modular arithmetic is exact: the same ciphertext, bit for bit.
    assert!(fused == sequential);
    let expect: Vec<f64> = (0..a.len()).map(|i| a[i] * c[i] + b[i] * a[i]).collect();
    assert!(s.precision_bits(&e.rescale(&fused).unwrap(), &expect) >= 22.0);
    assert!(e.mul_plain_sum(&[]).is_err());
}

/// `Σ rot(ct_i, step_i)` with one ModDown against the rotations one by one, with one 50-bit
/// special prime and with the 60-bit special prime the compiler picks (whose residues take the
/// split path of the vectorised basis conversion).
#[test]
fn rotation_sums_equal_sums_of_rotations_logn13() {
    for p_bits in [50u32, 60] {
        let mut s = Setup::new(13, &[50, 40, 40], &[p_bits], 3, &[1, 5, 100]);
        let (a, b) = (s.values(4), s.values(5));
        let (ca, cb) = (s.encrypt(&a), s.encrypt(&b));
        let terms = [(&ca, 1i64), (&cb, 5), (&ca, 0), (&cb, 100)];
        let fused = s.eval.rotate_sum(&terms).unwrap();
        let mut sum = s.eval.rotate(&ca, 1).unwrap();
        for &(ct, step) in &terms[1..] {
            s.eval
                .add_assign(&mut sum, &s.eval.rotate(ct, step).unwrap())
                .unwrap();
        }
        let slots = a.len();
        let expect: Vec<f64> = (0..slots)
            .map(|j| a[(j + 1) % slots] + b[(j + 5) % slots] + a[j] + b[(j + 100) % slots])
            .collect();
        let fused_bits = s.precision_bits(&fused, &expect);
        let sum_bits = s.precision_bits(&sum, &expect);
        assert!(
            fused_bits >= 21.0,
            "p = {p_bits} bits: {fused_bits:.1} bits"
        );
        assert!(sum_bits >= 21.0, "p = {p_bits} bits: {sum_bits:.1} bits");
        assert!(s.eval.rotate_sum(&[]).is_err());
    }
}

#[test]
fn conjugation_logn13() {
    let mut s = small();
    let values: Vec<Complex64> = (0..s.params.slots())
        .map(|i| Complex64::new((i as f64 * 0.01).sin(), (i as f64 * 0.02).cos()))
        .collect();
    let pt = s
        .encoder
        .encode_complex(&values, s.params.max_level(), s.params.default_scale())
        .unwrap();
    let ct = Encryptor::with_secret_key(&s.params, &s.sk)
        .unwrap()
        .encrypt(&pt, &mut s.rng);
    let conj = s.eval.conjugate(&ct).unwrap();
    let dec = Decryptor::new(&s.params, &s.sk).unwrap();
    let out = s.encoder.decode_complex(&dec.decrypt(&conj));
    let max = values
        .iter()
        .zip(&out)
        .map(|(v, o)| (v.conj() - o).norm())
        .fold(0.0, f64::max);
    assert!(-max.log2() >= 23.5, "conjugation error {max:e}");
}

#[test]
fn mismatches_and_missing_keys_are_errors_logn13() {
    let mut s = small();
    let v = s.values(6);
    let ct = s.encrypt(&v);
    let lower = s.eval.drop_to_level(&ct, 1).unwrap();
    assert!(matches!(
        s.eval.add(&ct, &lower),
        Err(RuntimeError::LevelMismatch { lhs: 2, rhs: 1 })
    ));
    let mut rescaled_scale = ct.clone();
    rescaled_scale.set_scale(ct.scale() * 2.0);
    assert!(matches!(
        s.eval.add(&ct, &rescaled_scale),
        Err(RuntimeError::ScaleMismatch { .. })
    ));
    let err = s.eval.rotate(&ct, 7).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no rotation key for rotation by 7 (Galois element 12589); generate evaluation keys including it"
    );
    let three = s.eval.mul(&ct, &ct).unwrap();
    assert!(matches!(
        s.eval.rotate(&three, 1),
        Err(RuntimeError::NotRelinearized { parts: 3, .. })
    ));
    let at0 = s.eval.drop_to_level(&ct, 0).unwrap();
    assert!(matches!(
        s.eval.rescale(&at0),
        Err(RuntimeError::LevelTooLow { .. })
    ));
    let keyless = Evaluator::new(&s.params);
    assert!(matches!(
        keyless.relinearize(&three),
        Err(RuntimeError::MissingRelinKey)
    ));
    assert!(s.eval.drop_to_level(&at0, 2).is_err());
}

/// `(Σ a_i ⊙ b_i + linear + c) / q_l` with one key switch fused with the rescale, against the
/// same sum with each product relinearized and rescaled on its own, with a 50-bit and a 60-bit
/// special prime (the second takes the split path of the vectorised basis conversion).
#[test]
fn product_sums_share_one_relinearization_and_rescale_logn13() {
    for (p_bits, dnum) in [(50u32, 3usize), (60, 3)] {
        let mut s = Setup::new(13, &[50, 40, 40], &[p_bits], dnum, &[]);
        let (a, b, c) = (s.values(6), s.values(7), s.values(8));
        let (ca, cb, cc) = (s.encrypt(&a), s.encrypt(&b), s.encrypt(&c));
        let e = &s.eval;
        let linear = e.mul_const(&cc, 0.5, cb.scale()).unwrap();
        let fused = e
            .mul_sum_rescale(&[(&ca, &cb), (&cb, &cc)], Some(&linear), 0.25)
            .unwrap();
        assert_eq!(fused.level(), s.params.max_level() - 1);
        let mut sequential = e.mul_relin_rescale(&ca, &cb).unwrap();
        e.add_assign(&mut sequential, &e.mul_relin_rescale(&cb, &cc).unwrap())
            .unwrap();
        let expect: Vec<f64> = (0..a.len())
            .map(|i| a[i] * b[i] + b[i] * c[i] + 0.5 * c[i] + 0.25)
            .collect();
        let fused_bits = s.precision_bits(&fused, &expect);
        let products: Vec<f64> = (0..a.len()).map(|i| a[i] * b[i] + b[i] * c[i]).collect();
        let sequential_bits = s.precision_bits(&sequential, &products);
        assert!(
            fused_bits >= 20.0,
            "p = {p_bits} bits, dnum {dnum}: {fused_bits:.1} bits"
        );
        assert!(
            fused_bits >= sequential_bits - 1.0,
            "p = {p_bits} bits, dnum {dnum}: {fused_bits:.1} against {sequential_bits:.1} bits"
        );
        let two_part = e
            .relinearize_rescale(&e.mul_relin(&ca, &cb).unwrap())
            .unwrap();
        let ab: Vec<f64> = (0..a.len()).map(|i| a[i] * b[i]).collect();
        assert!(s.precision_bits(&two_part, &ab) >= 20.0);
        assert!(e.mul_sum_rescale(&[], None, 0.0).is_err());
    }
}
