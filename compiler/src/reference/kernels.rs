//! Straightforward f64 kernels, one per [`Op`]: clarity over speed (they are the oracle).

use crate::ir::{broadcast_to, Conv2d, Dense, Op, Pool2d, Tensor};

/// Evaluates one op on its operand values; `out_shape` is the node's fact.
/// Errors are plain reasons; the caller adds the node.
pub fn eval(op: &Op, inputs: &[&Tensor], out_shape: &[usize]) -> Result<Tensor, String> {
    let x = || {
        inputs
            .first()
            .copied()
            .ok_or_else(|| "missing operand".to_string())
    };
    let y = || {
        inputs
            .get(1)
            .copied()
            .ok_or_else(|| "missing operand".to_string())
    };
    let out = match op {
        Op::Input => return Err("the input node is not evaluated".into()),
        Op::Const(t) => t.clone(),
        Op::Conv(c) => conv2d(x()?, c, out_shape)?,
        Op::Dense(d) => dense(x()?, d, out_shape)?,
        Op::AvgPool(p) => avgpool(x()?, p, out_shape)?,
        Op::GlobalAvgPool => global_avgpool(x()?, out_shape)?,
        Op::BatchNorm(b) => {
            let a = b.to_affine();
            per_channel(x()?, &a.scale, &a.bias)?
        }
        Op::Affine(a) => per_channel(x()?, &a.scale, &a.bias)?,
        Op::Relu => map(x()?, |v| v.max(0.0)),
        Op::Sigmoid => map(x()?, |v| 1.0 / (1.0 + (-v).exp())),
        Op::Tanh => map(x()?, f64::tanh),
        Op::Square => map(x()?, |v| v * v),
        Op::Poly(p) => map(x()?, |v| p.eval(v)),
        Op::Add => binary(x()?, y()?, out_shape, |a, b| a + b)?,
        Op::Sub => binary(x()?, y()?, out_shape, |a, b| a - b)?,
        Op::Mul => binary(x()?, y()?, out_shape, |a, b| a * b)?,
        Op::Reshape { shape } => x()?
            .clone()
            .reshaped(shape.clone())
            .map_err(|e| e.to_string())?,
        Op::Pad { pads } => pad(x()?, pads, out_shape)?,
        Op::Identity => x()?.clone(),
    };
    if out.shape() != out_shape {
        return Err(format!(
            "kernel produced shape {:?}, the graph says {out_shape:?}",
            out.shape()
        ));
    }
    Ok(out)
}

fn map(x: &Tensor, f: impl Fn(f64) -> f64) -> Tensor {
    let mut out = x.clone();
    out.data_mut().iter_mut().for_each(|v| *v = f(*v));
    out
}

fn binary(
    a: &Tensor,
    b: &Tensor,
    shape: &[usize],
    f: impl Fn(f64, f64) -> f64,
) -> Result<Tensor, String> {
    let a = broadcast_to(a, shape).map_err(|e| e.to_string())?;
    let b = broadcast_to(b, shape).map_err(|e| e.to_string())?;
    let data = a
        .data()
        .iter()
        .zip(b.data())
        .map(|(&p, &q)| f(p, q))
        .collect();
    Tensor::new(shape.to_vec(), data).map_err(|e| e.to_string())
}

fn dims4(s: &[usize]) -> Result<[usize; 4], String> {
    match s {
        [a, b, c, d] => Ok([*a, *b, *c, *d]),
        _ => Err(format!("expected a rank-4 shape, got {s:?}")),
    }
}

