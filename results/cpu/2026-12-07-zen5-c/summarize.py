#!/usr/bin/env python3
"""Median (min-max) over the three rounds of kernel_vs_pattern.sh: each pattern's
time over the copy's (row_patterns), and the kernels' fraction of the copy."""
import statistics


def fmt(v):
    return f"{statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})"


pat = [{l.split()[0]: float(l.split()[-1]) for l in open(f"kvp_pattern_{i}.txt") if not l.startswith("#")}
       for i in (1, 2, 3)]
for k in pat[0]:
    print(f"{k:28s} {fmt([r[k] for r in pat])}")
for kind in ("fwd", "bwd"):
    rows = {}
    for i in (1, 2, 3):
        for line in open(f"kvp_{kind}_{i}.txt"):
            f = line.split()
            if len(f) > 6 and f[0] == "1":
                rows.setdefault(f"kernel_{kind}_{f[1]}_{f[2]}", []).append(float(f[6]))
    for k, v in rows.items():
        print(f"{k:28s} {fmt(v)}")
