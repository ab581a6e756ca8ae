//! Arithmetic on Chebyshev series `Σ c_i T_i(t)`, `t ∈ [-1, 1]`: the exact (up to rounding)
//! algebra behind [`from_monomial`](super::from_monomial) and the `fuse-polynomials` pass.
//!
//! Working in the Chebyshev basis throughout (instead of expanding to monomials and converting
//! back) keeps every intermediate coefficient of the size of the values it represents, so
//! composing polynomials of moderate degree loses no precision.

/// `a + b`.
pub(crate) fn add(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; a.len().max(b.len())];
    for (i, o) in out.iter_mut().enumerate() {
        *o = a.get(i).copied().unwrap_or(0.0) + b.get(i).copied().unwrap_or(0.0);
    }
    out
}

/// `a − b`.
pub(crate) fn sub(a: &[f64], b: &[f64]) -> Vec<f64> {
    add(a, &scale(b, -1.0))
}

/// `s · a`.
pub(crate) fn scale(a: &[f64], s: f64) -> Vec<f64> {
    a.iter().map(|c| c * s).collect()
}

/// `a · b`, by `T_i T_j = (T_{i+j} + T_{|i−j|}) / 2`.
pub(crate) fn mul(a: &[f64], b: &[f64]) -> Vec<f64> {
    if a.is_empty() || b.is_empty() {
        return Vec::new();
    }
    let mut out = vec![0.0; a.len() + b.len() - 1];
    for (i, &x) in a.iter().enumerate() {
        if x == 0.0 {
            continue;
        }
        for (j, &y) in b.iter().enumerate() {
            let p = 0.5 * x * y;
            out[i + j] += p;
            out[i.abs_diff(j)] += p;
        }
    }
    out
}

/// `p(s)` for `p = Σ c_k T_k` and a series `s`, by Clenshaw's recurrence on series.
pub(crate) fn compose(c: &[f64], s: &[f64]) -> Vec<f64> {
    let (mut b1, mut b2): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for &ck in c.iter().skip(1).rev() {
        let b0 = add(&sub(&scale(&mul(s, &b1), 2.0), &b2), &[ck]);
        b2 = b1;
        b1 = b0;
    }
    let c0 = c.first().copied().unwrap_or(0.0);
    add(&sub(&mul(s, &b1), &b2), &[c0])
}

/// Drops trailing coefficients that are zero up to rounding (at most a few ulps of the
/// series' total magnitude), keeping at least one coefficient.
pub(crate) fn trim(mut c: Vec<f64>) -> Vec<f64> {
    let total: f64 = c.iter().map(|v| v.abs()).sum();
    let tol = 8.0 * f64::EPSILON * total;
    while c.len() > 1 && c.last().is_some_and(|v| v.abs() <= tol) {
        c.pop();
    }
    if c.is_empty() {
        c.push(0.0);
    }
    c
}

/// The identity `x` on `[lo, hi]` as a series in `t`: `x = m + h·t` (`T_1 = t`).
pub(crate) fn variable(interval: (f64, f64)) -> Vec<f64> {
    let (lo, hi) = interval;
    vec![0.5 * (lo + hi), 0.5 * (hi - lo)]
}

/// `(α, β)` such that `t = α·y + β` maps `[lo, hi]` onto `[-1, 1]`.
pub(crate) fn unit_map(interval: (f64, f64)) -> (f64, f64) {
    let (lo, hi) = interval;
    (2.0 / (hi - lo), -(lo + hi) / (hi - lo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approx::chebyshev_eval;

    #[test]
    fn product_and_composition_match_pointwise() {
        let a = [0.3, -1.2, 0.5, 0.25];
        let b = [1.0, 0.5, -0.75];
        let prod = mul(&a, &b);
        let comp = compose(&a, &b);
        for k in 0..=20 {
            let t = -1.0 + 0.1 * f64::from(k);
            let (pa, pb) = (chebyshev_eval(&a, t), chebyshev_eval(&b, t));
            assert!((chebyshev_eval(&prod, t) - pa * pb).abs() < 1e-13);
            assert!((chebyshev_eval(&comp, t) - chebyshev_eval(&a, pb)).abs() < 1e-12);
        }
    }

    #[test]
    fn trim_drops_rounding_noise_only() {
        assert_eq!(trim(vec![1.0, 2.0, 1e-18]), vec![1.0, 2.0]);
        assert_eq!(trim(vec![1.0, 2.0, 1e-6]).len(), 3);
        assert_eq!(trim(vec![0.0, 0.0]), vec![0.0]);
    }
}
