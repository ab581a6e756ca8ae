//! Layers with weights or windows: Conv, Gemm, MatMul, AveragePool, BatchNormalization, Pad.

use super::convert::{Attrs, Converter, Value};
use super::onnx::OnnxNode;
use crate::error::{CompileError, Result};
use crate::ir::{BatchNorm, Conv2d, Dense, Op, Pool2d, Tensor};

fn invalid(node: &OnnxNode, reason: impl Into<String>) -> CompileError {
    CompileError::InvalidNode {
        op: node.op_type.clone(),
        node: node.label(),
        reason: reason.into(),
    }
}

fn unsupported(node: &OnnxNode, hint: impl Into<String>) -> CompileError {
    CompileError::Unsupported {
        op: node.op_type.clone(),
        node: node.label(),
        hint: hint.into(),
    }
}

fn pair(node: &OnnxNode, name: &str, v: Option<Vec<i64>>, default: usize) -> Result<[usize; 2]> {
    match v.as_deref() {
        None => Ok([default; 2]),
        Some([a, b]) if *a >= 0 && *b >= 0 => Ok([*a as usize, *b as usize]),
        Some(other) => Err(unsupported(
            node,
            format!("'{name}' = {other:?}: only 2-D windows (NCHW) are supported"),
        )),
    }
}

/// Window geometry shared by Conv and AveragePool: strides, dilations and padding
/// (explicit or `auto_pad`) for an input of spatial size `hw`.
fn window(node: &OnnxNode, kernel: [usize; 2], hw: [usize; 2]) -> Result<([usize; 2], [usize; 4])> {
    let a = Attrs(node);
    let strides = pair(node, "strides", a.ints("strides")?, 1)?;
    if strides.contains(&0) {
        return Err(invalid(node, "strides must be positive"));
    }
    let dil = pair(node, "dilations", a.ints("dilations")?, 1)?;
    if dil != [1, 1] {
        return Err(unsupported(
            node,
            format!("dilations {dil:?}: only dilation 1 is supported"),
        ));
    }
    let auto_pad = a.string("auto_pad", "NOTSET")?;
    let pads = match auto_pad.as_str() {
        "NOTSET" => match a.ints("pads")?.as_deref() {
            None => [0; 4],
            Some([t, l, b, r]) if [t, l, b, r].iter().all(|&&p| p >= 0) => {
                [*t as usize, *l as usize, *b as usize, *r as usize]
            }
            Some(other) => {
                return Err(unsupported(
                    node,
                    format!("pads {other:?}: 4 non-negative values (2-D) are supported"),
                ))
            }
        },
        "VALID" => [0; 4],
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut p = [0; 4];
            for ax in 0..2 {
                let out = hw[ax].div_ceil(strides[ax]);
                let total =
                    (out.saturating_sub(1) * strides[ax] + kernel[ax]).saturating_sub(hw[ax]);
                let small = total / 2;
                let (begin, end) = if auto_pad == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
                p[ax] = begin;
                p[ax + 2] = end;
            }
            p
        }
        other => return Err(invalid(node, format!("unknown auto_pad '{other}'"))),
    };
    Ok((strides, pads))
}

fn spatial(cv: &Converter, node: &OnnxNode) -> Result<[usize; 4]> {
    match cv.input_shape_of(node, 0)?.as_slice() {
        [n, c, h, w] => Ok([*n, *c, *h, *w]),
        other => Err(unsupported(
            node,
            format!("input shape {other:?}: only 2-D NCHW inputs are supported"),
        )),
    }
}

pub(crate) fn conv(cv: &mut Converter, node: &OnnxNode) -> Result<()> {
    let [_, c, h, w] = spatial(cv, node)?;
    let weight = cv
        .constant(node, 1)?
        .ok_or_else(|| invalid(node, "the kernel (input 1) is missing"))?;
    let [co, cig, kh, kw] = match weight.shape() {
        [a, b, c, d] => [*a, *b, *c, *d],
        other => {
            return Err(unsupported(
                node,
                format!("kernel shape {other:?}: only 2-D convolutions are supported"),
            ))
        }
    };
    let groups = usize::try_from(Attrs(node).int("group", 1)?).unwrap_or(0);
    if groups == 0 || cig * groups != c || co % groups != 0 {
        return Err(invalid(
            node,
            format!(
                "kernel {:?} with group {groups} does not fit {c} input channels",
                weight.shape()
            ),
        ));
    }
    if let Some(ks) = Attrs(node).ints("kernel_shape")? {
        if ks != [kh as i64, kw as i64] {
            return Err(invalid(
                node,
                format!(
                    "kernel_shape {ks:?} disagrees with the kernel {:?}",
                    weight.shape()
                ),
            ));
        }
    }
    let (strides, pads) = window(node, [kh, kw], [h, w])?;
    let bias = cv.constant(node, 2)?;
    let x = cv.node_input(node, 0)?;
    let op = Op::Conv(Conv2d {
        weight,
        bias: bias.map(|b| b.reshaped(vec![co])).transpose()?,
        strides,
        pads,
        groups,
    });
    cv.emit(node, op, &[x]).map(drop)
}

