#!/usr/bin/env python3
"""PyTorch's layer norm (and RMS norm), forward and backward, as an lnbench
peer, through lnbench's external-command protocol (docs/plugins.md, protocol
1). lnbench writes the inputs, checks the outputs against its float64
reference, and writes the report; this script only runs torch and times it:

    lnbench run --external 'torch=python3 scripts/peers/torch_layernorm.py' -b torch,highway \\
        --shape 4096x768 --dtype f32,bf16

Variants: "eager" (torch.nn.functional.layer_norm; torch.native_layer_norm when
lnbench asks for the statistics) and, where this PyTorch has torch.compile,
"compile". RMSNorm is reported unsupported where torch has no F.rms_norm
(PyTorch before 2.4).

Backward (--dir bwd): autograd, the way training computes it. x, gamma (and
beta) require grad, the forward runs once, then only
torch.autograd.grad(y, (x, gamma, beta), dy) is timed (y.backward(dy) without
the accumulation into .grad). Torch's backward uses the mean and rstd its own
forward saved: lnbench's mean/rstd inputs are not read. RMSNorm backward goes
through F.rms_norm where torch has it, else through the composed formula
x * rsqrt(mean(x^2) + eps) * gamma. beta is no input of the backward (dbeta
does not depend on it): zeros stand in.

`--device cuda` (before the folder lnbench appends) runs
on the GPU and times with CUDA events; lnbench then needs its CUDA build (the
device's copy ceiling comes from its cuda backend):

    lnbench run --external 'torch=python3 scripts/peers/torch_layernorm.py --device cuda' -b torch,cuda
"""

import json
import os
import sys
import time

SYSTEM_PYTHON = "/usr/bin/python3"


def run_under_system_python():
    """Debian's python3-torch and python3-numpy belong to /usr/bin/python3;
    another python3 first on PATH (pyenv, a virtual environment) lacks them.
    There this script runs again under Debian's (once: that one is not
    another)."""
    if os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON) and os.access(SYSTEM_PYTHON, os.X_OK):
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])


try:
    import numpy as np
except ImportError as e:
    run_under_system_python()
    print(f"NumPy is not installed for this Python ({e}): apt-get install python3-numpy", file=sys.stderr)
    sys.exit(2)
try:
    import torch
except ImportError as e:
    run_under_system_python()
    print(f"PyTorch is not installed for this Python ({e}): apt-get install python3-torch", file=sys.stderr)
    sys.exit(2)

PROTOCOL = 1
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def device_of():
    return "cuda" if "--device" in sys.argv and sys.argv[sys.argv.index("--device") + 1] == "cuda" else "cpu"


def rms_norm(x, shape, w, eps):
    """F.rms_norm where torch has it (2.4 and later), else the same formula composed of torch ops."""
    if hasattr(torch.nn.functional, "rms_norm"):
        return torch.nn.functional.rms_norm(x, shape, w, eps)
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y * w if w is not None else y


def describe(folder):
    variants = [{"name": "eager", "description": "fwd: torch.nn.functional.layer_norm (native_layer_norm for stats); "
                                                 "bwd: torch.autograd.grad through it, only the backward timed"}]
    if hasattr(torch, "compile"):
        variants.append({"name": "compile", "description": "the eager variant through torch.compile "
                                                           "(bwd: the compiled forward's backward)"})
    unsupported = {}
    supports = {"layernorm/fwd": [], "layernorm/bwd": [], "rmsnorm/bwd": []}

    def probe(key, name, fn):
        # This PyTorch's kernels on the device decide: e.g. f16 layer norm is
        # missing on the CPU before 2.1.
        try:
            fn()
            supports[key].append(name)
        except RuntimeError as e:
            unsupported[f"{key}/{name}"] = f"torch {torch.__version__} on {device_of()}: {str(e).splitlines()[0]}"

    for name, dtype in DTYPES.items():
        x = torch.zeros(2, 8, dtype=dtype, device=device_of())
        w = torch.ones(8, dtype=dtype, device=device_of(), requires_grad=True)
        probe("layernorm/fwd", name, lambda: torch.nn.functional.layer_norm(x, (8,), w, None))
        grad = lambda y: torch.autograd.grad(y, (xg, w), torch.ones_like(y))
        xg = x.clone().requires_grad_()
        probe("layernorm/bwd", name, lambda: grad(torch.nn.functional.layer_norm(xg, (8,), w, None)))
        probe("rmsnorm/bwd", name, lambda: grad(rms_norm(xg, (8,), w, 1e-5)))
    if hasattr(torch.nn.functional, "rms_norm"):
        supports["rmsnorm/fwd"] = list(DTYPES)
    else:
        unsupported["rmsnorm/fwd"] = f"torch {torch.__version__} has no torch.nn.functional.rms_norm"
    with open(os.path.join(folder, "describe.json"), "w") as f:
        json.dump({"protocol": PROTOCOL, "description": f"PyTorch {torch.__version__} layer norm", "device": device_of(),
                   "peer": True, "serve": True, "variants": variants, "supports": supports, "unsupported": unsupported}, f)


