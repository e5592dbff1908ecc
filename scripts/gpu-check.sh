#!/usr/bin/env bash
# The one-shot GPU check, run on a lent H100/H200 from the repository root
# with a build folder made by scripts/build-gpu.sh carried along:
#
#   bash scripts/gpu-check.sh OUTDIR [BUILD_DIR]     (BUILD_DIR or $LNBENCH_GPU_BUILD, default build-gpu)
#
# Steps in this order, correctness first, each with its own time limit, all
# within a total budget ($LNBENCH_GPU_CHECK_BUDGET, default 420 s; a step that
# would start with less than 10 s left is skipped and says so):
#   device     nvidia-smi, the build's facts, `lnbench list`
#   tests      the GPU test binaries run directly (ctest does not survive a moved tree)
#   verify     `lnbench verify -b cuda`: LayerNorm, RMSNorm (--op, issue 12) and both
#              backward passes (--dir bwd, issue 13), each when this lnbench has the option
#   sweep      `lnbench run -b cuda` over H = 128 .. 131072, ~256 MiB inputs: LayerNorm and
#              RMSNorm forward (f32/bf16/f16), both backward (f32/bf16); batch 1 (1x768, 1x4096)
#   memcheck, racecheck, synccheck   compute-sanitizer on the tests' small sweep (if it is there)
#   cudnn      verify (forward variants, RMSNorm, backward) and the backward sweep on the cuDNN peer
#   torch      scripts/peers/torch_layernorm.py (if torch sees a GPU) at five widths: eager
#              backward and forward, torch.compile (bf16, two widths); then cuDNN's forward sweep
#   variants   every cuda variant side by side at four widths, and H = 1<<20
#   sass       cuobjdump: 16-byte LDG/STG, local memory, registers per kernel (if cuobjdump is there)
# LNBENCH_GPU_BWD_TUNING=1 runs the backward sweep more ways (about 130 s more): unfused
# (LNBENCH_CUDA_BWD_PART_ROWS=off, the separate level-0 kernel) and fused without the L2
# prefetch (LNBENCH_CUDA_BWD_PREFETCH=off) over the same shapes, and fused parts of 8, 16,
# 32 and 64 rows at four widths (LayerNorm), so one lease compares them.
# LNBENCH_GPU_STEPS, a bash regex, runs only the steps whose names match (the others
# are listed as skipped): e.g. 'bwd|device|list|cuda_|memcheck|racecheck|synccheck|batch1'.
# Logs, gtest XML and JSON reports go to OUTDIR; a summary table is printed last.
# Exit: 0 all run steps passed, 1 a step failed, 2 usage.
set -u -o pipefail

if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then
  sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
outdir=$1
build=${2:-${LNBENCH_GPU_BUILD:-build-gpu}}
budget=${LNBENCH_GPU_CHECK_BUDGET:-420}
steps_re=${LNBENCH_GPU_STEPS:-}
mkdir -p "$outdir" || exit 2
outdir=$(cd "$outdir" && pwd)
if [[ ! -x "$build/lnbench" ]]; then
  echo "gpu-check: no $build/lnbench (run scripts/build-gpu.sh, or pass the build folder)" >&2
  exit 2
fi
build=$(cd "$build" && pwd)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lnbench="$build/lnbench"
# The staged libraries (libhwy.so.1 ...), whatever rpath a binary carries.
export LD_LIBRARY_PATH="$build:$build/tests${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="$PATH:/usr/local/cuda/bin"