/// Transposes a rank-2 tensor.
fn transpose2(t: &Tensor) -> Result<Tensor> {
    let [r, c] = match t.shape() {
        [r, c] => [*r, *c],
        other => {
            return Err(CompileError::InvalidInput {
                reason: format!("expected a matrix, got shape {other:?}"),
            })
        }
    };
    let mut out = vec![0.0; r * c];
    for i in 0..r {
        for j in 0..c {
            out[j * r + i] = t.data()[i * c + j];
        }
    }
    Tensor::new(vec![c, r], out)
}

pub(crate) fn gemm(cv: &mut Converter, node: &OnnxNode) -> Result<()> {
    let a = Attrs(node);
    if a.int("transA", 0)? != 0 {
        let hint = if cv.fixed_batch.is_some() {
            return Err(CompileError::BatchMixing {
                op: node.op_type.clone(),
                node: node.label(),
                reason: "transA = 1 contracts over the batch axis".into(),
            });
        } else {
            "transA = 1 is not supported: the data operand must be A, untransposed"
        };
        return Err(unsupported(node, hint));
    }
    if matches!(cv.required(node, 0)?, Value::Const(_)) {
        return Err(CompileError::NonConstantWeight {
            op: node.op_type.clone(),
            node: node.label(),
            input: node.inputs.get(1).cloned().unwrap_or_default(),
        });
    }
    let (alpha, beta) = (a.float("alpha", 1.0)?, a.float("beta", 1.0)?);
    let b = cv
        .constant(node, 1)?
        .ok_or_else(|| invalid(node, "input B is missing"))?;
    // Dense holds W as [out, in]; Gemm computes A·B (B is [in, out]) or A·Bᵀ with transB.
    let mut weight = if a.int("transB", 0)? != 0 {
        b
    } else {
        transpose2(&b).map_err(|e| invalid(node, e.to_string()))?
    };
    weight.data_mut().iter_mut().for_each(|v| *v *= alpha);
    let out = weight.shape().first().copied().unwrap_or(0);
    let bias = match cv.constant(node, 2)? {
        None => None,
        Some(c) => {
            let c = crate::ir::broadcast_to(&c, &[out])
                .or_else(|_| c.clone().reshaped(vec![out]))
                .map_err(|_| {
                    unsupported(
                        node,
                        format!(
                            "bias C of shape {:?}: a scalar or {out} values are supported",
                            c.shape()
                        ),
                    )
                })?;
            let mut c = c;
            c.data_mut().iter_mut().for_each(|v| *v *= beta);
            Some(c)
        }
    };
    let x = cv.node_input(node, 0)?;
    if cv.graph.fact(x)?.shape.len() != 2 {
        return Err(invalid(node, "input A must be a matrix"));
    }
    cv.emit(node, Op::Dense(Dense { weight, bias }), &[x])
        .map(drop)
}

pub(crate) fn matmul(cv: &mut Converter, node: &OnnxNode) -> Result<()> {
    match (cv.required(node, 0)?, cv.required(node, 1)?) {
        (Value::Node(_), Value::Const(b)) if b.shape().len() == 2 => {
            let weight = transpose2(b).map_err(|e| invalid(node, e.to_string()))?;
            let x = cv.node_input(node, 0)?;
            cv.emit(node, Op::Dense(Dense { weight, bias: None }), &[x])
                .map(drop)
        }
        (Value::Node(_), Value::Const(b)) => Err(unsupported(
            node,
            format!(
                "a weight of shape {:?}: only matrices are supported",
                b.shape()
            ),
        )),
        (Value::Const(_), Value::Node(_)) => Err(CompileError::NonConstantWeight {
            op: node.op_type.clone(),
            node: node.label(),
            input: node.inputs.get(1).cloned().unwrap_or_default(),
        }),
        _ => Err(unsupported(
            node,
            "a product of two encrypted tensors is not supported; one operand must be a constant",
        )),
    }
}