def load(folder, name, dtype):
    # bf16 comes as exact f32 values (NumPy has no bf16); f16 as '<f2'.
    return torch.from_numpy(np.load(os.path.join(folder, name + ".npy"))).to(device=device_of(), dtype=dtype)


def save(folder, name, t):
    a = t.detach().cpu()
    a = a.numpy() if a.dtype in (torch.float32, torch.float16) else a.float().numpy()
    np.save(os.path.join(folder, name + ".npy"), a)


def backward_kernel(p, folder):
    """Returns (fn, names): fn() runs torch's backward once and returns the
    gradients named in `names`. The forward runs here, once, untimed."""
    dtype = DTYPES[p["dtype"]]
    x = load(folder, "x", dtype).requires_grad_()
    dy = load(folder, "dy", dtype)
    shape, eps = (p["cols"],), p["eps"]
    leaves, names = [x], ["dx"]
    w = b = None
    if "gamma" in p["inputs"]:
        w = load(folder, "gamma", dtype).requires_grad_()
        leaves.append(w)
        names.append("dgamma")
        if p["op"] == "layernorm":
            # dbeta = sum(dy) does not depend on beta, which the backward is not given.
            b = torch.zeros(p["cols"], dtype=dtype, device=device_of(), requires_grad=True)
            leaves.append(b)
            names.append("dbeta")
    if p["op"] == "rmsnorm":
        fwd = lambda: rms_norm(x, shape, w, eps)
    else:
        fwd = lambda: torch.nn.functional.layer_norm(x, shape, w, b, eps)
    if p["variant"] == "compile":
        torch._dynamo.reset()
        fwd = torch.compile(fwd, dynamic=False)
    y = fwd()
    # retain_graph: the same graph (and the statistics torch's forward saved)
    # serves every timed run.
    return (lambda: torch.autograd.grad(y, leaves, dy, retain_graph=True)), names


def kernel(p, folder):
    dtype = DTYPES[p["dtype"]]
    x = load(folder, "x", dtype)
    # The inputs the op has (problem.json "inputs"): RMSNorm has no beta.
    w = load(folder, "gamma", dtype) if "gamma" in p["inputs"] else None
    b = load(folder, "beta", dtype) if "beta" in p["inputs"] else None
    shape, eps = (p["cols"],), p["eps"]
    if p["op"] == "rmsnorm":
        fn = lambda: (torch.nn.functional.rms_norm(x, shape, w, eps),)
    elif p["stats"]:
        fn = lambda: torch.native_layer_norm(x, shape, w, b, eps)
    else:
        fn = lambda: (torch.nn.functional.layer_norm(x, shape, w, b, eps),)
    if p["variant"] == "compile":
        torch._dynamo.reset()
        fn = torch.compile(fn, dynamic=False)
    return fn


def timed(fn, batch, flush):
    """Seconds of `batch` back-to-back runs: CUDA events on a GPU, the host clock on a CPU."""
    if flush is not None:
        flush.add_(1)
    if device_of() == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(batch):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    t0 = time.perf_counter()
    for _ in range(batch):
        fn()
    return time.perf_counter() - t0


