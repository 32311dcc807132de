#!/usr/bin/env bash
# GPU calls for issue 16: `gopeft bench finetune` (GoPEFT f32 and bf16 against
# PyTorch + HF peft, BERT-base shape), XLA's persistent caches across
# processes, an HLO dump of one training step, start-up of a re-run process,
# and the quickstart through nbrun. Build here:
#   scripts/gpu/session4.sh build
#   go run ./scripts/nbrun build notebooks/00-quickstart.ipynb bin/nbrun   # for the quickstart stage
# The device tool copies the lead's checkout, so the build outputs went to an
# ignored folder of it and travelled xz-compressed (this script unpacks
# bin/**/*.xz), e.g. with carry [".cache/gpu-helper", ".cache/gpu-data"]:
#   cd .cache/gpu-helper && STAGES="info bench f32 startup quickstart" \
#     BENCH_ARGS="--precision bf16" QS_ROOT=$(cd ../.. && pwd) \
#     QS_DATA=../gpu-data/gopeft-data.tar.xz bash scripts/gpu/session4.sh run
# Stages: info bench f32 cache hlo startup quickstart (default: info bench cache hlo).
# Results in $OUT: bench_finetune.json, bench.log, f32.jsonl, cache.log,
# startup.jsonl, hlo.tar.gz, executed-N.ipynb.
set -uo pipefail
case "${1:-}" in
build)
	set -e
	mkdir -p bin
	CGO_ENABLED=1 go build -ldflags='-s -w' -o bin/gopeft ./cmd/gopeft
	ls -la bin/gopeft
	exit 0
	;;
run)
	# Binaries may travel xz-compressed (the carry is limited to 64 MiB).
	for f in $(find bin -name '*.xz' 2>/dev/null); do
		python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$f" "${f%.xz}" && chmod +x "${f%.xz}" && rm "$f"
	done
	;;
*) echo "usage: $0 build|run" >&2; exit 2 ;;
esac
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
STAGES=${STAGES:-"info bench cache hlo"}
QS_ROOT=${QS_ROOT:-$PWD}
QS_DATA=${QS_DATA:-.cache/gpu-data/gopeft-data.tar.xz}
SP=$(python3 -c 'import jax_plugins,os;print(os.path.dirname(list(jax_plugins.__path__)[0]))')
PLUGIN=$(ls "$SP"/jax_plugins/xla_cuda*/xla_cuda_plugin.so | head -1)
export GOPJRT_CUDA_CHECKS=0 GOMLX_BACKEND=xla:$PLUGIN
BASE_FLAGS=--xla_gpu_cuda_data_dir=$SP/nvidia
# Persistent caches, only those this plugin accepts: an unknown flag aborts
# XLA, and a flag's name in the plugin's strings does not mean it is live,
# so each is tried on a tiny step first.
mkdir -p /tmp/xla-cache/autotune
CACHE_FLAGS=""
# --xla_gpu_kernel_cache_file is accepted but unusable here: with it, the
# second and later different graphs died with CUDA_ERROR_ILLEGAL_INSTRUCTION
# (kernels are looked up by name, and fusion names repeat across modules).
for f in ${TRY_FLAGS:-"xla_gpu_per_fusion_autotune_cache_dir=/tmp/xla-cache/autotune"}; do
	if XLA_FLAGS="$BASE_FLAGS --$f" timeout 60 ./bin/gopeft bench finetune --child f32 --method head --layers 1 --hidden 64 --heads 1 \
		--ffn 64 --vocab 64 --batch 1 --seq 8 --steps 1 --loss-every 1 > /dev/null 2> /tmp/flag.err; then
		CACHE_FLAGS="$CACHE_FLAGS --$f"
	else
		echo "flag --$f refused: $(grep -m1 -i flag /tmp/flag.err)"
	fi
done
mkdir -p /tmp/xla-cache/autotune
step() { echo "=== $1 ($(date +%T))"; }
has() { [[ " $STAGES " == *" $1 "* ]]; }
if has info; then
	step info
	nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
	python3 -c 'import torch, transformers, peft, jax; print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__, "jax", jax.__version__, "cuda", torch.version.cuda)'
	echo "plugin $PLUGIN"; echo "cache flags:$CACHE_FLAGS"
	for t in nsys ncu; do command -v $t || echo "no $t"; done
	nproc