fn conv2d(x: &Tensor, c: &Conv2d, out_shape: &[usize]) -> Result<Tensor, String> {
    let [n, ci, h, w] = dims4(x.shape())?;
    let [co, cig, kh, kw] = dims4(c.weight.shape())?;
    let [_, _, oh, ow] = dims4(out_shape)?;
    let groups = c.groups.max(1);
    let cog = co / groups;
    let (xd, wd) = (x.data(), c.weight.data());
    let mut out = Tensor::zeros(out_shape.to_vec());
    let od = out.data_mut();
    for b in 0..n {
        for o in 0..co {
            let g = o / cog;
            let bias = c.bias.as_ref().map_or(0.0, |t| t.data()[o]);
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = bias;
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
                                let xv = xd[((b * ci + ic) * h + iy as usize) * w + ix as usize];
                                acc += xv * wd[((o * cig + i) * kh + ky) * kw + kx];
                            }
                        }
                    }
                    od[((b * co + o) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    Ok(out)
}

fn dense(x: &Tensor, d: &Dense, out_shape: &[usize]) -> Result<Tensor, String> {
    let (outf, inf) = match d.weight.shape() {
        [o, i] => (*o, *i),
        s => return Err(format!("dense weight must be rank 2, got {s:?}")),
    };
    let rows = x.len() / inf.max(1);
    let wd = d.weight.data();
    let mut out = Tensor::zeros(out_shape.to_vec());
    let od = out.data_mut();
    for r in 0..rows {
        let xr = &x.data()[r * inf..(r + 1) * inf];
        for o in 0..outf {
            let wr = &wd[o * inf..(o + 1) * inf];
            let dot: f64 = xr.iter().zip(wr).map(|(a, b)| a * b).sum();
            od[r * outf + o] = dot + d.bias.as_ref().map_or(0.0, |t| t.data()[o]);
        }
    }
    Ok(out)
}

fn avgpool(x: &Tensor, p: &Pool2d, out_shape: &[usize]) -> Result<Tensor, String> {
    let [n, c, h, w] = dims4(x.shape())?;
    let [_, _, oh, ow] = dims4(out_shape)?;
    let mut out = Tensor::zeros(out_shape.to_vec());
    let od = out.data_mut();
    let xd = x.data();
    for plane in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                let (mut sum, mut count) = (0.0, 0usize);
                for ky in 0..p.kernel[0] {
                    let iy = (oy * p.strides[0] + ky) as isize - p.pads[0] as isize;
                    for kx in 0..p.kernel[1] {
                        let ix = (ox * p.strides[1] + kx) as isize - p.pads[1] as isize;
                        if iy >= 0 && iy < h as isize && ix >= 0 && ix < w as isize {
                            sum += xd[(plane * h + iy as usize) * w + ix as usize];
                            count += 1;
                        }
                    }
                }
                let div = if p.count_include_pad {
                    p.kernel[0] * p.kernel[1]
                } else {
                    count.max(1)
                };
                od[(plane * oh + oy) * ow + ox] = sum / div as f64;
            }
        }
    }
    Ok(out)
}

fn global_avgpool(x: &Tensor, out_shape: &[usize]) -> Result<Tensor, String> {
    let planes = x.shape().iter().take(2).product::<usize>().max(1);
    let area = x.len() / planes;
    let data = x
        .data()
        .chunks(area.max(1))
        .map(|c| c.iter().sum::<f64>() / area as f64)
        .collect();
    Tensor::new(out_shape.to_vec(), data).map_err(|e| e.to_string())
}

fn per_channel(x: &Tensor, scale: &[f64], bias: &[f64]) -> Result<Tensor, String> {
    let s = x.shape();
    let c = *s.get(1).ok_or("per-channel op on a rank < 2 tensor")?;
    let inner: usize = s.iter().skip(2).product();
    let mut out = x.clone();
    for (i, v) in out.data_mut().iter_mut().enumerate() {
        let ch = (i / inner.max(1)) % c;
        *v = scale[ch] * *v + bias[ch];
    }
    Ok(out)
}

fn pad(x: &Tensor, pads: &[usize], out_shape: &[usize]) -> Result<Tensor, String> {
    let rank = x.shape().len();
    let in_strides = crate::ir::strides(x.shape());
    let out_strides = crate::ir::strides(out_shape);
    let mut out = Tensor::zeros(out_shape.to_vec());
    let od = out.data_mut();
    for (i, &v) in x.data().iter().enumerate() {
        let mut dst = 0;
        for ax in 0..rank {
            let idx = (i / in_strides[ax]) % x.shape()[ax];
            dst += (idx + pads[ax]) * out_strides[ax];
        }
        od[dst] = v;
    }
    Ok(out)
}
