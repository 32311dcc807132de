#!/usr/bin/env bash
# A newcomer's first run, for real: ./install.sh on a Debian machine that has
# Go 1.26 and nothing else. Builds a throwaway Debian root with debootstrap
# (minbase, plus git to hold the clone), bind-mounts this machine's Go
# toolchain into it, clones the checkout, and runs ./install.sh there with a
# clean environment. Checks that the main job ran to the end with both
# accuracies printed, and that the terminal showed progress at least every 10
# seconds while the notebook ran.
#
#   scripts/test/bare_install.sh [--keep]
#
# Needs root, debootstrap and the Debian mirror (./install.sh installs
# debootstrap). The transcript goes to .cache/test-artifacts/bare-install.log.
# --keep leaves the root in .cache/bare-root for a look around.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
REPO=$(pwd)
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1

fail() { echo "bare_install: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap and chroot)"
command -v debootstrap > /dev/null || fail "no debootstrap: apt-get install debootstrap (./install.sh does)"
GOROOT_HOST=$(go env GOROOT) || fail "no Go toolchain here to hand to the newcomer's machine"

ART=$REPO/.cache/test-artifacts
LOG=$ART/bare-install.log
R=$REPO/.cache/bare-root
mkdir -p "$ART"
rm -rf "$R"
cleanup() { [ "$KEEP" -eq 1 ] || rm -rf "$R"; }
trap cleanup EXIT

# The mirror and suite this machine's apt uses, so both sides see the same
# package versions.
MIRROR=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2> /dev/null | head -1)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")

start=$SECONDS
echo "== debootstrap $SUITE (minbase + git) from $MIRROR"
debootstrap --variant=minbase --include=git "$SUITE" "$R" "$MIRROR" > "$ART/debootstrap.log" 2>&1 ||
  { tail -20 "$ART/debootstrap.log"; fail "debootstrap failed (log: $ART/debootstrap.log)"; }
echo "   $(du -sh "$R" | cut -f1) in $((SECONDS - start)) s"
# No services start inside the root.
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"
chmod +x "$R/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$R/etc/resolv.conf"
# This workplace reaches the registries through its own CA; hand the bundle
# over outside /etc/ssl, which the ca-certificates package rewrites.
CA=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
[ -f "$CA" ] && cp "$CA" "$R/opt/host-ca.crt"

# The checkout as a newcomer has it: a clone of the committed tree.
git clone -q --no-hardlinks "$REPO" "$R/root/gopeft"
mkdir -p "$R/usr/local/go"

echo "== ./install.sh inside the root"
set +e
unshare --mount --propagation private bash -c '
  set -e
  R=$1 GOROOT_HOST=$2
  mount -t proc proc "$R/proc"
  mount -t sysfs sys "$R/sys"
  mount --rbind /dev "$R/dev"
  mount -t tmpfs tmpfs "$R/tmp"
  mount --bind -o ro "$GOROOT_HOST" "$R/usr/local/go"
  ca=""
  [ -f "$R/opt/host-ca.crt" ] && ca="SSL_CERT_FILE=/opt/host-ca.crt NODE_EXTRA_CA_CERTS=/opt/host-ca.crt"
  exec chroot "$R" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb $ca \
    PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -c "cd /root/gopeft && ./install.sh"
' _ "$R" "$GOROOT_HOST" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e
echo "== install.sh exited $rc after $((SECONDS - start)) s in all; transcript: $LOG"
[ "$rc" -eq 0 ] || fail "install.sh failed on the bare machine (exit $rc)"

# What the newcomer must see.
/usr/bin/python3 - "$LOG" << 'PY'
import re, sys
lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
try:
    first = next(i for i, l in enumerate(lines) if "7/7 Main job" in l)
except StopIteration:
    sys.exit("no main-job step in the transcript")
if any("WARNING: no jupyter" in l for l in lines):
    sys.exit("install.sh did not find the Jupyter it installed")
stamps = []
for l in lines[first:]:
    m = re.match(r"(\d+):(\d\d) ", l)
    if m:
        stamps.append(int(m.group(1)) * 60 + int(m.group(2)))
if len(stamps) < 10:
    sys.exit("the main job printed %d progress lines; expected live progress" % len(stamps))
gap = max(b - a for a, b in zip(stamps, stamps[1:]))
print("main job: %d progress lines over %d s, longest silence %d s" % (len(stamps), stamps[-1] - stamps[0], gap))
if gap > 10:
    sys.exit("the terminal was silent for %d s during the main job (promise: a line at least every 10 s)" % gap)
text = "\n".join(lines)
for what in (r"test accuracy houlsby: 0\.\d+", r"test accuracy mam: 0\.\d+", r"majority baseline: 0\.\d+",
             r"executed notebook: \S+\.ipynb", r"open in a browser: \S+\.html", r"\[cell \d+/\d+\]", r"fine-tuning on spam \["):
    if not re.search(what, text):
        sys.exit("the transcript lacks %r" % what)
for l in lines:
    if re.search(r"test accuracy|majority baseline|finished in", l):
        print("  " + l.strip())
PY
# A condensed copy for docs/install-transcript.txt: apt's and the Go
# proxy's per-package lines elided (counted), everything else as printed.
/usr/bin/python3 - "$LOG" "$ART/bare-install.condensed.txt" << 'PY'
import re, sys
noisy = re.compile(r"^(Get:\d|Selecting previously|Preparing to unpack|Unpacking |Setting up |Processing triggers|"
                   r"\(Reading database|go: downloading |update-alternatives: |Created symlink|Adding |Updating |Running hooks)")
out, run = [], 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines():
    if noisy.match(line):
        run += 1
        continue
    if run:
        out.append("    [... %d package-manager lines ...]" % run)
        run = 0
    out.append(line)
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
echo "bare_install: ok"
