#!/usr/bin/env python3
"""Encrypted accuracy and latency of the bundled models on their test sets: the table of
docs/results.md.

For each model: compile with calibration images from the *training* split (10,000 for the
activation ranges, the first 1000 for the degree and scale searches), then run
`blindfold eval --json` on the first N test images. Raw results go to docs/results/<model>.json
and the table is printed in Markdown (paste it into docs/results.md).

    cargo build --release
    python3 scripts/results.py --shared ../shared [--limit 1000] [--only mnist_seed,...]

With --simulate, the evaluation is `blindfold eval --mode simulate` (the cleartext simulation of
the circuit, no encryption) on the whole test set unless --limit is given; results go to
docs/results/<model>-simulated.json.

An encrypted evaluation writes each image's result to docs/results/<model>-<N>.records.jsonl as
it completes (`blindfold eval --records`); stopped and started again, it goes on from there.

Data: MNIST and KMNIST from <shared>/datasets, Fashion-MNIST from the Debian package
dataset-fashion-mnist, CIFAR-10 from <shared>/datasets/cifar10-partial (the first 1017 test
images, exact originals) with training images from cifar10-jpeg/train.tar.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "blindfold"
FASHION = Path("/usr/share/datasets/fashion-mnist")


def datasets(shared: Path):
    d = shared / "datasets"
    mnist_like = lambda base: (base / "train-images-idx3-ubyte.gz", base)
    return {
        "mnist": mnist_like(d / "mnist"),
        "kmnist": mnist_like(d / "kmnist"),
        "fashion": mnist_like(FASHION),
        "cifar10": (d / "cifar10-jpeg" / "train.tar", d / "cifar10-partial" / "test_batch_first1017.bin.gz"),
    }


MODELS = [
    "mnist_seed", "mnist_poly", "kmnist_poly", "fashion_poly", "cifar10_square",
    "mnist_relu", "kmnist_relu", "fashion_relu", "cifar10_relu",
]


def run(cmd):
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--limit", type=int, default=None,
                    help="test images (default: 1000, or all of them with --simulate)")
    ap.add_argument("--simulate", action="store_true",
                    help="simulate the circuit in the clear instead of running it encrypted")
    ap.add_argument("--calibration-limit", type=int, default=10000,
                    help="training images for the activation ranges (the searches use the first 1000)")
    ap.add_argument("--only", default="")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    ap.add_argument("--bin", type=Path, default=None, help="the blindfold binary")
    ap.add_argument("--plaintext-cache-mib", type=int, default=4096,
                    help="memory for encoded plaintext operands in the evaluation (MiB)")
    args = ap.parse_args()
    global BIN
    BIN = args.bin or BIN
    if args.limit is None and not args.simulate:
        args.limit = 1000
    sets = datasets(args.shared)
    only = [m for m in args.only.split(",") if m]
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for model in MODELS:
        if only and model not in only:
            continue
        train, test = sets[model.split("_")[0]]
        if not test.exists():
            print(f"skip {model}: {test} not found", file=sys.stderr)
            continue
        onnx = ROOT / "models" / f"{model}.onnx"
        bfc = args.out / f"{model}.bfc"
        t = time.time()
        run([BIN, "compile", onnx, "-o", bfc, "--calibrate", train,
             "--calibration-limit", str(args.calibration_limit)])
        compile_s = time.time() - t
        cmd = [BIN, "eval", bfc, "--onnx", onnx, "--dataset", test, "--json",
               "--plaintext-cache-mib", str(args.plaintext_cache_mib)]
        if args.limit is not None:
            cmd += ["--limit", str(args.limit)]
        if args.simulate:
            cmd += ["--mode", "simulate"]
        else:
            # Per-image results as they complete: running the script again goes on from there
            # (the compilation above is deterministic, so the circuit is the same).
            records = args.out / f"{model}-{args.limit}.records.jsonl"
            cmd += ["--records", records]
        result = json.loads(run(cmd))
        result["dataset"] = portable(test, args.shared)
        if not args.simulate:
            # No machine's paths in the committed results.
            where = os.path.relpath(records, ROOT)
            result["notes"] = [n.replace(str(records), where) for n in result.get("notes", [])]
        result["compile_s"] = compile_s
        result["inspect"] = json.loads(run([BIN, "inspect", bfc, "--json"]))
        bfc.unlink()
        name = f"{model}-simulated" if args.simulate else model
        (args.out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
        rows.append(result)
        print((simulated_row if args.simulate else row)(result), flush=True)
    print(SIMULATED_HEADER if args.simulate else HEADER)
    for r in rows:
        print((simulated_row if args.simulate else row)(r))


def portable(path: Path, shared: Path) -> str:
    """The dataset path as committed results name it: under ../shared, not this machine's path."""
    try:
        return str(Path("..") / "shared" / path.resolve().relative_to(shared.resolve()))
    except ValueError:
        return str(path)


