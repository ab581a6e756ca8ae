//! How a Chebyshev polynomial is evaluated homomorphically, as pure arithmetic on degrees: the
//! plan (baby-step count, giant steps), its depth and its number of ciphertext products.
//!
//! The executor (`exec::poly`) follows this plan step for step, so [`ChebyshevPoly::depth`]
//! is exactly the number of levels a `Polynomial` instruction consumes.
//!
//! # The evaluation
//!
//! With a baby basis `T_0 … T_{k−1}` and giant powers `T_k, T_{2k}, …, T_{k·2^{j−1}}`
//! (`k·2^j > d`), a polynomial of degree `e ≥ k` is split at the largest giant `n ≤ e` as
//! `p = q·T_n + r` (`q_0 = c_n`, `q_i = 2 c_{n+i}`, `r_i = c_i − c_{2n−i}`, valid as `e < 2n`);
//! a polynomial of degree `e < k` is a linear combination of `T_0 … T_e` (one level below its
//! deepest term). `T_i` is `2 T_⌈i/2⌉ T_⌊i/2⌋ − T_{i mod 2}` and sits at depth `⌈log2 i⌉`.
//!
//! Every `k ≥ 2` is a valid plan; [`plan`] picks the one of least depth, then fewest
//! ciphertext products. `k = 2` alone reaches depth `⌈log2(d+1)⌉` for every `d ≥ 1` (a split at
//! `n = 2^s ≤ e < 2^{s+1}` lands at `s + 1`), so the depth is `⌈log2(d+1)⌉`: one level less
//! than the textbook `⌈log2(d+1)⌉ + 1` of baby-step giant-step with `k` a power of two, whose
//! baby linear combinations sit one level below `T_k`. Larger `k` are chosen when they reach
//! the same depth with fewer products.

use super::ChebyshevPoly;
use std::collections::BTreeSet;

/// The evaluation plan of a polynomial of a given degree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PolyPlan {
    /// Baby-step count `k ≥ 2`: leaves are combinations of `T_0 … T_{k−1}`.
    pub(crate) baby: usize,
    /// Number of giant powers `T_{k·2^i}`, `i < giants`.
    pub(crate) giants: usize,
    /// Levels consumed.
    pub(crate) depth: usize,
    /// Ciphertext products (each one relinearization) for generic coefficients.
    pub(crate) mults: usize,
}

impl PolyPlan {
    /// The largest giant `n = k·2^i ≤ degree` (`i < giants`), if `degree ≥ k`.
    pub(crate) fn split_at(&self, degree: usize) -> Option<usize> {
        (0..self.giants)
            .map(|i| self.baby << i)
            .take_while(|&n| n <= degree)
            .last()
    }
}

/// `⌈log2 i⌉` for `i ≥ 1`: the depth of `T_i`.
pub(crate) fn basis_depth(i: usize) -> usize {
    if i <= 1 {
        0
    } else {
        (usize::BITS - (i - 1).leading_zeros()) as usize
    }
}

/// The factors of `T_i = 2 T_a T_b − T_{a−b}` for `i ≥ 2`: `a = ⌈i/2⌉`, `b = ⌊i/2⌋`.
pub(crate) fn product_rule(i: usize) -> (usize, usize) {
    (i.div_ceil(2), i / 2)
}

/// The plan of least depth, then fewest products, for a polynomial of degree `degree`.
pub(crate) fn plan(degree: usize) -> PolyPlan {
    let mut best = PolyPlan {
        baby: 2,
        giants: 0,
        depth: 0,
        mults: 0,
    };
    if degree == 0 {
        return best;
    }
    let mut found = false;
    for k in 2..=max_baby(degree) {
        let candidate = plan_with(degree, k);
        let better = (candidate.depth, candidate.mults) < (best.depth, best.mults);
        if !found || better {
            best = candidate;
            found = true;
        }
    }
    best
}

/// Baby-step counts worth trying: beyond a few times `√d` a plan only gets more products.
fn max_baby(degree: usize) -> usize {
    let root = (degree as f64 + 1.0).sqrt().ceil() as usize;
    (degree + 1).min(4 * root + 4).max(2)
}

/// The plan with `k` baby steps.
fn plan_with(degree: usize, k: usize) -> PolyPlan {
    let mut giants = 0;
    let mut n = Some(k);
    while let Some(m) = n.filter(|&m| m <= degree) {
        giants += 1;
        n = m.checked_mul(2);
    }
    let mut plan = PolyPlan {
        baby: k,
        giants,
        depth: 0,
        mults: 0,
    };
    let mut used = Used::default();
    let (depth, splits) = tree(degree, &plan, &mut used);
    let mut needed: BTreeSet<usize> = used.giants;
    needed.extend(2..=used.leaf);
    plan.depth = depth;
    plan.mults = splits + closure(needed).len();
    plan
}

