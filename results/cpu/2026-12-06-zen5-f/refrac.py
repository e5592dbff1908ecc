#!/usr/bin/env python3
# refrac.py IN.json OUT.json: rewrites a paired report's fractions as lnbench
# computes them since 2026-12-06 16:00 (every sample over the copy of the method faster in
# the median, not the faster copy of its pair), from the report's own samples.
import json, sys, statistics
def q(v, p):
    v = sorted(v); pos = p * (len(v) - 1); lo = int(pos); hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)
d = json.load(open(sys.argv[1]))
ce = d['ceilings']; j = 0
for c in d['cases']:
    t = c.get('throughput')
    if not t or 'pairs' not in t: continue
    k = c['timing']['samples_s']
    group = []
    while j < len(ce) and len(ce[j]['samples_s']) == len(k) and len(group) < 2:
        group.append(ce[j]); j += 1
    best = max(group, key=lambda x: x['bandwidth_gbps'])
    assert best['bandwidth_gbps'] == t['ceiling_gbps'], (c['id'], best['bandwidth_gbps'], t['ceiling_gbps'])
    f = [c['bytes']['total'] * best['samples_s'][i] / (k[i] * best['bytes_per_copy']) for i in range(len(k))]
    t['fraction_of_ceiling'] = q(f, 0.5); t['fraction_p10'] = q(f, 0.1); t['fraction_p90'] = q(f, 0.9)
json.dump(d, open(sys.argv[2], 'w'))