HEADER = (
    "| model | test images | plaintext acc. | encrypted acc. | drop (points) | agreement with simulation | "
    "logit error: median / max | server ms (median / p90) | client encrypt + decrypt ms | eval keys | N, levels, scale | peak memory |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def row(r):
    pct = lambda v: "-" if v is None else f"{100 * v:.2f}%"
    lat = r["latency_ms"]
    drop = None
    if r["plaintext_accuracy"] is not None and r["encrypted_accuracy"] is not None:
        drop = 100 * (r["plaintext_accuracy"] - r["encrypted_accuracy"])
    p = r["params"]
    median = (r.get("logit_error") or {}).get("median")
    err_text = f"{r['max_logit_error']:.2e}" if median is None else f"{median:.2e} / {r['max_logit_error']:.2e}"
    return (
        f"| {r['model']} | {r['images']} | {pct(r['plaintext_accuracy'])} | {pct(r['encrypted_accuracy'])} | "
        f"{'-' if drop is None else f'{drop:+.2f}'} | {pct(r['agreement'])} | {err_text} | "
        f"{lat['run']['median']:.0f} / {lat['run']['p90']:.0f} | "
        f"{lat['encrypt']['median']:.1f} + {lat['decrypt']['median']:.1f} | {r['eval_key_bytes'] / 1e6:.1f} MB | "
        f"2^{p['log_n']}, {p['levels']}, 2^{p['log_scale']} | {r['peak_memory_bytes'] / 1e6:.0f} MB |"
    )


SIMULATED_HEADER = (
    "| model | test images | plaintext acc. | simulated acc. | drop (points) | agreement with plaintext | "
    "logit error vs network: median / max | activation degrees | N, levels, scale |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def simulated_row(r):
    pct = lambda v: "-" if v is None else f"{100 * v:.2f}%"
    drop = None
    if r["plaintext_accuracy"] is not None and r["simulated_accuracy"] is not None:
        drop = 100 * (r["plaintext_accuracy"] - r["simulated_accuracy"])
    p = r["params"]
    acts = r["inspect"].get("activations") or []
    degrees = sorted({a.get("degree") for a in acts if a.get("degree") is not None})
    err = r["max_logit_error"]
    median = (r.get("logit_error") or {}).get("median")
    err_text = "-" if err is None else f"{err:.2e}"
    if median is not None:
        err_text = f"{median:.2e} / {err_text}"
    return (
        f"| {r['model']} | {r['images']} | {pct(r['plaintext_accuracy'])} | {pct(r['simulated_accuracy'])} | "
        f"{'-' if drop is None else f'{drop:+.2f}'} | {pct(r['agreement_plaintext'])} | "
        f"{err_text} | {', '.join(map(str, degrees)) or '-'} | "
        f"2^{p['log_n']}, {p['levels']}, 2^{p['log_scale']} |"
    )


if __name__ == "__main__":
    main()
