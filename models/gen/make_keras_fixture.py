#!/usr/bin/env python3
"""A model from a framework other than PyTorch: a tiny Keras CNN exported with tf2onnx.

Writes models/fixtures/keras_cnn.onnx and models/fixtures/expected/keras_cnn.json
(an input, onnxruntime's output, and Keras's own output for reference). Weights are
random with a fixed seed (the point is the exporter's graph, not accuracy).

TensorFlow is not in models/requirements.txt (it is large); use a separate venv:
    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu tf2onnx onnxruntime
    /tmp/tfenv/bin/python models/gen/make_keras_fixture.py
"""

import json
import os

import numpy as np
import onnxruntime as ort
import tensorflow as tf
import tf2onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures")
SEED = 20240611


def build():
    tf.keras.utils.set_random_seed(SEED)
    inp = tf.keras.Input(shape=(16, 16, 1), name="image")
    x = tf.keras.layers.Conv2D(4, 3, strides=2, padding="same", name="conv1")(inp)
    x = tf.keras.layers.BatchNormalization(name="bn1")(x)
    x = tf.keras.layers.ReLU(name="relu1")(x)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same", name="dw2")(x)
    x = tf.keras.layers.Activation("tanh", name="tanh2")(x)
    x = tf.keras.layers.AveragePooling2D(2, name="pool2")(x)
    x = tf.keras.layers.Conv2D(8, 3, padding="valid", name="conv3")(x)
    x = tf.keras.layers.Activation("sigmoid", name="sigmoid3")(x)
    x = tf.keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = tf.keras.layers.Dense(10, name="fc")(x)
    out = tf.keras.layers.Softmax(name="probs")(x)
    model = tf.keras.Model(inp, out, name="keras_cnn")
    # Non-trivial batch-norm statistics (as after training).
    rng = np.random.default_rng(SEED)
    bn = model.get_layer("bn1")
    bn.set_weights([rng.uniform(0.5, 1.5, 4), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.5, 2, 4)])
    return model


def main():
    model = build()
    spec = (tf.TensorSpec((None, 16, 16, 1), tf.float32, name="image"),)
    path = os.path.join(OUT, "keras_cnn.onnx")
    # inputs_as_nchw: the ONNX input is NCHW like every other model of the zoo.
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=path,
                               inputs_as_nchw=["image"])
    x = np.random.default_rng(SEED + 1).uniform(0, 1, size=(1, 1, 16, 16)).astype(np.float32)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    keras_y = model(np.transpose(x, (0, 2, 3, 1))).numpy()
    print("onnxruntime vs keras max |diff|", float(np.abs(y - keras_y).max()))
    with open(os.path.join(OUT, "expected", "keras_cnn.json"), "w") as f:
        json.dump({
            "input_shape": list(x.shape),
            "input": [float(v) for v in x.ravel()],
            "output_shape": list(y.shape),
            "output": [float(v) for v in y.ravel()],
            "oracle": f"onnxruntime {ort.__version__} (Keras {tf.keras.__version__} output agrees)",
            "dropped_final_op": "Softmax",
            "exporter": f"tf2onnx {tf2onnx.__version__}, TensorFlow {tf.__version__}",
        }, f)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
