//! Choice of the CKKS parameters from the circuit's depth, the scale and the security level.
//!
//! The chain is `q_0` (the scale plus the integer headroom the outputs need, so decryption
//! never wraps), then one prime of `scale_bits` per level, then the special primes of hybrid
//! key switching, at least as large as the largest key-switching digit. The ring degree is the
//! smallest whose security bound admits the chain; among the digit counts that fit, the one
//! with the fewest digits (smallest keys, fewest key-switching products) wins.

use crate::error::{CompileError, Result};
use blindfold_runtime::ckks::{CkksParamsSpec, SecurityLevel};

/// Scales (in bits) the compiler accepts.
pub const SCALE_BITS: std::ops::RangeInclusive<u32> = 20..=58;
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

/// Checks a user-given scale before anything is compiled.
pub fn check_scale_bits(scale_bits: u32) -> Result<()> {
    if SCALE_BITS.contains(&scale_bits) {
        Ok(())
    } else {
        Err(CompileError::Options(format!(
            "--scale-bits {scale_bits} is outside {}..={}: below 20 bits the encryption noise swamps the \
             values, above 58 the primes no longer fit 64-bit words; the default is 40",
            SCALE_BITS.start(),
            SCALE_BITS.end()
        )))
    }
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
