#!/usr/bin/env python3
"""Tests of scripts/peers/torch_layernorm.py, the PyTorch peer, an external
command of lnbench (docs/plugins.md): lnbench writes the inputs, checks the
outputs with its own checker and writes the report; the script runs torch.

PyTorch (Debian's python3-torch, installed by scripts/setup.sh), NumPy and
jsonschema are required: without them the test fails saying why, never skips.
Environment: LNBENCH_BINARY (the lnbench tool), LNBENCH_SOURCE_DIR (the repository).
"""

import json
import os
import subprocess
import sys
import tempfile

SOURCE_DIR = os.environ.get("LNBENCH_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(SOURCE_DIR, "scripts", "peers", "torch_layernorm.py")
SCHEMA = os.path.join(SOURCE_DIR, "results", "schema", "report.schema.json")
LNBENCH = os.environ.get("LNBENCH_BINARY", "")
EXTERNAL = f"torch=/usr/bin/python3 {SCRIPT}"

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}")
    return cond


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def schema_errors(report):
    import jsonschema
    validator = jsonschema.Draft202012Validator(json.load(open(SCHEMA)))
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(report)]


def test_describe(tmp):
    """The script describes itself: variants, and why it cannot do RMSNorm or f16 here."""
    import torch
    folder = os.path.join(tmp, "describe")
    os.makedirs(folder)
    with open(os.path.join(folder, "problem.json"), "w") as f:
        json.dump({"protocol": 1, "action": "describe"}, f)
    res = run(["/usr/bin/python3", SCRIPT, folder])
    if not check(res.returncode == 0, f"describe exited {res.returncode}: {res.stderr}"):
        return
    d = json.load(open(os.path.join(folder, "describe.json")))
    check(d["protocol"] == 1 and d["peer"] and d["device"] == "cpu", f"describe: {d}")
    check(d["variants"][0]["name"] == "eager", f"variants {d['variants']}")
    # Serve mode: torch is imported once per lnbench run, not per case.
    check(d.get("serve") is True, f"describe: not served: {d}")
    check("f32" in d["supports"]["layernorm/fwd"], f"supports {d['supports']}")
    if hasattr(torch.nn.functional, "rms_norm"):
        check("rmsnorm/fwd" in d["supports"], "rms_norm exists but is not offered")
    else:
        check("has no torch.nn.functional.rms_norm" in d["unsupported"].get("rmsnorm/fwd", ""),
              f"rmsnorm not reported unsupported with the reason: {d['unsupported']}")
    # Backward: autograd for layernorm and (composed or F.rms_norm) rmsnorm;
    # a dtype without a kernel is unsupported in torch's words.
    for key in ("layernorm/bwd", "rmsnorm/bwd"):
        check("f32" in d["supports"].get(key, []), f"{key} f32 not offered: {d['supports']}")
        try:
            x = torch.zeros(2, 8, dtype=torch.float16, requires_grad=True)
            torch.autograd.grad(torch.nn.functional.layer_norm(x, (8,)).sum(), x)
            half = True
        except RuntimeError:
            half = False
        if not half and key == "layernorm/bwd":
            check("not implemented for 'Half'" in d["unsupported"].get(key + "/f16", ""),
                  f"{key} f16 without a kernel: {d['unsupported']}")
    # A protocol this script does not speak: exit 2 with the reason.
    with open(os.path.join(folder, "problem.json"), "w") as f:
        json.dump({"protocol": 99, "action": "describe"}, f)
    res = run(["/usr/bin/python3", SCRIPT, folder])
    check(res.returncode == 2 and "protocol 1, not 99" in res.stderr, f"protocol 99: {res.returncode} {res.stderr}")


