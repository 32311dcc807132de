#!/usr/bin/env bash
# One call on the lent GPU machine (no Go there): everything GoPEFT checks on
# a GPU that needs no notebook. Build here first:
#   scripts/gpu/session1.sh build
# then run there with carry ["bin", ".cache/corpus"]:
#   bash scripts/gpu/session1.sh run
# Results land in $OUT.
set -uo pipefail
case "${1:-}" in
build)
	set -e
	mkdir -p bin
	CGO_ENABLED=1 go build -ldflags='-s -w' -o bin/gopeft ./cmd/gopeft
	CGO_ENABLED=1 go test -c -ldflags='-s -w' -o bin/fastgrad.test ./peft/fastgrad
	[ -s .cache/corpus/corpus.safetensors ] || ./bin/gopeft pretrain --prepare .cache/corpus
	exit 0
	;;
run) ;;
*) echo "usage: $0 build|run" >&2; exit 2 ;;
esac
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
SP=$(python3 -c 'import jax_plugins,os;print(os.path.dirname(list(jax_plugins.__path__)[0]))')
export XLA_FLAGS=--xla_gpu_cuda_data_dir=$SP/nvidia GOPJRT_CUDA_CHECKS=0
export GOMLX_BACKEND=xla:$(ls "$SP"/jax_plugins/xla_cuda*/xla_cuda_plugin.so | head -1)
step() { echo "=== $1 ($(date +%T))"; }
step versions
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c 'import torch, transformers, peft, jax; print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__, "jax", jax.__version__)' | tee "$OUT/versions.txt"
step "pretrain (background)"
( timeout 420 ./bin/gopeft pretrain --corpus .cache/corpus --steps "${PRETRAIN_STEPS:-8000}" --batch 128 --lr 1e-3 --out "$OUT/gopeft-small" > "$OUT/pretrain.log" 2>&1; echo "rc=$?" >> "$OUT/pretrain.log" ) &
PRE=$!
step "HF reference checkpoints"
timeout 300 python3 scripts/hf/make_reference.py "$OUT/hfref" > "$OUT/make_reference.log" 2>&1; echo "rc=$?" >> "$OUT/make_reference.log"; tail -3 "$OUT/make_reference.log"
step "HF tokenizer check"
timeout 120 python3 peft/tokenizer/testdata/check_hf.py > "$OUT/check_hf_tokenizer.log" 2>&1; echo "rc=$?" >> "$OUT/check_hf_tokenizer.log"; tail -3 "$OUT/check_hf_tokenizer.log"
[ -f scripts/hf/peft_lora_reference.py ] && { step "HF peft LoRA reference"; timeout 300 python3 scripts/hf/peft_lora_reference.py "$OUT/hfref" > "$OUT/peft_lora.log" 2>&1; echo "rc=$?" >> "$OUT/peft_lora.log"; tail -3 "$OUT/peft_lora.log"; }
wait $PRE
step "pretrain done"; tail -5 "$OUT/pretrain.log"
step "load shipped model in transformers"
timeout 120 python3 scripts/hf/load_check.py "$OUT/gopeft-small" > "$OUT/load_check.log" 2>&1; echo "rc=$?" >> "$OUT/load_check.log"; tail -5 "$OUT/load_check.log"
step "fastgrad layouts on XLA"
GOPEFT_FASTGRAD_BACKEND_TEST=1 timeout 300 ./bin/fastgrad.test -test.run Configured -test.v > "$OUT/fastgrad_gpu_test.txt" 2>&1; tail -5 "$OUT/fastgrad_gpu_test.txt"
step "bench grad"
timeout 300 ./bin/gopeft bench grad --json --dim 1024 --tokens 8192 --steps 10 > "$OUT/bench_grad_gpu_1024x8192.json" 2> "$OUT/bench_grad_gpu.err"; cat "$OUT/bench_grad_gpu_1024x8192.json"
timeout 300 ./bin/gopeft bench grad --json --steps 10 > "$OUT/bench_grad_gpu_256x2048.json" 2>> "$OUT/bench_grad_gpu.err"; cat "$OUT/bench_grad_gpu_256x2048.json"
timeout 120 python3 scripts/gpu/torch_ffn_step.py 1024 8192 | tee "$OUT/torch_ffn_1024x8192.json"
timeout 120 python3 scripts/gpu/torch_ffn_step.py 256 2048 | tee "$OUT/torch_ffn_256x2048.json"
step "doctor"
unset GOMLX_BACKEND XLA_FLAGS GOPJRT_CUDA_CHECKS
./bin/gopeft doctor > "$OUT/doctor.txt" 2>&1; tail -3 "$OUT/doctor.txt"
step end
