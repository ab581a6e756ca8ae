//! Chebyshev polynomials by the plan of `circuit::chebyshev`: basis `T_i` computed on demand
//! (`T_i = 2 T_⌈i/2⌉ T_⌊i/2⌋ − T_{i mod 2}`, the doubling an addition), recursive splits
//! `p = q·T_n + r` at the giant powers, and leaves evaluated as one linear combination each.
//! Zero coefficients are skipped; the result is brought down to exactly
//! `level − ChebyshevPoly::depth()` when sparsity left it higher.

use super::rules::{Leveled, Rules};
use super::Backend;
use crate::circuit::chebyshev::{plan, product_rule, PolyPlan};
use crate::circuit::ChebyshevPoly;
use crate::error::{Result, RuntimeError};
use std::collections::HashMap;

/// An evaluated piece: a constant (no ciphertext) or a value.
enum Piece<V> {
    Const(f64),
    Value(Leveled<V>),
}

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
    };
    let out = match eval.piece(&p.coeffs)? {
        Piece::Value(v) => v,
        Piece::Const(_) => {
            return Err(RuntimeError::InvalidCircuit {
                detail: "a polynomial of degree 0 (validation refuses it)".into(),
            })
        }
    };
    if out.level < target {
        return Err(RuntimeError::InvalidCircuit {
            detail: format!(
                "a polynomial of degree {} landed at level {}, below the planned {target} \
                 (executor bug)",
                p.degree(),
                out.level
            ),
        });
    }
    rules.level_down(&out, target)
}

struct PolyEval<'a, 'r, B: Backend> {
    rules: &'a Rules<'r, B>,
    plan: PolyPlan,
    /// `T_i` computed so far (`T_1 = x`).
    basis: HashMap<usize, Leveled<B::Value>>,
}

impl<B: Backend> PolyEval<'_, '_, B> {
    /// Computes `T_i` (and its factors) if not yet known.
    fn ensure(&mut self, i: usize) -> Result<()> {
        if i == 0 || self.basis.contains_key(&i) {
            return Ok(());
        }
        let (a, b) = product_rule(i);
        self.ensure(a)?;
        self.ensure(b)?;
        let rules = self.rules;
        let product = rules.mul(self.t(a)?, self.t(b)?)?;
        let doubled = rules.double(&product)?;
        let t = if a == b {
            rules.add_const(&doubled, -1.0)?
        } else {
            rules.sub(&doubled, self.t(a - b)?)?
        };
        self.basis.insert(i, t);
        Ok(())
    }

    fn t(&self, i: usize) -> Result<&Leveled<B::Value>> {
        self.basis
            .get(&i)
            .ok_or_else(|| RuntimeError::InvalidCircuit {
                detail: format!("T_{i} was not computed (executor bug)"),
            })
    }

    /// `Σ c_i T_i`.
    fn piece(&mut self, coeffs: &[f64]) -> Result<Piece<B::Value>> {
        let Some(degree) = coeffs.iter().rposition(|&c| c != 0.0) else {
            return Ok(Piece::Const(0.0));
        };
        if degree == 0 {
            return Ok(Piece::Const(coeffs[0]));
        }
        match self.plan.split_at(degree) {
            None => self.leaf(&coeffs[..=degree]).map(Piece::Value),
            Some(n) => self.split(&coeffs[..=degree], n),
        }
    }

    /// A linear combination of `T_0 … T_e`, one level below its deepest term.
    fn leaf(&mut self, coeffs: &[f64]) -> Result<Leveled<B::Value>> {
        let used: Vec<usize> = (1..coeffs.len()).filter(|&i| coeffs[i] != 0.0).collect();
        for &i in &used {
            self.ensure(i)?;
        }
        let terms = used
            .iter()
            .map(|&i| Ok((coeffs[i], self.t(i)?)))
            .collect::<Result<Vec<_>>>()?;
        let lowest = terms.iter().map(|(_, v)| v.level).min().unwrap_or(0);
        let target = lowest.checked_sub(1).ok_or(RuntimeError::LevelTooLow {
            op: "polynomial",
            needed: 1,
            found: 0,
        })?;
        self.rules.linear_combination(&terms, coeffs[0], target)
    }

    /// `p = q·T_n + r` with `q_0 = c_n`, `q_i = 2 c_{n+i}`, `r_i = c_i − c_{2n−i}`.
    fn split(&mut self, coeffs: &[f64], n: usize) -> Result<Piece<B::Value>> {
        let top = coeffs.len() - 1 - n;
        let mut q = Vec::with_capacity(top + 1);
        q.push(coeffs[n]);
        let mut r = coeffs[..n].to_vec();
        for i in 1..=top {
            q.push(2.0 * coeffs[n + i]);
            r[n - i] -= coeffs[n + i];
        }
        self.ensure(n)?;
        let q = self.piece(&q)?;
        let r = self.piece(&r)?;
        let rules = self.rules;
        let giant = self.t(n)?;
        let product = match q {
            Piece::Const(c) => rules.mul_const(giant, c)?,
            Piece::Value(v) => rules.mul(&v, giant)?,
        };
        Ok(Piece::Value(match r {
            Piece::Const(0.0) => product,
            Piece::Const(c) => rules.add_const(&product, c)?,
            Piece::Value(v) => rules.add(&product, &v)?,
        }))
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
    fn the_natural_landing_level_is_the_planned_depth() {
        let backend = SlotBackend::new(8);
        let rules = Rules::new(&backend);
        let top = 12;
        for d in 1..=120usize {
            let plan = plan(d);
            let x = Leveled {
                value: vec![0.25; 8],
                level: top,
            };
            let mut eval = PolyEval {
                rules: &rules,
                plan,
                basis: HashMap::from([(1, x)]),
            };
            let Piece::Value(out) = eval.piece(&coeffs(d)).unwrap() else {
                panic!("degree {d} gave a constant");
            };
            assert_eq!(out.level, top - plan.depth, "degree {d}: {plan:?}");
            let p = ChebyshevPoly { coeffs: coeffs(d) };
            assert!((out.value[0] - p.eval(0.25)).abs() < 1e-12, "degree {d}");
        }
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