def test_no_torch_is_a_usage_error(tmp):
    # A torch that cannot be imported, first on the path: lnbench says why, exit 2.
    fake = os.path.join(tmp, "fake_torch")
    os.makedirs(os.path.join(fake, "torch"))
    with open(os.path.join(fake, "torch", "__init__.py"), "w") as f:
        f.write("raise ImportError('no torch here')\n")
    env = dict(os.environ, PYTHONPATH=fake)
    out = os.path.join(tmp, "x.json")
    res = run([LNBENCH, "verify", "--external", EXTERNAL, "-b", "torch", "--shape", "2x8", "--json", out], env=env)
    check(res.returncode == 2, f"no torch: exit {res.returncode}, want 2 ({res.stderr.strip()})")
    check("PyTorch is not installed" in res.stderr and res.stderr.count("\n") == 1,
          f"no torch: message {res.stderr.strip()!r}")
    check(not os.path.exists(out), "no torch: a report was written")


def test_torch_run(tmp):
    out = os.path.join(tmp, "torch.json")
    res = run([LNBENCH, "run", "--external", EXTERNAL, "-b", "torch,scalar", "--shape", "64x256,3x5",
               "--dtype", "f32,f16", "--dist", "normal", "--min-samples", "3",
               "--time-budget", "0.05", "--json", out, "-q"])
    # Exit 1 is a peer failing lnbench's bounds: a finding, not a broken script.
    if not check(res.returncode in (0, 1), f"lnbench run exited {res.returncode}: {res.stderr}"):
        return
    report = json.load(open(out))
    errors = schema_errors(report)
    check(not errors, f"report fails the schema: {errors[:5]}")
    torch_cases = [c for c in report["cases"] if c["backend"] == "torch"]
    # Two shapes x two dtypes, one distribution: each verified case runs
    # four times (two verifications, the timing and the check after it) in the
    # one served process.
    check(len(torch_cases) == 2 * 2, f"{len(torch_cases)} torch cases, want 4")
    for c in torch_cases:
        check(c["peer"] and c["origin"]["kind"] == "external" and c["origin"]["externally_timed"],
              f"{c['id']}: not an externally timed peer: {c.get('origin')}")
        check("--external 'torch=" in c["repro"], f"repro {c['repro']}")
    f32 = [c for c in torch_cases if c["problem"]["dtype"] == "f32" and c["problem"]["dist"] == "normal"
           and c["problem"]["rows"] == 64]
    if check(len(f32) == 1 and f32[0]["status"] == "passed", f"torch 64x256 f32 normal: {f32}"):
        c = f32[0]
        check(len(c["timing"]["samples_s"]) >= 3 and c["timing"]["stop_reason"] == "external",
              f"timing {c['timing']}")
        check(c["throughput"]["ceiling_gbps"] > 0, "no ceiling next to the throughput")
        check(c["accuracy"]["tensors"]["y"]["checked"] == 64 * 256, "not every element checked by lnbench")
    import torch
    f16 = [c for c in torch_cases if c["problem"]["dtype"] == "f16"]
    try:
        torch.nn.functional.layer_norm(torch.zeros(2, 8, dtype=torch.float16), (8,))
    except RuntimeError:
        check(all(c["status"] == "unsupported" and "not implemented for 'Half'" in c["reason"] for c in f16),
              f"f16 without a CPU kernel: {[(c['status'], c['reason']) for c in f16]}")
    # RMSNorm: F.rms_norm where this torch has it (2.4 and later), else
    # unsupported with the reason; lnbench checks y and rstd either way.
    rms = os.path.join(tmp, "rms.json")
    res = run([LNBENCH, "verify", "--external", EXTERNAL, "-b", "torch", "--op", "rmsnorm", "--shape", "5x64",
               "--dtype", "f32", "--dist", "normal", "--stats", "--json", rms, "-q"])
    if check(res.returncode in (0, 1), f"lnbench verify --op rmsnorm exited {res.returncode}: {res.stderr}"):
        cases = json.load(open(rms))["cases"]
        check(len(cases) == 1 and cases[0]["problem"]["op"] == "rmsnorm", f"rmsnorm cases: {cases}")
        if hasattr(torch.nn.functional, "rms_norm"):
            check(cases[0]["status"] == "passed" and "rstd" in cases[0]["accuracy"]["tensors"],
                  f"torch rmsnorm: {cases[0]['status']} {cases[0]['reason']}")
        else:
            want = f"torch: torch {torch.__version__} has no torch.nn.functional.rms_norm"
            check(cases[0]["status"] == "unsupported" and cases[0]["reason"] == want,
                  f"torch rmsnorm without F.rms_norm: {cases[0]['status']} {cases[0]['reason']!r}")
    # The script's RMSNorm path (inputs without beta, rstd written with
    # --stats) on a torch without F.rms_norm: a stand-in F.rms_norm in f32,
    # installed through sitecustomize, so the path runs on torch 1.13 too.
    # One shape (not square: rows and cols cannot be swapped unseen): the
    # path does not depend on it.
    fake = os.path.join(tmp, "fake_rms")
    os.makedirs(fake, exist_ok=True)
    with open(os.path.join(fake, "sitecustomize.py"), "w") as f:
        f.write("import torch\n"
                "def rms_norm(x, shape, w=None, eps=1e-5):\n"
                "    y = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps)\n"
                "    return (y if w is None else y * w.float()).to(x.dtype)\n"
                "if not hasattr(torch.nn.functional, 'rms_norm'):\n"
                "    torch.nn.functional.rms_norm = rms_norm\n")
    res = run([LNBENCH, "verify", "--external", EXTERNAL, "-b", "torch", "--op", "rmsnorm", "--shape", "5x64",
               "--dtype", "f32,bf16", "--dist", "normal", "--both-modes", "--json", rms, "-q"],
              env=dict(os.environ, PYTHONPATH=fake))
    if check(res.returncode == 0, f"torch rmsnorm with F.rms_norm exited {res.returncode}: {res.stderr}"):
        cases = json.load(open(rms))["cases"]
        check(len(cases) == 4 and all(c["status"] == "passed" for c in cases),
              f"torch rmsnorm: {[(c['status'], c['reason']) for c in cases]}")
        check(all(("rstd" in c["accuracy"]["tensors"]) == c["problem"]["stats"] and
                  "mean" not in c["accuracy"]["tensors"] for c in cases), "rmsnorm tensors checked")
    for c in torch_cases:
        if c["status"] == "failed":
            check(c["timing"] is None, f"{c['id']}: a failed case has a timing")

    # lnbench takes the report like any other: compare and merge.
    res = run([LNBENCH, "compare", out, out])
    check(res.returncode == 0, f"lnbench compare exited {res.returncode}: {res.stderr}")
    own = os.path.join(tmp, "own.json")
    res = run([LNBENCH, "run", "-b", "highway", "--shape", "64x256", "--min-samples", "3",
               "--time-budget", "0.05", "--json", own, "-q"])
    check(res.returncode == 0, f"lnbench run exited {res.returncode}: {res.stderr}")
    merged = os.path.join(tmp, "merged.json")
    res = run([LNBENCH, "merge", own, out, "-o", merged])
    if check(res.returncode == 0, f"lnbench merge exited {res.returncode}: {res.stderr}"):
        m = json.load(open(merged))
        check(not schema_errors(m), "merged report fails the schema")
        check(any(c["backend"] == "torch" for c in m["cases"]), "merge lost torch cases")


