#!/usr/bin/env bash
# Three rounds, each: the memory patterns alone (scripts/microbench/row_patterns.cc),
# then the kernels at the same widths, one thread on vCPU 1. Run from the
# repository root after a Release build in build/.
set -euo pipefail
B=${B:-build/backends/highway/lnbench_highway_bench}
out=results/cpu/2026-12-07-zen5-c
g++ -O2 -march=native -o /tmp/row_patterns scripts/microbench/row_patterns.cc
for i in 1 2 3; do
  taskset -c 1 /tmp/row_patterns 9 > "$out/kvp_pattern_$i.txt"
  taskset -c 1 "$B" dram --threads 1 --dtypes f32 --cols 4096,16384,65536 --samples 7 --mib 128 > "$out/kvp_fwd_$i.txt"
  taskset -c 1 "$B" dram --bwd --threads 1 --dtypes f32 --cols 128,1024,4096,16384,65536 --samples 7 --mib 128 > "$out/kvp_bwd_$i.txt"
done
