#!/bin/bash
# paired hot A/B: base (3fdd538) vs new, alternating, vCPU 1
cd /work/m32/ab
for r in 1 2 3 4 5 6 7 8 9 10; do
  for v in base new; do
    for m in ln rms bwd; do
      case $m in ln) f="";; rms) f="--rms";; bwd) f="--bwd";; esac
      taskset -c 1 /tmp/bench_$v hot $f --threads 1 --dtypes f32,bf16 --cols 128,768,4096,16384 --samples 16 > ${m}_${v}_$r.txt 2>&1
    done
  done
done
echo done
