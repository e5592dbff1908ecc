#!/usr/bin/env python3
# fraction_ratio.py REPORT...: (plain or .gz) per cell, oneDNN's fraction / Highway's fraction per run (Highway time / oneDNN time,
# each normalized by the copies paired with its own samples), median (min-max)
import gzip, json, sys, statistics, collections
r = collections.defaultdict(list)
cols = set()
for f in sys.argv[1:]:
    fr = {}
    for c in json.load((gzip.open if f.endswith('.gz') else open)(f, 'rt'))['cases']:
        if c['status'] != 'passed': continue
        p = c['problem']
        fr[(p['op'] + ' ' + p['dir'], p['dtype'], c['threads'], p['cols'], c['backend'])] = c['throughput']['fraction_of_ceiling']
        cols.add(p['cols'])
    for k, v in fr.items():
        if k[4] == 'highway' and k[:4] + ('onednn',) in fr:
            r[k[:3] + (k[3],)].append(fr[k[:4] + ('onednn',)] / v)
cols = sorted(cols)
rows = sorted(set(k[:3] for k in r), key=lambda k: (k[0], k[1] != 'f32', k[2]))
print("| oneDNN fraction / Highway fraction, median (min-max) | " + " | ".join(map(str, cols)) + " |")
print("|---|" + "---|" * len(cols))
behind = []
for k in rows:
    cells = []
    for c in cols:
        v = sorted(r.get(k + (c,), []))
        if not v: cells.append(''); continue
        m = statistics.median(v); cells.append(f"{m:.2f} ({v[0]:.2f}-{v[-1]:.2f})")
        if m > 1: behind.append((k, c, round(m, 2)))
    print(f"| {k[0]}, {k[1]}, {k[2]} thread{'s' if k[2] > 1 else ''} | " + " | ".join(cells) + " |")
print("behind (median > 1):", behind)
