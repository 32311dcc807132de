#!/usr/bin/env bash
# Predicted against measured peak device memory of GoPEFT training steps on
# a BERT-base shape (random weights: memory does not depend on their values),
# over 4 batch sizes x 3 sequence lengths x 3 methods (full fine-tuning,
# LoRA, Houlsby), float32, AdamW.
#
# Build here (one command; the device has no Go):
#   bash scripts/estimate/gpu_memory_sweep.sh build
# Run on the GPU machine with carry ["bin/estimate"] (one command):
#   bash scripts/estimate/gpu_memory_sweep.sh run
#
# "Measured" is XLA's compiled memory statistics of each training step
# (arguments + outputs - aliases + temporaries + code: the buffers XLA
# assigns for the step, weights and AdamW state included), read through
# PJRT (fastgrad.CompiledDeviceBytes); PJRT's device-level peak counter
# (PJRT_Device_MemoryStats) is not wrapped by go-xla v0.1.4. As a
# cross-check the script also logs nvidia-smi's memory.used every 50 ms
# (all processes together: pools that grow on demand and are kept, plus the
# CUDA contexts) to nvidia_smi_memory.csv.
#
# Points are spread over $WORKERS processes of $PER points each (largest
# predicted first, dealt round-robin, so each process holds at most one of
# the largest), each building BERT-base once (about 30 s) and compiling each
# point's step (about 20-25 s on the H200); the defaults should finish in
# about 5 minutes. One process alone would take about 15.
set -uo pipefail
BIN=bin/estimate/gopeft
case "${1:-}" in
build)
	set -e
	mkdir -p bin/estimate
	CGO_ENABLED=1 go build -ldflags='-s -w' -o "$BIN" ./cmd/gopeft
	ls -la "$BIN"
	exit 0
	;;
run) ;;
*) echo "usage: $0 build|run" >&2; exit 2 ;;
esac
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
SP=$(python3 -c 'import jax_plugins,os;print(os.path.dirname(list(jax_plugins.__path__)[0]))')
PLUGIN=$SP/jax_plugins/xla_cuda13/xla_cuda_plugin.so
[ -f "$PLUGIN" ] || PLUGIN=$(ls "$SP"/jax_plugins/xla_cuda*/xla_cuda_plugin.so | head -1)
export XLA_FLAGS=--xla_gpu_cuda_data_dir=$SP/nvidia GOPJRT_CUDA_CHECKS=0
export GOMLX_BACKEND=xla:$PLUGIN GOPEFT_PJRT_PLUGIN=$PLUGIN
# Several processes share the GPU: no up-front 75% preallocation each
# (GOPEFT_XLA_PREALLOCATE=false, peft/backend). XLA's BFC allocator then
# grows each process's pool as it needs and keeps it; points are dealt
# largest first, so each process holds at most one of the largest. The
# measurement (XLA's compiled statistics) does not depend on the allocator.
# If the client refuses the option, one process measures everything.
WORKERS=${WORKERS:-6}
PER=${PER:-6}
export GOPEFT_XLA_PREALLOCATE=false
if ! "$BIN" estimate backend; then
	echo "the XLA client refused preallocate=false: one process, preallocating" >&2
	unset GOPEFT_XLA_PREALLOCATE
	"$BIN" estimate backend || exit 1
	WORKERS=1 PER=36
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader -lms 50 > "$OUT/nvidia_smi_memory.csv" 2>/dev/null &
SMI=$!
echo "=== sweep ($(date +%T)): $WORKERS workers x $PER points, $GOMLX_BACKEND, GOPEFT_XLA_PREALLOCATE=${GOPEFT_XLA_PREALLOCATE:-}"
# Each point is appended to gpu_memory_sweep.jsonl as it is measured, so a
# timeout keeps what was done.
rm -f "$OUT/gpu_memory_sweep.jsonl"
timeout "${SWEEP_TIMEOUT:-540}" "$BIN" estimate sweep --shape bert-base --methods full,lora,houlsby \
	--batches "${BATCHES:-8,16,32,64}" --seqs "${SEQS:-64,128,256}" --steps 2 \
	--parallel "$WORKERS" --points-per-child "$PER" --out-jsonl "$OUT/gpu_memory_sweep.jsonl" > /dev/null
rc=$?
kill "$SMI" 2>/dev/null
echo "=== sweep rc=$rc ($(date +%T)), $(wc -l < "$OUT/gpu_memory_sweep.jsonl") points"
"$BIN" estimate sweep --from "$OUT/gpu_memory_sweep.jsonl" | tee "$OUT/gpu_memory_sweep.txt"
echo "peak GPU memory.used seen by nvidia-smi (all processes): $(awk -F', ' '{gsub(/ MiB/,"",$2); if ($2+0>m) m=$2+0} END {print m}' "$OUT/nvidia_smi_memory.csv") MiB"
exit $rc
