//! Linear layers as sparse affine maps `y = M·x + b` over flat tensor indices.
//!
//! Every linear op of the IR (convolution, dense, pooling, per-channel affine, padding,
//! reshape, element-wise arithmetic with a constant) has such a map. Chains of them compose
//! into one map, which the layout stage turns into the diagonals of a single homomorphic
//! linear transform: one level for the whole chain.

use crate::ir::{broadcast_to, strides, Conv2d, Dense, Op, Pool2d, Tensor};
use std::collections::BTreeMap;

/// A sparse affine map from `inputs` values to `rows.len()` values.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearMap {
    /// Number of input values.
    pub inputs: usize,
    /// Per output value, its `(input index, weight)` terms.
    pub rows: Vec<Vec<(u32, f64)>>,
    /// Per output value, the constant term.
    pub bias: Vec<f64>,
}

impl LinearMap {
    /// The identity on `n` values.
    pub fn identity(n: usize) -> Self {
        Self {
            inputs: n,
            rows: (0..n as u32).map(|i| vec![(i, 1.0)]).collect(),
            bias: vec![0.0; n],
        }
    }

    /// Number of output values.
    pub fn outputs(&self) -> usize {
        self.rows.len()
    }

    /// Number of non-zero weights.
    pub fn nnz(&self) -> usize {
        self.rows.iter().map(Vec::len).sum()
    }

    /// `self ∘ inner`: first `inner`, then `self`.
    pub fn after(&self, inner: &LinearMap) -> LinearMap {
        let mut rows = Vec::with_capacity(self.rows.len());
        let mut bias = self.bias.clone();
        let mut acc: BTreeMap<u32, f64> = BTreeMap::new();
        for (o, row) in self.rows.iter().enumerate() {
            acc.clear();
            for &(m, w) in row {
                for &(i, v) in &inner.rows[m as usize] {
                    *acc.entry(i).or_insert(0.0) += w * v;
                }
                bias[o] += w * inner.bias[m as usize];
            }
            rows.push(
                acc.iter()
                    .filter(|(_, v)| **v != 0.0)
                    .map(|(&i, &v)| (i, v))
                    .collect(),
            );
        }
        LinearMap {
            inputs: inner.inputs,
            rows,
            bias,
        }
    }

    /// Applies `y ↦ alpha·y + beta` to every output.
    pub fn then_affine(&mut self, alpha: f64, beta: f64) {
        for row in &mut self.rows {
            for t in row.iter_mut() {
                t.1 *= alpha;
            }
        }
        for b in &mut self.bias {
            *b = alpha * *b + beta;
        }
    }

    /// Whether the map only renames values (a reshape): output `o` is input `o`, no bias.
    pub fn is_identity(&self) -> bool {
        self.inputs == self.rows.len()
            && self.bias.iter().all(|&b| b == 0.0)
            && self
                .rows
                .iter()
                .enumerate()
                .all(|(o, r)| r.len() == 1 && r[0] == (o as u32, 1.0))
    }

    /// `M·x + b` in f64 (the oracle of the layout tests).
    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        self.rows
            .iter()
            .zip(&self.bias)
            .map(|(row, b)| b + row.iter().map(|&(i, w)| w * x[i as usize]).sum::<f64>())
            .collect()
    }
}

/// The affine map of a linear IR op with one data operand, or `None` when the op is not
/// linear in that operand. `constant` is the value of the other operand of a binary op (if it
/// is a constant); `in_shape`/`out_shape` are the node facts.
pub fn of_op(
    op: &Op,
    in_shape: &[usize],
    out_shape: &[usize],
    constant: Option<(&Tensor, usize)>,
) -> Option<Result<LinearMap, String>> {
    let n_in: usize = in_shape.iter().product();
    Some(match op {
        Op::Conv(c) => conv(c, in_shape, out_shape),
        Op::Dense(d) => dense(d, in_shape, out_shape),
        Op::AvgPool(p) => avgpool(p, in_shape, out_shape),
        Op::GlobalAvgPool => global_avgpool(in_shape),
        Op::BatchNorm(b) => per_channel(&b.to_affine().scale, &b.to_affine().bias, in_shape),
        Op::Affine(a) => per_channel(&a.scale, &a.bias, in_shape),
        Op::Reshape { .. } | Op::Identity => Ok(LinearMap::identity(n_in)),
        Op::Pad { pads } => pad(pads, in_shape, out_shape),
        Op::Add | Op::Sub | Op::Mul => {
            let (c, data_pos) = constant?;
            elementwise(op, c, data_pos, in_shape, out_shape)
        }
        Op::Input | Op::Const(_) | Op::Relu | Op::Sigmoid | Op::Tanh | Op::Square | Op::Poly(_) => {
            return None
        }
    })
}

