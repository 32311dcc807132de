#!/bin/sh
# Runs the kernel's Python suites with the system python, where Debian's
# Jupyter stack lives (the pyenv python3 first on PATH has none of it).
#
# By default they test the installed "gopeft" kernelspec. GOPEFT_BIN=path
# tests that gopeft binary instead: its kernelspec is installed into a temp
# prefix put first on JUPYTER_PATH, with cells importing this checkout.
set -e
cd "$(dirname "$0")"
if [ -n "$GOPEFT_BIN" ]; then
	prefix=$(mktemp -d "${TMPDIR:-/tmp}/gopeft-spec-XXXXXX")
	trap 'rm -rf "$prefix"' EXIT
	"$GOPEFT_BIN" kernel install --prefix "$prefix" --root "$(cd ../.. && pwd)" >/dev/null
	JUPYTER_PATH="$prefix/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
	export JUPYTER_PATH
	GOPEFT_HISTORY_FILE=${GOPEFT_HISTORY_FILE:-off} /usr/bin/python3 -m unittest -v test_conformance test_protocol test_reliability test_widgets "$@"
	exit
fi
GOPEFT_HISTORY_FILE=${GOPEFT_HISTORY_FILE:-off} exec /usr/bin/python3 -m unittest -v test_conformance test_protocol test_reliability test_widgets "$@"