def write_backward_problem(folder, op, rows, cols, mean_rstd_nan=False):
    """Writes the files lnbench writes for an f32 backward case: x, gamma, dy,
    the forward's statistics (or NaN), problem.json. Returns (x, gamma, dy)."""
    import numpy as np
    rng = np.random.default_rng(3)
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    dy = rng.standard_normal((rows, cols)).astype(np.float32)
    gamma = (1 + 0.1 * rng.standard_normal(cols)).astype(np.float32)
    os.makedirs(folder, exist_ok=True)
    stats = np.full(rows, np.nan if mean_rstd_nan else 1.0, dtype=np.float32)
    inputs = {"x": "x.npy", "gamma": "gamma.npy", "dy": "dy.npy", "rstd": "rstd.npy"}
    outputs = {"dx": "dx.npy", "dgamma": "dgamma.npy"}
    if op == "layernorm":
        inputs["mean"] = "mean.npy"
        outputs["dbeta"] = "dbeta.npy"
    for name, a in (("x", x), ("gamma", gamma), ("dy", dy), ("mean", stats), ("rstd", stats)):
        np.save(os.path.join(folder, name + ".npy"), a)
    with open(os.path.join(folder, "problem.json"), "w") as f:
        json.dump({"protocol": 1, "action": "run", "op": op, "dir": "bwd", "rows": rows, "cols": cols,
                   "dtype": "f32", "eps": 1e-5, "affine": True, "stats": False, "variant": "eager", "threads": 1,
                   "inputs": inputs, "outputs": outputs}, f)
    return x, gamma, dy


