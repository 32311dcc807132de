#!/usr/bin/env bash
# Second GPU call: pretrain the shipped encoder, write the Hugging Face
# reference checkpoints, and compare pretrained vs random initialisation on
# spam and sotu-party after the same short fine-tuning. Build here:
#   scripts/gpu/session2.sh build
# run there with carry ["bin", ".cache/corpus", ".cache/tasks"]:
#   bash scripts/gpu/session2.sh run
# Everything comes back as $OUT/results.tar.gz (the device returns few files).
set -uo pipefail
case "${1:-}" in
build)
	set -e
	mkdir -p bin .cache/tasks
	rm -f bin/fastgrad.test
	CGO_ENABLED=1 go build -ldflags='-s -w' -o bin/gopeft ./cmd/gopeft
	[ -s .cache/corpus/corpus.safetensors ] || ./bin/gopeft pretrain --prepare .cache/corpus
	./bin/gopeft data export spam .cache/tasks/spam.jsonl --max-chars 1500
	./bin/gopeft data export sotu-party .cache/tasks/sotu-party.jsonl
	exit 0
	;;
run) ;;
*) echo "usage: $0 build|run" >&2; exit 2 ;;
esac
OUT=${OUT:-/tmp/out}
R=/tmp/results
mkdir -p "$R"
SP=$(python3 -c 'import jax_plugins,os;print(os.path.dirname(list(jax_plugins.__path__)[0]))')
export XLA_FLAGS=--xla_gpu_cuda_data_dir=$SP/nvidia GOPJRT_CUDA_CHECKS=0
export GOMLX_BACKEND=xla:$(ls "$SP"/jax_plugins/xla_cuda*/xla_cuda_plugin.so | head -1)
STEPS=${PRETRAIN_STEPS:-10000}
echo "=== pretrain $STEPS steps ($(date +%T))"
( timeout 360 ./bin/gopeft pretrain --corpus .cache/corpus --steps "$STEPS" --batch 128 --lr 1e-3 --out "$R/gopeft-small" > "$R/pretrain.log" 2>&1; echo "rc=$?" >> "$R/pretrain.log" ) &
PRE=$!
./bin/gopeft pretrain --corpus .cache/corpus --steps 0 --out "$R/random-small" > "$R/random.log" 2>&1
echo "=== HF references ($(date +%T))"
timeout 200 python3 scripts/hf/make_reference.py "$R/hfref" > "$R/make_reference.log" 2>&1; echo "rc=$?" >> "$R/make_reference.log"; tail -4 "$R/make_reference.log"
timeout 200 python3 scripts/hf/peft_lora_reference.py "$R/hfref" > "$R/peft_lora.log" 2>&1; echo "rc=$?" >> "$R/peft_lora.log"; tail -2 "$R/peft_lora.log"
wait $PRE
tail -3 "$R/pretrain.log"
timeout 60 python3 scripts/hf/load_check.py "$R/gopeft-small" > "$R/load_check.log" 2>&1; tail -2 "$R/load_check.log"
for task in spam sotu-party; do
	for model in gopeft-small random-small; do
		echo "=== finetune $task on $model ($(date +%T))"
		timeout 150 ./bin/gopeft finetune --model "$R/$model" --task ".cache/tasks/$task.jsonl" --method houlsby \
			--steps 300 --batch 32 --max-len 128 --seed 1 --json > "$R/ft_${task}_${model}.json" 2> "$R/ft_${task}_${model}.err"
		tail -c 600 "$R/ft_${task}_${model}.json"; echo
	done
done
tar -C /tmp -czf "$OUT/results.tar.gz" results
ls -la "$OUT"
echo "=== end ($(date +%T))"