fn dims4(s: &[usize]) -> Result<[usize; 4], String> {
    match s {
        [1, c, h, w] => Ok([1, *c, *h, *w]),
        _ => Err(format!("expects a [1, C, H, W] tensor, got {s:?}")),
    }
}

fn conv(c: &Conv2d, in_shape: &[usize], out_shape: &[usize]) -> Result<LinearMap, String> {
    let [_, _, h, w] = dims4(in_shape)?;
    let [_, co, oh, ow] = dims4(out_shape)?;
    let [_, cig, kh, kw] = match c.weight.shape() {
        [a, b, c, d] => [*a, *b, *c, *d],
        s => return Err(format!("kernel must be rank 4, got {s:?}")),
    };
    let groups = c.groups.max(1);
    let cog = co / groups;
    let wd = c.weight.data();
    let mut rows = Vec::with_capacity(co * oh * ow);
    let mut bias = Vec::with_capacity(co * oh * ow);
    for o in 0..co {
        let g = o / cog;
        let b = c.bias.as_ref().map_or(0.0, |t| t.data()[o]);
        for oy in 0..oh {
            for ox in 0..ow {
                let mut row = Vec::with_capacity(cig * kh * kw);
                for i in 0..cig {
                    let ic = g * cig + i;
                    for ky in 0..kh {
                        let iy = (oy * c.strides[0] + ky) as isize - c.pads[0] as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        for kx in 0..kw {
                            let ix = (ox * c.strides[1] + kx) as isize - c.pads[1] as isize;
                            if ix < 0 || ix >= w as isize {
                                continue;
                            }
                            let wv = wd[((o * cig + i) * kh + ky) * kw + kx];
                            if wv != 0.0 {
                                let idx = (ic * h + iy as usize) * w + ix as usize;
                                row.push((idx as u32, wv));
                            }
                        }
                    }
                }
                row.sort_unstable_by_key(|t| t.0);
                rows.push(row);
                bias.push(b);
            }
        }
    }
    Ok(LinearMap {
        inputs: in_shape.iter().product(),
        rows,
        bias,
    })
}

fn dense(d: &Dense, in_shape: &[usize], out_shape: &[usize]) -> Result<LinearMap, String> {
    let (outf, inf) = match d.weight.shape() {
        [o, i] => (*o, *i),
        s => return Err(format!("dense weight must be rank 2, got {s:?}")),
    };
    let n_in: usize = in_shape.iter().product();
    let n_rows = n_in / inf.max(1);
    if out_shape.iter().product::<usize>() != n_rows * outf {
        return Err(format!(
            "dense output {out_shape:?} does not fit input {in_shape:?}"
        ));
    }
    let wd = d.weight.data();
    let mut rows = Vec::with_capacity(n_rows * outf);
    let mut bias = Vec::with_capacity(n_rows * outf);
    for r in 0..n_rows {
        for o in 0..outf {
            rows.push(
                (0..inf)
                    .filter(|&i| wd[o * inf + i] != 0.0)
                    .map(|i| ((r * inf + i) as u32, wd[o * inf + i]))
                    .collect(),
            );
            bias.push(d.bias.as_ref().map_or(0.0, |t| t.data()[o]));
        }
    }
    Ok(LinearMap {
        inputs: n_in,
        rows,
        bias,
    })
}

