#!/usr/bin/env python3
"""PyTorch's layer norm as an lnbench peer: same problems, same checks, same report.

Runs torch.nn.functional.layer_norm (eager, and torch.compile where this
PyTorch has it) on the CPU or a CUDA GPU, checks every output against a
float64 reference with lnbench's own pass/fail rule (ported from
src/core/metrics.cc), times the cases that pass the way lnbench does
(warm-up, batches of at least 50 us, median of many samples, CUDA events on a
GPU), measures a copy ceiling on the same device in the same run (torch's
Tensor.copy_), and writes a report in lnbench's schema
(results/schema/report.schema.json) with backend "torch-eager" /
"torch-compile" and peer true, so `lnbench merge`, `lnbench compare` and the
charts take it like any other report.

Inputs, best first:
  --from-dump DIR   the exact inputs (and float64 reference) that
                    `lnbench run/verify --dump DIR` wrote;
  --lnbench PATH    lnbench itself is asked to dump the problems given by
                    --shape/--dtype/--dist/... (exact inputs, lnbench's reference);
  neither           inputs regenerated here with NumPy: the same shapes and
                    distributions, not the same values (the report says so).

Exit codes: 0 every case passed; 1 a case failed verification; 2 usage
error or no PyTorch; 3 runtime error.
"""

import argparse
import datetime
import glob
import json
import math
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3

DTYPES = ("f32", "bf16", "f16")
DISTS = ("normal", "uniform", "offset1e4", "offset1e6", "tinyvar", "constant", "outliers",
         "exact", "special")
ULP_BIN_LABELS = ["<=0.5", "0.5-1", "1-2", "2-4", "4-8", "8-16", "16-64", "64-256", "256-4096",
                  ">4096"]
EPS_F32 = 2.0 ** -23
BYTES_MODEL_TEXT = ("read = N*H*sizeof(dtype) + (affine ? 2*H*4 : 0); "
                    "written = N*H*sizeof(dtype) + (stats ? 2*N*4 : 0)")
DUMP_X_RE = re.compile(
    r"^(\d+)x(\d+)_(f32|bf16|f16)_([a-z0-9]+)_aff([01])_st([01])_seed(\d+)_x\.npy$")


class UsageError(Exception):
    """Bad input from the user: exit code 2."""


class Problem:
    """One layer norm problem, as lnbench's Problem (src/core/problem.h)."""

    def __init__(self, rows, cols, dtype="f32", eps=1e-5, affine=True, stats=False,
                 dist="normal", seed=1):
        self.rows, self.cols, self.dtype, self.eps = int(rows), int(cols), dtype, float(eps)
        self.affine, self.stats, self.dist, self.seed = bool(affine), bool(stats), dist, int(seed)

    def short_name(self):
        return f"{self.rows}x{self.cols} {self.dtype} {self.dist}"

    def to_json(self):
        return {"rows": self.rows, "cols": self.cols, "dtype": self.dtype, "eps": self.eps,
                "affine": self.affine, "stats": self.stats, "dist": self.dist,
                "seed": self.seed}


def dtype_size(dtype):
    return 4 if dtype == "f32" else 2


def count_bytes(p):
    """Returns (read, written) under lnbench's declared bytes model."""
    n = p.rows * p.cols * dtype_size(p.dtype)
    read = n + (2 * p.cols * 4 if p.affine else 0)
    written = n + (2 * p.rows * 4 if p.stats else 0)
    return read, written


def ceiling_bucket(total):
    """Rounds up to a power of two (at least 4096), as lnbench's runner does."""
    b = 4096
    while b < total and b < (1 << 40):
        b <<= 1
    return b


# ---------------------------------------------------------------------------
# Verification: lnbench's rule (src/core/metrics.cc), vectorized with NumPy.
# ---------------------------------------------------------------------------

def thresholds_for(p):
    log2h = math.ceil(math.log2(max(p.cols, 2)))
    units = 6 + log2h + math.ceil(math.sqrt(p.cols) / 8)
    return {"compute_eps_units": float(units), "output_ulps": 0.5, "rel_floor": 1e-3,
            "stats_eps_units": float(units)}


_TRAITS = {  # dtype: (bit width, mantissa bits, min exponent)
    "f32": (32, 23, -126),
    "bf16": (16, 7, -126),
    "f16": (16, 10, -14),
}


def round_bits(np, values, dtype):
    """Returns the bits of float64 `values` rounded to `dtype` (through f32, RNE)."""
    f = np.asarray(values, dtype=np.float64).astype(np.float32)
    if dtype == "f32":
        return f.view(np.uint32).astype(np.uint32)
    if dtype == "f16":
        return f.astype(np.float16).view(np.uint16).astype(np.uint32)
    u = f.view(np.uint32).astype(np.uint64)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF
    quiet = ((u >> 16) | 0x40) & 0xFFFF
    return np.where(nan, quiet, rounded).astype(np.uint32)


def npy_bits(np, array, dtype):
    """Returns the raw `dtype` bits of an array lnbench dumped (bf16 is dumped
    upcast to float32, f16 as float16), keeping NaN payloads."""
    a = np.ascontiguousarray(array)
    if dtype == "f32":
        return a.astype(np.float32).view(np.uint32).astype(np.uint32)
    if dtype == "f16":
        return a.astype(np.float16).view(np.uint16).astype(np.uint32)
    return (a.astype(np.float32).view(np.uint32) >> 16).astype(np.uint32)