# The standard sweep: rows so each f32 input is about 256 MiB (16-bit inputs
# run the same shapes, 128 MiB).
sweep_cols=128,256,512,768,1024,1536,2048,4096,5120,8192,12288,16384,32768,65536,131072
# shapes_of H,H,...: "ROWSxH,..." with rows for 256 MiB of f32 input per width.
shapes_of() {
  local shapes
  shapes=$(tr , '\n' <<<"$1" | while read -r h; do printf '%sx%s,' $(((256 << 20) / (h * 4))) "$h"; done)
  echo "${shapes%,}"
}
sweep_shapes=$(shapes_of "$sweep_cols")
# The small sweep under compute-sanitizer (kernels run 10-100x slower there):
# the test matrix's small shapes (warp, block, cluster of 4, splitrow, odd and
# misaligned rows) for three dtype/distribution pairs (and one of RMSNorm),
# misaligned pointers, poison.
# (Not the timing test: its held stream would wait out its 1 s timeout if the
# sanitizer makes launches synchronous.)
sanitize_filter='AllDtypesAndDistributions/CudaMatrixTest.*/f32_normal:AllDtypesAndDistributions/CudaMatrixTest.*/bf16_special:AllDtypesAndDistributions/CudaMatrixTest.*/f16_offset1e6:CudaBackendTest.MisalignedPointersUseTheElementPath:CudaBackendTest.PoisonFillsEveryOutput'
# ... and the RMSNorm instantiations of the same kernels.
sanitize_filter+=':AllDtypesAndDistributions/CudaRmsMatrixTest.*/bf16_special:CudaBackendTest.RmsPoisonFillsEveryOutput'
race_filter='AllDtypesAndDistributions/CudaMatrixTest.*/f32_normal:AllDtypesAndDistributions/CudaMatrixTest.*/bf16_outliers:AllDtypesAndDistributions/CudaRmsMatrixTest.*/f32_normal'
# ... and the backward kernels (dx per warp and block, the dgamma tree).
sanitize_filter+=':AllNormsDtypesAndDistributions/CudaBackwardMatrixTest.*/layernorm_bf16_special:CudaBackendTest.BackwardPoisonTimingAndReproducibility'
race_filter+=':AllNormsDtypesAndDistributions/CudaBackwardMatrixTest.*/layernorm_f32_normal:AllNormsDtypesAndDistributions/CudaBackwardMatrixTest.*/rmsnorm_f16_normal'
# ... and fused parts of 1-64 rows, and the separate level 0 (shared memory, alternating slots).
sanitize_filter+=':CudaBackendTest.BackwardPartRowsKnobPlansAndVerifies'
race_filter+=':CudaBackendTest.BackwardPartRowsKnobPlansAndVerifies'

start=$SECONDS
summary=()  # "step|status|seconds|note"
failures=0

# Returns a one-line note from a log: gtest totals or lnbench's closing line.
note_of() {
  local log=$1 passed failed skipped line
  if grep -q '^\[==========\]' "$log"; then
    passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    failed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    line=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -n 1)
    echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped${line:+; ${line#========= }}"
    return
  fi
  line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  [[ -n "$line" ]] && { echo "$line"; return; }
  grep -v '^\s*$' "$log" | tail -n 1 | cut -c1-80
}

# step NAME LIMIT_S COMMAND...: runs it into OUTDIR/NAME.log under a time
# limit (cut to the budget left), prints the log's tail ($TAIL lines), records the result.
step() {
  local name=$1 limit=$2
  shift 2
  if [[ -n "$steps_re" && ! "$name" =~ $steps_re ]]; then
    summary+=("$name|SKIP|0|not in LNBENCH_GPU_STEPS")
    return 0
  fi
  local left=$((budget - (SECONDS - start)))
  if ((left < 10)); then
    summary+=("$name|SKIP|0|time budget spent")
    echo "== $name: skipped, ${left}s of the budget left"
    return 0
  fi
  ((limit > left)) && limit=$left
  local log="$outdir/$name.log" t0=$SECONDS rc status
  echo "== $name (limit ${limit}s): $*"
  timeout -k 5 "$limit" "$@" >"$log" 2>&1
  rc=$?
  case $rc in
    0) status=PASS ;;
    124 | 137) status=TIMEOUT ;;
    77) status=SKIP ;;
    *) status="FAIL($rc)" ;;
  esac
  [[ $status == PASS || $status == SKIP ]] || failures=$((failures + 1))
  tail -n "${TAIL:-12}" "$log" | sed 's/^/   /'
  summary+=("$name|$status|$((SECONDS - t0))|$(note_of "$log")")
}

# skip NAME REASON: records a step that cannot run here.
skip() {
  summary+=("$1|SKIP|0|$2")
  echo "== $1: skipped ($2)"
}

