#!/usr/bin/env python3
"""Turns criterion's results for `cargo bench -p bf-fountain --bench codec` into the
markdown tables of docs/performance.md: ratios against memcpy and SHA-1 of the same bytes,
measured in the same run.

`table.py [--best] [CRITERION_DIR]`: medians by default; `--best` uses each benchmark's
fastest sample (the mean of its fastest batch of iterations), which is what a quiet core
gives when the machine is shared with other work."""
import json
import os
import sys

ARGS = [a for a in sys.argv[1:] if a != "--best"]
BEST = "--best" in sys.argv[1:]
ROOT = ARGS[0] if ARGS else os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "target", "criterion")
MIB = 1024 * 1024
SIZES = [("256KiB", 256 * 1024), ("1MiB", MIB), ("4MiB", 4 * MIB)]
ROWS = [
    ("memcpy", "memcpy (warm buffer)"),
    ("memcpy_alloc", "memcpy into a new buffer"),
    ("sha1", "SHA-1"),
    ("encoder_prepare", "encoder preparation (cached plan)"),
    ("encoder_prepare_cold_plan", "encoder preparation (plan generated)"),
    ("decode_all_source", "decode, all source (concatenate)"),
    ("decode_all_source_zero_copy", "decode, all source (zero-copy blocks)"),
    ("decode_10pct_repair", "decode, 10% repair (+1 spare)"),
    ("decode_all_repair", "decode, all repair (K+1)"),
    ("decode_10pct_repair_raptorq_decoder", "baseline: raptorq's SourceBlockDecoder, 10% repair"),
    ("decode_all_repair_raptorq_decoder", "baseline: raptorq's SourceBlockDecoder, all repair"),
]


def median_ns(group, bench):
    """Median (or with --best, fastest sample) time per iteration in ns."""
    if BEST:
        path = os.path.join(ROOT, group, bench, "new", "sample.json")
        if not os.path.exists(path):
            return None
        sample = json.load(open(path))
        return min(t / n for t, n in zip(sample["times"], sample["iters"]))
    path = os.path.join(ROOT, group, bench, "new", "estimates.json")
    if not os.path.exists(path):
        return None
    return json.load(open(path))["median"]["point_estimate"]


print("| operation | " + " | ".join(f"{l}: MiB/s (×memcpy, ×SHA-1)" for l, _ in SIZES) + " |")
print("|---|" + "---:|" * len(SIZES))
for bench, label in ROWS:
    cells = []
    for lab, size in SIZES:
        g = f"codec_{lab}"
        t, m, s = median_ns(g, bench), median_ns(g, "memcpy"), median_ns(g, "sha1")
        if t is None or m is None or s is None:
            cells.append("–")
            continue
        cells.append(f"{size / (t * 1e-9) / MIB:,.0f} ({m / t:.2f}, {s / t:.2f})")
    print(f"| {label} | " + " | ".join(cells) + " |")
cells = []
for lab, _ in SIZES:
    t = median_ns(f"repair_symbol_{lab}", "generate")
    cells.append("–" if t is None else f"{t / 1000:.2f} µs")
print("| one repair symbol (16 KiB), generated | " + " | ".join(cells) + " |")
print()
print("| serving one 16 KiB unit (1 MiB piece) | " + ("fastest sample" if BEST else "median") + " | × block |")
print("|---|---:|---:|")
block = median_ns("serve_1MiB_piece", "block_slice_copy")
for bench, label in [("block_slice_copy", "block: slice + copy"),
                     ("repair_cached_copy", "repair symbol, kept by the encoder + copy"),
                     ("repair_generated_copy", "repair symbol, generated + copy")]:
    t = median_ns("serve_1MiB_piece", bench)
    if t is not None and block:
        print(f"| {label} | {t:,.0f} ns | {t / block:.2f} |")
