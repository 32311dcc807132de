#!/usr/bin/env bash
# GPU check for peft/backend and gopeft doctor. Build here (Go + cgo), run on
# the GPU machine (no Go there, jax with a CUDA plugin installed):
#
#   here:       peft/backend/gpucheck.sh build      # writes bin/gpucheck/
#   GPU host:   peft/backend/gpucheck.sh run        # from the repo root
#
# Passes when, with no GoPEFT/GoMLX variables set, selection finds the pip jax
# CUDA plugin by itself, a matmul runs on it, and doctor's last line is
# "backend: xla:cuda (<path>)".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT=bin/gpucheck
case "${1:-}" in
  build)
    mkdir -p "$OUT"
    CGO_ENABLED=1 go test -c -o "$OUT/backend.test" ./peft/backend
    CGO_ENABLED=1 go build -ldflags='-s -w' -o "$OUT/gopeft" ./cmd/gopeft
    echo "built $OUT/; carry it and run: peft/backend/gpucheck.sh run"
    ;;
  run)
    unset GOMLX_BACKEND GOPEFT_PJRT_PLUGIN GOPEFT_BACKEND XLA_FLAGS GOPJRT_CUDA_CHECKS
    GOPEFT_TEST_GPU=1 "$OUT/backend.test" -test.run 'TestGPUBackend|TestSelect' -test.v
    # doctor exits 1 there (no GoNB/Jupyter on the GPU host); only its backend
    # lines matter here.
    "$OUT/gopeft" doctor > "$OUT/doctor.txt" || true
    cat "$OUT/doctor.txt"
    if tail -1 "$OUT/doctor.txt" | grep -q '^backend: xla:cuda ('; then
      echo "gpucheck: PASS"
    else
      echo "gpucheck: FAIL (doctor did not pick the CUDA plugin)"
      exit 1
    fi
    ;;
  *) echo "usage: $0 build|run" >&2; exit 2 ;;
esac