pub(crate) fn avgpool(cv: &mut Converter, node: &OnnxNode) -> Result<()> {
    let [_, _, h, w] = spatial(cv, node)?;
    let a = Attrs(node);
    let kernel = pair(node, "kernel_shape", a.ints("kernel_shape")?, 0)?;
    if kernel.contains(&0) {
        return Err(invalid(node, "kernel_shape is required"));
    }
    let (strides, pads) = window(node, kernel, [h, w])?;
    if a.int("ceil_mode", 0)? != 0 {
        let floor_fits = (0..2).all(|ax| {
            let span = [h, w][ax] + pads[ax] + pads[ax + 2];
            span >= kernel[ax] && (span - kernel[ax]) % strides[ax] == 0
        });
        if !floor_fits {
            return Err(unsupported(
                node,
                "ceil_mode = 1 where it changes the output size",
            ));
        }
    }
    let auto = a.string("auto_pad", "NOTSET")?;
    let count_include_pad = a.int("count_include_pad", 0)? != 0 && auto == "NOTSET";
    let x = cv.node_input(node, 0)?;
    let op = Op::AvgPool(Pool2d {
        kernel,
        strides,
        pads,
        count_include_pad,
    });
    cv.emit(node, op, &[x]).map(drop)
}

pub(crate) fn batchnorm(cv: &mut Converter, node: &OnnxNode) -> Result<()> {
    let a = Attrs(node);
    if a.int("training_mode", 0)? != 0 || (1..5).any(|k| cv.output_used(node, k)) {
        return Err(unsupported(
            node,
            "training mode (batch statistics) is not supported: export the model in eval mode",
        ));
    }
    let channels = cv.input_shape_of(node, 0)?.get(1).copied().unwrap_or(0);
    let mut params = Vec::with_capacity(4);
    for i in 1..5 {
        let t = cv
            .constant(node, i)?
            .ok_or_else(|| invalid(node, format!("input {i} is missing")))?;
        if t.len() != channels {
            return Err(invalid(
                node,
                format!("input {i} has {} values for {channels} channels", t.len()),
            ));
        }
        params.push(t.into_data());
    }
    let [scale, bias, mean, var]: [Vec<f64>; 4] = params
        .try_into()
        .map_err(|_| invalid(node, "expects 5 inputs"))?;
    let op = Op::BatchNorm(BatchNorm {
        scale,
        bias,
        mean,
        var,
        epsilon: a.float("epsilon", 1e-5)?,
    });
    let x = cv.node_input(node, 0)?;
    cv.emit(node, op, &[x]).map(drop)
}

pub(crate) fn pad(cv: &mut Converter, node: &OnnxNode, opset: i64) -> Result<()> {
    let a = Attrs(node);
    let mode = a.string("mode", "constant")?;
    if mode != "constant" {
        return Err(unsupported(
            node,
            format!("mode '{mode}': only zero (constant) padding is supported"),
        ));
    }
    let rank = cv.input_shape_of(node, 0)?.len();
    let raw: Vec<i64> = if opset < 11 {
        if a.float("value", 0.0)? != 0.0 {
            return Err(unsupported(node, "a non-zero padding value"));
        }
        a.ints("pads")?.unwrap_or_default()
    } else {
        if let Some(v) = cv.constant(node, 2)? {
            if !v.all_equal(0.0) {
                return Err(unsupported(node, "a non-zero padding value"));
            }
        }
        let p = cv
            .constant(node, 1)?
            .ok_or_else(|| invalid(node, "input 'pads' is missing"))?;
        let p: Vec<i64> = p.data().iter().map(|&v| v as i64).collect();
        match cv.constant(node, 3)? {
            None => p,
            Some(axes) => {
                let mut full = vec![0i64; 2 * rank];
                let n = axes.len();
                for (k, &ax) in axes.data().iter().enumerate() {
                    let ax = if ax < 0.0 { ax + rank as f64 } else { ax } as usize;
                    if ax >= rank || p.len() != 2 * n {
                        return Err(invalid(node, "axes do not fit the input"));
                    }
                    full[ax] = p[k];
                    full[ax + rank] = p[k + n];
                }
                full
            }
        }
    };
    if raw.len() != 2 * rank || raw.iter().any(|&p| p < 0) {
        return Err(unsupported(
            node,
            format!(
                "pads {raw:?}: {} non-negative values are supported",
                2 * rank
            ),
        ));
    }
    if raw[0] != 0 || raw[rank] != 0 {
        return Err(CompileError::BatchMixing {
            op: node.op_type.clone(),
            node: node.label(),
            reason: "it pads the batch axis".into(),
        });
    }
    let x = cv.node_input(node, 0)?;
    let pads = raw.iter().map(|&p| p as usize).collect();
    cv.emit(node, Op::Pad { pads }, &[x]).map(drop)
}
