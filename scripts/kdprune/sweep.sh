#!/bin/bash
# Distillation and pruning on spam with the shipped encoder (BENCHMARKS.md,
# "Distillation and pruning"). Sequential, niced; about 15 minutes on 2 busy cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
go build -o gopeft ./cmd/gopeft
C="--model models/gopeft-small --task spam --steps 240 --batch 16 --max-len 64 --lr 2e-3 --seed 1 --json"
R=${1:-runs/kdprune}
OUT=${2:-/tmp/kdprune}
mkdir -p "$OUT"
run() { name=$1; shift; nice -n 10 ./gopeft finetune $C "$@" --save "$R/$name" > "$OUT/$name.json"; }
run teacher --method houlsby
run student-kd --method houlsby --distill-from "$R/teacher" --student-layers 0,2
run student-plain --method houlsby --student-layers 0,2
run student-kd-t4 --method houlsby --distill-from "$R/teacher" --student-layers 0,2 --temperature 4 --alpha 0.9
run student-kd-01 --method houlsby --distill-from "$R/teacher" --student-layers 0,1
run student-plain-01 --method houlsby --student-layers 0,1
for s in 50 70 90; do run prune$s --method houlsby --prune-sparsity 0.$s; done
run prune70-layer --method houlsby --prune-sparsity 0.7 --prune-granularity layer
nice -n 10 go run ./scripts/kdprune "$R/teacher" > "$OUT/structured.txt"