# --- device -------------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(hostname)  build: $build"
  cat "$build/BUILD-INFO" 2>/dev/null
  ldd "$lnbench" | grep -E 'not found|hwy|fmt' || true
} | tee "$outdir/context.txt"
TAIL=40 step device 30 bash -c 'nvidia-smi && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem,power.limit --format=csv'
TAIL=0 step list 20 "$lnbench" list
grep -E '^[a-z]+( \(peer\))?: ' "$outdir/list.log" | sed 's/^/   /'
# The list step's note: what it says about cuda.
last=${summary[${#summary[@]} - 1]}
summary[${#summary[@]} - 1]="${last%|*}|$(grep -m1 '^cuda: ' "$outdir/list.log" | cut -c1-70)"
cudnn_ok=0
grep -qE '^cudnn( \(peer\))?: available' "$outdir/list.log" && cudnn_ok=1
# cuDNN's forward variants that do not time every engine (those are for the sweep,
# not for verify); the backward step names its own.
cudnn_variants=$(awk '/^cudnn/ {on = 1; next} /^[^ ]/ {on = 0} on && /^    [a-z]/ {print $1}' \
  "$outdir/list.log" | grep -v tuned | grep -v backward | paste -sd, -)

# --- tests: the GPU test binaries (correctness first) ---------------------------------
for t in cuda_plan_test cuda_backend_test cudnn_backend_test; do
  bin="$build/tests/$t"
  if [[ ! -x "$bin" ]]; then
    [[ $t == cudnn_backend_test ]] || skip "$t" "not in $build/tests"
    continue
  fi
  limit=60
  [[ $t == cuda_backend_test ]] && limit=${LNBENCH_CUDA_TEST_LIMIT:-150}
  TAIL=6 step "$t" "$limit" "$bin" --gtest_output="xml:$outdir/$t.xml"
  grep -E '^\[  FAILED  \]|Failure$' "$outdir/$t.log" | head -n 20 | sed 's/^/   /'
done

# --- verify: every op and direction on cuda ------------------------------------------
has_op=0 has_dir=0
"$lnbench" verify --help 2>&1 | grep -q -- '--op' && has_op=1
"$lnbench" verify --help 2>&1 | grep -q -- '--dir' && has_dir=1
TAIL=4 step verify-cuda 90 "$lnbench" verify -b cuda -q --json "$outdir/verify-cuda.json"
if ((has_op)); then
  TAIL=4 step verify-cuda-rmsnorm 90 "$lnbench" verify -b cuda --op rmsnorm -q \
    --json "$outdir/verify-cuda-rmsnorm.json"
else
  skip rmsnorm "this lnbench has no --op (the op-generic CLI of issue 12); cuda_backend_test still checks rmsnorm"
fi
if ((has_dir)); then
  TAIL=4 step verify-cuda-bwd 90 "$lnbench" verify -b cuda --op all --dir bwd -q \
    --json "$outdir/verify-cuda-bwd.json"
else
  skip backward "this lnbench has no --dir (issue 13); cuda_backend_test still checks backward"
fi

# --- the standard sweeps on cuda: LayerNorm, RMSNorm, both backward ------------------
TAIL=20 step sweep-cuda 150 "$lnbench" run -b cuda --shape "$sweep_shapes" --dtype f32,bf16,f16 \
  --time-budget 0.1 --min-samples 10 --json "$outdir/sweep-cuda.json"
if ((has_op)); then
  TAIL=20 step sweep-cuda-rmsnorm 150 "$lnbench" run -b cuda --op rmsnorm --shape "$sweep_shapes" \
    --dtype f32,bf16,f16 --time-budget 0.1 --min-samples 10 --json "$outdir/sweep-cuda-rmsnorm.json"
fi
if ((has_dir)); then
  TAIL=20 step sweep-cuda-bwd 120 "$lnbench" run -b cuda --op all --dir bwd --shape "$sweep_shapes" \
    --dtype f32,bf16 --time-budget 0.1 --min-samples 10 --json "$outdir/sweep-cuda-bwd.json"
  # With LNBENCH_GPU_BWD_TUNING=1: the same sweep with dgamma's level 0 as its own
  # kernel (x and dy read twice), without the L2 prefetch, and parts of 8-64 rows.
  if [[ "${LNBENCH_GPU_BWD_TUNING:-0}" == 1 ]] && grep -q LNBENCH_CUDA_BWD_PART_ROWS "$lnbench"; then
    TAIL=20 LNBENCH_CUDA_BWD_PART_ROWS=off step sweep-cuda-bwd-unfused 120 "$lnbench" run -b cuda \
      --op all --dir bwd --shape "$sweep_shapes" --dtype f32,bf16 --time-budget 0.1 \
      --min-samples 10 --json "$outdir/sweep-cuda-bwd-unfused.json"
    TAIL=20 LNBENCH_CUDA_BWD_PREFETCH=off step sweep-cuda-bwd-noprefetch 120 "$lnbench" run -b cuda \
      --op all --dir bwd --shape "$sweep_shapes" --dtype f32,bf16 --time-budget 0.1 \
      --min-samples 10 --json "$outdir/sweep-cuda-bwd-noprefetch.json"
    for rows in 8 16 32 64; do
      TAIL=12 LNBENCH_CUDA_BWD_PART_ROWS=$rows step "sweep-cuda-bwd-parts$rows" 40 "$lnbench" run \
        -b cuda --dir bwd --shape "$(shapes_of 768,2048,4096,8192)" --dtype f32,bf16 \
        --time-budget 0.1 --min-samples 10 --json "$outdir/sweep-cuda-bwd-parts$rows.json"
    done
  fi
fi
# Batch 1 (graph replay of back-to-back calls), forward and backward.
TAIL=12 step batch1-cuda 40 "$lnbench" run -b cuda --op all --dir all --shape 1x768,1x4096 \
  --dtype f32,bf16 --time-budget 0.1 --min-samples 10 --json "$outdir/batch1-cuda.json"

# --- compute-sanitizer on a small sweep -------------------------------------------
if command -v compute-sanitizer >/dev/null 2>&1; then
  export LNBENCH_CUDA_TEST_QUICK=1
  TAIL=4 step memcheck 75 compute-sanitizer --tool memcheck --error-exitcode 9 \
    "$build/tests/cuda_backend_test" --gtest_filter="$sanitize_filter"
  TAIL=4 step racecheck 60 compute-sanitizer --tool racecheck --error-exitcode 9 \
    "$build/tests/cuda_backend_test" --gtest_filter="$race_filter"
  TAIL=4 step synccheck 40 compute-sanitizer --tool synccheck --error-exitcode 9 \
    "$build/tests/cuda_backend_test" --gtest_filter='AllDtypesAndDistributions/CudaMatrixTest.*/f32_normal'
  unset LNBENCH_CUDA_TEST_QUICK
else
  skip memcheck "compute-sanitizer not on PATH"
fi

# --- cuDNN: verify, the backward sweep (torch follows), the forward sweep last ----
torch_script="$repo/scripts/peers/torch_layernorm.py"
# PyTorch at five widths: each case writes and reads its 256 MiB of inputs
# through files, so the full sweep does not fit a lease (2026-12-04: the
# forward alone ran past 60 s).
torch_shapes=$(shapes_of 512,1024,4096,16384,65536)
torch_ok=0
if [[ -f "$torch_script" ]] && python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
  torch_ok=1
fi
torch_ext="torch=python3 $torch_script --device cuda"
if ((cudnn_ok)); then
  TAIL=4 step verify-cudnn 60 "$lnbench" verify -b cudnn ${cudnn_variants:+--variant "$cudnn_variants"} \
    -q --json "$outdir/verify-cudnn.json"
  if ((has_op)); then
    TAIL=4 step verify-cudnn-rmsnorm 60 "$lnbench" verify -b cudnn --op rmsnorm \
      ${cudnn_variants:+--variant "$cudnn_variants"} -q --json "$outdir/verify-cudnn-rmsnorm.json"
  fi
  if ((has_dir)); then
    TAIL=4 step verify-cudnn-bwd 60 "$lnbench" verify -b cudnn --op all --dir bwd \
      --variant backward -q --json "$outdir/verify-cudnn-bwd.json"
    TAIL=20 step sweep-cudnn-bwd 100 "$lnbench" run -b cudnn --op all --dir bwd --variant backward \
      --shape "$sweep_shapes" --dtype f32,bf16 --time-budget 0.1 --min-samples 10 \
      --json "$outdir/sweep-cudnn-bwd.json"
  fi
else
  skip cudnn "cudnn backend not available (see list.log)"
fi

# --- PyTorch at five widths: eager backward and forward, then torch.compile -------
if ((torch_ok == 0)); then
  skip torch "no scripts/peers/torch_layernorm.py, or python3 cannot import torch with CUDA"
else
  if ((has_dir)); then
    TAIL=8 step torch-bwd 90 "$lnbench" run --external "$torch_ext" -b torch --variant eager \
      --op all --dir bwd --shape "$torch_shapes" --dtype f32,bf16 --time-budget 0.05 \
      --json "$outdir/sweep-torch-bwd.json"
  fi
  TAIL=8 step torch 90 "$lnbench" run --external "$torch_ext" -b torch --variant eager \
    --op all --shape "$torch_shapes" --dtype f32,bf16 --time-budget 0.05 --json "$outdir/sweep-torch.json"
  TAIL=8 step torch-compile 100 "$lnbench" run --external "$torch_ext" -b torch --variant compile \
    --op all --dir all --shape "$(cut -d, -f2,3 <<<"$torch_shapes")" --dtype bf16 --time-budget 0.05 \
    --json "$outdir/sweep-torch-compile.json"
fi

if ((cudnn_ok)); then
  TAIL=20 step sweep-cudnn 120 "$lnbench" run -b cudnn --shape "$sweep_shapes" --dtype f32,bf16,f16 \
    --time-budget 0.1 --min-samples 10 --json "$outdir/sweep-cudnn.json"
fi

# --- every cuda variant side by side at four widths, and the 1<<20 path -------------
TAIL=12 step variants-cuda 60 "$lnbench" run -b cuda --variant all --shape 65536x1024,16384x4096,4096x16384,2048x32768 \
  --dtype f32,bf16 --time-budget 0.1 --min-samples 10 --json "$outdir/variants-cuda.json"
TAIL=12 step large-cuda 40 "$lnbench" run -b cuda --variant all --shape 64x1048576 \
  --dtype f32,bf16 --time-budget 0.1 --min-samples 10 --json "$outdir/large-cuda.json"

# --- sass: static review of what nvcc made of the kernels -----------------------
if command -v cuobjdump >/dev/null 2>&1; then
  # shellcheck disable=SC2317  # called through bash -c
  sass_review() {
    cuobjdump -res-usage "$lnbench" >"$outdir/res-usage.txt" 2>&1 || return 3
    cuobjdump -sass "$lnbench" >"$outdir/sass.txt" 2>&1 || return 3
    # Per kernel: 128-bit global loads/stores, narrower ones, local memory (spills).
    awk '
      /Function : / { kernels[++n] = $3 }
      n && /LDG\.E/ { if (/LDG\.E\.128/) ldg128[n]++; else ldg[n]++ }
      n && /STG\.E/ { if (/STG\.E\.128/) stg128[n]++; else stg[n]++ }
      n && /[^A-Z](LDL|STL)[. ]/ { local_[n]++ }
      END {
        printf "%7s %7s %7s %7s %6s  %s\n", "LDG128", "LDG<128", "STG128", "STG<128", "local", "kernel"
        for (i = 1; i <= n; i++)
          printf "%7d %7d %7d %7d %6d  %s\n", ldg128[i], ldg[i], stg128[i], stg[i], local_[i], kernels[i]
      }' "$outdir/sass.txt" | { c++filt 2>/dev/null || cu++filt 2>/dev/null || cat; } |
      sed -e 's/lnbench::layernorm_device:://g; s/lnbench::(anonymous namespace):://g' \
          -e 's/(lnbench::[^)]*)//; s/^\(.*\)void /\1/' >"$outdir/sass-summary.txt"
    cat "$outdir/sass-summary.txt"
    grep -E 'Function|REG|STACK|LOCAL' "$outdir/res-usage.txt" | grep -B1 -E 'LOCAL:[1-9]|STACK:[1-9]' ||
      echo "res-usage: no kernel uses local memory or stack"
    awk 'NR > 1 { n++; if ($1 > 0) wide++; if ($5 > 0) local_++ }
         END { printf "%d kernels: %d with 16-byte loads, %d with local memory\n", n, wide, local_ }' \
      "$outdir/sass-summary.txt"
  }
  export -f sass_review
  export outdir lnbench
  TAIL=50 step sass 60 bash -c sass_review
else
  skip sass "cuobjdump not on PATH"
fi

# --- summary (last) ----------------------------------------------------------------
{
  echo
  echo "================ gpu-check summary ($(hostname), $((SECONDS - start)) s, logs in $outdir)"
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$outdir" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
for path in sorted(glob.glob(os.path.join(out, "sweep-*.json")) + glob.glob(os.path.join(out, "batch1-*.json"))):
    try:
        rep = json.load(open(path))
    except Exception as e:  # a cut-off run leaves no file; a bad one says so
        print(f"{os.path.basename(path)}: unreadable ({e})")
        continue
    gpus = rep.get("context", {}).get("gpus", [])
    gpu = gpus[0].get("name", "?") if gpus else "?"
    ceil = ", ".join(f"{c.get('method')} {c.get('bandwidth_gbps', 0):.0f} GB/s"
                     for c in rep.get("ceilings", []))
    print(f"\n{os.path.basename(path)} on {gpu}; ceilings: {ceil or 'none'}")
    def num(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            return float("nan")
    table = {}
    for c in rep.get("cases", []):
        p = c["problem"]
        key = (c.get("backend", "?"), p.get("op", "layernorm")[:3] + "/" + p.get("dir", "fwd"), p["cols"], p["rows"])
        t = c.get("throughput") or {}
        tm = c.get("timing") or {}
        if c["status"] == "passed" and t and p["rows"] == 1:
            # Batch 1: the time per call says more than a fraction of the ceiling.
            cell = f"{1e6 * num(tm.get('median_s')):8.2f} us {c.get('variant', '')[:8]:<8}"
        elif c["status"] == "passed" and t:
            cell = (f"{num(t.get('bandwidth_gbps')):6.0f} {100 * num(t.get('fraction_of_ceiling')):3.0f}% "
                    f"{c.get('variant', '')[:8]:<8}")
        else:
            cell = f"{c['status'][:22]:<22}"
        table.setdefault(key, {})[p["dtype"]] = cell
    print(f"{'backend':<10} {'op':<7} {'H':>7} {'rows':>7} | {'f32 GB/s %ceil variant':<22} | {'bf16':<22} | {'f16':<22}")
    for (backend, op, h, rows), cells in sorted(table.items()):
        print(f"{backend[:10]:<10} {op:<7} {h:>7} {rows:>7} | "
              + " | ".join(f"{cells.get(d, '-'):<22}" for d in ("f32", "bf16", "f16")))
    s = rep.get("summary", {})
    print(f"cases {s.get('cases')}: {s.get('passed')} passed, {s.get('failed')} failed, "
          f"{s.get('errors')} errors, {s.get('skipped')} skipped, {s.get('unsupported')} unsupported")
PY
  fi
  echo
  printf '%-20s %-12s %5s  %s\n' step status secs note
  for row in "${summary[@]}"; do
    IFS='|' read -r name status secs note <<<"$row"
    printf '%-20s %-12s %5s  %s\n' "$name" "$status" "$secs" "$note"
  done
  if ((failures == 0)); then
    echo "gpu-check: all steps that ran passed ($((SECONDS - start)) s)"
  else
    echo "gpu-check: $failures step(s) failed or timed out ($((SECONDS - start)) s)"
  fi
} | tee "$outdir/summary.txt"
((failures == 0)) || exit 1
exit 0
