//! Chebyshev polynomials by the plan of `circuit::chebyshev`: basis `T_i` computed on demand
//! (`T_i = 2 T_⌈i/2⌉ T_⌊i/2⌋ − T_{i mod 2}`), recursive splits `p = q·T_n + r` at the giant
//! powers, leaves evaluated as linear combinations. Zero coefficients are skipped.
//!
//! Every piece is evaluated straight at the level it must land on (the top one at exactly
//! `level − ChebyshevPoly::depth()`), never at a higher one to be brought down afterwards. A
//! piece unrolls into `Σ q_j·T_{n_j} + Σ c_i·T_i + c`: the remainders of its splits all land
//! where the piece lands, so their products are summed as tensors and share one
//! relinearization and one rescale ([`Rules::product_sum`]; lazy relinearization and
//! rescaling). Only the quotients `q_j`, which are multiplied again, and the basis are
//! relinearized on their own. A giant power needed below its own level is brought down once.

use super::rules::{Leveled, Rules};
use super::Backend;
use crate::circuit::chebyshev::{plan, product_rule, PolyPlan};
use crate::circuit::ChebyshevPoly;
use crate::error::{Result, RuntimeError};
use std::collections::HashMap;

/// `p(x)` slot-wise, at `x.level − p.depth()`.
pub(crate) fn evaluate<B: Backend>(
    rules: &Rules<'_, B>,
    p: &ChebyshevPoly,
    x: &Leveled<B::Value>,
) -> Result<Leveled<B::Value>> {
    let plan = plan(p.degree());
    let target = x
        .level
        .checked_sub(plan.depth)
        .ok_or(RuntimeError::LevelTooLow {
            op: "polynomial",
            needed: plan.depth,
            found: x.level,
        })?;
    let mut eval = PolyEval {
        rules,
        plan,
        basis: HashMap::from([(1, x.clone())]),
        lowered: HashMap::new(),
    };
    let sum = eval.piece(&p.coeffs, target)?;
    if sum.constant_only().is_some() {
        return Err(RuntimeError::InvalidCircuit {
            detail: "a polynomial of degree 0 (validation refuses it)".into(),
        });
    }
    eval.finish(&sum, target)
}

/// `Σ q_j·T_{n_j} + Σ c_i·T_i + c`, still to be evaluated: a piece of the polynomial unrolled
/// along its remainders. The quotients `q_j` are evaluated already, one level above where the
/// sum lands.
struct Sum<V> {
    products: Vec<(Leveled<V>, usize)>,
    terms: Vec<(f64, usize)>,
    constant: f64,
}

impl<V> Sum<V> {
    fn constant(c: f64) -> Self {
        Self {
            products: Vec::new(),
            terms: Vec::new(),
            constant: c,
        }
    }

    /// The constant, when the sum has no other term.
    fn constant_only(&self) -> Option<f64> {
        (self.products.is_empty() && self.terms.is_empty()).then_some(self.constant)
    }
}

struct PolyEval<'a, 'r, B: Backend> {
    rules: &'a Rules<'r, B>,
    plan: PolyPlan,
    /// `T_i` computed so far, at the level its computation lands on (`T_1 = x`).
    basis: HashMap<usize, Leveled<B::Value>>,
    /// `T_i` brought down to a lower level, by `(i, level)`.
    lowered: HashMap<(usize, usize), Leveled<B::Value>>,
}

impl<B: Backend> PolyEval<'_, '_, B> {
    /// Computes `T_i` (and its factors) if not yet known: `2·(T_a·T_b − T_{a−b}/2)`, one
    /// product sum at the lower level of the factors.
    fn ensure(&mut self, i: usize) -> Result<()> {
        if i == 0 || self.basis.contains_key(&i) {
            return Ok(());
        }
        let (a, b) = product_rule(i);
        self.ensure(a)?;
        self.ensure(b)?;
        self.ensure(a - b)?;
        let level = self.t(a)?.level.min(self.t(b)?.level);
        let target = level.checked_sub(1).ok_or(RuntimeError::LevelTooLow {
            op: "polynomial",
            needed: 1,
            found: 0,
        })?;
        self.ensure_at(a, level)?;
        self.ensure_at(b, level)?;
        let rules = self.rules;
        let pair = (self.at(a, level)?, self.at(b, level)?);
        let half = if a == b {
            rules.product_sum(&[pair], &[], -0.5, target)?
        } else {
            rules.product_sum(&[pair], &[(-0.5, self.t(a - b)?)], 0.0, target)?
        };
        let t = rules.double(&half)?;
        self.basis.insert(i, t);
        Ok(())
    }

    /// Computes `T_i` at `level` (at most its own) if not yet known.
    fn ensure_at(&mut self, i: usize, level: usize) -> Result<()> {
        self.ensure(i)?;
        let own = self.t(i)?;
        if own.level == level || self.lowered.contains_key(&(i, level)) {
            return Ok(());
        }
        let down = self.rules.level_down(own, level)?;
        self.lowered.insert((i, level), down);
        Ok(())
    }

    fn t(&self, i: usize) -> Result<&Leveled<B::Value>> {
        self.basis
            .get(&i)
            .ok_or_else(|| RuntimeError::InvalidCircuit {
                detail: format!("T_{i} was not computed (executor bug)"),
            })
    }

    /// `T_i` at `level`, computed by [`Self::ensure_at`].
    fn at(&self, i: usize, level: usize) -> Result<&Leveled<B::Value>> {
        let own = self.t(i)?;
        if own.level == level {
            return Ok(own);
        }
        self.lowered
            .get(&(i, level))
            .ok_or_else(|| RuntimeError::InvalidCircuit {
                detail: format!("T_{i} was not brought to level {level} (executor bug)"),
            })
    }

