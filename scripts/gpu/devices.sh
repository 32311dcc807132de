#!/usr/bin/env bash
# Issue 17: data parallel fine-tuning through GoMLX's AutoSharding. Checks the
# mesh tests (peft/dataparallel_test.go: a mesh of one trains like the plain
# step within 1e-5 over 10 steps; 2 devices at the same global batch follow
# one device within 1e-3 over 50 steps) and `gopeft bench finetune --devices`
# (tokens/s on 1 and N GPUs at the same per-device batch, BERT-base shape).
# There is no Go on the device: build here, carry the xz-compressed binaries:
#   scripts/gpu/devices.sh build        # -> .cache/gpu-devices/bin/{gopeft,devices.test}.xz
# One H200 (nvidia-h200), carry [".cache/gpu-devices"]: the mesh of one, and
# the bench's mesh of one against the plain step:
#   bash scripts/gpu/devices.sh run
# Two H200s (nvidia-h200-x2), carry [".cache/gpu-devices"]: the acceptance run
# (2-GPU tokens/s >= 1.8x one GPU's for LoRA and Houlsby; the 50-step curve):
#   DEVICES=2 bash scripts/gpu/devices.sh run
# Knobs: STAGES (default "info tests bench"), DEVICES (default: every GPU),
# METHODS (lora,houlsby), PRECISION (bf16; f32,bf16 runs twice the children: mind the 10-minute call), BENCH_ARGS (more bench flags),
# BENCH_TIMEOUT (480 s). Results in $OUT: tests.log, bench_devices.json, bench.log.
set -uo pipefail
DIR=${DIR:-.cache/gpu-devices}
case "${1:-}" in
build)
	set -e
	mkdir -p "$DIR/bin"
	CGO_ENABLED=1 go build -ldflags='-s -w' -o "$DIR/bin/gopeft" ./cmd/gopeft
	CGO_ENABLED=1 go test -c -ldflags='-s -w' -o "$DIR/bin/devices.test" ./peft
	xz -f -T2 "$DIR/bin/gopeft" "$DIR/bin/devices.test"
	ls -la "$DIR/bin"
	exit 0
	;;
run)
	for f in $(find "$DIR/bin" -name '*.xz' 2>/dev/null); do
		python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$f" "${f%.xz}" && chmod +x "${f%.xz}" && rm "$f"
	done
	;;
*) echo "usage: $0 build|run" >&2; exit 2 ;;
esac
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
BIN=$DIR/bin
STAGES=${STAGES:-"info tests bench"}
GPUS=$(nvidia-smi -L 2>/dev/null | wc -l)
DEVICES=${DEVICES:-$GPUS}
# The plugin and flags as scripts/gpu/session4.sh finds them.
SP=$(python3 -c 'import jax_plugins,os;print(os.path.dirname(list(jax_plugins.__path__)[0]))')
PLUGIN=$(ls "$SP"/jax_plugins/xla_cuda*/xla_cuda_plugin.so | head -1)
export GOPJRT_CUDA_CHECKS=0 GOMLX_BACKEND=xla:$PLUGIN
export XLA_FLAGS=${XLA_FLAGS:-"--xla_gpu_cuda_data_dir=$SP/nvidia"}
step() { echo "=== $1 ($(date +%T))"; }
has() { [[ " $STAGES " == *" $1 "* ]]; }
if has info; then
	step info
	nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader
	nvidia-smi topo -m 2>/dev/null | head -5
	echo "plugin $PLUGIN; $GPUS GPU(s); DEVICES=$DEVICES"
fi
if has tests; then
	step "mesh tests (TestDataParallelMeshOfOne; TestDataParallelTwoDevices skips on one GPU)"
	GOPEFT_XLA_PREALLOCATE=false timeout 300 "$BIN/devices.test" -test.run 'DataParallel|Devices' -test.v -test.count=1 2>&1 | tee "$OUT/tests.log"
	echo "tests rc=${PIPESTATUS[0]}"
	grep -q -- "--- SKIP: TestDataParallelMeshOfOne" "$OUT/tests.log" && echo "WARNING: the mesh of one was skipped: not on the XLA backend"
fi
if has bench; then
	# One device: the plain step against a mesh of one (--mesh); N: against N.
	if [ "$DEVICES" -gt 1 ]; then DP="--devices $DEVICES"; else DP="--devices 1 --mesh"; fi
	step "bench finetune $DP"
	timeout "${BENCH_TIMEOUT:-480}" "$BIN/gopeft" bench finetune --json $DP --method "${METHODS:-lora,houlsby}" \
		--precision "${PRECISION:-bf16}" --torch "" --steps 20 ${BENCH_ARGS:-} > "$OUT/bench_devices.json" 2> "$OUT/bench.log"
	echo "bench rc=$?"; grep -v "^$" "$OUT/bench.log" | tail -30
	python3 - "$OUT/bench_devices.json" <<'EOF'
import json, sys
rep = json.load(open(sys.argv[1]))
for r in rep["results"]:
    print(f'{r["method"]:8} {r["runner"]:14} {r.get("step_ms", 0):8.2f} ms/step {r.get("tokens_per_s", 0):10.0f} tokens/s  {r.get("error", "")}')
for k, d in sorted((rep.get("data_parallel") or {}).items()):
    ok = "meets" if d["devices"] < 2 or d["speedup"] >= 1.8 else "MISSES"
    print(f'{k}: {d["devices"]} device(s) {d["tokens_per_s_n"]:.0f} tokens/s = {d["speedup"]:.3f}x one device ({d["tokens_per_s_1"]:.0f}), efficiency {100*d["efficiency"]:.0f}%; {ok} the 1.8x bar' if d["devices"] > 1 else
          f'{k}: mesh of one {d["tokens_per_s_n"]:.0f} tokens/s = {d["speedup"]:.3f}x the plain step ({d["tokens_per_s_1"]:.0f})')
EOF
fi
step end
