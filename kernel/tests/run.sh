#!/bin/sh
# Runs the kernel's Python suites with the system python, where Debian's
# Jupyter stack lives (the pyenv python3 first on PATH has none of it).
set -e
cd "$(dirname "$0")"
GOPEFT_HISTORY_FILE=${GOPEFT_HISTORY_FILE:-off} exec /usr/bin/python3 -m unittest -v test_conformance test_protocol "$@"
