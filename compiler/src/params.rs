//! Choice of the CKKS parameters from the circuit's depth, the scale and the security level.
//!
//! The chain is `q_0` (the scale plus the integer headroom the outputs need, so decryption
//! never wraps), then one prime of `scale_bits` per level, then the special primes of hybrid
//! key switching, at least as large as the largest key-switching digit. The ring degree is the
//! smallest whose security bound admits the chain; among the digit counts that fit, the one
//! with the fewest digits (smallest keys, fewest key-switching products) wins.

use crate::error::{CompileError, Result};
use blindfold_runtime::ckks::{CkksParamsSpec, SecurityLevel};
use blindfold_runtime::exec::scale_ladder;
use blindfold_runtime::math::primes::is_ntt_prime;

/// Scales (in bits) the compiler accepts.
pub const SCALE_BITS: std::ops::RangeInclusive<u32> = 20..=58;
/// Scale primes are re-picked to track the ladder ([`track_scale`]) only below this size.
const TRACKED_SCALE_BITS: u32 = 50;
/// Largest prime size used (the runtime's primes stay below 2^61).
const MAX_PRIME_BITS: u32 = 60;

/// What the parameters must support.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamsRequest {
    /// Levels the circuit consumes.
    pub depth: usize,
    /// log2 of the scale (the founding paper's "bit scale").
    pub scale_bits: u32,
    /// log2 of the largest magnitude the outputs may reach (from calibration, with margin).
    pub headroom_bits: u32,
    /// Security level.
    pub security: SecurityLevel,
    /// Smallest ring degree to consider (e.g. to fit a packing); 12 by default.
    pub min_log_n: u32,
}

/// Relative cost of one inference step at these parameters: the residue count of the
/// polynomials an operation touches, with a key switch (dnum digits raised to Q·P) weighted as
/// the dominant operation. Used to trade a larger ring degree against more digits: at the
/// security bound, a smaller ring may only fit with one prime per digit, whose keys and key
/// switches cost more than the larger ring's.
fn cost_estimate(log_n: u32, limbs: usize, dnum: usize, p_count: usize) -> f64 {
    let n = (1u64 << log_n) as f64;
    n * (log_n as f64) * (limbs as f64 + dnum as f64 * (limbs + p_count) as f64)
}

/// The relative cost of a parameter set (see `cost_estimate`): compares candidates of the
/// automatic scale choice.
pub fn relative_cost(spec: &CkksParamsSpec) -> f64 {
    cost_estimate(spec.log_n, spec.q.len(), spec.dnum, spec.p.len())
}

/// Checks a user-given scale before anything is compiled.
pub fn check_scale_bits(scale_bits: u32) -> Result<()> {
    if SCALE_BITS.contains(&scale_bits) {
        Ok(())
    } else {
        Err(CompileError::Options(format!(
            "--scale-bits {scale_bits} is outside {}..={}: below 20 bits the encryption noise swamps the \
             values, above 58 the primes no longer fit 64-bit words; without it the scale is chosen automatically",
            SCALE_BITS.start(),
            SCALE_BITS.end()
        )))
    }
}

/// The NTT-friendly prime (`≡ 1 mod 2N`) nearest to `target` that is not in `used`, searched
/// within `window` candidates on each side.
fn nearest_prime(target: f64, n: u64, used: &[u64], window: u64) -> Option<u64> {
    let step = 2 * n;
    let k0 = ((target - 1.0) / step as f64).round().max(1.0) as u64;
    (0..=window)
        .flat_map(|d| [k0.checked_add(d), k0.checked_sub(d)])
        .flatten()
        .filter(|&k| k > 0)
        .filter_map(|k| k.checked_mul(step)?.checked_add(1))
        .filter(|q| !used.contains(q))
        .find(|&q| is_ntt_prime(q, n))
}