def bits_to_float64(np, bits, dtype):
    bits = np.asarray(bits)
    if dtype == "f32":
        return bits.astype(np.uint32).view(np.float32).astype(np.float64)
    if dtype == "f16":
        return bits.astype(np.uint16).view(np.float16).astype(np.float64)
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def fast_ulp(np, ref_r, dtype):
    """The spacing of `dtype` values at float32(ref_r) (metrics.cc FastUlp)."""
    _, mant, min_exp = _TRAITS[dtype]
    biased = ((ref_r.astype(np.float32).view(np.uint32) >> 23) & 0xFF).astype(np.int64)
    e = np.where(biased == 0, -126, biased - 127)
    e = np.maximum(e, min_exp)
    return np.ldexp(1.0, (e - mant).astype(np.int32))


def ordered_key(np, bits, dtype):
    width = _TRAITS[dtype][0]
    sign = 1 << (width - 1)
    b = bits.astype(np.int64)
    mag = b & ~sign
    return np.where((b & sign) != 0, -mag, mag)


def ulp_bins(np, ulps):
    """Histogram bins of errors in scale ulps (metrics.cc UlpBin)."""
    edges = np.array([0.5, 1, 2, 4, 8, 16, 64, 256, 4096], dtype=np.float64)
    return np.searchsorted(edges, ulps, side="left")


def error_stats(np, got_bits, ref_values, scale, units, dtype, rel_floor, output_ulps,
                row_finite=None, offset=0):
    """Checks one block of a tensor (CheckY / CheckStat of metrics.cc) and
    returns its partial statistics. got_bits: raw bits of the output in
    `dtype`; ref_values: float64 reference (unrounded); scale: each element's
    scale; units: the compute allowance in eps_f32 * scale; row_finite
    (statistics only): False where the row has non-finite statistics; offset:
    index of the block's first element."""
    got = bits_to_float64(np, got_bits, dtype)
    ref_bits = round_bits(np, ref_values, dtype)
    ref_r = bits_to_float64(np, ref_bits, dtype)
    ref_v = np.asarray(ref_values, dtype=np.float64)
    n = got.size
    finite_pair = np.isfinite(ref_r) & np.isfinite(got)
    if row_finite is not None:
        # A row with NaN or Inf has no finite statistics: any non-finite value
        # is right there, a number is not.
        match = np.where(~row_finite, ~np.isfinite(got),
                         (np.isnan(ref_r) & np.isnan(got)) | (ref_r == got))
        special = ~row_finite | ~finite_pair
    else:
        match = (np.isnan(ref_r) & np.isnan(got)) | (ref_r == got)
        special = ~finite_pair
    nan_mismatch = special & ~match
    fin = ~special
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        ref_f = np.where(fin, ref_v, 0.0)
        got_f = np.where(fin, got, 0.0)
        scale_f = np.where(fin, scale, 0.0)
        diff = np.abs(got_f - ref_f)
        # The share of the compute allowance used beyond the rounding allowance
        # (metrics.cc RecordFinite).
        rounding = output_ulps * fast_ulp(np, np.maximum(np.abs(got_f), np.abs(ref_f)), dtype)
        compute = (units * EPS_F32) * scale_f
        excess = np.maximum(0.0, diff - rounding)
        ratio = np.where(compute > 0, excess / np.where(compute > 0, compute, 1.0),
                         np.where(excess > 0, np.inf, 0.0))
        rel = diff / np.maximum(np.abs(ref_f), rel_floor)
        ulps = diff / fast_ulp(np, scale_f, dtype)
    bits = np.abs(ordered_key(np, got_bits, dtype) - ordered_key(np, ref_bits, dtype))
    over = fin & (ratio > 1)
    s = {"checked": int(n), "failed": int(over.sum() + nan_mismatch.sum()),
         "nan_mismatch": int(nan_mismatch.sum()), "unwritten": 0,
         "max_abs": 0.0, "max_rel": 0.0, "max_ulp": 0.0, "max_bit_distance": 0, "off_by_one": 0,
         "rel_l2": 0.0, "max_bound_ratio": 0.0,
         "ulp_hist": [0] * len(ULP_BIN_LABELS), "_sq_diff": 0.0, "_sq_ref": 0.0,
         "_over": int(over.sum()), "_rank": -1.0, "_worst": None, "_first_nan": -1}
    if fin.any():
        d, r = diff[fin], ref_f[fin]
        s["max_abs"] = float(d.max())
        s["max_rel"] = float(rel[fin].max())
        s["max_ulp"] = float(ulps[fin].max())
        s["max_bit_distance"] = int(bits[fin].max())
        s["off_by_one"] = int((bits[fin] == 1).sum())
        s["max_bound_ratio"] = float(ratio[fin].max())
        s["ulp_hist"] = [int(c) for c in np.bincount(ulp_bins(np, ulps[fin]),
                                                     minlength=len(ULP_BIN_LABELS))]
        s["_sq_diff"], s["_sq_ref"] = float((d * d).sum()), float((r * r).sum())
    if nan_mismatch.any():
        s["_first_nan"] = offset + int(np.argmax(nan_mismatch))
    # The worst element: a NaN mismatch ranks above any finite ratio; ties go
    # to the lowest index.
    rank = np.where(nan_mismatch, np.inf, np.where(fin, ratio, -1.0))
    if n:
        w = int(np.argmax(rank))
        if rank[w] >= 0:
            s["_rank"] = float(rank[w])
            worst_ref = ref_r[w] if nan_mismatch[w] else ref_v[w]
            s["_worst"] = (offset + w, float(got[w]), float(worst_ref))
    return s