fi
if has bench; then
	step bench
	XLA_FLAGS="$BASE_FLAGS$CACHE_FLAGS" timeout "${BENCH_TIMEOUT:-420}" ./bin/gopeft bench finetune --json --steps 20 \
		${BENCH_ARGS:-} > "$OUT/bench_finetune.json" 2> "$OUT/bench.log"
	echo "rc=$?"; grep -v "^$" "$OUT/bench.log" | tail -40
fi
if has f32; then
	step "f32 children"
	for m in ${F32_METHODS:-lora houlsby}; do
		GOPEFT_XLA_PREALLOCATE=false XLA_FLAGS="$BASE_FLAGS$CACHE_FLAGS" timeout 120 ./bin/gopeft bench finetune --child f32 --method $m --steps 20
	done | tee "$OUT/f32.jsonl"
fi
if has cache; then
	step "cache: the same child twice more (caches warm from the bench)"
	for i in ${CACHE_REPEATS:-1 2}; do
		GOPEFT_XLA_PREALLOCATE=false XLA_FLAGS="$BASE_FLAGS$CACHE_FLAGS" timeout 120 ./bin/gopeft bench finetune --child bf16 --method lora --steps 5
	done 2>&1 | tee "$OUT/cache.log"
	du -sh /tmp/xla-cache/* 2>/dev/null
	step "cache off, same child"
	GOPEFT_XLA_PREALLOCATE=false XLA_FLAGS="$BASE_FLAGS" timeout 120 ./bin/gopeft bench finetune --child bf16 --method lora --steps 5 2>&1 | tee -a "$OUT/cache.log"
fi
if has hlo; then
	step "HLO dump of a bf16 LoRA step"
	rm -rf /tmp/hlo
	GOPEFT_XLA_PREALLOCATE=false XLA_FLAGS="$BASE_FLAGS$CACHE_FLAGS --xla_dump_to=/tmp/hlo --xla_dump_hlo_as_text" \
		timeout 150 ./bin/gopeft bench finetune --child bf16 --method lora --steps 5
	ls /tmp/hlo | wc -l
	( cd /tmp/hlo && ls -S | head -5 && tar -czf "$OUT/hlo.tar.gz" $(ls | grep -E 'after_optimizations.txt$|buffer-assignment' | head -40) )
	ls -la "$OUT/hlo.tar.gz"
fi
if has startup; then
	# First step of a re-run process: the same child with the autotune cache
	# warm (the bench filled it), then with parallel LLVM compilation too.
	m=${STARTUP_METHOD:-houlsby}
	step "startup: $m bf16, autotune cache warm"
	GOPEFT_XLA_PREALLOCATE=false XLA_FLAGS="$BASE_FLAGS$CACHE_FLAGS" timeout 120 ./bin/gopeft bench finetune --child bf16 --method $m --steps 5 | tee "$OUT/startup.jsonl"
	step "startup: $m bf16, autotune cache warm, --xla_gpu_force_compilation_parallelism=16"
	GOPEFT_XLA_PREALLOCATE=false XLA_FLAGS="$BASE_FLAGS$CACHE_FLAGS --xla_gpu_force_compilation_parallelism=16" timeout 120 ./bin/gopeft bench finetune --child bf16 --method $m --steps 5 | tee -a "$OUT/startup.jsonl"
fi
if has quickstart; then
	# As scripts/gpu/session3.sh, with the XLA flags the GPU kernelspec sets
	# plus the caches that were accepted above; QS_RUNS times in a row (the
	# second run is a re-run with warm caches). Needs carry
	# .cache/gpu-data (scripts/gpu/session3.sh build) and bin/nbrun.
	rm -rf /tmp/gopeft-data
	python3 -c 'import sys,tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$QS_DATA" /tmp/gopeft-data
	for i in $(seq "${QS_RUNS:-1}"); do
		step "quickstart run $i"
		t0=$(date +%s)
		GOPEFT_DATA=/tmp/gopeft-data GOPEFT_RUNS=/tmp/runs-$i GOPEFT_ROOT=$QS_ROOT GOPEFT_PJRT_PLUGIN=$PLUGIN XLA_FLAGS="$BASE_FLAGS$CACHE_FLAGS" \
			timeout 300 ./bin/nbrun/nbrun run bin/nbrun "$OUT/executed-$i.ipynb" --root "$QS_ROOT"
		echo "quickstart run $i rc=$? wall $(( $(date +%s) - t0 )) s"
	done
fi
step end