/// Re-picks the scale primes `q_1 … q_L` so that the scale ladder of the executor
/// (`Δ_{l−1} = Δ_l² / q_l`, `Δ_L = 2^log_scale`) stays at `2^log_scale`: each `q_l` is the
/// unused NTT-friendly prime nearest to `Δ_l² / 2^log_scale`. Primes alternating around the
/// power of two are not enough for deep circuits: the relative deviations double at every level,
/// and at 24 to 40 bits with `N = 2^15 … 2^16` (few primes `≡ 1 mod 2N` of that size) the ladder
/// left the modulus after about 20 levels. Tracking keeps every deviation at one prime spacing,
/// without accumulation. Returns `None` when no prime is near enough.
fn track_scale(spec: &CkksParamsSpec) -> Option<CkksParamsSpec> {
    let n = 1u64 << spec.log_n;
    let target_scale = f64::from(spec.log_scale).exp2();
    let mut out = spec.clone();
    let mut used: Vec<u64> = vec![out.q[0]];
    used.extend(&out.p);
    let mut scale = target_scale;
    for l in (1..out.q.len()).rev() {
        let q = nearest_prime(scale * scale / target_scale, n, &used, 4096)?;
        used.push(q);
        out.q[l] = q;
        scale = scale * scale / q as f64;
    }
    // The scale stays within a factor 2 of the target.
    (!ladder_drifts(&out)).then_some(out)
}

/// Whether some scale `Δ_l` of the executor's ladder is off `2^log_scale` by more than a
/// factor of 2 (then the scale primes are re-picked by [`track_scale`]).
fn ladder_drifts(spec: &CkksParamsSpec) -> bool {
    let target = f64::from(spec.log_scale);
    scale_ladder(spec, spec.q.len().saturating_sub(1))
        .iter()
        .any(|d| !(d.is_finite() && *d > 0.0 && (d.log2() - target).abs() < 1.0))
}

/// The smallest secure parameter set for the request.
pub fn choose(req: &ParamsRequest) -> Result<CkksParamsSpec> {
    check_scale_bits(req.scale_bits)?;
    let q0_bits =
        (req.scale_bits + req.headroom_bits + 2).clamp(req.scale_bits + 1, MAX_PRIME_BITS);
    let mut q_bits = vec![q0_bits];
    q_bits.extend(std::iter::repeat_n(req.scale_bits, req.depth));
    let limbs = q_bits.len();
    let log_q: u32 = q_bits.iter().sum();
    let mut best_needed = u32::MAX;
    let mut best: Option<(f64, CkksParamsSpec)> = None;
    let mut prime_shortage = None;
    for log_n in req.min_log_n.max(12)..=16 {
        let Some(bound) = req.security.max_log_qp(log_n) else {
            continue;
        };
        for dnum in 1..=limbs {
            let alpha = limbs.div_ceil(dnum);
            let digit_bits: u32 = q_bits
                .chunks(alpha)
                .map(|c| c.iter().sum::<u32>())
                .max()
                .unwrap_or(0);
            let p_count = digit_bits.div_ceil(MAX_PRIME_BITS) as usize;
            let log_qp = log_q + p_count as u32 * MAX_PRIME_BITS;
            best_needed = best_needed.min(log_qp);
            if log_qp > bound + 1 {
                continue;
            }
            // The primes alternate around 2^scale_bits: only the real chain tells whether
            // the bound holds. A ring without enough primes of that size is skipped.
            let p_bits = vec![MAX_PRIME_BITS; p_count];
            let spec = match CkksParamsSpec::from_bits(
                log_n,
                &q_bits,
                &p_bits,
                dnum,
                req.scale_bits,
                req.security,
            ) {
                Ok(spec) => spec,
                Err(e) => {
                    prime_shortage = Some(e);
                    break;
                }
            };
            // Above 2^49 the NTT of the runtime orders some primes differently, so only the
            // alternating primes of `from_bits` are known to work together there.
            let spec = if req.scale_bits < TRACKED_SCALE_BITS && ladder_drifts(&spec) {
                track_scale(&spec).unwrap_or(spec)
            } else {
                spec
            };
            if spec.log_qp() > f64::from(bound) {
                continue;
            }
            let cost = cost_estimate(log_n, limbs, dnum, p_count);
            if best.as_ref().is_none_or(|b| cost < b.0) {
                best = Some((cost, spec));
            }
            // Larger dnum only adds key-switching work at this ring degree.
            break;
        }
    }
    if let Some((_, spec)) = best {
        return Ok(spec);
    }
    if let Some(e) = prime_shortage {
        return Err(CompileError::Options(format!(
            "no secure ring degree has enough primes for {} levels at {}-bit scale ({e}); raise --scale-bits",
            req.depth, req.scale_bits
        )));
    }
    let bound16 = req.security.max_log_qp(16).unwrap_or(0);
    Err(CompileError::TooDeep {
        depth: req.depth,
        scale_bits: req.scale_bits,
        log_qp: best_needed,
        bound: bound16,
        security: req.security.bits(),
    })
}
