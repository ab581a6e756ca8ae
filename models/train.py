#!/usr/bin/env python3
"""Train, export (ONNX), verify (onnxruntime) and document every demo model of blindfold.

    python models/train.py --all              # retrain everything (priority order)
    python models/train.py --model mnist_relu # retrain one model (repeatable: --model a --model b)
    python models/train.py --samples-only     # only (re)write models/samples/ and the card

Conventions shared by every model:
  * input: NCHW float32 pixels scaled to [0, 1] (x / 255), batch axis dynamic ("batch"),
    MNIST-family [N, 1, 28, 28], CIFAR-10 [N, 3, 32, 32]; no mean/std normalisation at all
    (batch-norm after the first conv makes it unnecessary), so every model is fed the same way;
  * output: raw logits [N, 10] (no softmax);
  * batch-norm is folded into the preceding Conv/Gemm before export, so graphs only contain
    Conv, Relu, AveragePool, Flatten, Gemm, Mul, Add (the polynomial activations);
  * exporter: torch.onnx.export(dynamo=False) (TorchScript exporter), opset 17, constant folding.

Outputs (all under models/): <name>.onnx, metrics.json (per-model metrics), expected.json
(onnxruntime logits on the first 20 sample PNGs + accuracy on the 200 sample PNGs), README.md
(model card, regenerated from metrics.json after every model), samples/<dataset>/<idx>_<label>.png.
"""
import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import platform
import random
import sys
import tarfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SEED = 20240611
OPSET = 17
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
N_SAMPLES = 200
N_EXPECTED = 20

# ----------------------------------------------------------------------------------------------
# data


def read_idx(path):
    with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


def load_mnist_like(d):
    """uint8 images (n, 1, 28, 28) and int64 labels for train and test."""
    def f(n):
        for p in (os.path.join(d, n + ".gz"), os.path.join(d, n)):
            if os.path.exists(p):
                return p
        raise FileNotFoundError(os.path.join(d, n + ".gz"))
    xtr = read_idx(f("train-images-idx3-ubyte"))[:, None]
    ytr = read_idx(f("train-labels-idx1-ubyte")).astype(np.int64)
    xte = read_idx(f("t10k-images-idx3-ubyte"))[:, None]
    yte = read_idx(f("t10k-labels-idx1-ubyte")).astype(np.int64)
    return xtr, ytr, xte, yte


def load_cifar_exact(partial_dir):
    """The first 1,017 original CIFAR-10 test images (uint8 (n, 3, 32, 32)) and labels."""
    with gzip.open(os.path.join(partial_dir, "test_batch_first1017.bin.gz"), "rb") as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8)
    rec = raw.reshape(-1, 3073)
    return rec[:, 1:].reshape(-1, 3, 32, 32).copy(), rec[:, 0].astype(np.int64)


def _decode_tar(path, prefix):
    from PIL import Image
    out = {}
    with tarfile.open(path) as tf:
        for m in tf:
            if not m.isfile() or not m.name.endswith(".jpg"):
                continue
            parts = m.name.split("/")          # prefix/<class>/NNNN.jpg
            cls, idx = parts[-2], int(parts[-1][:-4])
            img = Image.open(io.BytesIO(tf.extractfile(m).read())).convert("RGB")
            out[(cls, idx)] = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)
    return out


def load_cifar_jpeg(jpeg_dir, partial_dir, cache_dir):
    """CIFAR-10 JPEG copy. The test set is put back into the original test_batch order
    (test/<class>/NNNN.jpg is the NNNN-th image of that class in test_batch)."""
    cache = os.path.join(cache_dir, "cifar10_jpeg_decoded.npz")
    if os.path.exists(cache):
        z = np.load(cache)
        return z["xtr"], z["ytr"], z["xte"], z["yte"]
    t0 = time.time()
    tr = _decode_tar(os.path.join(jpeg_dir, "train.tar"), "train")
    keys = sorted(tr, key=lambda k: (CIFAR_CLASSES.index(k[0]), k[1]))
    xtr = np.stack([tr[k] for k in keys])
    ytr = np.array([CIFAR_CLASSES.index(k[0]) for k in keys], dtype=np.int64)
    te = _decode_tar(os.path.join(jpeg_dir, "test.tar"), "test")
    yte = np.loadtxt(os.path.join(partial_dir, "test_batch_labels.txt"), dtype=np.int64)
    count = [0] * 10
    xte = []
    for y in yte:
        xte.append(te[(CIFAR_CLASSES[y], count[y])])
        count[y] += 1
    xte = np.stack(xte)
    assert xtr.shape == (50000, 3, 32, 32) and xte.shape == (10000, 3, 32, 32)
    os.makedirs(cache_dir, exist_ok=True)
    np.savez(cache, xtr=xtr, ytr=ytr, xte=xte, yte=yte)
    print(f"  decoded CIFAR-10 JPEGs in {time.time() - t0:.0f}s (cached in {cache})", flush=True)
    return xtr, ytr, xte, yte


