#!/usr/bin/env bash
# Proves the README's two set-up commands on a fresh Debian 12: debootstraps a
# clean bookworm root file system from Debian's packages into a temporary
# folder, copies the committed tree (git HEAD) into it, and runs, inside a
# chroot, as a new user of a fresh machine would:
#
#   scripts/setup.sh run     install what is needed, build, run the default job
#   scripts/setup.sh test    build and pass every test (Release, then ASan+UBSan)
#
# Prints PASS/FAIL and the wall time of each step; exits non-zero if any failed.
# Needs root (debootstrap, chroot, mounts) and Debian's package mirror.
#
#   scripts/fresh-machine-check.sh [--only run|test] [--keep] [--variant minbase|buildd]
#
# The root file system lives under ${TMPDIR:-/tmp} and is removed at the end
# (--keep leaves it for inspection). Only /proc, /sys and /dev/pts are mounted
# into it; its /dev holds the few device nodes debootstrap made, so nothing the
# chroot does can touch the host's devices. Takes about 20 to 40 minutes on
# two cores (most of it the two builds).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

only=""
keep=0
variant="minbase"
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --variant) variant="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "fresh-machine-check: unknown option '$1'" >&2; exit 2 ;;
  esac
done
case "$only" in ""|run|test) ;; *) echo "fresh-machine-check: --only takes run or test" >&2; exit 2 ;; esac

log() { printf '== %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  echo "fresh-machine-check: needs root (debootstrap, chroot, mount)" >&2
  exit 2
fi
if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

# The mirror this machine's apt uses (Debian's packages), else Debian's default.
mirror="$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)"
mirror="${mirror:-http://deb.debian.org/debian}"

root="$(mktemp -d "${TMPDIR:-/tmp}/lnbench-fresh.XXXXXX")"
chmod 755 "$root"  # apt inside downloads as the _apt user
mounted=()
cleanup() {
  local m
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  if [ "$keep" -eq 1 ]; then
    log "kept the root file system: $root"
  else
    rm -rf --one-file-system "$root"
  fi
}
trap cleanup EXIT

t0=$(date +%s)
log "debootstrap bookworm ($variant) from $mirror into $root"
debootstrap --variant="$variant" bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 || {
  tail -20 "$root.debootstrap.log" >&2
  rm -f "$root.debootstrap.log"
  echo "FAIL debootstrap"
  exit 1
}
rm -f "$root.debootstrap.log"
log "debootstrap: $(( $(date +%s) - t0 )) s"

# A fresh machine's apt sources: the release, its updates and security.
security="${mirror%/debian}/debian-security"
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf"
for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  IFS=: read -r name major minor <<<"$node"
  [ -e "$root/dev/$name" ] || mknod -m 666 "$root/dev/$name" c "$major" "$minor"
done
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount -t sysfs sysfs "$root/sys" && mounted+=("$root/sys")
mkdir -p "$root/dev/pts" "$root/dev/shm"
mount -t devpts devpts "$root/dev/pts" && mounted+=("$root/dev/pts")
mount -t tmpfs tmpfs "$root/dev/shm" && mounted+=("$root/dev/shm")

# The committed tree, as a clean clone would have it (no build folders).
mkdir -p "$root/src/lnbench"
git -C "$repo" archive --format=tar HEAD | tar -x -C "$root/src/lnbench"
log "tree: $(git -C "$repo" rev-parse --short HEAD) copied to /src/lnbench"

# The only things a fresh Debian 12 image has beyond debootstrap's minimum.
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates >/dev/null' ||
  { echo "FAIL apt inside the chroot"; exit 1; }

status=0
step() {
  local name="$1"
  shift
  local start end rc=0
  start=$(date +%s)
  log "step '$name': $*"
  chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 TERM=dumb bash -c "cd /src/lnbench && $*" >"$root/step-$name.log" 2>&1 || rc=$?
  end=$(date +%s)
  if [ "$rc" -eq 0 ]; then
    printf 'PASS %-6s %5d s   %s\n' "$name" $((end - start)) "$*"
  else
    tail -40 "$root/step-$name.log" >&2
    printf 'FAIL %-6s %5d s   %s (exit %d; log above)\n' "$name" $((end - start)) "$*" "$rc"
    status=1
  fi
}

if [ -z "$only" ] || [ "$only" = run ]; then step run scripts/setup.sh run; fi
if [ -z "$only" ] || [ "$only" = test ]; then step test scripts/setup.sh test; fi
log "total: $(( $(date +%s) - t0 )) s"
exit "$status"
