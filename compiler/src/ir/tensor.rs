//! Dense row-major f64 tensors: weights, constants and interpreter values.

use crate::error::{CompileError, Result};
use std::fmt;

/// A dense tensor of f64 in row-major (C) order.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Tensor {
    /// Builds a tensor, checking that `data` holds `shape.iter().product()` values.
    pub fn new(shape: Vec<usize>, data: Vec<f64>) -> Result<Self> {
        let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if n != Some(data.len()) {
            let n = n.map_or("more than 2^64".to_string(), |n| n.to_string());
            return Err(CompileError::InvalidInput {
                reason: format!(
                    "shape {shape:?} holds {n} values but {} were given",
                    data.len()
                ),
            });
        }
        Ok(Self { shape, data })
    }

    /// A tensor of zeros.
    pub fn zeros(shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        Self {
            shape,
            data: vec![0.0; n],
        }
    }

    /// A rank-0 tensor.
    pub fn scalar(value: f64) -> Self {
        Self {
            shape: Vec::new(),
            data: vec![value],
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The values in row-major order.
    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// The values, mutable.
    pub fn data_mut(&mut self) -> &mut [f64] {
        &mut self.data
    }

    /// Consumes the tensor into its values.
    pub fn into_data(self) -> Vec<f64> {
        self.data
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor holds no value.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The same values under another shape with the same number of elements.
    pub fn reshaped(mut self, shape: Vec<usize>) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != self.data.len() {
            return Err(CompileError::InvalidInput {
                reason: format!(
                    "cannot reshape {:?} ({} values) into {shape:?}",
                    self.shape,
                    self.data.len()
                ),
            });
        }
        self.shape = shape;
        Ok(self)
    }

    /// Index of the largest value (the first one on ties); `None` when empty or all NaN.
    pub fn argmax(&self) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for (i, &v) in self.data.iter().enumerate() {
            if v.is_nan() {
                continue;
            }
            if best.is_none_or(|(_, b)| v > b) {
                best = Some((i, v));
            }
        }
        best.map(|(i, _)| i)
    }

    /// The only value of a one-element tensor.
    pub fn as_scalar(&self) -> Option<f64> {
        match self.data.as_slice() {
            [v] => Some(*v),
            _ => None,
        }
    }

    /// Whether every value equals `v`.
    pub fn all_equal(&self, v: f64) -> bool {
        self.data.iter().all(|&x| x == v)
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor{:?}", self.shape)?;
        if self.data.len() <= 8 {
            write!(f, "{:?}", self.data)?;
        }
        Ok(())
    }
}

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Numpy-style broadcast of two shapes; `None` when they are incompatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        let da = dim_from_right(a, rank - 1 - i);
        let db = dim_from_right(b, rank - 1 - i);
        *o = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

fn dim_from_right(shape: &[usize], k: usize) -> usize {
    if k < shape.len() {
        shape[shape.len() - 1 - k]
    } else {
        1
    }
}

/// Expands `t` to `shape` (which must be a broadcast of its shape).
pub fn broadcast_to(t: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if t.shape() == shape {
        return Ok(t.clone());
    }
    if broadcast_shapes(t.shape(), shape).as_deref() != Some(shape) {
        return Err(CompileError::InvalidInput {
            reason: format!("cannot broadcast {:?} to {shape:?}", t.shape()),
        });
    }
    let rank = shape.len();
    let offset = rank - t.shape().len();
    let src_strides = strides(t.shape());
    let mut eff = vec![0usize; rank];
    for (i, &d) in t.shape().iter().enumerate() {
        eff[offset + i] = if d == 1 { 0 } else { src_strides[i] };
    }
    let n: usize = shape.iter().product();
    let mut data = Vec::with_capacity(n);
    let mut idx = vec![0usize; rank];
    for _ in 0..n {
        let src: usize = idx.iter().zip(&eff).map(|(i, s)| i * s).sum();
        data.push(t.data()[src]);
        for ax in (0..rank).rev() {
            idx[ax] += 1;
            if idx[ax] < shape[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    Tensor::new(shape.to_vec(), data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_per_channel() {
        let b = Tensor::new(vec![2, 1, 1], vec![1.0, 2.0]).unwrap();
        let out = broadcast_to(&b, &[1, 2, 1, 2]).unwrap();
        assert_eq!(out.data(), &[1.0, 1.0, 2.0, 2.0]);
        assert_eq!(broadcast_shapes(&[3], &[2, 1]), Some(vec![2, 3]));
        assert_eq!(broadcast_shapes(&[3], &[2]), None);
    }
}
