//! The Remez exchange algorithm: the minimax (best uniform) approximation of a function from a
//! span of Chebyshev polynomials, on a sub-interval of `[-1, 1]`.
//!
//! Used by [`approximate`](super::approximate): for ReLU it is run on `|t|` over `[0, 1]` with
//! the even basis `T_0, T_2, …` (the minimax approximation of an even function is even), where
//! it divides the error of Chebyshev interpolation by about 3; for sigmoid and tanh on a
//! symmetric interval, on their odd part with the odd basis `T_1, T_3, …` (on the full basis
//! the symmetric problem is degenerate: the first reference gives a zero levelled error). The search samples the error on a
//! grid dense in `θ` (`t = cos θ`, so as dense as the extrema of Chebyshev polynomials), refines
//! every extremum by golden-section search, and keeps the best polynomial it met, so a stalled
//! exchange still returns something no worse than its starting point.

use super::chebyshev_eval;
use std::f64::consts::PI;

const MAX_ITERATIONS: usize = 60;
/// Converged when the extremal errors agree to this relative tolerance.
const TOLERANCE: f64 = 1e-9;

/// A minimax candidate: full Chebyshev coefficients and its maximum error on the grid.
#[derive(Clone, Debug)]
pub(crate) struct Minimax {
    /// `c_0 … c_d` (zero at the indices outside the basis).
    pub coeffs: Vec<f64>,
    /// The maximum error found (grid and refined extrema).
    pub error: f64,
}

/// The best approximation of `g` on `domain` (`-1 ≤ a < b ≤ 1`, in `t`) from
/// `span{T_k : k ∈ ks}` (`ks` ascending and non-empty; all even or all odd when `domain` is
/// `[0, 1]`, standing for `[-1, 1]` and an even or odd `g`); `None` when the first exchange
/// already fails (a singular system).
pub(crate) fn minimax(g: &dyn Fn(f64) -> f64, domain: (f64, f64), ks: &[usize]) -> Option<Minimax> {
    let m = ks.len();
    let top = *ks.last()?;
    let grid = Grid::new(g, domain, (128 * (m + 1)).max(4096));
    let (th_a, th_b) = (
        domain.0.clamp(-1.0, 1.0).acos(),
        domain.1.clamp(-1.0, 1.0).acos(),
    );
    // The extrema of the next Chebyshev polynomial; for an odd basis on [0, 1], those of
    // T_{2m+1}, which avoid 0 (where every odd polynomial vanishes).
    let odd = domain.0 == 0.0 && ks[0] % 2 == 1;
    let mut reference: Vec<f64> = (0..=m)
        .map(|j| {
            if odd {
                (PI * (m - j) as f64 / (2 * m + 1) as f64).cos()
            } else {
                (th_a + (th_b - th_a) * j as f64 / m as f64).cos()
            }
        })
        .collect();
    let mut best: Option<Minimax> = None;
    for _ in 0..MAX_ITERATIONS {
        let Some(coeffs) = solve(g, &reference, ks, top) else {
            break;
        };
        let step = grid.exchange(g, &coeffs, m + 1);
        if best.as_ref().is_none_or(|b| step.max_error < b.error) {
            best = Some(Minimax {
                coeffs,
                error: step.max_error,
            });
        }
        match step.next {
            Some((next, min_error)) if step.max_error - min_error > TOLERANCE * step.max_error => {
                reference = next;
            }
            _ => break,
        }
    }
    best
}

/// Solves `Σ_i c_i T_{k_i}(r_j) + (−1)^j E = g(r_j)` for the coefficients (E is dropped).
fn solve(g: &dyn Fn(f64) -> f64, reference: &[f64], ks: &[usize], top: usize) -> Option<Vec<f64>> {
    let m = ks.len();
    let mut a: Vec<Vec<f64>> = reference
        .iter()
        .enumerate()
        .map(|(j, &r)| {
            let mut row: Vec<f64> = ks.iter().map(|&k| chebyshev_t(k, r)).collect();
            row.push(if j % 2 == 0 { 1.0 } else { -1.0 });
            row.push(g(r));
            row
        })
        .collect();
    let x = gauss(&mut a, m + 1)?;
    let mut coeffs = vec![0.0; top + 1];
    for (&k, &c) in ks.iter().zip(&x) {
        coeffs[k] = c;
    }
    Some(coeffs)
}

/// `T_k(t)` for `t ∈ [-1, 1]`.
fn chebyshev_t(k: usize, t: f64) -> f64 {
    (k as f64 * t.clamp(-1.0, 1.0).acos()).cos()
}

