#!/usr/bin/env python3
"""Tests of scripts/peers/torch_layernorm.py, the PyTorch peer.

PyTorch (Debian's python3-torch, installed by scripts/setup.sh) and numpy are
required: without them the test fails saying why, it never skips. The parts
that need no torch run first (the ported checker agrees with lnbench's, the
no-torch exit). With PyTorch: a small CPU run on lnbench's exact inputs, the
report validated against results/schema/report.schema.json, and taken by
`lnbench merge` and `lnbench compare`.
Environment: LNBENCH_BINARY (the lnbench tool), LNBENCH_SOURCE_DIR (the repository).
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile

SOURCE_DIR = os.environ.get("LNBENCH_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(SOURCE_DIR, "scripts", "peers", "torch_layernorm.py")
SCHEMA = os.path.join(SOURCE_DIR, "results", "schema", "report.schema.json")
SCHEMA_V2 = os.path.join(os.path.dirname(SCHEMA), "report.v2.schema.json")
LNBENCH = os.environ.get("LNBENCH_BINARY", "")

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}")
    return cond


# --- a small JSON Schema validator (the subset the report schema uses) -------

def validate(instance, schema, root=None, path="$"):
    """Returns a list of violations of `schema` (draft 2020-12 subset)."""
    root = root if root is not None else schema
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        return validate(instance, target, root, path)
    errors = []
    types = {"object": dict, "array": list, "string": str, "boolean": bool}
    t = schema.get("type")
    if t is not None:
        ok = {
            "integer": isinstance(instance, int) and not isinstance(instance, bool),
            "number": isinstance(instance, (int, float)) and not isinstance(instance, bool),
            "null": instance is None,
        }.get(t)
        if ok is None:
            ok = isinstance(instance, types[t])
        if not ok:
            return [f"{path}: expected {t}, got {type(instance).__name__}"]
    if "const" in schema and instance != schema["const"]:
        errors.append(f"{path}: expected {schema['const']!r}")
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{path}: {instance!r} not in {schema['enum']}")
    if "minimum" in schema and isinstance(instance, (int, float)) and instance < schema["minimum"]:
        errors.append(f"{path}: {instance} < {schema['minimum']}")
    if "anyOf" in schema:
        if all(validate(instance, s, root, path) for s in schema["anyOf"]):
            errors.append(f"{path}: matches none of anyOf")
    if isinstance(instance, dict):
        for key in schema.get("required", []):
            if key not in instance:
                errors.append(f"{path}: missing '{key}'")
        props = schema.get("properties", {})
        for key, value in instance.items():
            if key in props:
                errors += validate(value, props[key], root, f"{path}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += validate(value, schema["additionalProperties"], root, f"{path}.{key}")
    if isinstance(instance, list) and "items" in schema:
        for i, item in enumerate(instance):
            errors += validate(item, schema["items"], root, f"{path}[{i}]")
    return errors


def schema_errors(report):
    # Version 2 (the torch script's reports) has its own schema; lnbench writes 3.
    path = SCHEMA_V2 if isinstance(report, dict) and report.get("schema_version") == 2 else SCHEMA
    schema = json.load(open(path))
    errors = validate(report, schema)
    try:  # Debian's python3-jsonschema, when installed, checks the same report again
        import jsonschema
        try:
            jsonschema.validate(report, schema)
        except jsonschema.ValidationError as e:
            errors.append(f"jsonschema: {e.message} at {list(e.absolute_path)}")
    except ImportError:
        pass
    return errors


def load_script():
    spec = importlib.util.spec_from_file_location("torch_layernorm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


# --- tests ------------------------------------------------------------------

def test_validator_rejects_bad_reports():
    schema = json.load(open(SCHEMA))
    check(validate({"schema_version": 2}, schema), "validator accepts a report missing keys")
    check(validate({"rows": -1, "cols": 1, "dtype": "f32", "eps": 1e-5, "affine": True,
                    "stats": False, "dist": "normal", "seed": 1},
                   {"$ref": "#/$defs/problem"}, schema),
          "validator accepts rows = -1")
    check(validate({"status": "passed"}, {"$ref": "#/$defs/case"}, schema),
          "validator accepts an incomplete case")


def test_no_torch_exits_2(tmp):
    # A torch that cannot be imported, first on the path.
    fake = os.path.join(tmp, "fake_torch")
    os.makedirs(os.path.join(fake, "torch"))
    with open(os.path.join(fake, "torch", "__init__.py"), "w") as f:
        f.write("raise ImportError('no torch here')\n")
    env = dict(os.environ, PYTHONPATH=fake)
    res = run([sys.executable, SCRIPT, "--json", os.path.join(tmp, "x.json")], env=env)
    check(res.returncode == 2, f"no torch: exit {res.returncode}, want 2 ({res.stderr.strip()})")
    check("PyTorch is not installed" in res.stderr, f"no torch: message {res.stderr.strip()!r}")
    check(not os.path.exists(os.path.join(tmp, "x.json")), "no torch: a report was written")


def test_checker_agrees_with_lnbench(np, mod, tmp):
    """The script's port of lnbench's CheckOutputs gives lnbench's numbers on
    outputs lnbench dumped (passing and failing ones)."""
    dump = os.path.join(tmp, "dump")
    os.makedirs(dump)
    report_path = os.path.join(tmp, "lnbench.json")
    res = run([LNBENCH, "verify", "-b", "all", "--shape", "37x300,5x3", "--dtype", "f32,bf16,f16",
               "--dist", "normal,offset1e4,tinyvar,special,constant", "--stats", "--dump", dump,
               "--json", report_path, "-q"])
    if not check(res.returncode in (0, 1), f"lnbench verify exited {res.returncode}: {res.stderr}"):
        return
    report = json.load(open(report_path))
    errors = schema_errors(report)
    check(not errors, f"lnbench's own report fails the validator: {errors[:3]}")
    compared = failing = 0
    for case in report["cases"]:
        if case["accuracy"] is None:
            continue
        p = case["problem"]
        prob = mod.Problem(p["rows"], p["cols"], p["dtype"], p["eps"], p["affine"], p["stats"],
                           p["dist"], p["seed"])
        tag = f"{p['rows']}x{p['cols']}_{p['dtype']}_{p['dist']}_aff1_st1_seed{p['seed']}_"
        out = os.path.join(dump, tag + f"{case['backend']}_{case['variant']}")
        if case["device"] == "cpu":
            out += f"_t{case['threads']}"
        base = os.path.join(dump, tag)
        x_bits = mod.npy_bits(np, np.load(base + "x.npy"), p["dtype"])
        y_bits = mod.npy_bits(np, np.load(out + "_y.npy"), p["dtype"])
        ref = {"y": np.load(base + "ref_y.npy"), "mean": np.load(base + "ref_mean.npy"),
               "rstd": np.load(base + "ref_rstd.npy")}
        acc, _ = mod.check_outputs(np, prob, x_bits, np.load(base + "gamma.npy"),
                                   np.load(base + "beta.npy"), y_bits,
                                   np.load(out + "_mean.npy").astype(np.float64),
                                   np.load(out + "_rstd.npy").astype(np.float64), ref)
        want = case["accuracy"]["tensors"]
        where = f"{case['backend']}/{case['variant']} {prob.short_name()}"
        check(acc["passed"] == case["accuracy"]["passed"],
              f"{where}: passed {acc['passed']} vs lnbench {case['accuracy']['passed']}")
        for t in ("y", "mean", "rstd"):
            for k in ("checked", "failed", "nan_mismatch", "max_ulp", "ulp_hist"):
                check(acc[t][k] == want[t][k], f"{where} {t}.{k}: {acc[t][k]} vs lnbench {want[t][k]}")
            for k in ("max_abs", "max_bound_ratio", "max_rel", "rel_l2"):
                a, b = acc[t][k], want[t][k]
                same = a == b or (isinstance(a, float) and isinstance(b, float) and
                                  abs(a - b) <= 1e-9 * max(abs(a), abs(b)))
                check(same, f"{where} {t}.{k}: {a} vs lnbench {b}")
        compared += 1
        failing += not case["accuracy"]["passed"]
    check(compared >= 10, f"only {compared} lnbench cases compared")
    print(f"checker agrees with lnbench on {compared} cases ({failing} failing ones)")

    # A planted error: one element of a passing output moved far off.
    p = mod.Problem(37, 300, "f32", 1e-5, True, False, "normal", 1)
    base = os.path.join(dump, "37x300_f32_normal_aff1_st1_seed1_")
    x_bits = mod.npy_bits(np, np.load(base + "x.npy"), "f32").reshape(37, 300)
    ref = {"y": np.load(base + "ref_y.npy"), "mean": np.load(base + "ref_mean.npy"),
           "rstd": np.load(base + "ref_rstd.npy")}
    y = ref["y"].copy()
    y[20, 123] += 0.01
    acc, reason = mod.check_outputs(np, p, x_bits, np.load(base + "gamma.npy"),
                                    np.load(base + "beta.npy"), mod.round_bits(np, y, "f32"),
                                    None, None, ref)
    check(not acc["passed"] and acc["y"]["failed"] == 1, f"planted error: {acc['y']}")
    check("row 20 col 123" in reason, f"planted error reason: {reason}")


def test_torch_run(mod, tmp):
    out = os.path.join(tmp, "torch.json")
    res = run([sys.executable, SCRIPT, "--lnbench", LNBENCH, "--shape", "64x256,3x5",
               "--dtype", "f32,bf16", "--dist", "normal,outliers", "--min-samples", "3",
               "--time-budget", "0.05", "--json", out])
    print(res.stdout)
    # Exit 1 is a peer failing lnbench's bounds: a finding, not a broken script.
    if not check(res.returncode in (0, 1), f"torch run exited {res.returncode}: {res.stderr}"):
        return
    report = json.load(open(out))
    errors = schema_errors(report)
    check(not errors, f"torch report fails the schema: {errors[:5]}")
    cases = report["cases"]
    check(len(cases) == 2 * 2 * 2 * 2, f"{len(cases)} cases, want 16")
    check(len({c["id"] for c in cases}) == len(cases), "case ids are not unique")
    check(all(c["peer"] and c["backend"] in ("torch-eager", "torch-compile") for c in cases),
          "cases are not torch peers")
    check(all("exact inputs" in c["details"].get("inputs", "") for c in cases
              if c["status"] in ("passed", "failed")), "inputs are not lnbench's")
    eager = [c for c in cases if c["backend"] == "torch-eager" and c["problem"]["dtype"] == "f32"
             and c["problem"]["dist"] == "normal" and c["problem"]["rows"] == 64]
    check(len(eager) == 1 and eager[0]["status"] == "passed",
          f"torch-eager 64x256 f32 normal: {eager[0]['status'] if eager else 'missing'} "
          f"{eager[0]['reason'] if eager else ''}")
    if eager and eager[0]["status"] == "passed":
        c = eager[0]
        check(c["timing"] is not None and len(c["timing"]["samples_s"]) >= 3, "no timing samples")
        check(c["throughput"] is not None and c["throughput"]["ceiling_gbps"] > 0,
              "no ceiling next to the throughput")
        check(c["threads"] == (os.cpu_count() or 1), f"threads {c['threads']}")
        check(c["accuracy"]["y"]["checked"] == 64 * 256, "not every element checked")
    check(any(ce["device"] == "cpu" and ce["method"] == "torch.Tensor.copy_"
              for ce in report["ceilings"]), "no torch copy ceiling")
    for c in cases:
        if c["status"] == "failed":
            check(c["accuracy"] is not None and not c["accuracy"]["passed"] and c["timing"] is None,
                  f"{c['id']}: a failed case has a timing or no accuracy")

    # lnbench takes the report: compare against itself, merge with its own.
    res = run([LNBENCH, "compare", out, out])
    check(res.returncode == 0, f"lnbench compare exited {res.returncode}: {res.stderr}")
    own = os.path.join(tmp, "own.json")
    res = run([LNBENCH, "run", "-b", "scalar", "--shape", "64x256", "--min-samples", "3",
               "--time-budget", "0.05", "--json", own, "-q"])
    check(res.returncode == 0, f"lnbench run exited {res.returncode}: {res.stderr}")
    merged = os.path.join(tmp, "merged.json")
    res = run([LNBENCH, "merge", own, out, "-o", merged])
    if check(res.returncode == 0, f"lnbench merge exited {res.returncode}: {res.stderr}"):
        m = json.load(open(merged))
        check(not schema_errors(m), "merged report fails the schema")
        check(any(c["backend"] == "torch-eager" for c in m["cases"]), "merge lost torch cases")

    # The exact inputs of an earlier `lnbench verify --dump`.
    dump = os.path.join(tmp, "dump2")
    os.makedirs(dump)
    res = run([LNBENCH, "verify", "-b", "scalar", "--shape", "16x128", "--dtype", "f32",
               "--dist", "uniform", "--no-affine", "--dump", dump, "-q"])
    check(res.returncode == 0, f"lnbench verify --dump exited {res.returncode}")
    out2 = os.path.join(tmp, "torch2.json")
    res = run([sys.executable, SCRIPT, "--from-dump", dump, "--backend", "eager", "--verify-only",
               "--json", out2])
    if check(res.returncode == 0, f"--from-dump exited {res.returncode}: {res.stderr}"):
        r2 = json.load(open(out2))
        check(len(r2["cases"]) == 1 and r2["cases"][0]["status"] == "passed"
              and not r2["cases"][0]["problem"]["affine"], f"--from-dump cases: {r2['cases']}")
        check(r2["cases"][0]["timing"] is None, "--verify-only timed")

    # Usage errors: one line, exit 2, no report.
    bad = os.path.join(tmp, "bad.json")
    res = run([sys.executable, SCRIPT, "--dtype", "f64", "--json", bad])
    check(res.returncode == 2 and "f64" in res.stderr and not os.path.exists(bad),
          f"--dtype f64: exit {res.returncode} {res.stderr.strip()}")


def main():
    if not os.path.exists(SCRIPT):
        print(f"FAIL: {SCRIPT} missing")
        return 1
    with tempfile.TemporaryDirectory(prefix="torch-peer-test-") as tmp:
        test_validator_rejects_bad_reports()
        test_no_torch_exits_2(tmp)
        try:
            import numpy as np
        except ImportError:
            print("FAIL: NumPy is not installed for this Python (apt-get install python3-numpy)")
            return 1
        mod = load_script()
        if LNBENCH and os.access(LNBENCH, os.X_OK):
            test_checker_agrees_with_lnbench(np, mod, tmp)
        else:
            print("note: LNBENCH_BINARY not set: checker agreement not tested")
        try:
            import torch  # noqa: F401
        except ImportError:
            print("FAIL: PyTorch is not installed for this Python (Debian: apt-get install "
                  "python3-torch, or scripts/setup.sh deps)")
            return 1
        if not (LNBENCH and os.access(LNBENCH, os.X_OK)):
            print("FAIL: LNBENCH_BINARY is not set")
            return 1
        test_torch_run(mod, tmp)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all torch peer checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
