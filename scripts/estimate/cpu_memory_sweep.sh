#!/usr/bin/env bash
# Predicted against measured peak memory of GoPEFT training steps on the CPU:
# the shipped encoder (models/gopeft-small), 4 batch sizes x 3 sequence
# lengths x 3 methods (full fine-tuning, LoRA, Houlsby), one child process a
# point (`gopeft estimate measure`), whose peak RSS (VmHWM of
# /proc/self/status) is the measurement. Prints the table, the worst error
# of the built-in constants, and constants refitted on the smallest and
# largest batch with their error on the batches between.
#   bash scripts/estimate/cpu_memory_sweep.sh [OUT_DIR]
set -euo pipefail
OUT=${1:-.cache/estimate}
mkdir -p "$OUT" bin
go build -o bin/gopeft-estimate ./cmd/gopeft
nice -n 10 bin/gopeft-estimate estimate sweep --model models/gopeft-small --methods full,lora,houlsby \
	--batches 4,8,16,32 --seqs 32,64,128 --steps 2 --json > "$OUT/cpu_memory_sweep.json"
bin/gopeft-estimate estimate sweep --from "$OUT/cpu_memory_sweep.json" | tee "$OUT/cpu_memory_sweep.txt"
