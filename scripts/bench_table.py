#!/usr/bin/env python3
"""Prints blindfold's criterion results for the CKKS micro-benchmarks as a markdown table
(median milliseconds), next to the peers' results from ../shared/peers/results/micro.jsonl when
present. Usage: python3 scripts/bench_table.py [--peers PATH_TO_micro.jsonl]"""
import argparse
import glob
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPS = [
    ("encode", "encode", "encode"),
    ("encrypt (pk)", "encrypt_pk", "encrypt"),
    ("pt*ct", "mul_plain", "ptct_mul(no rescale)"),
    ("ct*ct+relin+rescale", "mul+relin+rescale", "ctct_mul+relin+rescale"),
    ("rot 1", "rotate_1", "rotate_1"),
    ("8 rots", "rotate_8(steps 1..128)", "rotate_8(steps 1..128)"),
    ("8 rots hoisted", "rotate_8_hoisted", "rotate_8_hoisted"),
    ("decrypt", "decrypt", "decrypt"),
    ("relin keygen", "keygen_relin", "keygen_relin"),
    ("rot keygen (±2^i)", "keygen_rot", "keygen_rot(+-2^i)"),
]


def ours():
    rows = {}
    for path in glob.glob(os.path.join(ROOT, "target/criterion/*/*/new/estimates.json")):
        group = os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(path))))
        bench = os.path.basename(os.path.dirname(os.path.dirname(path)))
        m = re.match(r"ckks_logn=(\d+)_levels=(\d+)_threads=(\d+)", group)
        if not m:
            continue
        key = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
        with open(path) as f:
            median_ns = json.load(f)["median"]["point_estimate"]
        for label, ours_name, _ in OPS:
            if bench == ours_name or (ours_name == "keygen_rot" and bench.startswith("keygen_rot")):
                rows.setdefault(key, {})[label] = median_ns / 1e6
    return rows


def peers(path):
    rows = {}
    if not path or not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            key = (r["lib"], r["logN"], r.get("threads", 1))
            rows[key] = {label: r.get(peer_name) for label, _, peer_name in OPS}
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peers", default=os.path.join(ROOT, "..", "shared", "peers", "results", "micro.jsonl"))
    a = ap.parse_args()
    mine = ours()
    theirs = peers(a.peers)
    header = "| lib | N | levels | threads | " + " | ".join(label for label, _, _ in OPS) + " |"
    print(header)
    print("|" + "---|" * (4 + len(OPS)))
    for (logn, levels, threads), vals in sorted(mine.items()):
        cells = [f"{vals[l]:.2f}" if l in vals else "" for l, _, _ in OPS]
        print(f"| blindfold | 2^{logn} | {levels} | {threads} | " + " | ".join(cells) + " |")
    for (lib, logn, threads), vals in sorted(theirs.items()):
        cells = [f"{vals[l]:.2f}" if isinstance(vals.get(l), (int, float)) else "" for l, _, _ in OPS]
        print(f"| {lib} | 2^{logn} | | {threads} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
