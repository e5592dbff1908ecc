#!/usr/bin/env python3
"""A small external command for lnbench (protocol 1, docs/plugins.md): LayerNorm
forward in NumPy, f32 only. Planted bugs for the tests, chosen by the
environment variable NUMPY_LN_BUG: "wrong" (y off by 1e-2), "nooutput" (writes
no y), "crash" (exit 3), "badtiming" (a negative sample), "tinytiming"
(samples of 5e-324 s), "plant" (once, after its first run, leaves a FIFO at
x.npy, a folder at gamma.npy and, at problem.json, a link to the file
NUMPY_LN_VICTIM: lnbench must write its own files again, not through them;
NUMPY_LN_MARKER names the file that says it was done), and in serve mode
"die" (the process ends in the middle of a case) and "hang".

NUMPY_LN_SERVE=1: the command declares "serve": true and, started with
--serve, answers case after case (one folder per line of stdin, its exit
status as one line on stdout). NUMPY_LN_PIDS=FILE: each case appends the
process id that ran it to FILE."""
import json
import os
import sys
import time

import numpy as np

bug = os.environ.get("NUMPY_LN_BUG", "")


def handle(folder):
    problem = json.load(open(os.path.join(folder, "problem.json")))
    path = lambda name: os.path.join(folder, name)
    if problem["action"] == "describe":
        json.dump({"protocol": 1, "description": "LayerNorm forward in NumPy (test command)", "device": "cpu",
                   "serve": os.environ.get("NUMPY_LN_SERVE") == "1",
                   "variants": [{"name": "numpy", "description": "float64 two-pass, rounded to f32"}],
                   "supports": {"layernorm/fwd": ["f32"]},
                   "unsupported": {"rmsnorm/fwd": "not written yet"}}, open(path("describe.json"), "w"))
        return 0
    if os.environ.get("NUMPY_LN_PIDS"):
        with open(os.environ["NUMPY_LN_PIDS"], "a") as f:
            f.write(f"{os.getpid()}\n")
    if bug == "crash":
        print("planted crash", file=sys.stderr)
        return 3
    if bug == "die":
        print("planted death", file=sys.stderr)
        sys.stderr.flush()
        os._exit(9)
    if bug == "hang":
        time.sleep(3600)

    x = np.load(path("x.npy")).astype(np.float64)
    mean = x.mean(axis=1)
    var = ((x - mean[:, None]) ** 2).mean(axis=1)
    rstd = 1.0 / np.sqrt(var + problem["eps"])

    def compute():
        y = (x - mean[:, None]) * rstd[:, None]
        if problem["affine"]:
            y = y * np.load(path("gamma.npy")) + np.load(path("beta.npy"))
        return y.astype(np.float32)

    y = compute()
    if bug == "wrong":
        y = y + np.float32(1e-2)
    if bug != "nooutput":
        np.save(path("y.npy"), y)
    if problem["stats"]:
        np.save(path("mean.npy"), mean.astype(np.float32))
        np.save(path("rstd.npy"), rstd.astype(np.float32))
    if bug == "plant" and not os.path.exists(os.environ["NUMPY_LN_MARKER"]):
        open(os.environ["NUMPY_LN_MARKER"], "w").close()
        os.remove(path("x.npy"))
        os.mkfifo(path("x.npy"))
        os.remove(path("gamma.npy"))
        os.mkdir(path("gamma.npy"))
        os.remove(path("problem.json"))
        os.symlink(os.environ["NUMPY_LN_VICTIM"], path("problem.json"))

    if problem["action"] == "time":
        t = problem["timing"]
        for _ in range(t["warmup_runs"]):
            compute()
        samples = []
        for _ in range(t["min_samples"]):
            t0 = time.perf_counter()
            compute()
            samples.append(time.perf_counter() - t0)
        if bug == "badtiming":
            samples[0] = -1.0
        if bug == "tinytiming":
            samples = [5e-324] * len(samples)
        json.dump({"samples_s": samples}, open(path("timing.json"), "w"))
    return 0


def serve():
    reply = os.fdopen(os.dup(1), "w")
    for line in sys.stdin:
        folder = line.rstrip("\n")
        with open(os.path.join(folder, "stdout.txt"), "w") as out, open(os.path.join(folder, "stderr.txt"), "w") as err:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
        status = handle(folder)
        sys.stdout.flush()
        sys.stderr.flush()
        reply.write(f"{status}\n")
        reply.flush()


if __name__ == "__main__":
    sys.exit(serve() if sys.argv[-1] == "--serve" else handle(sys.argv[-1]))