fn avgpool(p: &Pool2d, in_shape: &[usize], out_shape: &[usize]) -> Result<LinearMap, String> {
    let [_, c, h, w] = dims4(in_shape)?;
    let [_, _, oh, ow] = dims4(out_shape)?;
    let mut rows = Vec::with_capacity(c * oh * ow);
    for plane in 0..c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut row = Vec::new();
                for ky in 0..p.kernel[0] {
                    let iy = (oy * p.strides[0] + ky) as isize - p.pads[0] as isize;
                    for kx in 0..p.kernel[1] {
                        let ix = (ox * p.strides[1] + kx) as isize - p.pads[1] as isize;
                        if iy >= 0 && iy < h as isize && ix >= 0 && ix < w as isize {
                            row.push((((plane * h + iy as usize) * w + ix as usize) as u32, 1.0));
                        }
                    }
                }
                let div = if p.count_include_pad {
                    p.kernel[0] * p.kernel[1]
                } else {
                    row.len().max(1)
                } as f64;
                for t in &mut row {
                    t.1 /= div;
                }
                row.sort_unstable_by_key(|t| t.0);
                rows.push(row);
            }
        }
    }
    Ok(LinearMap {
        inputs: c * h * w,
        bias: vec![0.0; rows.len()],
        rows,
    })
}

fn global_avgpool(in_shape: &[usize]) -> Result<LinearMap, String> {
    let planes: usize = in_shape.iter().take(2).product();
    let n_in: usize = in_shape.iter().product();
    let area = n_in / planes.max(1);
    let rows = (0..planes)
        .map(|p| {
            (0..area)
                .map(|k| ((p * area + k) as u32, 1.0 / area as f64))
                .collect()
        })
        .collect();
    Ok(LinearMap {
        inputs: n_in,
        rows,
        bias: vec![0.0; planes],
    })
}

fn per_channel(scale: &[f64], shift: &[f64], in_shape: &[usize]) -> Result<LinearMap, String> {
    let c = *in_shape
        .get(1)
        .ok_or("per-channel op on a rank < 2 tensor")?;
    let inner: usize = in_shape.iter().skip(2).product();
    let n: usize = in_shape.iter().product();
    let mut rows = Vec::with_capacity(n);
    let mut bias = Vec::with_capacity(n);
    for i in 0..n {
        let ch = (i / inner.max(1)) % c;
        rows.push(if scale[ch] == 0.0 {
            vec![]
        } else {
            vec![(i as u32, scale[ch])]
        });
        bias.push(shift[ch]);
    }
    Ok(LinearMap {
        inputs: n,
        rows,
        bias,
    })
}

fn pad(pads: &[usize], in_shape: &[usize], out_shape: &[usize]) -> Result<LinearMap, String> {
    let rank = in_shape.len();
    let n_in: usize = in_shape.iter().product();
    let n_out: usize = out_shape.iter().product();
    let in_strides = strides(in_shape);
    let out_strides = strides(out_shape);
    let mut rows = vec![Vec::new(); n_out];
    for i in 0..n_in {
        let mut dst = 0;
        for ax in 0..rank {
            let coord = (i / in_strides[ax]) % in_shape[ax];
            dst += (coord + pads[ax]) * out_strides[ax];
        }
        rows[dst].push((i as u32, 1.0));
    }
    Ok(LinearMap {
        inputs: n_in,
        rows,
        bias: vec![0.0; n_out],
    })
}

/// `x ⊕ c` where `c` broadcasts to the output shape and `x` (operand `data_pos`) has the
/// output's shape.
fn elementwise(
    op: &Op,
    c: &Tensor,
    data_pos: usize,
    in_shape: &[usize],
    out_shape: &[usize],
) -> Result<LinearMap, String> {
    if in_shape != out_shape {
        return Err(format!(
            "the data operand {in_shape:?} would be broadcast to {out_shape:?}"
        ));
    }
    let cb = broadcast_to(c, out_shape).map_err(|e| e.to_string())?;
    let n = cb.len();
    let mut rows = Vec::with_capacity(n);
    let mut bias = Vec::with_capacity(n);
    for (i, &v) in cb.data().iter().enumerate() {
        let (w, b) = match (op, data_pos) {
            (Op::Add, _) => (1.0, v),
            (Op::Sub, 0) => (1.0, -v),
            (Op::Sub, _) => (-1.0, v),
            _ => (v, 0.0),
        };
        rows.push(if w == 0.0 {
            vec![]
        } else {
            vec![(i as u32, w)]
        });
        bias.push(b);
    }
    Ok(LinearMap {
        inputs: n,
        rows,
        bias,
    })
}