def measure(fn, t):
    """Per-run seconds, lnbench's way: warm up, batch runs to at least 50 us,
    at least min_samples samples, then stop at the time budget. Cold: a
    256 MiB buffer written before each sample (beyond LLC and L2)."""
    flush = torch.zeros(64 << 20, device=device_of()) if t["cold"] else None
    for _ in range(max(1, t["warmup_runs"])):
        fn()
    one = max(timed(fn, 1, None), 1e-9)
    batch = 1 if t["cold"] else int(min(10000, max(1, -(-50e-6 // one))))
    samples, start = [], time.perf_counter()
    while len(samples) < t["max_samples"]:
        samples.append(timed(fn, batch, flush) / batch)
        if len(samples) >= t["min_samples"] and time.perf_counter() - start >= t["time_budget_s"]:
            break
    return samples


def run_backward(p, folder):
    fn, names = backward_kernel(p, folder)
    grads = fn()
    # dgamma/dbeta come in the parameters' dtype; lnbench reads them as f32.
    outputs = {n: (g if n == "dx" else g.float()) for n, g in zip(names, grads)}
    for name in p["outputs"]:
        if name not in outputs:
            print(f"torch_layernorm.py: no output '{name}' for {p['op']}/{p['dir']}", file=sys.stderr)
            return 2
        save(folder, name, outputs[name])
    if p["action"] == "time":
        with open(os.path.join(folder, "timing.json"), "w") as f:
            json.dump({"samples_s": measure(fn, p["timing"])}, f)
    return 0


def main(folder):
    with open(os.path.join(folder, "problem.json")) as f:
        p = json.load(f)
    if p.get("protocol") != PROTOCOL:
        print(f"torch_layernorm.py speaks protocol {PROTOCOL}, not {p.get('protocol')}", file=sys.stderr)
        return 2
    if p["action"] == "describe":
        describe(folder)
        return 0
    if device_of() == "cpu":
        torch.set_num_threads(p["threads"] if p["threads"] > 0 else os.cpu_count())
    if p["dir"] == "bwd":
        return run_backward(p, folder)
    fn = kernel(p, folder)
    with torch.no_grad():
        out = fn()
        outputs = {"y": out[0]}
        if p["stats"] and p["op"] == "layernorm":
            outputs["mean"] = out[1].float().reshape(-1)
            outputs["rstd"] = out[2].float().reshape(-1)
        elif p["stats"]:
            # F.rms_norm returns no statistic: rstd (1/rms) from torch's own
            # reductions in f32, outside the timed kernel.
            outputs["rstd"] = torch.rsqrt(load(folder, "x", torch.float32).pow(2).mean(-1) + p["eps"]).reshape(-1)
        # lnbench names the outputs it reads back (problem.json "outputs").
        for name in p["outputs"]:
            if name not in outputs:
                print(f"torch_layernorm.py: no output '{name}' for {p['op']}/{p['dir']}", file=sys.stderr)
                return 2
            save(folder, name, outputs[name])
        if p["action"] == "time":
            with open(os.path.join(folder, "timing.json"), "w") as f:
                json.dump({"samples_s": measure(fn, p["timing"])}, f)
    return 0


def serve():
    """lnbench's serve mode (describe.json "serve": true; docs/plugins.md):
    one process, torch imported once, answers case after case. Each line of
    stdin is a case's folder; the case runs as main() would run it, its stdout
    and stderr in the folder's files, and its exit status goes back as one
    line on the original stdout. Ends at the end of stdin."""
    import traceback
    reply = os.fdopen(os.dup(1), "w")
    for line in sys.stdin:
        folder = line.rstrip("\n")
        sys.stdout.flush()
        sys.stderr.flush()
        with open(os.path.join(folder, "stdout.txt"), "w") as out, open(os.path.join(folder, "stderr.txt"), "w") as err:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
        os.environ["LNBENCH_EXTERNAL_DIR"] = folder
        try:
            status = main(folder)
        except SystemExit as e:
            status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except Exception:
            traceback.print_exc()
            status = 1
        sys.stdout.flush()
        sys.stderr.flush()
        reply.write(f"{status or 0}\n")
        reply.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve() if sys.argv[-1] == "--serve" else main(sys.argv[-1]))