def test_backward_script(tmp):
    """The backward through the protocol directly: torch's own forward saves
    the statistics (lnbench's mean/rstd are not read: NaN there changes
    nothing), the results match the float64 formula, and a timed run repeats
    only the backward (the forward runs once)."""
    import numpy as np
    for op in ("layernorm", "rmsnorm"):
        folder = os.path.join(tmp, "bwd_" + op)
        x, gamma, dy = write_backward_problem(folder, op, 6, 40, mean_rstd_nan=True)
        res = run(["/usr/bin/python3", SCRIPT, folder])
        if not check(res.returncode == 0, f"{op} bwd run exited {res.returncode}: {res.stderr}"):
            continue
        xd, gd = x.astype(np.float64), gamma.astype(np.float64) * dy
        mean = xd.mean(1, keepdims=True) if op == "layernorm" else 0 * xd[:, :1]
        rstd = 1 / np.sqrt(((xd - mean) ** 2).mean(1, keepdims=True) + 1e-5)
        xhat = (xd - mean) * rstd
        a = gd.mean(1, keepdims=True) if op == "layernorm" else 0
        dx = rstd * (gd - a - xhat * (gd * xhat).mean(1, keepdims=True))
        got = {n: np.load(os.path.join(folder, n + ".npy")) for n in ("dx", "dgamma")}
        check(np.allclose(got["dx"], dx, rtol=1e-4, atol=1e-5), f"{op} dx differs from the formula")
        check(np.allclose(got["dgamma"], (dy * xhat).sum(0), rtol=1e-4, atol=1e-5), f"{op} dgamma differs")
        if op == "layernorm":
            check(np.allclose(np.load(os.path.join(folder, "dbeta.npy")), dy.astype(np.float64).sum(0),
                              rtol=1e-5, atol=1e-5), "dbeta differs")
        else:
            check(not os.path.exists(os.path.join(folder, "dbeta.npy")), "rmsnorm wrote a dbeta")

    # Only the backward is timed: count forward calls through the script's own functions.
    sys.path.insert(0, os.path.dirname(SCRIPT))
    try:
        import torch
        import torch_layernorm as peer
        folder = os.path.join(tmp, "bwd_count")
        write_backward_problem(folder, "layernorm", 4, 16)
        p = json.load(open(os.path.join(folder, "problem.json")))
        calls = {"fwd": 0}
        real = torch.nn.functional.layer_norm

        def counted(*args, **kw):
            calls["fwd"] += 1
            return real(*args, **kw)

        torch.nn.functional.layer_norm = counted
        try:
            fn, names = peer.backward_kernel(p, folder)
            samples = peer.measure(fn, {"warmup_runs": 2, "min_samples": 3, "max_samples": 5,
                                        "time_budget_s": 0.01, "cold": False})
        finally:
            torch.nn.functional.layer_norm = real
        check(names == ["dx", "dgamma", "dbeta"], f"backward outputs {names}")
        check(len(samples) >= 3 and all(t > 0 for t in samples), f"samples {samples}")
        check(calls["fwd"] == 1, f"the forward ran {calls['fwd']} times; only the backward may be timed")
    finally:
        sys.path.pop(0)


