#!/usr/bin/env python3
"""Generate the small ONNX op fixtures of the compiler front end (models/fixtures/).

Each fixture is a tiny model (KB-sized, weights from a fixed seed) that exercises one
supported op or pattern; models/fixtures/expected/<name>.json holds an input and
onnxruntime's output on it, which the Rust tests compare the IR interpreter to.
models/fixtures/errors/ holds models the importer must refuse with a clear error.

Usage (from the repository root):
    models/.venv/bin/python models/gen/make_fixtures.py
Needs: numpy, onnx, onnxruntime (models/requirements.txt).
"""

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures")
OPSET = 17
SEED = 20240611


def rng(name):
    # One generator per fixture, seeded from its name, so adding a fixture changes no other.
    return np.random.default_rng([SEED, sum(map(ord, name)) * 7919 + len(name)])


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name)


def ints(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def model(name, nodes, inits, in_shape, out_name="y", out_shape=None, opset=OPSET, in_name="x"):
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
        initializer=inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="blindfold-fixtures", producer_version="1")
    m.ir_version = 8
    if out_shape is None:
        # Let ONNX shape inference fill in the output shape (symbolic batch kept).
        inferred = onnx.shape_inference.infer_shapes(m, strict_mode=True)
        known = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
        if out_name in known and known[out_name].type.tensor_type.HasField("shape"):
            m.graph.output[0].CopyFrom(known[out_name])
    onnx.checker.check_model(m, full_check=True)
    return m


def save(name, m, in_shape, batch_rows=1, dropped=None):
    path = os.path.join(OUT, name + ".onnx")
    onnx.save(m, path)
    shape = [d if isinstance(d, int) else 1 for d in in_shape]
    x = rng(name + "/input").uniform(-1.0, 1.0, size=shape).astype(np.float32)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    if batch_rows != 1:
        # Fixed-batch model: the compiler runs image 0 alone.
        x, y = x[:1], y[:1]
    with open(os.path.join(OUT, "expected", name + ".json"), "w") as f:
        json.dump({
            "input_shape": list(x.shape),
            "input": [float(v) for v in x.ravel()],
            "output_shape": list(y.shape),
            "output": [float(v) for v in y.ravel()],
            "oracle": "onnxruntime " + ort.__version__,
            # The compiler drops a final (Log)Softmax; the test applies it to compare.
            "dropped_final_op": dropped,
        }, f)
    print(f"{name:28s} {os.path.getsize(path):7d} bytes  out {list(y.shape)}")


def conv_w(r, o, i, k, kw=None):
    return r.normal(0, 0.5, size=(o, i, k, kw or k))


