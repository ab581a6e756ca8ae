//! The level and scale rules of the executor (see the table of `exec`): every operation that
//! changes a level goes through here, so a value at level `l` always has the scale `Δ_l`.

use super::{Backend, PlainRef};
use crate::error::{Result, RuntimeError};
use std::borrow::Cow;

/// A value with its level.
#[derive(Clone, Debug)]
pub(crate) struct Leveled<V> {
    /// The value (scale `Δ_level`).
    pub(crate) value: V,
    /// Its level.
    pub(crate) level: usize,
}

/// The two factors of a product.
type Pair<'v, V> = (&'v Leveled<V>, &'v Leveled<V>);

/// Two operands brought to one level, and that level.
type Aligned<'v, V> = (Cow<'v, V>, Cow<'v, V>, usize);

/// The rules, over one backend.
pub(crate) struct Rules<'a, B: Backend> {
    pub(crate) backend: &'a B,
}

impl<'a, B: Backend> Rules<'a, B> {
    pub(crate) fn new(backend: &'a B) -> Self {
        Self { backend }
    }

    /// The scale to encode a multiplier at so that a product at `level`, once rescaled, lands
    /// on `Δ_{level−1}`: `Δ_{level−1}·q_level / Δ_level`.
    pub(crate) fn product_scale(&self, level: usize) -> Result<f64> {
        let below = level.checked_sub(1).ok_or(RuntimeError::LevelTooLow {
            op: "rescale",
            needed: 1,
            found: 0,
        })?;
        let b = self.backend;
        Ok(b.scale(below)? * b.modulus(level)? / b.scale(level)?)
    }

    /// Rescales a value at `level` (refused at level 0).
    pub(crate) fn rescale(&self, value: &B::Value, level: usize) -> Result<Leveled<B::Value>> {
        if level == 0 {
            return Err(RuntimeError::LevelTooLow {
                op: "rescale",
                needed: 1,
                found: 0,
            });
        }
        Ok(Leveled {
            value: self.backend.rescale(value)?,
            level: level - 1,
        })
    }

    /// `Σ c_i v_i + constant` landing at `target` with one rescale; every `v_i` must be above
    /// `target`. Terms with a zero coefficient are still multiplied (callers skip them).
    pub(crate) fn linear_combination(
        &self,
        terms: &[(f64, &Leveled<B::Value>)],
        constant: f64,
        target: usize,
    ) -> Result<Leveled<B::Value>> {
        let above = target + 1;
        let mut acc = self.unscaled_combination(terms, above)?.ok_or_else(|| {
            RuntimeError::InvalidCircuit {
                detail: "a linear combination without terms (executor bug)".into(),
            }
        })?;
        if constant != 0.0 {
            acc = self.backend.add_const(&acc, constant)?;
        }
        self.rescale(&acc, above)
    }

