//! CKKS operation benchmarks at the parameters of the peer comparison (docs/benchmarks.md):
//! N = 2^13 with 2 levels (log QP = 180) and N = 2^14 with 7 levels (log QP = 430), scale 2^40,
//! all slots filled, fresh ciphertexts at the top level; each once on one thread and once on
//! all threads.
//!
//! IDs: `ckks/logn=L/levels=K/threads=T/<operation>`. Set `BLINDFOLD_BENCH_LOGN=13` (or 14) to
//! run one ring size only.

#![allow(
    clippy::expect_used,
    reason = "benchmark setup on fixed, valid parameters"
)]

use blindfold_runtime::ckks::{
    CkksParams, CkksParamsSpec, Decryptor, Encoder, Encryptor, EvalKeys, Evaluator, KeyGenerator,
    SecurityLevel,
};
use criterion::{criterion_group, criterion_main, Criterion};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

/// The same allocator as the `blindfold` binary, so that timings match what users see.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The benchmark chains: (log_n, q bits, p bits, dnum).
fn configs() -> Vec<(u32, Vec<u32>, Vec<u32>, usize)> {
    let all = vec![
        (13, vec![50, 40, 40], vec![50], 3),
        (14, vec![50, 40, 40, 40, 40, 40, 40, 40], vec![50, 50], 4),
    ];
    match std::env::var("BLINDFOLD_BENCH_LOGN")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        Some(only) => all.into_iter().filter(|c| c.0 == only).collect(),
        None => all,
    }
}

/// The rotation set of SEAL's default Galois keys: ±2^i for every power below the slot count.
fn power_of_two_steps(slots: usize) -> Vec<i64> {
    (0..slots.trailing_zeros())
        .flat_map(|i| [1i64 << i, -(1i64 << i)])
        .collect()
}

const EIGHT: [i64; 8] = [1, 2, 4, 8, 16, 32, 64, 128];

fn ckks(c: &mut Criterion) {
    let threads_all = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (log_n, q_bits, p_bits, dnum) in configs() {
        let spec = CkksParamsSpec::from_bits(
            log_n,
            &q_bits,
            &p_bits,
            dnum,
            40,
            SecurityLevel::Classical128,
        )
        .expect("benchmark chain");
        let params = CkksParams::new(spec).expect("benchmark parameters are secure");
        let levels = params.max_level();
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        let keygen = KeyGenerator::new(&params);
        let sk = keygen.secret_key(&mut rng);
        let pk = keygen.public_key(&sk, &mut rng);
        let evk: EvalKeys = keygen.eval_keys(&sk, true, &EIGHT, false, &mut rng);
        let eval = Evaluator::with_keys(&params, Arc::new(evk)).expect("keys match");
        let encoder = Encoder::new(&params);
        let values: Vec<f64> = (0..params.slots())
            .map(|i| ((i as f64) * 0.618).fract() * 2.0 - 1.0)
            .collect();
        let pt = encoder
            .encode(&values, levels, params.default_scale())
            .expect("encodable");
        let encryptor = Encryptor::with_public_key(&params, &pk).expect("key matches");
        let decryptor = Decryptor::new(&params, &sk).expect("key matches");
        let ct = encryptor.encrypt(&pt, &mut rng);
        let ct2 = encryptor.encrypt(&pt, &mut rng);
        let all_steps = power_of_two_steps(params.slots());

        for threads in [1usize, threads_all] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool");
            let mut group = c.benchmark_group(format!(
                "ckks/logn={log_n}/levels={levels}/threads={threads}"
            ));
            group
                .sample_size(20)
                .measurement_time(Duration::from_secs(2))
                .warm_up_time(Duration::from_millis(300));
            macro_rules! bench {
                ($name:expr, $body:expr) => {
                    group.bench_function($name, |b| b.iter(|| pool.install(|| $body)));
                };
            }
            bench!(
                "encode",
                encoder.encode(black_box(&values), levels, params.default_scale())
            );
            bench!("encrypt_pk", encryptor.encrypt(black_box(&pt), &mut rng));
            bench!("decrypt", decryptor.decrypt(black_box(&ct)));
            bench!(
                "decrypt+decode",
                encoder.decode(&decryptor.decrypt(black_box(&ct)))
            );
            bench!("mul_plain", eval.mul_plain(black_box(&ct), &pt));
            bench!(
                "mul+relin+rescale",
                eval.mul_relin_rescale(black_box(&ct), &ct2)
            );
            bench!("rotate_1", eval.rotate(black_box(&ct), 1));
            bench!(
                "rotate_8(steps 1..128)",
                EIGHT
                    .iter()
                    .map(|&k| eval.rotate(black_box(&ct), k))
                    .collect::<Result<Vec<_>, _>>()
            );
            bench!(
                "rotate_8_hoisted",
                eval.rotate_hoisted(black_box(&ct), &EIGHT)
            );
            bench!("keygen_relin", keygen.relin_key(&sk, &mut rng));
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(4));
            bench!(
                format!("keygen_rot({} keys, ±2^i)", all_steps.len()),
                keygen.eval_keys(&sk, false, &all_steps, false, &mut rng)
            );
            group.finish();
        }
    }
}

criterion_group!(benches, ckks);
criterion_main!(benches);