/// Gaussian elimination with partial pivoting on an `n × (n + 1)` augmented matrix.
fn gauss(a: &mut [Vec<f64>], n: usize) -> Option<Vec<f64>> {
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        let p = a[pivot][col].abs();
        if p.is_nan() || p <= 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        let (top, rest) = a.split_at_mut(col + 1);
        let prow = &top[col];
        for row in rest.iter_mut().take(n - col - 1) {
            let f = row[col] / prow[col];
            if f != 0.0 {
                for (r, p) in row[col..=n].iter_mut().zip(&prow[col..=n]) {
                    *r -= f * p;
                }
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (a[row][n] - s) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// The sample points and the function's values there.
struct Grid {
    t: Vec<f64>,
    g: Vec<f64>,
}

/// What one exchange found: the maximum error, and the next reference with its smallest
/// error, when enough alternating extrema exist.
struct Step {
    max_error: f64,
    next: Option<(Vec<f64>, f64)>,
}

impl Grid {
    fn new(g: &dyn Fn(f64) -> f64, (a, b): (f64, f64), n: usize) -> Self {
        let (th_a, th_b) = (a.clamp(-1.0, 1.0).acos(), b.clamp(-1.0, 1.0).acos());
        let t: Vec<f64> = (0..n)
            .map(|i| match i {
                0 => a,
                _ if i + 1 == n => b,
                _ => (th_a + (th_b - th_a) * i as f64 / (n - 1) as f64).cos(),
            })
            .collect();
        let g = t.iter().map(|&x| g(x)).collect();
        Self { t, g }
    }

    /// Finds the alternating extrema of the error of `coeffs` and picks `count` of them.
    fn exchange(&self, g: &dyn Fn(f64) -> f64, coeffs: &[f64], count: usize) -> Step {
        let err = |x: f64| chebyshev_eval(coeffs, x) - g(x);
        let e: Vec<f64> = self
            .t
            .iter()
            .zip(&self.g)
            .map(|(&x, &gx)| chebyshev_eval(coeffs, x) - gx)
            .collect();
        // One extremum per run of constant sign: its largest |e|. An exact zero (an odd
        // approximation of an odd function at 0) joins the current run, never starts one.
        let mut runs: Vec<usize> = Vec::new();
        for i in 0..e.len() {
            if e[i] == 0.0 && runs.is_empty() {
                continue;
            }
            let same = runs
                .last()
                .is_some_and(|&r| e[i] == 0.0 || (e[r] >= 0.0) == (e[i] >= 0.0));
            match runs.last_mut() {
                Some(r) if same => {
                    if e[i].abs() > e[*r].abs() {
                        *r = i;
                    }
                }
                _ => runs.push(i),
            }
        }
        let mut points: Vec<(f64, f64)> = runs
            .iter()
            .map(|&i| {
                if i == 0 || i + 1 == e.len() {
                    (self.t[i], e[i])
                } else {
                    refine(
                        &err,
                        self.t[i - 1],
                        self.t[i + 1],
                        e[i] >= 0.0,
                        (self.t[i], e[i]),
                    )
                }
            })
            .collect();
        let max_error = points.iter().map(|p| p.1.abs()).fold(0.0, f64::max);
        if points.len() < count {
            return Step {
                max_error,
                next: None,
            };
        }
        while points.len() > count {
            let (first, last) = (points[0].1.abs(), points[points.len() - 1].1.abs());
            if first < last {
                points.remove(0);
            } else {
                points.pop();
            }
        }
        let min_error = points
            .iter()
            .map(|p| p.1.abs())
            .fold(f64::INFINITY, f64::min);
        Step {
            max_error,
            next: Some((points.iter().map(|p| p.0).collect(), min_error)),
        }
    }
}

/// Golden-section search for the extremum of `err` (a maximum when `positive`, else a
/// minimum) in `[lo, hi]`; returns the better of it and `start`.
fn refine(
    err: &dyn Fn(f64) -> f64,
    mut lo: f64,
    mut hi: f64,
    positive: bool,
    start: (f64, f64),
) -> (f64, f64) {
    let sign = if positive { 1.0 } else { -1.0 };
    let phi = |x: f64| sign * err(x);
    let r = 0.5 * (5f64.sqrt() - 1.0);
    let (mut x1, mut x2) = (hi - r * (hi - lo), lo + r * (hi - lo));
    let (mut f1, mut f2) = (phi(x1), phi(x2));
    for _ in 0..48 {
        if f1 > f2 {
            hi = x2;
            (x2, f2) = (x1, f1);
            x1 = hi - r * (hi - lo);
            f1 = phi(x1);
        } else {
            lo = x1;
            (x1, f1) = (x2, f2);
            x2 = lo + r * (hi - lo);
            f2 = phi(x2);
        }
    }
    let (x, f) = if f1 > f2 { (x1, f1) } else { (x2, f2) };
    if f > sign * start.1 {
        (x, sign * f)
    } else {
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_minimax_of_a_parabola_is_known() {
        // Best linear approximation of t² on [-1, 1]: 1/2, error 1/2.
        let m = minimax(&|t: f64| t * t, (-1.0, 1.0), &[0, 1]).unwrap();
        assert!((m.coeffs[0] - 0.5).abs() < 1e-9 && m.coeffs[1].abs() < 1e-9);
        assert!((m.error - 0.5).abs() < 1e-9);
    }

    #[test]
    fn abs_minimax_beats_interpolation_and_matches_bernstein() {
        // E_{2n}(|t|) · 2n → β ≈ 0.2802 (Bernstein's constant).
        let ks: Vec<usize> = (0..=10).map(|k| 2 * k).collect();
        let m = minimax(&f64::abs, (0.0, 1.0), &ks).unwrap();
        let scaled = m.error * 20.0;
        assert!((0.26..0.29).contains(&scaled), "{scaled}");
    }
}