    /// `Σ c_i T_i` unrolled into a sum landing at `target`.
    fn piece(&mut self, coeffs: &[f64], target: usize) -> Result<Sum<B::Value>> {
        let Some(degree) = coeffs.iter().rposition(|&c| c != 0.0) else {
            return Ok(Sum::constant(0.0));
        };
        if degree == 0 {
            return Ok(Sum::constant(coeffs[0]));
        }
        let Some(n) = self.plan.split_at(degree) else {
            return Ok(Sum {
                products: Vec::new(),
                terms: (1..=degree)
                    .filter(|&i| coeffs[i] != 0.0)
                    .map(|i| (coeffs[i], i))
                    .collect(),
                constant: coeffs[0],
            });
        };
        self.split(&coeffs[..=degree], n, target)
    }

    /// `p = q·T_n + r` with `q_0 = c_n`, `q_i = 2 c_{n+i}`, `r_i = c_i − c_{2n−i}`: `r`'s sum
    /// with `q·T_n` added, `q` evaluated one level above `target`.
    fn split(&mut self, coeffs: &[f64], n: usize, target: usize) -> Result<Sum<B::Value>> {
        let top = coeffs.len() - 1 - n;
        let mut q = Vec::with_capacity(top + 1);
        q.push(coeffs[n]);
        let mut r = coeffs[..n].to_vec();
        for i in 1..=top {
            q.push(2.0 * coeffs[n + i]);
            r[n - i] -= coeffs[n + i];
        }
        let mut sum = self.piece(&r, target)?;
        let q = self.piece(&q, target + 1)?;
        match q.constant_only() {
            Some(c) => {
                if c != 0.0 {
                    sum.terms.push((c, n));
                }
            }
            None => {
                let value = self.finish(&q, target + 1)?;
                sum.products.push((value, n));
            }
        }
        Ok(sum)
    }

    /// Evaluates a sum at `target`: one relinearization (when it has products) and one rescale.
    fn finish(&mut self, sum: &Sum<B::Value>, target: usize) -> Result<Leveled<B::Value>> {
        let above = target + 1;
        for &(_, i) in &sum.terms {
            self.ensure(i)?;
        }
        for &(_, n) in &sum.products {
            self.ensure_at(n, above)?;
        }
        let pairs = sum
            .products
            .iter()
            .map(|(q, n)| Ok((q, self.at(*n, above)?)))
            .collect::<Result<Vec<_>>>()?;
        let terms = sum
            .terms
            .iter()
            .map(|&(c, i)| Ok((c, self.t(i)?)))
            .collect::<Result<Vec<_>>>()?;
        self.rules.product_sum(&pairs, &terms, sum.constant, target)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::exec::{CostBackend, SlotBackend};

    /// Generic (all non-zero, no cancellation) coefficients.
    fn coeffs(d: usize) -> Vec<f64> {
        (0..=d).map(|i| 0.3 + 0.7 / (i as f64 + 1.5)).collect()
    }

    #[test]
    fn every_degree_lands_at_the_planned_depth_with_the_right_value() {
        let backend = SlotBackend::new(8);
        let rules = Rules::new(&backend);
        let top = 12;
        let x = Leveled {
            value: vec![0.25; 8],
            level: top,
        };
        for d in 1..=260usize {
            for p in [
                ChebyshevPoly { coeffs: coeffs(d) },
                ChebyshevPoly { coeffs: even(d) },
            ] {
                let out = evaluate(&rules, &p, &x).unwrap();
                assert_eq!(out.level, top - plan(d).depth, "degree {d}");
                assert!((out.value[0] - p.eval(0.25)).abs() < 1e-12, "degree {d}");
            }
        }
    }

    /// A ReLU's coefficients: even ones and `T_1`.
    fn even(d: usize) -> Vec<f64> {
        let mut c = coeffs(d);
        for (i, c) in c.iter_mut().enumerate() {
            if i % 2 == 1 && i > 1 {
                *c = 0.0;
            }
        }
        c
    }

    #[test]
    fn remainders_share_relinearizations_and_rescales() {
        // A degree-126 ReLU (cifar10_relu): 37 products. Relinearizing and rescaling each one,
        // and bringing remainders down to their sum's level, took 37 key switches and 100
        // rescales; 22 and 48 now.
        let backend = CostBackend::new(8);
        let rules = Rules::new(&backend);
        let x = Leveled {
            value: (),
            level: 30,
        };
        let out = evaluate(&rules, &ChebyshevPoly { coeffs: even(126) }, &x).unwrap();
        assert_eq!(out.level, 23);
        let counts = backend.counts();
        assert_eq!(counts.ct_mults, 37);
        assert!(counts.relinearizations <= 22, "{counts:?}");
        assert!(counts.rescales <= 48, "{counts:?}");
    }

    #[test]
    fn products_are_the_planned_ones() {
        for d in 1..=64usize {
            let backend = CostBackend::new(8);
            let rules = Rules::new(&backend);
            let x = Leveled {
                value: (),
                level: 10,
            };
            let p = ChebyshevPoly { coeffs: coeffs(d) };
            evaluate(&rules, &p, &x).unwrap();
            let counts = backend.counts();
            assert_eq!(counts.ct_mults as usize, plan(d).mults, "degree {d}");
        }
    }

    #[test]
    fn too_few_levels_is_an_error() {
        let backend = SlotBackend::new(4);
        let rules = Rules::new(&backend);
        let x = Leveled {
            value: vec![0.5; 4],
            level: 2,
        };
        let p = ChebyshevPoly { coeffs: coeffs(7) };
        assert!(matches!(
            evaluate(&rules, &p, &x),
            Err(RuntimeError::LevelTooLow { needed: 3, .. })
        ));
    }
}
