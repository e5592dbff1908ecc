#!/usr/bin/env python3
"""Tables of three `lnbench run` reports (final_N.json.gz): each cell's fraction of the
paired ceiling, median (min-max) over the runs; Highway's median time over oneDNN's,
median (min-max) of the runs' ratios; and the cells at the issues' goals
(LayerNorm forward at 90%, the backward of both norms at 80%)."""
import collections
import gzip
import json
import statistics
import sys

files = sys.argv[1:] or [f"final_{i}.json.gz" for i in (1, 2, 3)]
frac = collections.defaultdict(list)
time = collections.defaultdict(list)
for f in files:
    with gzip.open(f) as fh:
        report = json.load(fh)
    for c in report["cases"]:
        if c["status"] != "passed" or not c.get("throughput"):
            continue
        p = c["problem"]
        key = (p["op"], p["dir"], p["dtype"], c["threads"], p["cols"])
        frac[(c["backend"],) + key].append(c["throughput"]["fraction_of_ceiling"])
        time[(c["backend"],) + key + (f,)] = c["timing"]["median_s"]

cols = sorted({k[-1] for k in frac})


def fmt(v, pct):
    m, lo, hi = statistics.median(v), min(v), max(v)
    return f"{m:.0%} ({lo * 100:.0f}-{hi * 100:.0f})" if pct else f"{m:.2f} ({lo:.2f}-{hi:.2f})"


print("| fraction of the ceiling, median (min-max) of %d | " % len(files) + " | ".join(map(str, cols)) + " |")
print("|---" * (len(cols) + 1) + "|")
rows = sorted({k[:5] for k in frac}, key=lambda k: (k[1], k[2], k[0] != "highway", k[0], k[3], k[4]))
for r in rows:
    b, op, d, dt, th = r
    cells = [fmt(frac[r + (h,)], True) if frac.get(r + (h,)) else "" for h in cols]
    print(f"| {op} {d}, {b} {dt}, {th} thread{'s' if th > 1 else ''} | " + " | ".join(cells) + " |")
print()
print("| Highway time / oneDNN time, median (min-max) of the runs' ratios | " + " | ".join(map(str, cols)) + " |")
print("|---" * (len(cols) + 1) + "|")
for r in rows:
    if r[0] != "highway" or ("onednn",) + r[1:] not in {k[:5] for k in frac}:
        continue
    cells = []
    for h in cols:
        ratios = [time[r + (h, f)] / time[("onednn",) + r[1:] + (h, f)] for f in files
                  if (r + (h, f)) in time and (("onednn",) + r[1:] + (h, f)) in time]
        cells.append(fmt(ratios, False) if ratios else "")
    print(f"| {r[1]} {r[2]}, {r[3]}, {r[4]} thread{'s' if r[4] > 1 else ''} | " + " | ".join(cells) + " |")
print()
fwd = [k for k in frac if k[0] == "highway" and k[1] == "layernorm" and k[2] == "fwd"]
bwd = [k for k in frac if k[0] == "highway" and k[2] == "bwd"]
met = lambda ks, goal: [k for k in ks if statistics.median(frac[k]) >= goal]
print(f"LayerNorm forward at 90%: {len(met(fwd, 0.90))} of {len(fwd)}:", sorted(k[3:] for k in met(fwd, 0.90)))
print(f"backward at 80%: {len(met(bwd, 0.80))} of {len(bwd)}:", sorted(k[1:2] + k[3:] for k in met(bwd, 0.80)))