def test_backward_run(tmp):
    """lnbench verifies torch's backward through --external (LayerNorm and
    RMSNorm, f32 and bf16, with and without affine), tensor by tensor, then
    times it. One shape, not square (rows and cols cannot be swapped unseen):
    no check here depends on the shape."""
    import torch
    out = os.path.join(tmp, "bwd.json")
    res = run([LNBENCH, "verify", "--external", EXTERNAL, "-b", "torch", "--op", "all", "--dir", "bwd",
               "--shape", "64x256", "--dtype", "f32,bf16", "--dist", "normal", "--both-modes",
               "--json", out, "-q"])
    if not check(res.returncode in (0, 1), f"lnbench verify --dir bwd exited {res.returncode}: {res.stderr}"):
        return
    report = json.load(open(out))
    errors = schema_errors(report)
    check(not errors, f"bwd report fails the schema: {errors[:5]}")
    cases = report["cases"]
    check(len(cases) == 2 * 2 * 2, f"{len(cases)} backward cases, want 8")
    for c in cases:
        p, t = c["problem"], (c.get("accuracy") or {}).get("tensors", {})
        check(p["dir"] == "bwd", f"{c['id']}: not a backward")
        check(c["status"] in ("passed", "failed"), f"{c['id']}: {c['status']} {c['reason']}")
        if not t:
            continue
        rms = p["op"] == "rmsnorm"
        check(t["dx"]["checked"] == p["rows"] * p["cols"], f"{c['id']}: dx not checked in full")
        check(("dgamma" in t) == p["affine"] and ("dbeta" in t) == (p["affine"] and not rms),
              f"{c['id']}: tensors {list(t)}")
        check("mean" not in t and "rstd" not in t and "y" not in t, f"{c['id']}: inputs checked as outputs")
        if p["dtype"] == "f32":
            check(c["status"] == "passed", f"{c['id']}: torch f32 backward failed: {c['reason']}")
        if c["status"] == "failed":
            print(f"[finding] torch {torch.__version__} {c['id']}: {c['reason']}")

    res = run([LNBENCH, "run", "--external", EXTERNAL, "-b", "torch", "--op", "all", "--dir", "bwd",
               "--shape", "64x256", "--dtype", "f32", "--min-samples", "3", "--time-budget", "0.05",
               "--json", out, "-q"])
    if not check(res.returncode == 0, f"lnbench run --dir bwd exited {res.returncode}: {res.stderr}"):
        return
    cases = json.load(open(out))["cases"]
    check(len(cases) == 2, f"{len(cases)} timed backward cases, want 2")
    for c in cases:
        check(c["status"] == "passed" and len(c["timing"]["samples_s"]) >= 3
              and c["timing"]["stop_reason"] == "external", f"{c['id']}: {c['status']} {c.get('timing')}")
        check(c["throughput"]["ceiling_gbps"] > 0, f"{c['id']}: no ceiling next to the throughput")
        check("--dir bwd" in c["repro"], f"repro {c['repro']}")


def main():
    if not os.path.exists(SCRIPT):
        print(f"FAIL: {SCRIPT} missing")
        return 1
    if not (LNBENCH and os.access(LNBENCH, os.X_OK)):
        print("FAIL: LNBENCH_BINARY is not set")
        return 1
    for module, package in (("numpy", "python3-numpy"), ("torch", "python3-torch"), ("jsonschema", "python3-jsonschema")):
        try:
            __import__(module)
        except ImportError:
            print(f"FAIL: {module} is not installed for this Python (apt-get install {package})")
            return 1
    with tempfile.TemporaryDirectory(prefix="torch-peer-test-") as tmp:
        test_describe(tmp)
        test_no_torch_is_a_usage_error(tmp)
        test_torch_run(tmp)
        test_backward_script(tmp)
        test_backward_run(tmp)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all torch peer checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
