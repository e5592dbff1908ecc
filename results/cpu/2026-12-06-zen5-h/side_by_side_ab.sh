#!/bin/bash
# one-row (batch 1) A/B: old vs new bench, alternating, pinned to a vCPU
cpu=${1:-1}
for i in 1 2 3 4 5; do
  for v in old new; do
    for rms in "" "--rms"; do
      for dt in f32 bf16; do
        for H in 4096 8192 16384 65536; do
          es=4; [ $dt = bf16 ] && es=2
          kib=$(( H * es / 1024 ))
          t=$(taskset -c $cpu /tmp/bench_$v hot $rms --threads 1 --dtypes $dt --cols $H --kib $kib --samples 15 2>&1 | tail -1 | awk '{print $4}')
          echo "$i $v ${rms:-ln} $dt $H $t"
        done
      done
    done
  done
done
