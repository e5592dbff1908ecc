#!/usr/bin/env bash
# Builds lnbench and its GPU test binaries here for a lent H100/H200 machine
# (Ubuntu 24.04, nvcc 13.0, CMake, CLI11, fmt 9, nlohmann, GoogleTest, but no
# Highway and no oneDNN), and stages what must travel there into one small
# folder, the one to carry:
#
#   build-gpu/lnbench            sm_90 kernels (+ PTX), static CUDA runtime, rpath $ORIGIN
#   build-gpu/lib*.so*           shared libraries the image lacks (libhwy.so.1 ...)
#   build-gpu/tests/*_test       the CUDA/cuDNN test binaries (rpath $ORIGIN/..)
#   build-gpu/BUILD-INFO         what was built, from which commit
#
# The CMake tree with its object files stays here in build-gpu-tree, so a
# rebuild is incremental and the carried folder stays small (< 40 MiB).
# Then, on the GPU machine, from the repository root:
#   bash scripts/gpu-check.sh OUTDIR            (uses build-gpu)
#
# Usage: scripts/build-gpu.sh [OUT_DIR]   (default: build-gpu)
#   env LNBENCH_GPU_TREE  the CMake build tree (default: build-gpu-tree)
#       JOBS              parallel build jobs (default: 2)
#       CUDA_ARCH         CMAKE_CUDA_ARCHITECTURES (default: 90)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/build-gpu}
tree=${LNBENCH_GPU_TREE:-$root/build-gpu-tree}
jobs=${JOBS:-2}
arch=${CUDA_ARCH:-90}
max_mib=40

# Libraries the target image provides: the C/C++ runtime and libfmt.so.9.
# Everything else a binary resolves to gets copied next to lnbench.
provided_re='^(linux-vdso|ld-linux|libc\.so|libm\.so|libstdc\+\+\.so|libgcc_s\.so|libpthread\.so|libdl\.so|librt\.so|libfmt\.so\.9)'

echo "== configure ($tree, CUDA arch $arch)"
mkdir -p "$tree"
cmake -S "$root" -B "$tree" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" \
  -DLNBENCH_CUDA=ON -DLNBENCH_ONEDNN=OFF -DLNBENCH_BUILD_TESTS=ON >"$tree/configure.log" 2>&1 ||
  { cat "$tree/configure.log"; exit 3; }
grep -E "lnbench:" "$tree/configure.log" || true

# The GPU test binaries: every test target named cuda_*_test or cudnn_*_test.
# (cuda_emulation_test and cuda_backward_emulation_test run kernels on CPU
# fibers: they are run here, not carried.)
mapfile -t tests < <(cmake --build "$tree" --target help | sed -n 's/^\.\.\. \([a-z_]*_test\).*/\1/p' |
  grep -E '^(cuda|cudnn)_' | grep -vE '^cuda_(backward_)?emulation_test$' | sort -u)
echo "== build lnbench ${tests[*]} (-j$jobs)"
cmake --build "$tree" -j"$jobs" --target lnbench "${tests[@]}"

echo "== stage $out"
rm -rf "$out"
mkdir -p "$out/tests"
cp "$tree/lnbench" "$out/"
for t in "${tests[@]}"; do
  bin=$(find "$tree" -type f -name "$t" -perm -u+x | head -n 1)
  [[ -n "$bin" ]] || { echo "build-gpu: test binary $t not found" >&2; exit 3; }
  cp "$bin" "$out/tests/"
done
# Symbols are not needed to run; kernels (fatbins) are kept by strip.
strip --strip-unneeded "$out/lnbench" "$out"/tests/* 2>/dev/null || true

# Shared libraries the image lacks, resolved on this machine, copied next to
# lnbench and into tests/ (test binaries carry rpath $ORIGIN/.. or $ORIGIN).
for bin in "$out/lnbench" "$out"/tests/*; do
  ldd "$bin" | awk '/=>/ && $3 ~ /^\// {print $1, $3}'
done | sort -u | while read -r name path; do
  if [[ "$name" =~ $provided_re ]]; then continue; fi
  if [[ ! -e "$out/$name" ]]; then
    cp -L "$path" "$out/$name"
    cp -L "$path" "$out/tests/$name"
    echo "copied $name ($path)"
  fi
done

# Every binary must now resolve each library outside the provided set to a
# staged copy (rpath comes before the system directories).
missing=0
out_real=$(realpath "$out")
for bin in "$out/lnbench" "$out"/tests/*_test; do
  while read -r name path; do
    if [[ "$name" =~ $provided_re ]]; then continue; fi
    if [[ "$path" != /* || "$(realpath "$path")" != "$out_real"/* ]]; then
      echo "build-gpu: $(basename "$bin") resolves $name to $path, not to a staged copy" >&2
      missing=1
    fi
  done < <(ldd "$bin" | awk '/=>/ {print $1, $3}')
done
[[ $missing == 0 ]] || exit 3

sha=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
{
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  echo "commit: $sha$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo -dirty)"
  echo "cuda architectures: $arch"
  echo "nvcc: $(grep -m1 CMAKE_CUDA_COMPILER_VERSION "$tree"/CMakeFiles/*/CMakeCUDACompiler.cmake 2>/dev/null | sed 's/.*"\(.*\)".*/\1/')"
  echo "tests: ${tests[*]}"
} >"$out/BUILD-INFO"

size_kib=$(du -sk "$out" | cut -f1)
echo "== $out: $((size_kib / 1024)) MiB"
ls -la "$out" "$out/tests"
if ((size_kib > max_mib * 1024)); then
  echo "build-gpu: $out is $((size_kib / 1024)) MiB, over the $max_mib MiB that can be carried" >&2
  exit 3
fi