class Data:
    def __init__(self, args):
        self.args = args
        self._c = {}

    def get(self, ds):
        if ds not in self._c:
            a = self.args
            if ds == "mnist":
                self._c[ds] = load_mnist_like(a.mnist_dir)
            elif ds == "kmnist":
                self._c[ds] = load_mnist_like(a.kmnist_dir)
            elif ds == "fashion":
                self._c[ds] = load_mnist_like(a.fashion_dir)
            elif ds == "cifar10":
                self._c[ds] = load_cifar_jpeg(a.cifar_jpeg_dir, a.cifar_partial_dir, a.cache_dir)
            else:
                raise KeyError(ds)
        return self._c[ds]

    def samples(self, ds):
        """The 200 sample images (uint8 NCHW), their labels and original test indices."""
        if ds == "cifar10":
            x, y = load_cifar_exact(self.args.cifar_partial_dir)
        else:
            _, _, x, y = self.get(ds)
        return x[:N_SAMPLES], y[:N_SAMPLES], np.arange(N_SAMPLES)


# ----------------------------------------------------------------------------------------------
# models

def build(name):
    import torch
    import torch.nn as nn

    class Square(nn.Module):
        def forward(self, x):
            return x * x

    class Poly2(nn.Module):
        """0.125 x^2 + 0.5 x + 0.25 (= (x + 2)^2 / 8, the degree-2 'ReLU-like' polynomial),
        exported as x * (0.125 x + 0.5) + 0.25: Mul, Add, Mul, Add."""
        def forward(self, x):
            return x * (0.125 * x + 0.5) + 0.25

    def act(kind):
        return {"relu": nn.ReLU, "square": Square, "poly": Poly2}[kind]()

    if name == "mnist_seed":
        return nn.Sequential(
            nn.Conv2d(1, 4, 7, stride=3, padding=0), Square(), nn.Flatten(),
            nn.Linear(256, 64), Square(), nn.Linear(64, 10))

    if name.split("_")[0] in ("mnist", "kmnist", "fashion"):
        a = name.split("_")[1]
        return nn.Sequential(
            nn.Conv2d(1, 8, 5, padding=2), nn.BatchNorm2d(8), act(a), nn.AvgPool2d(2),
            nn.Conv2d(8, 16, 5, padding=2), nn.BatchNorm2d(16), act(a), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(784, 64), nn.BatchNorm1d(64), act(a), nn.Linear(64, 10))

    if name.startswith("cifar10_"):
        a = SPECS[name].get("act_fn", name.split("_")[1])
        c1, c2, c3, h = CIFAR_WIDTH
        return nn.Sequential(
            nn.Conv2d(3, c1, 3, padding=1), nn.BatchNorm2d(c1), act(a), nn.AvgPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), act(a), nn.AvgPool2d(2),
            nn.Conv2d(c2, c3, 3, padding=1), nn.BatchNorm2d(c3), act(a), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(c3 * 16, h), nn.BatchNorm1d(h), act(a), nn.Linear(h, 10))
    raise KeyError(name)


CIFAR_WIDTH = (16, 32, 64, 128)

