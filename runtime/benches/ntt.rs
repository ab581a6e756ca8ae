//! NTT benchmarks: forward + inverse negacyclic transform of one limb.
//!
//! IDs: `ntt/fwd+inv/logn=L/bits=B`.

#![allow(
    clippy::expect_used,
    reason = "benchmark setup on fixed, valid parameters"
)]

use blindfold_runtime::math::primes::PrimeGenerator;
use blindfold_runtime::math::{Modulus, NttPlan};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;

fn ntt(c: &mut Criterion) {
    let mut group = c.benchmark_group("ntt");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    for log_n in [13u32, 14, 15] {
        for bits in [40u32, 50, 60] {
            let n = 1usize << log_n;
            let q = PrimeGenerator::new(bits, n as u64)
                .and_then(|mut g| g.next_below(&[]))
                .expect("a prime of this size exists");
            let plan = NttPlan::try_new(n, Modulus::new(q).expect("valid modulus"))
                .expect("NTT-friendly prime");
            let mut data: Vec<u64> = (0..n as u64).map(|i| (i * 0x9e37_79b9) % q).collect();
            group.bench_function(format!("fwd+inv/logn={log_n}/bits={bits}"), |b| {
                b.iter(|| {
                    plan.forward(black_box(&mut data));
                    plan.inverse(black_box(&mut data));
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, ntt);
criterion_main!(benches);
