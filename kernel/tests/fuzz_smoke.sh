#!/bin/sh
# Fuzz smoke: a short fuzzing run of each kernel fuzz target (the is_complete
# parser, the wire decoder). A plain `go test ./kernel` already replays the
# committed seed corpora in kernel/testdata/fuzz; this also mutates them.
# FUZZTIME=5m for a long run. A crasher is written to kernel/testdata/fuzz/<target>/
# and the script fails: commit the file with the fix.
set -e
cd "$(dirname "$0")/../.."
t=${FUZZTIME:-20s}
for target in FuzzIsComplete FuzzDecode; do
	echo "fuzz $target for $t"
	nice go test -run XXX -fuzz "^$target\$" -fuzztime "$t" ./kernel
done