# name -> dataset, epochs, lr, weight decay, batch size, augmentation, activation description
SPECS = {
    "mnist_seed": dict(ds="mnist", epochs=10, lr=2e-3, wd=1e-3, bs=64, aug=False, logit_l2=1e-2,
                       act="x*x (Mul(x,x))",
                       arch="Conv(1->4, 7x7, stride 3, no pad) -> x*x -> Flatten -> Gemm(256->64) -> x*x -> Gemm(64->10)"),
    "mnist_relu": dict(ds="mnist", epochs=5, lr=3e-3, wd=1e-4, bs=128, aug=False, act="ReLU"),
    "cifar10_relu": dict(ds="cifar10", epochs=25, lr=3e-3, wd=5e-4, bs=128, aug=True, act="ReLU"),
    "kmnist_relu": dict(ds="kmnist", epochs=5, lr=3e-3, wd=1e-4, bs=128, aug=False, act="ReLU"),
    "fashion_relu": dict(ds="fashion", epochs=5, lr=3e-3, wd=1e-4, bs=128, aug=False, act="ReLU"),
    # plain x*x diverged here (4 stacked squares: train accuracy stuck near 12%, test logits ~1e5), so
    # this model uses the fixed degree-2 polynomial of the *_poly models, with gradient clipping
    "cifar10_square": dict(ds="cifar10", epochs=12, lr=2e-3, wd=5e-4, bs=128, aug=True, act_fn="poly", clip=2.0,
                           act="0.125x^2+0.5x+0.25 (Mul,Add,Mul,Add)"),
    "mnist_poly": dict(ds="mnist", epochs=5, lr=3e-3, wd=1e-4, bs=128, aug=False,
                       act="0.125x^2+0.5x+0.25 (Mul,Add,Mul,Add)"),
    "kmnist_poly": dict(ds="kmnist", epochs=5, lr=3e-3, wd=1e-4, bs=128, aug=False,
                        act="0.125x^2+0.5x+0.25 (Mul,Add,Mul,Add)"),
    "fashion_poly": dict(ds="fashion", epochs=5, lr=3e-3, wd=1e-4, bs=128, aug=False,
                         act="0.125x^2+0.5x+0.25 (Mul,Add,Mul,Add)"),
}
# penalty lam * mean(logit^2) added to the cross-entropy: keeps logits (and so the encrypted
# circuit's values) moderate without changing the architecture
LOGIT_L2 = 1e-3
FLOORS = {"mnist_seed": 0.97, "mnist_relu": 0.985, "kmnist_relu": 0.92, "fashion_relu": 0.88, "cifar10_relu": 0.70}


def arch_text(name):
    s = SPECS[name]
    if "arch" in s:
        return s["arch"]
    if s["ds"] == "cifar10":
        c1, c2, c3, h = CIFAR_WIDTH
        return (f"3x[Conv 3x3 pad 1 ({3}->{c1}->{c2}->{c3}) + BN(folded) -> act -> AvgPool 2x2] -> Flatten -> "
                f"Gemm({c3 * 16}->{h}) + BN(folded) -> act -> Gemm({h}->10); act = {s['act']}")
    return ("Conv(1->8, 5x5, pad 2)+BN -> act -> AvgPool 2x2 -> Conv(8->16, 5x5, pad 2)+BN -> act -> AvgPool 2x2 -> "
            f"Flatten -> Gemm(784->64)+BN -> act -> Gemm(64->10); BN folded; act = {s['act']}")


def fold_bn(model):
    """Copy of an eval-mode Sequential with every BatchNorm folded into the Conv/Linear before it."""
    import copy
    import torch.nn as nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval
    layers = list(copy.deepcopy(model).eval())
    out = []
    for l in layers:
        if isinstance(l, (nn.BatchNorm1d, nn.BatchNorm2d)):
            prev = out.pop()
            out.append(fuse_conv_bn_eval(prev, l) if isinstance(prev, nn.Conv2d) else fuse_linear_bn_eval(prev, l))
        else:
            out.append(l)
    return nn.Sequential(*out).eval()


# ----------------------------------------------------------------------------------------------
# training