/// The basis a plan uses: giant powers, and `T_2 … T_leaf` for the leaves.
#[derive(Default)]
struct Used {
    giants: BTreeSet<usize>,
    leaf: usize,
}

/// Depth and split products of evaluating a generic polynomial of degree `degree`; records the
/// basis elements it uses.
fn tree(degree: usize, plan: &PolyPlan, used: &mut Used) -> (usize, usize) {
    if degree == 0 {
        return (0, 0);
    }
    let Some(n) = plan.split_at(degree) else {
        used.leaf = used.leaf.max(degree);
        return (basis_depth(degree) + 1, 0);
    };
    used.giants.insert(n);
    let (dq, sq) = tree(degree - n, plan, used);
    let (dr, sr) = tree(n - 1, plan, used);
    let giant = basis_depth(n);
    let product = if degree == n {
        giant + 1
    } else {
        dq.max(giant) + 1
    };
    (product.max(dr), sq + sr + usize::from(degree > n))
}

/// Every `T_i` (`i ≥ 2`) computed to obtain `needed` through [`product_rule`].
pub(crate) fn closure(needed: BTreeSet<usize>) -> BTreeSet<usize> {
    let mut all = BTreeSet::new();
    let mut todo: Vec<usize> = needed.into_iter().filter(|&i| i >= 2).collect();
    while let Some(i) = todo.pop() {
        if i >= 2 && all.insert(i) {
            let (a, b) = product_rule(i);
            todo.extend([a, b]);
        }
    }
    all
}

impl ChebyshevPoly {
    /// Degree `d` (number of coefficients minus one; `0` for an empty list).
    pub fn degree(&self) -> usize {
        self.coeffs.len().saturating_sub(1)
    }

    /// Levels the executor consumes to evaluate the polynomial: `⌈log2(d+1)⌉` for degree
    /// `d ≥ 1` (see the module documentation), `0` for a constant (which validation refuses: the
    /// compiler folds constants).
    pub fn depth(&self) -> usize {
        plan(self.degree()).depth
    }

    /// The value at `x` by Clenshaw's recurrence: the cleartext reference of the polynomial.
    pub fn eval(&self, x: f64) -> f64 {
        let (mut b1, mut b2) = (0.0, 0.0);
        for &c in self.coeffs.iter().skip(1).rev() {
            let b0 = c + 2.0 * x * b1 - b2;
            b2 = b1;
            b1 = b0;
        }
        self.coeffs.first().copied().unwrap_or(0.0) + x * b1 - b2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_ceil_log2_of_degree_plus_one() {
        for d in 1..=300usize {
            let p = plan(d);
            assert_eq!(p.depth, basis_depth(d + 1), "degree {d}: {p:?}");
        }
        assert_eq!(plan(0).depth, 0);
    }

    #[test]
    fn plans_use_few_products() {
        // Degree 2: T_2 and one linear combination.
        assert_eq!(plan(2).mults, 1);
        // A single-leaf plan for degree 8 would need depth 4 with 7 products; the search finds
        // a cheaper plan at the same depth.
        let p8 = plan(8);
        assert_eq!(p8.depth, 4);
        assert!(p8.mults <= 6, "{p8:?}");
        for d in [15usize, 31, 63, 127] {
            let p = plan(d);
            assert!(p.mults <= d, "degree {d}: {p:?}");
        }
    }

    #[test]
    fn planning_a_huge_degree_is_quick() {
        let start = std::time::Instant::now();
        assert_eq!(plan(1 << 18).depth, 19);
        assert!(start.elapsed().as_secs_f64() < 5.0);
    }

    #[test]
    fn basis_depths() {
        let depths: Vec<usize> = (1..=9).map(basis_depth).collect();
        assert_eq!(depths, [0, 1, 2, 2, 3, 3, 3, 3, 4]);
        for i in 2..200 {
            let (a, b) = product_rule(i);
            assert_eq!(a + b, i);
            assert_eq!(
                basis_depth(a).max(basis_depth(b)) + 1,
                basis_depth(i),
                "T_{i}"
            );
        }
    }

    #[test]
    fn clenshaw_matches_the_three_term_recurrence() {
        let p = ChebyshevPoly {
            coeffs: vec![0.3, -1.2, 0.7, 0.25, -0.4],
        };
        for &x in &[-1.0, -0.3, 0.0, 0.55, 1.0] {
            let mut t = vec![1.0, x];
            for i in 2..5 {
                let next = 2.0 * x * t[i - 1] - t[i - 2];
                t.push(next);
            }
            let direct: f64 = p.coeffs.iter().zip(&t).map(|(c, t)| c * t).sum();
            assert!((p.eval(x) - direct).abs() < 1e-12);
        }
    }
}