def merge_stats(a, b):
    """Folds block `b` (the next one) into `a`; returns a."""
    if a is None:
        return b
    for k in ("checked", "failed", "nan_mismatch", "unwritten", "_over"):
        a[k] += b[k]
    for k in ("max_abs", "max_rel", "max_ulp", "max_bit_distance", "max_bound_ratio"):
        a[k] = max(a[k], b[k])
    a["off_by_one"] += b["off_by_one"]
    a["ulp_hist"] = [x + y for x, y in zip(a["ulp_hist"], b["ulp_hist"])]
    a["_sq_diff"] += b["_sq_diff"]
    a["_sq_ref"] += b["_sq_ref"]
    if b["_rank"] > a["_rank"]:
        a["_rank"], a["_worst"] = b["_rank"], b["_worst"]
    if a["_first_nan"] < 0:
        a["_first_nan"] = b["_first_nan"]
    return a


def finish_stats(s):
    if s["_sq_diff"] == 0:
        s["rel_l2"] = 0.0
    else:
        s["rel_l2"] = math.sqrt(s["_sq_diff"] / s["_sq_ref"]) if s["_sq_ref"] > 0 else math.inf
    return s


def check_outputs(np, p, x_bits, gamma, beta, y_bits, mean, rstd, ref):
    """lnbench's CheckOutputs: returns (accuracy object of the report, reason)."""
    th = thresholds_for(p)
    ref_mean, ref_rstd = ref["mean"], ref["rstd"]
    g = np.abs(gamma.astype(np.float64))[None, :] if p.affine else 1.0
    b = np.abs(beta.astype(np.float64))[None, :] if p.affine else 0.0
    # Blocks of rows keep the float64 temporaries to about 64 MiB each.
    rows_per_block = max(1, (1 << 20) // max(p.cols, 1))
    ys = None
    for r0 in range(0, p.rows, rows_per_block):
        r1 = min(p.rows, r0 + rows_per_block)
        x = bits_to_float64(np, x_bits[r0:r1], p.dtype)
        with np.errstate(invalid="ignore", over="ignore"):
            norm = (x - ref_mean[r0:r1, None]) * ref_rstd[r0:r1, None]
            rs = ref_rstd[r0:r1, None]
            spread = np.sqrt(np.maximum(0.0, 1.0 - p.eps * rs * rs))
            scale = g * (np.abs(norm) + spread) + b
        ys = merge_stats(ys, error_stats(np, y_bits[r0:r1].reshape(-1),
                                         ref["y"][r0:r1].reshape(-1), scale.reshape(-1),
                                         th["compute_eps_units"], p.dtype,
                                         th["rel_floor"], th["output_ulps"],
                                         offset=r0 * p.cols))
    if ys is None:  # an empty problem
        ys = error_stats(np, np.zeros(0, np.uint32), np.zeros(0), np.zeros(0),
                         th["compute_eps_units"], p.dtype,
                         th["rel_floor"], th["output_ulps"])
    finish_stats(ys)
    reasons = []
    r = describe("y", ys, p.cols, False)
    if r:
        reasons.append(r)
    acc = {"passed": False, "thresholds": th, "ulp_bins": list(ULP_BIN_LABELS)}
    acc["y"] = public_stats(ys, p.cols)
    if p.stats:
        units = th["stats_eps_units"]
        row_finite = np.isfinite(ref_mean) & np.isfinite(ref_rstd)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            var = np.maximum(0.0, 1.0 / (ref_rstd * ref_rstd) - p.eps)
            mean_scale = np.abs(ref_mean) + np.sqrt(var)
            rstd_scale = np.abs(ref_rstd)
        ms = finish_stats(error_stats(np, round_bits(np, mean, "f32"), ref_mean, mean_scale, units,
                                      "f32", th["rel_floor"], th["output_ulps"], row_finite))
        rs = finish_stats(error_stats(np, round_bits(np, rstd, "f32"), ref_rstd, rstd_scale, units,
                                      "f32", th["rel_floor"], th["output_ulps"], row_finite))
        for name, st in (("mean", ms), ("rstd", rs)):
            r = describe(name, st, 1, True)
            if r:
                reasons.append(r)
        acc["mean"], acc["rstd"] = public_stats(ms, 1), public_stats(rs, 1)
    else:
        acc["mean"] = acc["rstd"] = None
    acc["passed"] = not reasons
    return acc, "; ".join(reasons)


def public_stats(s, cols):
    out = {k: v for k, v in s.items() if not k.startswith("_")}
    for k in ("max_abs", "max_rel", "rel_l2", "max_bound_ratio"):
        out[k] = json_number(out[k])
    if s["_worst"] is not None:
        i, got, ref = s["_worst"]
        out["worst"] = {"index": i, "row": i // cols, "col": i % cols, "got": json_number(got),
                        "ref": json_number(ref)}
    return out


def describe(name, s, cols, per_row):
    if s["failed"] == 0:
        return ""

    def where(i):
        return f"row {i}" if per_row else f"row {i // cols} col {i % cols}"

    parts = []
    if s["nan_mismatch"]:
        parts.append(f"{s['nan_mismatch']} NaN/Inf mismatches (first at {where(s['_first_nan'])})")
    if s["_over"]:
        i, got, ref = s["_worst"] if s["_worst"] is not None else (0, 0.0, 0.0)
        parts.append(f"{s['_over']} of {s['checked']} over bound (worst "
                     f"{s['max_bound_ratio']:.3g}x the compute allowance at {where(i)}: got {got:.9g} "
                     f"expected {ref:.9g})")
    return f"{name}: " + ", ".join(parts)


def json_number(v):
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def reference_float64(np, x, gamma, beta, eps):
    """Float64 layer norm of each row: pairwise-summed mean, corrected two-pass
    variance (the second pass's residual sum removes the mean's rounding)."""
    n = x.shape[1]
    with np.errstate(invalid="ignore", over="ignore"):
        mean = x.sum(axis=1) / n
        d = x - mean[:, None]
        var = (d * d).sum(axis=1) / n - (d.sum(axis=1) / n) ** 2
        var = np.maximum(var, 0.0)
        rstd = 1.0 / np.sqrt(var + eps)
        y = d * rstd[:, None]
        if gamma is not None:
            y = y * gamma.astype(np.float64)[None, :] + beta.astype(np.float64)[None, :]
    return {"y": y, "mean": mean, "rstd": rstd}


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------

def load_dump(np, directory, eps):
    """Returns [(problem, x_bits, gamma, beta, ref, source)] from a --dump folder."""
    found = []
    for path in sorted(glob.glob(os.path.join(directory, "*_x.npy"))):
        m = DUMP_X_RE.match(os.path.basename(path))
        if not m:
            continue
        rows, cols, dtype, dist, aff, st, seed = m.groups()
        if dist not in DISTS:
            continue
        p = Problem(rows, cols, dtype, eps, aff == "1", st == "1", dist, seed)
        base = path[:-len("x.npy")]
        x = np.load(path)
        if x.shape != (p.rows, p.cols):
            raise UsageError(f"{path}: shape {x.shape}, the name says {p.rows}x{p.cols}")
        x_bits = npy_bits(np, x, dtype).reshape(p.rows, p.cols)
        if p.affine:
            gamma = np.load(base + "gamma.npy").astype(np.float32)
            beta = np.load(base + "beta.npy").astype(np.float32)
        else:
            gamma = beta = None
        ref = {"y": np.load(base + "ref_y.npy"), "mean": np.load(base + "ref_mean.npy"),
               "rstd": np.load(base + "ref_rstd.npy")}
        found.append((p, x_bits, gamma, beta, ref, f"lnbench dump {path}"))
    if not found:
        raise UsageError(f"{directory}: no lnbench dump (*_x.npy files named "
                         "ROWSxCOLS_DTYPE_DIST_affA_stS_seedN_x.npy)")
    return found


def dump_with_lnbench(lnbench, problems, directory):
    """Asks lnbench to write the problems' inputs and reference into `directory`."""
    for p in problems:
        # verify with no output flags checks two modes; --stats (affine) or
        # --no-affine picks exactly one, and x, gamma and beta do not depend on
        # the stats flag, so the affine+stats files serve affine problems.
        cmd = [lnbench, "verify", "-b", "scalar", "--shape", f"{p.rows}x{p.cols}",
               "--dtype", p.dtype, "--dist", p.dist, "--eps", repr(p.eps), "--seed",
               str(p.seed), "--dump", directory, "-q"]
        cmd += ["--stats"] if p.affine else ["--no-affine"] + (["--stats"] if p.stats else [])
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if res.returncode not in (0, 1):
            raise RuntimeError(f"{' '.join(cmd)} exited {res.returncode}: {res.stderr.strip()}")


def dump_file_problem(p):
    """The problem whose files dump_with_lnbench wrote for `p`."""
    stats = True if p.affine else p.stats
    return Problem(p.rows, p.cols, p.dtype, p.eps, p.affine, stats, p.dist, p.seed)


def regenerate(np, p):
    """Inputs with lnbench's distributions and shapes, drawn by NumPy (not the
    same values as lnbench's counter-based generator)."""
    rng = np.random.default_rng(p.seed * 1000003 + DISTS.index(p.dist))
    shape = (p.rows, p.cols)
    d = p.dist
    if d in ("normal", "special"):
        x = rng.standard_normal(shape)
        if d == "special":
            for r in range(p.rows):
                kind = {1: 1, 2: 2, 7: 3, 12: 4}.get(r % 16, 0)
                cols = rng.integers(0, p.cols, 3)
                if kind in (1, 4):
                    x[r, cols[0]] = np.nan
                if kind in (2, 4):
                    x[r, cols[1]] = np.inf
                if kind in (3, 4):
                    x[r, cols[2]] = -np.inf
    elif d == "uniform":
        x = rng.uniform(-1, 1, shape)
    elif d in ("offset1e4", "offset1e6", "tinyvar"):
        centre, sigma = {"offset1e4": (1e4, 1.0), "offset1e6": (1e6, 1.0),
                         "tinyvar": (1.0, 1e-4)}[d]
        x = centre + sigma * rng.standard_normal(shape)
    elif d == "constant":
        mag = 10.0 ** rng.uniform(-2, 4, p.rows) * rng.choice([-1.0, 1.0], p.rows)
        mag = bits_to_float64(np, round_bits(np, mag, "bf16"), "bf16")
        mag[rng.integers(0, 16, p.rows) == 0] = 0.0
        x = np.repeat(mag[:, None], p.cols, axis=1)
    elif d == "outliers":
        x = rng.standard_normal(shape)
        hit = rng.random(shape) < 0.01
        x[hit] = (10.0 ** rng.uniform(1, 4, hit.sum())) * rng.choice([-1.0, 1.0], hit.sum())
    elif d == "exact":
        k = rng.integers(0, 8, (p.rows, (p.cols + 1) // 2)).astype(np.float64) * 0.25
        x = np.concatenate([k, -k], axis=1)[:, :p.cols]
        if p.cols % 2:
            x[:, -1] = 0.0
    else:
        raise UsageError(f"unknown distribution {d}")
    x_bits = round_bits(np, x, p.dtype)
    if p.affine:
        gamma = bits_to_float64(np, round_bits(np, 1 + 0.5 * rng.standard_normal(p.cols),
                                              p.dtype), p.dtype).astype(np.float32)
        beta = bits_to_float64(np, round_bits(np, 0.5 * rng.standard_normal(p.cols), p.dtype),
                               p.dtype).astype(np.float32)
    else:
        gamma = beta = None
    return x_bits, gamma, beta


# ---------------------------------------------------------------------------
# Timing: lnbench's Measure() (src/core/timing.cc) and Summarize() (stats.cc)
# ---------------------------------------------------------------------------

def quantile(sorted_values, q):
    if not sorted_values:
        return 0.0
    pos = q * (len(sorted_values) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(samples):
    s = sorted(samples)
    n = len(s)
    if n == 0:
        return dict(min=0, p10=0, median=0, mean=0, p90=0, max=0, noise=0, median_rel_err=0)
    mean = sum(s) / n
    stdev = math.sqrt(sum((v - mean) ** 2 for v in s) / (n - 1)) if n > 1 else 0.0
    median = quantile(s, 0.5)
    dev = sorted(abs(v - median) for v in s)
    sigma = 1.4826 * quantile(dev, 0.5)
    return dict(min=s[0], p10=quantile(s, 0.1), median=median, mean=mean, p90=quantile(s, 0.9),
                max=s[-1], noise=stdev / mean if mean > 0 else 0.0,
                median_rel_err=1.2533 * sigma / math.sqrt(n) / median if median > 0 else 0.0)


class Timer:
    """Times batches of a callable on the CPU (host clock) or a GPU (CUDA events)."""

    def __init__(self, torch, device, cold):
        self.torch, self.device, self.cold = torch, device, cold
        self.flush_buf = None
        if cold:
            if device == "cpu":
                nbytes = 4 * last_level_cache_bytes()
            else:
                nbytes = 2 * max(torch.cuda.get_device_properties(0).L2_cache_size, 4 << 20)
            self.flush_buf = torch.empty(nbytes, dtype=torch.uint8, device=device)

    def batch(self, fn, n):
        torch = self.torch
        if self.cold:
            n = 1
            self.flush_buf.fill_(1)  # evicts the problem's data: 4x LLC / 2x L2 written
        if self.device == "cpu":
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            return time.perf_counter() - t0
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(n):
            fn()
        stop.record()
        stop.synchronize()
        return start.elapsed_time(stop) * 1e-3


def measure(timer, fn, cfg):
    warmup_runs, one = 0, 0.0
    t_start = time.perf_counter()
    while True:
        one = timer.batch(fn, 1)
        warmup_runs += 1
        if (warmup_runs >= cfg["warmup_runs"] and
                time.perf_counter() - t_start >= cfg["warmup_s"]) or warmup_runs >= 10000:
            break
    batch = 1
    if not timer.cold and one < cfg["min_sample_s"]:
        batch = int(min(10000, math.ceil(cfg["min_sample_s"] / max(one, 1e-9))))
    samples, stop_reason = [], "max_samples"
    start = time.perf_counter()
    while True:
        samples.append(timer.batch(fn, batch) / batch)
        n = len(samples)
        spent = time.perf_counter() - start
        if n >= cfg["min_samples"]:
            st = summarize(samples)
            if st["median_rel_err"] <= cfg["max_noise"]:
                stop_reason = "noise"
                break
            if spent >= cfg["time_budget_s"]:
                stop_reason = "time_budget"
                break
        if n >= cfg["max_samples"]:
            stop_reason = "max_samples"
            break
        if spent >= 4 * cfg["time_budget_s"] and n >= 3:
            stop_reason = "time_budget"
            break
    st = summarize(samples)
    return {"mode": "cold" if timer.cold else "hot", "batch": batch, "warmup_runs": warmup_runs,
            "samples_s": samples, "min_s": st["min"], "median_s": st["median"],
            "mean_s": st["mean"], "max_s": st["max"], "p10_s": st["p10"], "p90_s": st["p90"],
            "noise": json_number(st["noise"]), "stop_reason": stop_reason}


def measure_ceiling(torch, device, total_bytes, min_samples, budget_s):
    """torch copy_ of bucket/2 bytes on the device: lnbench's copy ceiling."""
    bucket = ceiling_bucket(total_bytes)
    half = max(bucket // 2, 4096)
    src = torch.ones(half, dtype=torch.uint8, device=device)
    dst = torch.zeros(half, dtype=torch.uint8, device=device)
    timer = Timer(torch, device, cold=False)
    dst.copy_(src)
    if device != "cpu":
        torch.cuda.synchronize()
    samples = []
    start = time.perf_counter()
    while True:
        samples.append(timer.batch(lambda: dst.copy_(src), 1))
        spent = time.perf_counter() - start
        if (len(samples) >= min_samples and spent > budget_s) or len(samples) >= 1000:
            break
    st = summarize(samples)
    return {"bucket": bucket, "method": "torch.Tensor.copy_", "bytes_per_copy": 2 * half,
            "samples_s": samples, "median_s": st["median"],
            "bandwidth_gbps": 2 * half / st["median"] / 1e9 if st["median"] > 0 else 0.0,
            "noise": json_number(st["noise"])}


# ---------------------------------------------------------------------------
# Machine facts
# ---------------------------------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def last_level_cache_bytes():
    best = 0
    for path in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/size"):
        try:
            text = open(path).read().strip()
        except OSError:
            continue
        m = re.match(r"(\d+)([KMG]?)", text)
        if m:
            best = max(best, int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20,
                                                "G": 1 << 30}[m.group(2)])
    return best or 32 << 20


def git_sha():
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        res = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return res.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------

def torch_dtype(torch, name):
    return {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[name]


def to_torch_bits(torch, np, bits, dtype, device):
    """A torch tensor of `dtype` holding exactly the values of `bits`."""
    if dtype == "f32":
        t = torch.from_numpy(bits.astype(np.uint32).view(np.int32).copy()).view(torch.float32)
    else:
        t = torch.from_numpy(bits.astype(np.uint16).view(np.int16).copy())
        t = t.view(torch_dtype(torch, dtype))
    return t.to(device)


def from_torch_bits(torch, np, t, dtype):
    t = t.detach().contiguous().cpu()
    if dtype == "f32":
        return t.float().view(torch.int32).numpy().view(np.uint32).astype(np.uint32)
    return t.view(torch.int16).numpy().view(np.uint16).astype(np.uint32)


def make_case(p, backend, variant, device, threads, machine, repro):
    read, written = count_bytes(p)
    return {"id": "", "backend": backend, "variant": variant, "requested_variant": "",
            "peer": True, "device": device, "threads": threads, "machine": machine,
            "problem": p.to_json(), "status": "skipped", "reason": "", "accuracy": None,
            "timing": None, "bytes": {"read": read, "written": written, "total": read + written},
            "throughput": None, "details": {}, "repro": repro}


def case_id(c):
    p = c["problem"]
    mode = c["timing"]["mode"] if c["timing"] else "verify"
    variant = c["requested_variant"] or "default"
    return (f"{c['backend']}/{variant}/{p['rows']}x{p['cols']}/{p['dtype']}/{p['dist']}/"
            f"eps={p['eps']!r}/affine={int(p['affine'])}/stats={int(p['stats'])}/"
            f"seed={p['seed']}/threads={c['threads']}/{mode}")


def run_case(torch, np, args, p, x_bits, gamma, beta, ref, source, backend, device, threads,
             machine, ceilings, repro):
    """Checks and times one problem on one torch backend; returns the case."""
    stats = p.stats
    variant = "native_layer_norm" if stats else "layer_norm"
    case = make_case(p, backend, variant, device, threads, machine, repro)
    details = case["details"]
    details["torch_version"] = torch.__version__
    details["inputs"] = source
    details["gamma_beta_dtype"] = (f"{p.dtype} (lnbench's f32 gamma/beta cast exactly: their "
                                   "values are representable)") if p.affine else "none"
    details["timing"] = ("CUDA events around each batch" if device != "cpu" else
                         "host clock around each batch") + "; includes output allocation"
    if device == "cpu":
        details["torch_threads"] = str(torch.get_num_threads())
    compiled = backend == "torch-compile"
    if compiled and not hasattr(torch, "compile"):
        case["status"] = "unsupported"
        case["reason"] = f"torch.compile needs PyTorch >= 2.0 (this is {torch.__version__})"
        return case
    dt = torch_dtype(torch, p.dtype)
    x = to_torch_bits(torch, np, x_bits, p.dtype, device)
    w = torch.from_numpy(gamma).to(device=device, dtype=dt) if p.affine else None
    b = torch.from_numpy(beta).to(device=device, dtype=dt) if p.affine else None
    shape = (p.cols,)
    eps = p.eps

    if stats:
        def eager():
            return torch.native_layer_norm(x, shape, w, b, eps)
    else:
        def eager():
            return torch.nn.functional.layer_norm(x, shape, w, b, eps)
    fn = eager
    try:
        if compiled:
            torch._dynamo.reset()  # one compilation per problem, no recompile limit
            fn = torch.compile(eager, dynamic=False)
            t0 = time.perf_counter()
            fn()
            if device != "cpu":
                torch.cuda.synchronize()
            details["compile_s"] = f"{time.perf_counter() - t0:.3f}"
        out = fn()
        if device != "cpu":
            torch.cuda.synchronize()
    except Exception as e:  # a backend failure is a case error, not the end of the run
        first_line = str(e).splitlines()[0] if str(e) else ""
        # PyTorch's dispatcher says so when a kernel lacks a dtype on a device:
        # that is a missing feature, not a failure of the machine.
        unsupported = "not implemented for" in first_line
        case["status"] = "unsupported" if unsupported else "error"
        case["reason"] = (f"PyTorch {torch.__version__} on {device}: " if unsupported else
                          f"{type(e).__name__}: ") + first_line
        return case
    if stats:
        y, mean, rstd = out
        details["stats"] = (f"native_layer_norm's mean and rstd, dtype "
                            f"{str(mean.dtype).replace('torch.', '')}")
        mean_np = mean.detach().float().reshape(-1).cpu().numpy().astype(np.float64)
        rstd_np = rstd.detach().float().reshape(-1).cpu().numpy().astype(np.float64)
    else:
        y, mean_np, rstd_np = out, None, None
    y_bits = from_torch_bits(torch, np, y, p.dtype).reshape(p.rows, p.cols)
    acc, reason = check_outputs(np, p, x_bits, gamma, beta, y_bits, mean_np, rstd_np, ref)
    case["accuracy"] = acc
    if not acc["passed"]:
        case["status"], case["reason"] = "failed", reason
        return case
    case["status"] = "passed"
    if args.verify_only or p.rows == 0:
        if p.rows == 0:
            case["reason"] = "empty problem: nothing to time"
        return case
    timer = Timer(torch, device, args.cold)
    cfg = {"warmup_runs": args.warmup, "warmup_s": 0.02, "min_samples": args.min_samples,
           "max_samples": args.max_samples, "max_noise": args.max_noise / 100.0,
           "time_budget_s": args.time_budget, "min_sample_s": 50e-6}
    t = measure(timer, fn, cfg)
    case["timing"] = t
    key = (device, threads, ceiling_bucket(case["bytes"]["total"]))
    if key not in ceilings:
        ceilings[key] = measure_ceiling(torch, device, case["bytes"]["total"], 10, 0.3)
    c = ceilings[key]
    bw = case["bytes"]["total"] / t["median_s"] / 1e9
    case["throughput"] = {"bandwidth_gbps": bw,
                          "elements_per_s": p.rows * p.cols / t["median_s"],
                          "ceiling_gbps": json_number(c["bandwidth_gbps"]),
                          "fraction_of_ceiling": json_number(bw / c["bandwidth_gbps"]
                                                             if c["bandwidth_gbps"] > 0
                                                             else math.nan),
                          "ceiling_method": c["method"]}
    return case


def parse_shapes(text):
    shapes = []
    for item in text.split(","):
        m = re.fullmatch(r"\s*(\d+)x(\d+)\s*", item)
        if not m or int(m.group(2)) < 1:
            raise UsageError(f"--shape: '{item}' is not ROWSxCOLS (COLS >= 1)")
        shapes.append((int(m.group(1)), int(m.group(2))))
    return shapes


def parse_list(text, allowed, what):
    items = list(allowed) if text == "all" else [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in items if s not in allowed]
    if bad or not items:
        raise UsageError(f"{what}: unknown {', '.join(bad) or '(empty)'} "
                         f"(have: {', '.join(allowed)})")
    return items


def build_parser():
    ap = argparse.ArgumentParser(
        description="PyTorch layer norm as an lnbench peer: verified and timed like lnbench, "
                    "written as an lnbench report.")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    ap.add_argument("--backend", default="eager,compile",
                    help="eager, compile or both, comma-separated (default: both)")
    ap.add_argument("--from-dump", metavar="DIR",
                    help="use the exact inputs and reference `lnbench ... --dump DIR` wrote")
    ap.add_argument("--lnbench", metavar="PATH",
                    help="lnbench binary: asked to dump the exact inputs of the problems "
                         "(default: $LNBENCH_BINARY when set)")
    ap.add_argument("--shape", default="4096x768", help="ROWSxCOLS, comma-separated")
    ap.add_argument("--dtype", default="f32", help="f32, bf16, f16, comma-separated, or all")
    ap.add_argument("--dist", default="normal", help="distributions, comma-separated, or all")
    ap.add_argument("--eps", type=float, default=1e-5)
    ap.add_argument("--no-affine", action="store_true")
    ap.add_argument("--stats", action="store_true",
                    help="also check mean and rstd (torch.native_layer_norm)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0,
                    help="CPU: torch threads (0 = all hardware threads, as lnbench)")
    ap.add_argument("--verify-only", action="store_true", help="check, do not time")
    ap.add_argument("--cold", action="store_true", help="flush caches before every sample")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--min-samples", type=int, default=10)
    ap.add_argument("--max-samples", type=int, default=2000)
    ap.add_argument("--max-noise", type=float, default=0.5, help="percent")
    ap.add_argument("--time-budget", type=float, default=0.5, help="seconds per case")
    ap.add_argument("--json", metavar="FILE", required=True, help="write the report here")
    return ap


def write_atomically(path, text):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--json {path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv):
    args = build_parser().parse_args(argv)
    try:
        import numpy as np
    except ImportError:
        print("error: torch_layernorm.py needs NumPy", file=sys.stderr)
        return EXIT_USAGE
    try:
        import torch
    except ImportError:
        print("error: PyTorch is not installed for this Python "
              f"({sys.executable}); on Debian: apt-get install python3-torch", file=sys.stderr)
        return EXIT_USAGE

    backends = ["torch-" + b for b in parse_list(args.backend, ("eager", "compile"), "--backend")]
    device = args.device
    if device not in ("cpu", "cuda", "cuda:0"):
        raise UsageError(f"--device {device}: use cpu or cuda")
    if device != "cpu":
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: this PyTorch sees no CUDA device")
        device = "cuda:0"
    if args.threads < 0:
        raise UsageError("--threads must be >= 0")
    if device == "cpu":
        # lnbench's --threads 0 means every hardware thread; torch's own default
        # is often the physical core count, so it is set explicitly here.
        torch.set_num_threads(args.threads if args.threads > 0 else (os.cpu_count() or 1))
    threads = torch.get_num_threads() if device == "cpu" else 0
    if os.path.dirname(os.path.abspath(args.json)) and not os.access(
            os.path.dirname(os.path.abspath(args.json)), os.W_OK):
        raise UsageError(f"--json {args.json}: folder is not writable")

    # Problems and their inputs.
    lnbench = args.lnbench or os.environ.get("LNBENCH_BINARY")
    work = []  # (problem, x_bits, gamma, beta, ref, source)
    if args.from_dump:
        work = load_dump(np, args.from_dump, args.eps)
    else:
        problems = [Problem(r, c, dt, args.eps, not args.no_affine, args.stats, d, args.seed)
                    for (r, c) in parse_shapes(args.shape)
                    for dt in parse_list(args.dtype, DTYPES, "--dtype")
                    for d in parse_list(args.dist, DISTS, "--dist")]
        if lnbench:
            if not os.access(lnbench, os.X_OK):
                raise UsageError(f"--lnbench {lnbench}: not an executable")
            with tempfile.TemporaryDirectory(prefix="lnbench-torch-") as tmp:
                dump_with_lnbench(lnbench, problems, tmp)
                loaded = {(q.rows, q.cols, q.dtype, q.dist, q.affine, q.stats): (q, *rest)
                          for (q, *rest) in load_dump(np, tmp, args.eps)}
                for p in problems:
                    f = dump_file_problem(p)
                    _, x_bits, gamma, beta, ref, _ = loaded[(f.rows, f.cols, f.dtype, f.dist,
                                                             f.affine, f.stats)]
                    work.append((p, x_bits, gamma, beta, ref,
                                 f"lnbench {lnbench} (verify --dump): lnbench's exact inputs "
                                 "and reference"))
        else:
            for p in problems:
                x_bits, gamma, beta = regenerate(np, p)
                x = bits_to_float64(np, x_bits, p.dtype)
                ref = reference_float64(np, x, gamma, beta, p.eps)
                work.append((p, x_bits, gamma, beta, ref,
                             "regenerated with NumPy: lnbench's shapes and distributions, not "
                             "its values; float64 reference computed here"))

    gpu_names = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            gpu_names.append({"name": props.name, "index": str(i),
                              "sm_count": str(props.multi_processor_count),
                              "memory_bytes": str(props.total_memory),
                              "torch_cuda": str(torch.version.cuda)})
    machine = cpu_model() + "".join(" + " + g["name"] for g in gpu_names)

    ceilings, cases = {}, []
    script = os.path.relpath(os.path.abspath(__file__))
    for (p, x_bits, gamma, beta, ref, source) in work:
        for backend in backends:
            repro = [sys.executable, script, "--device", args.device, "--backend",
                     backend.replace("torch-", ""), "--shape", f"{p.rows}x{p.cols}", "--dtype",
                     p.dtype, "--dist", p.dist, "--seed", str(p.seed), "--eps", repr(p.eps)]
            repro += (["--no-affine"] if not p.affine else []) + (["--stats"] if p.stats else [])
            if lnbench:
                repro += ["--lnbench", lnbench]
            repro += ["--json", "out.json"]
            c = run_case(torch, np, args, p, x_bits, gamma, beta, ref, source, backend, device,
                         threads, machine, ceilings, " ".join(shlex.quote(a) for a in repro))
            c["id"] = case_id(c)
            cases.append(c)
            print(f"{backend:14} {p.short_name():32} {c['status']:8} "
                  + (f"{c['throughput']['bandwidth_gbps']:8.3g} GB/s "
                     f"({c['throughput']['fraction_of_ceiling']:.2f} of copy)"
                     if c["throughput"] else c["reason"][:100]), flush=True)

    summary = {"cases": len(cases)}
    for s in ("passed", "failed", "skipped", "unsupported"):
        summary[s] = sum(1 for c in cases if c["status"] == s)
    summary["errors"] = sum(1 for c in cases if c["status"] == "error")
    report = {
        "schema_version": 2,
        "kind": "lnbench-report",
        "tool": {"name": "lnbench", "version": "torch_layernorm.py", "git_sha": git_sha(),
                 "build_type": "python", "compiler": f"Python {platform.python_version()}, "
                 f"PyTorch {torch.__version__}", "cxx_flags": ""},
        "context": {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "argv": [sys.argv[0]] + list(argv), "hostname": socket.gethostname(),
            "machine": machine, "os": f"{platform.system()} {platform.release()}",
            "cpu": {"model": cpu_model(), "hardware_threads": os.cpu_count() or 1,
                    "llc_bytes": last_level_cache_bytes()},
            "gpus": gpu_names},
        "config": {"command": "torch_layernorm.py", "backends": backends, "device": device,
                   "inputs": work[0][5] if work else "", "eps": args.eps, "seed": args.seed,
                   "threads": [threads], "measure": not args.verify_only,
                   "timing": {"mode": "cold" if args.cold else "hot",
                              "warmup_runs": args.warmup, "warmup_s": 0.02,
                              "min_samples": args.min_samples, "max_samples": args.max_samples,
                              "max_noise": args.max_noise / 100.0,
                              "time_budget_s": args.time_budget, "min_sample_s": 50e-6}},
        "bytes_model": BYTES_MODEL_TEXT,
        "ceilings": [{"device": dev, "machine": machine, "threads": thr,
                      "method": c["method"], "bytes_per_copy": c["bytes_per_copy"],
                      "samples_s": c["samples_s"], "median_s": c["median_s"],
                      "bandwidth_gbps": c["bandwidth_gbps"], "noise": c["noise"]}
                     for (dev, thr, _), c in ceilings.items()],
        "cases": cases,
        "summary": summary,
    }
    write_atomically(args.json, json.dumps(report, indent=2, allow_nan=False) + "\n")
    print(f"{summary['passed']} passed, {summary['failed']} failed, "
          f"{summary['unsupported']} unsupported, {summary['errors']} errors; report: {args.json}")
    if summary["failed"]:
        return EXIT_FAILURE
    if summary["errors"]:
        return EXIT_RUNTIME
    return EXIT_OK


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(EXIT_RUNTIME)
    except Exception as e:  # a machine or library failure: one line, exit 3
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(EXIT_RUNTIME)
