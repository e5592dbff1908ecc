#!/usr/bin/env bash
# lnbench set-up for a fresh Debian 12 machine.
#
#   scripts/setup.sh run [lnbench run options]  install, build, run the default job
#   scripts/setup.sh test                       install, build, run every test (also under ASan+UBSan)
#   scripts/setup.sh deps | build               the first steps alone
#
# Packages come from Debian only; apt runs only when one is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(cmake ninja-build g++ make git libcli11-dev libfmt-dev libhwy-dev nlohmann-json3-dev libgtest-dev
          libmpfr-dev libgmp-dev libdnnl-dev ocl-icd-opencl-dev python3 python3-matplotlib
          python3-numpy python3-jsonschema python3-torch)
JOBS="${JOBS:-$(nproc)}"
BUILD_DIR="${BUILD_DIR:-build}"
ASAN_DIR="${ASAN_DIR:-build-asan}"

# Each step with the seconds since the script started (where the time goes).
log() { printf '== [%ss] %s\n' "$SECONDS" "$*" >&2; }

install_deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "dependencies: all installed"
    return
  fi
  log "installing: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# configure DIR [cmake options...]: CMake with Ninja. Ninja compiles a
# target's files while the libraries it links are still being built (Make
# waits for them), which keeps CI's two cores busy: the Release build took
# 325 s instead of 385 s. A folder configured for another generator (an
# older setup.sh, or plain `cmake -B build`) is reconfigured from scratch.
configure() {
  local dir="$1"
  shift
  if [ -f "$dir/CMakeCache.txt" ] && ! grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' "$dir/CMakeCache.txt"; then
    log "$dir was configured for another generator: configuring it again for Ninja"
    rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
  fi
  cmake -G Ninja -S . -B "$dir" "$@" >/dev/null
}

# build TARGET [cmake -D options...]: the Release build of TARGET (all:
# every target; lnbench: the tool and its libraries alone).
build() {
  local target="$1"
  shift
  log "building ${BUILD_DIR} (Release, target ${target})"
  configure "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "$@"
  cmake --build "$BUILD_DIR" -j"$JOBS" --target "$target"
}

build_asan() {
  # CUDA and oneDNN stay out of the sanitizer build: neither runs under ASan
  # here (no GPU; oneDNN's JIT code is not instrumented).
  log "building ${ASAN_DIR} (AddressSanitizer + UndefinedBehaviorSanitizer)"
  # -O1 -g1: line tables for the sanitizers' stack traces, and a build about
  # twice as fast as -O2 -g on CI's two cores; asserts stay on.
  configure "$ASAN_DIR" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
        -DLNBENCH_SANITIZE=ON -DLNBENCH_CUDA=OFF -DLNBENCH_ONEDNN=OFF
  cmake --build "$ASAN_DIR" -j"$JOBS"
}

# Fails when a test other than a GPU one (CUDA, cuDNN: no GPU here) was
# skipped: every other test's dependency is installed above, so a skip would
# hide a missing package. $2 names tests that may skip in that build alone
# (the sanitizer build cannot run under `ulimit -v`; Release runs them).
no_silent_skips() {
  local skipped allowed="cuda|cudnn${2:+|$2}"
  skipped="$(grep -E '\(Skipped\)$' "$1" | grep -viE "$allowed" || true)"
  if [ -n "$skipped" ]; then
    log "tests skipped that must run on this machine:"
    printf '%s\n' "$skipped" >&2
    exit 1
  fi
}

case "${1:-}" in
  deps) install_deps ;;
  build) install_deps; build all -DLNBENCH_MEMORY_TESTS=ON ;;
  run)
    shift
    install_deps
    build lnbench
    mkdir -p results/local
    out="results/local/run-$(date -u +%Y%m%d-%H%M%S).json"
    log "lnbench run $* (report: $out)"
    "./$BUILD_DIR/lnbench" run --json "$out" "$@"
    ;;
  test)
    install_deps
    # The tests of readers, io, plugins and compare that need nothing only
    # the Release build has are compiled and run once, in the sanitizer build
    # below, where the product code under them is instrumented
    # (LNBENCH_MEMORY_TESTS in CMakeLists.txt and tests/CMakeLists.txt).
    build all -DLNBENCH_MEMORY_TESTS=OFF
    log "tests (Release)"
    ctest_log="$(mktemp)"
    trap 'rm -f "$ctest_log"' EXIT
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS" --timeout 600 | tee "$ctest_log"
    no_silent_skips "$ctest_log"
    build_asan
    log "tests (ASan + UBSan)"
    # The sanitizer build holds the tests of code that handles memory; the
    # accuracy studies and the tests of Python scripts ran in the Release
    # build above (tests/CMakeLists.txt, LNBENCH_RELEASE_ONLY_TESTS).
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir "$ASAN_DIR" --output-on-failure -j"$JOBS" --timeout 900 \
      | tee "$ctest_log"
    no_silent_skips "$ctest_log" 'AddressSpaceLimit|RunsOutOfMemory'
    log "every test passed"
    ;;
  *)
    echo "usage: scripts/setup.sh run [lnbench run options] | test | deps | build" >&2
    exit 2
    ;;
esac