def seed_all(seed):
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def augment(xb, gen):
    """Random crop (zero pad 4, crop 32x32) + horizontal flip, on a uint8 NCHW batch."""
    import torch
    n, c, h, w = xb.shape
    p = torch.nn.functional.pad(xb, (4, 4, 4, 4))
    dx = torch.randint(0, 9, (n,), generator=gen)
    dy = torch.randint(0, 9, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(xb)
    for i in range(n):
        v = p[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = v.flip(-1) if flip[i] else v
    return out


def torch_logits(model, x_u8, bs=1000):
    import torch
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x_u8), bs):
            outs.append(model(torch.from_numpy(x_u8[i:i + bs]).float() / 255.0))
    return torch.cat(outs).numpy()


def train(name, data, log):
    import torch
    import torch.nn as nn
    s = SPECS[name]
    seed_all(SEED)
    xtr, ytr, xte, yte = data.get(s["ds"])
    model = build(name)
    gen = torch.Generator().manual_seed(SEED)
    Xtr = torch.from_numpy(xtr)
    Ytr = torch.from_numpy(ytr)
    steps = (len(xtr) + s["bs"] - 1) // s["bs"]
    opt = torch.optim.AdamW(model.parameters(), lr=s["lr"], weight_decay=s["wd"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s["lr"], epochs=s["epochs"], steps_per_epoch=steps,
                                                pct_start=0.25)
    lossf = nn.CrossEntropyLoss()
    t0 = time.time()
    for ep in range(s["epochs"]):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        tot, correct, lsum = 0, 0, 0.0
        for b in range(steps):
            idx = perm[b * s["bs"]:(b + 1) * s["bs"]]
            xb = Xtr[idx]
            if s["aug"]:
                xb = augment(xb, gen)
            xb = xb.float() / 255.0
            yb = Ytr[idx]
            out = model(xb)
            loss = lossf(out, yb) + s.get("logit_l2", LOGIT_L2) * (out ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if s.get("clip"):
                nn.utils.clip_grad_norm_(model.parameters(), s["clip"])
            opt.step()
            sched.step()
            lsum += loss.item() * len(idx)
            correct += (out.argmax(1) == yb).sum().item()
            tot += len(idx)
        te_acc = float((torch_logits(model, xte).argmax(1) == yte).mean())
        log(f"  {name} epoch {ep + 1}/{s['epochs']}: loss {lsum / tot:.4f} train acc {correct / tot:.4f} "
            f"test acc {te_acc:.4f} ({time.time() - t0:.0f}s)")
    return model, time.time() - t0


# ----------------------------------------------------------------------------------------------
# export + verification


def constants_to_initializers(m):
    """Turn Constant nodes (the scalars of the polynomial activations) into initializers, so a graph
    holds only the compute ops listed in the card."""
    from onnx import numpy_helper
    keep = []
    for n in m.graph.node:
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
            t = numpy_helper.to_array(n.attribute[0].t)
            m.graph.initializer.append(numpy_helper.from_array(t, n.output[0]))
        else:
            keep.append(n)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    return m


def export(model, name, ds):
    import onnx
    import torch
    fused = fold_bn(model)
    c, h = (3, 32) if ds == "cifar10" else (1, 28)
    path = os.path.join(HERE, name + ".onnx")
    dummy = torch.zeros(1, c, h, h)
    torch.onnx.export(fused, (dummy,), path, dynamo=False, opset_version=OPSET, do_constant_folding=True,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    m = constants_to_initializers(onnx.load(path))
    onnx.checker.check_model(m, full_check=True)
    # readable doc string + stable producer info
    m.doc_string = (f"blindfold demo model {name}: input NCHW float32 pixels in [0,1] (x/255), "
                    f"shape [batch,{c},{h},{h}]; output logits [batch,10]. Trained by models/train.py (seed {SEED}).")
    onnx.save(m, path)
    ops = sorted({n.op_type for n in m.graph.node})
    allowed = {"Conv", "Relu", "AveragePool", "Flatten", "Reshape", "Gemm", "MatMul", "Add", "Mul", "Constant"}
    assert set(ops) <= allowed, f"unexpected ops {ops}"
    return path, fused, [n.op_type for n in m.graph.node]


def layer_maxima(fused, x_u8):
    """max |value| over the test set after each layer of the exported (BN-folded) network."""
    import torch
    mx = [0.0] * len(fused)
    with torch.no_grad():
        for i in range(0, len(x_u8), 1000):
            h = torch.from_numpy(x_u8[i:i + 1000]).float() / 255.0
            for j, layer in enumerate(fused):
                h = layer(h)
                mx[j] = max(mx[j], float(h.abs().max()))
    return [[type(l).__name__, round(m, 3)] for l, m in zip(fused, mx)]


def ort_session(path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_logits(sess, x_u8, bs=1000):
    outs = []
    for i in range(0, len(x_u8), bs):
        outs.append(sess.run(None, {"input": x_u8[i:i + bs].astype(np.float32) / np.float32(255.0)})[0])
    return np.concatenate(outs)


def load_sample_pngs(ds):
    from PIL import Image
    d = os.path.join(HERE, "samples", ds)
    files = sorted(os.listdir(d), key=lambda f: int(f.split("_")[0]))
    xs, ys = [], []
    for f in files:
        a = np.asarray(Image.open(os.path.join(d, f)), dtype=np.uint8)
        xs.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
        ys.append(int(f.split("_")[1].split(".")[0]))
    return files, np.stack(xs), np.array(ys)


def write_samples(data, ds):
    from PIL import Image
    d = os.path.join(HERE, "samples", ds)
    os.makedirs(d, exist_ok=True)
    x, y, idx = data.samples(ds)
    for xi, yi, ii in zip(x, y, idx):
        img = Image.fromarray(np.ascontiguousarray(xi[0] if xi.shape[0] == 1 else xi.transpose(1, 2, 0)))
        img.save(os.path.join(d, f"{ii}_{yi}.png"), optimize=True)


def count_params(model):
    return int(sum(p.numel() for p in model.parameters()))


def evaluate(name, model, fused, path, ops, data, train_s):
    s = SPECS[name]
    ds = s["ds"]
    _, _, xte, yte = data.get(ds)
    sess = ort_session(path)
    lo = ort_logits(sess, xte)
    lt = torch_logits(model, xte)
    res = {
        "file": os.path.basename(path),
        "dataset": ds,
        "architecture": arch_text(name),
        "activation": s["act"],
        "params": count_params(model),
        "params_exported": count_params(fused),
        "test_images": int(len(yte)),
        "test_accuracy": float((lo.argmax(1) == yte).mean()),
        "test_accuracy_torch": float((lt.argmax(1) == yte).mean()),
        "ort_vs_torch_max_abs_diff": float(np.abs(lo - lt).max()),
        "ort_vs_torch_argmax_agreement": float((lo.argmax(1) == lt.argmax(1)).mean()),
        "max_abs_logit": float(np.abs(lo).max()),
        "abs_logit_p999": float(np.percentile(np.abs(lo).max(1), 99.9)),
        "test_images_abs_logit_over_30": int((np.abs(lo).max(1) > 30).sum()),
        "max_abs_per_layer": layer_maxima(fused, xte),
        "onnx_ops": ops,
        "onnx_bytes": os.path.getsize(path),
        "onnx_sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(),
        "exporter": f"torch.onnx.export(dynamo=False) torch {__import__('torch').__version__}",
        "opset": OPSET,
        "train_seconds": round(train_s, 1),
        "epochs": s["epochs"], "lr": s["lr"], "weight_decay": s["wd"], "batch_size": s["bs"],
        "logit_l2": s.get("logit_l2", LOGIT_L2), "grad_clip": s.get("clip"),
        "augmentation": "random crop (pad 4) + horizontal flip" if s["aug"] else "none",
        "seed": SEED,
        "floor": FLOORS.get(name),
        "trained_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if ds == "cifar10":
        xe, ye = load_cifar_exact(data.args.cifar_partial_dir)
        le = ort_logits(sess, xe)
        res["test_accuracy_exact1017"] = float((le.argmax(1) == ye).mean())
        res["test_accuracy_jpeg_first1017"] = float((lo[:1017].argmax(1) == yte[:1017]).mean())
        res["max_abs_logit_exact1017"] = float(np.abs(le).max())
        res["test_set"] = "CIFAR-10 JPEG copy, 10,000 test images (original order)"
    # sample PNGs: what the Rust tests and the CLI see
    files, xs, ys = load_sample_pngs(ds)
    ls = ort_logits(sess, xs)
    res["sample_accuracy"] = float((ls.argmax(1) == ys).mean())
    exp = {
        "dataset": ds, "samples_dir": f"models/samples/{ds}", "input_scale": "x/255",
        "input_shape": [1, xs.shape[1], xs.shape[2], xs.shape[3]],
        "sample_accuracy_200": res["sample_accuracy"],
        "sample_correct_200": int((ls.argmax(1) == ys).sum()),
        "files": files[:N_EXPECTED],
        "labels": ys[:N_EXPECTED].tolist(),
        "predictions": ls[:N_EXPECTED].argmax(1).tolist(),
        "logits": [[float(f"{v:.6g}") for v in row] for row in ls[:N_EXPECTED]],
    }
    return res, exp


# ----------------------------------------------------------------------------------------------
# card


def load_json(p, default):
    if os.path.exists(p):
        with open(p) as f:
            return json.load(f)
    return default


def save_json(p, obj):
    tmp = p + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, p)


def pct(v):
    return "-" if v is None else f"{100 * v:.2f}%"


def write_card(metrics):
    display = ["mnist_seed", "mnist_relu", "mnist_poly", "kmnist_relu", "kmnist_poly", "fashion_relu", "fashion_poly",
               "cifar10_relu", "cifar10_square"]
    order = [n for n in display if n in metrics]
    rows = []
    for n in order:
        r = metrics[n]
        acc = pct(r["test_accuracy"])
        if r["dataset"] == "cifar10":
            acc += f" (JPEG test set); {pct(r['test_accuracy_exact1017'])} on the 1,017 exact originals"
        floor = r.get("floor")
        ok = "" if floor is None else (" ✅" if r["test_accuracy"] >= floor else f" ❌ (floor {pct(floor)})")
        rows.append(f"| `{r['file']}` | {r['dataset']} | {r['activation']} | {r['params']:,} | {acc}{ok} | "
                    f"{pct(r['sample_accuracy'])} | {r['max_abs_logit']:.2f} ({r['abs_logit_p999']:.1f}) | torch.onnx (TorchScript), opset {r['opset']} | "
                    f"{r['train_seconds'] / 60:.1f} min ({r['epochs']} ep) |")
    archs = "\n".join(f"- `{n}`: {metrics[n]['architecture']}. ONNX ops: "
                      f"{', '.join(sorted(set(metrics[n]['onnx_ops'])))}; {metrics[n]['onnx_bytes']:,} bytes; "
                      f"onnxruntime vs PyTorch max |diff| {metrics[n]['ort_vs_torch_max_abs_diff']:.2e}."
                      for n in order)
    missing = [n for n in SPECS if n not in metrics]
    big = [n for n in order if metrics[n]["max_abs_logit"] > 30]
    outliers = ("Models whose max |logit| exceeds 30 do so on a few outlier images only (the polynomial activations "
                "amplify them): " + "; ".join(
                    f"`{n}`: {metrics[n].get('test_images_abs_logit_over_30', '?')} of {metrics[n]['test_images']} "
                    f"test images above 30" + (f", max {metrics[n]['max_abs_logit_exact1017']:.1f} on the 1,017 exact "
                                               "CIFAR originals" if "max_abs_logit_exact1017" in metrics[n] else "")
                    for n in big) + ".") if big else ""
    any_m = metrics[order[0]] if order else {}
    text = f"""# blindfold demo models (model cards)

Generated by `models/train.py` (do not edit the tables by hand: rerun the script).
Every number below was measured with **onnxruntime on the exported `.onnx` file**, not with PyTorch.

## How to use

- Input: `input`, NCHW float32, pixels scaled to **[0, 1] (x / 255)**, no mean/std normalisation
  (none is needed: batch-norm after the first convolution absorbs it). MNIST, KMNIST, Fashion-MNIST:
  `[batch, 1, 28, 28]` grey; CIFAR-10: `[batch, 3, 32, 32]` RGB (channel order R, G, B). The batch axis is
  dynamic (`batch`); feed `[1, C, H, W]` for one image.
- Output: `logits`, `[batch, 10]`, raw scores (argmax = predicted class, no softmax in the graph).
- Graph: batch-norm is folded into the preceding Conv/Gemm before export, so a graph only holds
  `Conv`, `Relu`, `AveragePool` (2x2, stride 2), `Flatten`, `Gemm` and, for the polynomial activations,
  `Mul`/`Add` with scalar constants. Exported with `torch.onnx.export(..., dynamo=False, opset_version={OPSET},
  do_constant_folding=True)` (TorchScript exporter; {any_m.get('exporter', '').replace('torch.onnx.export(dynamo=False) ', '')}), checked with `onnx.checker`.
- Activations: `relu` models use ReLU (the compiler replaces it with a Chebyshev polynomial on the calibrated
  range); `poly` models are trained with the fixed degree-2 polynomial **0.125·x² + 0.5·x + 0.25** (= (x+2)²/8),
  exported as `x * (0.125 * x + 0.5) + 0.25` (Mul, Add, Mul, Add); `mnist_seed` uses **x·x** (`Mul(x, x)`).
  `cifar10_square` is the CIFAR-10 network with a degree-2 polynomial activation: it uses the same fixed
  polynomial 0.125·x² + 0.5·x + 0.25 as the `poly` models, because plain x·x diverged on this 4-activation
  network (training accuracy stuck near 12%, test logits around 1e5).

## Models

| file | dataset | activation | params | test accuracy (full test set) | accuracy on the 200 sample PNGs | max \\|logit\\| over the test set (99.9th percentile of per-image max) | exporter | training time (2-core CPU) |
| --- | --- | --- | ---: | --- | ---: | ---: | --- | --- |
{chr(10).join(rows)}

Logit sizes: the penalty 1e-3·mean(logit²) (1e-2 for `mnist_seed`) plus weight decay keeps logits moderate.
`metrics.json` also lists, per model, `max_abs_per_layer`: the largest |value| after every layer of the exported
network over the whole test set (useful to choose the encryption headroom and the calibration ranges). {outliers}

Floors from the issue: mnist_seed ≥ 97%, mnist_relu ≥ 98.5%, kmnist_relu ≥ 92%, fashion_relu ≥ 88%,
cifar10_relu ≥ 70% (JPEG test set). Test sets: the full 10,000-image test set of each dataset; for CIFAR-10
the JPEG copy of the test set (lossy re-encoding, put back into the original test order), plus the exact
accuracy on the first 1,017 original test images (`cifar10-partial/`), which are also the CIFAR sample PNGs.
{"" if not missing else chr(10) + "Not trained yet: " + ", ".join(missing) + chr(10)}
### Architectures

{archs}

## Training

- Seed {SEED} for Python, NumPy and PyTorch (`torch.use_deterministic_algorithms(True)`), 2 threads
  (`torch.set_num_threads(2)`), CPU only. AdamW with a one-cycle learning-rate schedule; MNIST-family models
  without augmentation, CIFAR-10 with random crop (zero pad 4) + horizontal flip. Hyper-parameters per model
  are in `metrics.json` (`epochs`, `lr`, `weight_decay`, `batch_size`).
- Deterministic: rerunning `--model mnist_seed` reproduced `mnist_seed.onnx` byte for byte (same sha256 as in
  `metrics.json`); the other models use the same seeding and deterministic CPU kernels.
- Training times were measured on this project's 2-core CPU machine while other work ran on it (a Rust build
  kept both cores busy for most of the run), so they are indicative only: e.g. `mnist_seed` trains in about 10 s
  and `cifar10_relu` in about 6 min (25 epochs at ~15 s) on an idle machine.
- Retrain everything (one command, from the repository root):

      python3 -m venv models/.venv && models/.venv/bin/pip install -r models/requirements.txt
      models/.venv/bin/python models/train.py --all

  or one model: `models/.venv/bin/python models/train.py --model cifar10_relu` (repeatable).
  Dataset locations default to `../shared/datasets/{{mnist,kmnist,cifar10-jpeg,cifar10-partial}}` relative to
  the repository root and `/usr/share/datasets/fashion-mnist` (Debian package `dataset-fashion-mnist`);
  override with `--mnist-dir`, `--kmnist-dir`, `--fashion-dir`, `--cifar-jpeg-dir`, `--cifar-partial-dir`.
  Decoded CIFAR JPEGs are cached in `--cache-dir` (default `/tmp/blindfold-models-cache`, outside the repo).

## Files

- `<name>.onnx`: the models above.
- `samples/<dataset>/<test index>_<label>.png`: the first {N_SAMPLES} test images of each dataset (MNIST, KMNIST,
  Fashion-MNIST: 8-bit grey PNG, lossless copies of the IDX test images; CIFAR-10: RGB PNG, lossless copies of the
  exact original test images 0..199 from `cifar10-partial/test_batch_first1017.bin.gz`).
- `expected.json`: per model, onnxruntime's logits on the first {N_EXPECTED} sample PNGs (files in ascending test
  index; input = PNG pixels / 255), their labels and predictions, and the model's accuracy on all {N_SAMPLES}
  sample PNGs, so that the Rust ONNX importer can be checked against onnxruntime.
- `metrics.json`: everything measured per model (accuracies, max |logit|, ONNX ops, sha256, training time, ...).
- `train.py`, `requirements.txt`: the training script and its pinned Python packages.

## Data licences

MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0), Kuzushiji-MNIST (CODH, CC BY-SA 4.0; cite Clanuwat et al. 2018),
Fashion-MNIST (Zalando SE, MIT), CIFAR-10 (Krizhevsky 2009, no explicit licence; cite "Learning Multiple Layers
of Features from Tiny Images"). The sample PNGs are copies of test images from these datasets under those terms.
"""
    with open(os.path.join(HERE, "README.md"), "w") as f:
        f.write(text)


# ----------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--all", action="store_true", help="train every model")
    ap.add_argument("--model", action="append", choices=list(SPECS), help="train this model (repeatable)")
    ap.add_argument("--samples-only", action="store_true", help="only write samples/ and the card")
    ds_root = os.path.join(REPO, "..", "shared", "datasets")
    ap.add_argument("--mnist-dir", default=os.path.join(ds_root, "mnist"))
    ap.add_argument("--kmnist-dir", default=os.path.join(ds_root, "kmnist"))
    ap.add_argument("--fashion-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--cifar-jpeg-dir", default=os.path.join(ds_root, "cifar10-jpeg"))
    ap.add_argument("--cifar-partial-dir", default=os.path.join(ds_root, "cifar10-partial"))
    ap.add_argument("--cache-dir", default="/tmp/blindfold-models-cache")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    names = list(SPECS) if args.all else (args.model or [])
    if not names and not args.samples_only:
        ap.error("give --all, --model NAME or --samples-only")

    import torch
    torch.set_num_threads(args.threads)
    data = Data(args)

    def log(msg):
        print(msg, flush=True)

    datasets = sorted({SPECS[n]["ds"] for n in names}) if names else ["mnist", "kmnist", "fashion", "cifar10"]
    for ds in datasets:
        write_samples(data, ds)
    mpath, epath = os.path.join(HERE, "metrics.json"), os.path.join(HERE, "expected.json")
    for name in names:
        log(f"== {name} ({SPECS[name]['ds']})")
        model, secs = train(name, data, log)
        path, fused, ops = export(model, name, SPECS[name]["ds"])
        res, exp = evaluate(name, model, fused, path, ops, data, secs)
        log(f"  {name}: onnxruntime test acc {res['test_accuracy']:.4f}"
            + (f", exact-1017 {res['test_accuracy_exact1017']:.4f}" if "test_accuracy_exact1017" in res else "")
            + f", sample acc {res['sample_accuracy']:.3f}, max|logit| {res['max_abs_logit']:.2f}, "
            f"ort-vs-torch {res['ort_vs_torch_max_abs_diff']:.1e}, {secs:.0f}s")
        metrics = load_json(mpath, {})
        metrics[name] = res
        metrics = {n: metrics[n] for n in SPECS if n in metrics}
        save_json(mpath, metrics)
        expected = load_json(epath, {})
        expected[name] = exp
        expected = {n: expected[n] for n in SPECS if n in expected}
        save_json(epath, expected)
        write_card(metrics)
    write_card(load_json(mpath, {}))


if __name__ == "__main__":
    main()
