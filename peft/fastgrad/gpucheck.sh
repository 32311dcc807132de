#!/usr/bin/env bash
# GPU check of the fast DotGeneral gradient, for the lent GPU machine (no Go
# toolchain there; see DESIGN.md fact 3).
#
# Here (repository root):   peft/fastgrad/gpucheck.sh build
#   builds bin/gopeft and bin/fastgrad.test (CGO, stripped).
# There (carry bin/):       bash peft/fastgrad/gpucheck.sh run
#   runs the layout comparison on XLA/CUDA (f32, f64, bf16, f16) and
#   `gopeft bench grad` at DESIGN's GPU size and at the CPU size; JSON in $OUT.
set -euo pipefail
case "${1:-}" in
build)
	mkdir -p bin
	CGO_ENABLED=1 go build -ldflags='-s -w' -o bin/gopeft ./cmd/gopeft
	CGO_ENABLED=1 go test -c -ldflags='-s -w' -o bin/fastgrad.test ./peft/fastgrad
	;;
run)
	SP=$(python3 -c 'import jax_plugins,os;print(os.path.dirname(list(jax_plugins.__path__)[0]))')
	export XLA_FLAGS=--xla_gpu_cuda_data_dir=$SP/nvidia GOPJRT_CUDA_CHECKS=0
	export GOMLX_BACKEND=xla:$(ls "$SP"/jax_plugins/xla_cuda*/xla_cuda_plugin.so | head -1)
	out=${OUT:-.}
	GOPEFT_FASTGRAD_BACKEND_TEST=1 ./bin/fastgrad.test -test.run Configured -test.v 2>&1 | tail -80 | tee "$out/fastgrad_gpu_test.txt"
	./bin/gopeft bench grad --json --dim 1024 --tokens 8192 --steps 10 | tee "$out/bench_grad_gpu_1024x8192.json"
	./bin/gopeft bench grad --json --steps 10 | tee "$out/bench_grad_gpu_256x2048.json"
	;;
*)
	echo "usage: $0 build|run" >&2
	exit 2
	;;
esac