    /// `Σ a_i ⊙ b_i + Σ c_j v_j + constant` landing at `target` with one relinearization and
    /// one rescale: every `a_i`, `b_i` must be at `target + 1`, every `v_j` above `target`.
    /// Without products it is [`Self::linear_combination`].
    pub(crate) fn product_sum(
        &self,
        pairs: &[Pair<'_, B::Value>],
        terms: &[(f64, &Leveled<B::Value>)],
        constant: f64,
        target: usize,
    ) -> Result<Leveled<B::Value>> {
        if pairs.is_empty() {
            return self.linear_combination(terms, constant, target);
        }
        let b = self.backend;
        let above = target + 1;
        let mut values = Vec::with_capacity(pairs.len());
        for &(x, y) in pairs {
            if x.level != above || y.level != above {
                return Err(RuntimeError::InvalidCircuit {
                    detail: format!(
                        "a product of values at levels {} and {} in a sum landing at {target} \
                         (executor bug)",
                        x.level, y.level
                    ),
                });
            }
            values.push((&x.value, &y.value));
        }
        let linear = self.unscaled_combination(terms, above)?;
        Ok(Leveled {
            value: b.mul_sum_rescale(&values, linear.as_ref(), constant)?,
            level: target,
        })
    }

    /// `Σ c_i v_i` at `above` with the scale of a product of two values there
    /// (`Δ_{above−1}·q_above`), not rescaled; `None` without terms.
    fn unscaled_combination(
        &self,
        terms: &[(f64, &Leveled<B::Value>)],
        above: usize,
    ) -> Result<Option<B::Value>> {
        let b = self.backend;
        let landing = b.scale(above - 1)? * b.modulus(above)?;
        let mut acc: Option<B::Value> = None;
        for &(c, v) in terms {
            if v.level < above {
                return Err(RuntimeError::LevelTooLow {
                    op: "linear combination",
                    needed: above,
                    found: v.level,
                });
            }
            let dropped = if v.level > above {
                Cow::Owned(b.drop_to(&v.value, above)?)
            } else {
                Cow::Borrowed(&v.value)
            };
            let term = b.mul_const(&dropped, c, landing / b.scale(v.level)?)?;
            match &mut acc {
                None => acc = Some(term),
                Some(a) => b.add_assign(a, &term)?,
            }
        }
        Ok(acc)
    }

    /// The value brought down to `level` (a copy when it is already there).
    pub(crate) fn level_down(
        &self,
        v: &Leveled<B::Value>,
        level: usize,
    ) -> Result<Leveled<B::Value>> {
        let value = self.at_level(v, level)?.into_owned();
        Ok(Leveled { value, level })
    }

    /// The value at `level`, borrowed when it is already there.
    fn at_level<'v>(&self, v: &'v Leveled<B::Value>, level: usize) -> Result<Cow<'v, B::Value>> {
        if v.level == level {
            return Ok(Cow::Borrowed(&v.value));
        }
        if v.level < level {
            return Err(RuntimeError::LevelOutOfRange {
                from: v.level,
                to: level,
                max: v.level,
            });
        }
        Ok(Cow::Owned(
            self.linear_combination(&[(1.0, v)], 0.0, level)?.value,
        ))
    }

    /// Both operands at the lower of their levels.
    fn aligned<'v>(
        &self,
        a: &'v Leveled<B::Value>,
        b: &'v Leveled<B::Value>,
    ) -> Result<Aligned<'v, B::Value>> {
        let level = a.level.min(b.level);
        Ok((self.at_level(a, level)?, self.at_level(b, level)?, level))
    }

    /// `a + b` at the lower level.
    pub(crate) fn add(
        &self,
        a: &Leveled<B::Value>,
        b: &Leveled<B::Value>,
    ) -> Result<Leveled<B::Value>> {
        let (x, y, level) = self.aligned(a, b)?;
        let value = self.backend.add(&x, &y)?;
        Ok(Leveled { value, level })
    }

    /// `a + a` (one value added to itself: its error doubles).
    pub(crate) fn double(&self, a: &Leveled<B::Value>) -> Result<Leveled<B::Value>> {
        Ok(Leveled {
            value: self.backend.double(&a.value)?,
            level: a.level,
        })
    }

    /// `a − b` at the lower level.
    pub(crate) fn sub(
        &self,
        a: &Leveled<B::Value>,
        b: &Leveled<B::Value>,
    ) -> Result<Leveled<B::Value>> {
        let (x, y, level) = self.aligned(a, b)?;
        let value = self.backend.sub(&x, &y)?;
        Ok(Leveled { value, level })
    }

    /// `a ⊙ b`: aligned, multiplied, relinearized, rescaled (one level below the lower one).
    pub(crate) fn mul(
        &self,
        a: &Leveled<B::Value>,
        b: &Leveled<B::Value>,
    ) -> Result<Leveled<B::Value>> {
        let (x, y, level) = self.aligned(a, b)?;
        if level == 0 {
            return Err(RuntimeError::LevelTooLow {
                op: "mul",
                needed: 1,
                found: 0,
            });
        }
        Ok(Leveled {
            value: self.backend.mul_sum_rescale(&[(&x, &y)], None, 0.0)?,
            level: level - 1,
        })
    }

    /// `c · v`, one level down.
    pub(crate) fn mul_const(&self, v: &Leveled<B::Value>, c: f64) -> Result<Leveled<B::Value>> {
        let target = v.level.checked_sub(1).ok_or(RuntimeError::LevelTooLow {
            op: "mul_const",
            needed: 1,
            found: 0,
        })?;
        self.linear_combination(&[(c, v)], 0.0, target)
    }

    /// `v + c` at `v`'s level.
    pub(crate) fn add_const(&self, v: &Leveled<B::Value>, c: f64) -> Result<Leveled<B::Value>> {
        Ok(Leveled {
            value: self.backend.add_const(&v.value, c)?,
            level: v.level,
        })
    }

    /// `v ⊙ p`, one level down; `plain(level, scale)` gives `p` encoded at `v`'s level and the
    /// scale that lands the rescaled product on the ladder.
    pub(crate) fn mul_plain<'p>(
        &self,
        v: &Leveled<B::Value>,
        plain: impl FnOnce(usize, f64) -> Result<PlainRef<'p, B::Plain>>,
    ) -> Result<Leveled<B::Value>>
    where
        B::Plain: 'p,
    {
        let scale = self.product_scale(v.level)?;
        let plain = plain(v.level, scale)?;
        let product = self.backend.mul_plain(&v.value, &plain)?;
        self.rescale(&product, v.level)
    }

    /// `v + p` at `v`'s level; `plain(level, scale)` gives `p` encoded at `v`'s level and scale.
    pub(crate) fn add_plain<'p>(
        &self,
        v: &Leveled<B::Value>,
        plain: impl FnOnce(usize, f64) -> Result<PlainRef<'p, B::Plain>>,
    ) -> Result<Leveled<B::Value>>
    where
        B::Plain: 'p,
    {
        let plain = plain(v.level, self.backend.scale(v.level)?)?;
        Ok(Leveled {
            value: self.backend.add_plain(&v.value, &plain)?,
            level: v.level,
        })
    }

    /// `rot(v, step)` at `v`'s level.
    pub(crate) fn rotate(&self, v: &Leveled<B::Value>, step: u32) -> Result<Leveled<B::Value>> {
        Ok(Leveled {
            value: self.backend.rotate(&v.value, step)?,
            level: v.level,
        })
    }
}