def fixtures():
    # --- convolutions ---
    for name, attrs, shape in [
        ("conv_basic", {}, [1, 2, 8, 8]),
        ("conv_strided_padded", {"strides": [2, 2], "pads": [1, 1, 1, 1]}, [1, 2, 9, 9]),
        ("conv_asym_pad", {"strides": [2, 1], "pads": [0, 1, 2, 1]}, [1, 2, 8, 7]),
        ("conv_same_upper", {"strides": [2, 2], "auto_pad": "SAME_UPPER"}, [1, 2, 7, 8]),
        ("conv_same_lower", {"auto_pad": "SAME_LOWER", "kernel_shape": [3, 3]}, [1, 2, 6, 6]),
        ("conv_valid_rect", {"auto_pad": "VALID", "strides": [1, 3]}, [1, 2, 6, 10]),
    ]:
        r = rng(name)
        n = helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv1", **attrs)
        m = model(name, [n], [init("w", conv_w(r, 4, 2, 3)), init("b", r.normal(size=4))], shape, out_shape=None)
        save(name, m, shape)

    name = "conv_depthwise"
    r = rng(name)
    n = helper.make_node("Conv", ["x", "w", "b"], ["y"], name="dw", group=4, pads=[1, 1, 1, 1])
    save(name, model(name, [n], [init("w", conv_w(r, 4, 1, 3)), init("b", r.normal(size=4))], [1, 4, 6, 6]), [1, 4, 6, 6])

    name = "conv_nobias_add"  # bias as a separate Add (merge-bias)
    r = rng(name)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Add", ["c", "b"], ["y"], name="bias_add")]
    save(name, model(name, nodes, [init("w", conv_w(r, 3, 1, 3)), init("b", r.normal(size=(1, 3, 1, 1)))], [1, 1, 6, 6]), [1, 1, 6, 6])

    # --- dense ---
    name = "gemm_transb_alpha_beta"
    r = rng(name)
    n = helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1, alpha=0.5, beta=2.0)
    save(name, model(name, [n], [init("w", r.normal(size=(5, 16))), init("b", r.normal(size=5))], [1, 16]), [1, 16])
    name = "gemm_plain"
    r = rng(name)
    n = helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc")
    save(name, model(name, [n], [init("w", r.normal(size=(16, 5))), init("b", r.normal(size=(1, 5)))], [1, 16]), [1, 16])
    name = "matmul_add"
    r = rng(name)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
             helper.make_node("Add", ["h", "b"], ["y"], name="add")]
    save(name, model(name, nodes, [init("w", r.normal(size=(12, 7))), init("b", r.normal(size=7))], [1, 12]), [1, 12])

    # --- activations and elementwise ---
    for op in ["Relu", "Sigmoid", "Tanh", "Identity"]:
        name = op.lower()
        save(name, model(name, [helper.make_node(op, ["x"], ["y"], name=name + "1")], [], [1, 3, 4, 4]), [1, 3, 4, 4])
    name = "dropout"
    save(name, model(name, [helper.make_node("Dropout", ["x"], ["y"], name="drop")], [], [1, 10]), [1, 10])
    name = "pow2"
    save(name, model(name, [helper.make_node("Pow", ["x", "two"], ["y"], name="pow")], [init("two", 2.0)], [1, 2, 3, 3]), [1, 2, 3, 3])
    name = "square_mul"
    save(name, model(name, [helper.make_node("Mul", ["x", "x"], ["y"], name="sq")], [], [1, 2, 3, 3]), [1, 2, 3, 3])
    for op in ["Add", "Sub", "Mul", "Div"]:
        name = "bcast_" + op.lower()
        r = rng(name)
        c = r.uniform(0.5, 2.0, size=(2, 1, 1))
        save(name, model(name, [helper.make_node(op, ["x", "c"], ["y"], name=op.lower())], [init("c", c)], [1, 2, 3, 4]), [1, 2, 3, 4])
    name = "poly_act"  # 0.125 x^2 + 0.5 x + 0.25 as the zoo's poly models export it
    nodes = [helper.make_node("Mul", ["x", "a"], ["t1"]), helper.make_node("Add", ["t1", "b"], ["t2"]),
             helper.make_node("Mul", ["x", "t2"], ["t3"]), helper.make_node("Add", ["t3", "c"], ["y"])]
    save(name, model(name, nodes, [init("a", 0.125), init("b", 0.5), init("c", 0.25)], [1, 2, 3, 3]), [1, 2, 3, 3])

    # --- pooling and normalisation ---
    for name, attrs, shape in [
        ("avgpool_2x2", {"kernel_shape": [2, 2], "strides": [2, 2]}, [1, 2, 6, 6]),
        ("avgpool_pad_exclude", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, [1, 2, 5, 5]),
        ("avgpool_pad_include", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1}, [1, 2, 5, 5]),
        ("avgpool_same_upper", {"kernel_shape": [2, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}, [1, 1, 5, 7]),
    ]:
        save(name, model(name, [helper.make_node("AveragePool", ["x"], ["y"], name="pool", **attrs)], [], shape), shape)
    name = "global_avgpool"
    save(name, model(name, [helper.make_node("GlobalAveragePool", ["x"], ["y"], name="gap")], [], [1, 3, 5, 4]), [1, 3, 5, 4])

    def bn_inits(r, c, prefix):
        return [init(prefix + "s", r.uniform(0.5, 1.5, c)), init(prefix + "b", r.normal(size=c)),
                init(prefix + "m", r.normal(size=c)), init(prefix + "v", r.uniform(0.5, 2.0, c))]

    name = "conv_batchnorm"  # folded into the conv
    r = rng(name)
    nodes = [helper.make_node("Conv", ["x", "w", "cb"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"], name="bn", epsilon=1e-3)]
    save(name, model(name, nodes, [init("w", conv_w(r, 3, 2, 3)), init("cb", r.normal(size=3))] + bn_inits(r, 3, ""), [1, 2, 5, 5]), [1, 2, 5, 5])
    name = "batchnorm_alone"  # nothing to fold into: an affine op
    r = rng(name)
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn0")]
    save(name, model(name, nodes, bn_inits(r, 3, ""), [1, 3, 4, 4]), [1, 3, 4, 4])
    name = "gemm_batchnorm1d"
    r = rng(name)
    nodes = [helper.make_node("Gemm", ["x", "w", "wb"], ["h"], name="fc", transB=1),
             helper.make_node("BatchNormalization", ["h", "s", "b", "m", "v"], ["y"], name="bn1d")]
    save(name, model(name, nodes, [init("w", r.normal(size=(6, 8))), init("wb", r.normal(size=6))] + bn_inits(r, 6, ""), [1, 8]), [1, 8])

    # --- shapes ---
    name = "flatten_gemm"
    r = rng(name)
    nodes = [helper.make_node("Flatten", ["x"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w", "b"], ["y"], name="fc", transB=1)]
    save(name, model(name, nodes, [init("w", r.normal(size=(4, 18))), init("b", r.normal(size=4))], [1, 2, 3, 3]), [1, 2, 3, 3])
    name = "reshape_const"
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")]
    save(name, model(name, nodes, [ints("shape", [1, -1])], ["N", 2, 3, 3]), ["N", 2, 3, 3])
    name = "reshape_computed"  # PyTorch-style x.view(x.size(0), -1)
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsq"),
             helper.make_node("Concat", ["n1", "minus1"], ["target"], name="concat", axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape")]
    save(name, model(name, nodes, [ints("zero", 0), ints("axes", [0]), ints("minus1", [-1])], ["batch", 2, 3, 3]), ["batch", 2, 3, 3])
    name = "squeeze_unsqueeze_transpose"
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["g"], name="gap"),
             helper.make_node("Transpose", ["g"], ["t"], name="t", perm=[0, 2, 3, 1]),
             helper.make_node("Squeeze", ["t", "ax12"], ["s"], name="sq"),
             helper.make_node("Unsqueeze", ["s", "ax2"], ["y"], name="unsq")]
    save(name, model(name, nodes, [ints("ax12", [1, 2]), ints("ax2", [2])], [1, 3, 4, 4]), [1, 3, 4, 4])
    name = "pad_zeros"
    nodes = [helper.make_node("Pad", ["x", "pads"], ["y"], name="pad", mode="constant")]
    save(name, model(name, nodes, [ints("pads", [0, 0, 1, 2, 0, 0, 2, 1])], [1, 2, 3, 3]), [1, 2, 3, 3])
    name = "constant_weights"  # weights from Constant nodes, not initializers
    r = rng(name)
    w = numpy_helper.from_array(conv_w(r, 2, 1, 2).astype(np.float32), "w")
    nodes = [helper.make_node("Constant", [], ["w"], name="wconst", value=w),
             helper.make_node("Constant", [], ["k"], name="kconst", value_float=0.5),
             helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Mul", ["c", "k"], ["y"], name="scale")]
    save(name, model(name, nodes, [], [1, 1, 4, 4]), [1, 1, 4, 4])

    # --- graphs ---
    name = "residual_add"
    r = rng(name)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["x", "c2"], ["y"], name="residual")]
    save(name, model(name, nodes, [init("w1", conv_w(r, 3, 3, 3)), init("b1", r.normal(size=3)),
                                   init("w2", conv_w(r, 3, 3, 3)), init("b2", r.normal(size=3))], [1, 3, 5, 5]), [1, 3, 5, 5])
    for op in ["Softmax", "LogSoftmax"]:
        name = "gemm_" + op.lower()
        r = rng(name)
        nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc", transB=1),
                 helper.make_node(op, ["h"], ["y"], name="prob", axis=-1)]
        save(name, model(name, nodes, [init("w", r.normal(size=(10, 6))), init("b", r.normal(size=10))], [1, 6]), [1, 6],
             dropped=op)
    name = "fixed_batch4"
    r = rng(name)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Reshape", ["r", "shape"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1)]
    inits = [init("w", conv_w(r, 2, 1, 3)), init("b", r.normal(size=2)), ints("shape", [4, -1]),
             init("fw", r.normal(size=(3, 32))), init("fb", r.normal(size=3))]
    save(name, model(name, nodes, inits, [4, 1, 6, 6]), [4, 1, 6, 6], batch_rows=4)
    name = "small_cnn"
    r = rng(name)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "s", "b", "m", "v"], ["n1"], name="bn1"),
             helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
             helper.make_node("AveragePool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Mul", ["c2", "c2"], ["s2"], name="square"),
             helper.make_node("GlobalAveragePool", ["s2"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
             helper.make_node("Dropout", ["f"], ["d"], name="dropout"),
             helper.make_node("Gemm", ["d", "fw", "fb"], ["logits"], name="fc", transB=1),
             helper.make_node("Softmax", ["logits"], ["y"], name="softmax", axis=1)]
    inits = [init("w1", conv_w(r, 4, 1, 3))] + bn_inits(r, 4, "") + [
        init("w2", conv_w(r, 6, 4, 3)), init("b2", r.normal(size=6)),
        init("fw", r.normal(size=(5, 6))), init("fb", r.normal(size=5))]
    save(name, model(name, nodes, inits, ["N", 1, 8, 8]), ["N", 1, 8, 8], dropped="Softmax")


def errors():
    """Models the importer must refuse; the Rust tests check the message."""
    d = os.path.join(OUT, "errors")
    r = rng("errors")

    def put(name, m):
        onnx.save(m, os.path.join(d, name + ".onnx"))
        print(f"errors/{name}.onnx")

    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv1"),
             helper.make_node("MaxPool", ["c"], ["y"], name="pool1", kernel_shape=[2, 2], strides=[2, 2])]
    put("maxpool", model("maxpool", nodes, [init("w", conv_w(r, 2, 1, 3))], [1, 1, 8, 8]))
    put("dynamic_hw", model("dynamic_hw", [helper.make_node("Relu", ["x"], ["y"], name="relu")], [], ["N", 1, "H", "W"]))
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["xt"], name="to_column"),
             helper.make_node("Gemm", ["x", "xt"], ["y"], name="fc_data_weight")]
    put("nonconst_weight", model("nonconst_weight", nodes, [ints("shape", [4, 1])], [1, 4]))
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["f"], name="merge_images"),
             helper.make_node("Gemm", ["f", "w"], ["y"], name="fc", transB=1)]
    put("batch_mixing", model("batch_mixing", nodes, [ints("shape", [1, -1]), init("w", r.normal(size=(2, 12)))], [4, 3]))
    put("unsupported_erf", model("unsupported_erf", [helper.make_node("Erf", ["x"], ["y"], name="gelu_erf")], [], [1, 4]))
    nodes = [helper.make_node("Softmax", ["x"], ["s"], name="attn_softmax", axis=1),
             helper.make_node("Gemm", ["s", "w"], ["y"], name="fc", transB=1)]
    put("softmax_middle", model("softmax_middle", nodes, [init("w", r.normal(size=(2, 4)))], [1, 4]))
    put("pow3", model("pow3", [helper.make_node("Pow", ["x", "e"], ["y"], name="cube")], [init("e", 3.0)], [1, 4]))
    nodes = [helper.make_node("Div", ["x", "x"], ["y"], name="ratio")]
    put("div_by_data", model("div_by_data", nodes, [], [1, 4]))


if __name__ == "__main__":
    os.makedirs(os.path.join(OUT, "expected"), exist_ok=True)
    os.makedirs(os.path.join(OUT, "errors"), exist_ok=True)
    fixtures()
    errors()
