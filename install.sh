#!/usr/bin/env bash
# GoPEFT setup: ./install.sh [--no-run] [--gpu]
#
# On Debian/Ubuntu as root it installs everything; elsewhere it prints what to
# install and does the rest. Safe to re-run: finished steps are skipped.
#
#   --no-run  skip the main job (running notebooks/00-quickstart.ipynb headless)
#   --gpu     find a PJRT CUDA plugin (pip's jax CUDA plugin) and record it in
#             ${XDG_CONFIG_HOME:-~/.config}/gopeft/pjrt_plugin (as root also
#             /etc/gopeft/pjrt_plugin), which peft/backend reads
#
# Environment: GOPEFT_BIN (where binaries go; default /usr/local/bin as root,
# else ~/.local/bin), GOPEFT_OUT (where the executed quickstart goes).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT=$(pwd)

RUN=1
GPU=0
for arg in "$@"; do
  case "$arg" in
    --no-run) RUN=0 ;;
    --gpu) GPU=1 ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $arg (use --no-run, --gpu or --help)" >&2; exit 2 ;;
  esac
done

# Pins. gopls v0.23.0 is the newest that builds with go1.26 (v0.24.0 needs go1.27).
GOPLS_VERSION=v0.23.0
GOIMPORTS_VERSION=v0.36.0 # golang.org/x/tools
GONB_VERSION=v0.11.1      # must match go.mod

step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
warn() { printf '    WARNING: %s\n' "$*" >&2; }
have() { command -v "$1" > /dev/null 2>&1; }

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1
if [ -n "${GOPEFT_BIN:-}" ]; then
  BIN=$GOPEFT_BIN
elif [ "$IS_ROOT" -eq 1 ]; then
  BIN=/usr/local/bin
else
  BIN=$HOME/.local/bin
fi
mkdir -p "$BIN"
case ":$PATH:" in
  *":$BIN:"*) ;;
  *) warn "$BIN is not on PATH; add it: export PATH=\"$BIN:\$PATH\" (using it for this run)"
     export PATH="$BIN:$PATH" ;;
esac

#######################################################################
step "1/7 Go toolchain"
if ! have go; then
  echo "Go is required and not on PATH: install Go 1.26 from https://go.dev/dl/ and re-run ./install.sh" >&2
  exit 1
fi
GOVER=$(go env GOVERSION)
note "$GOVER at $(command -v go)"
case "$GOVER" in
  go1.2[6-9]* | go1.[3-9][0-9]*) ;;
  *) echo "GoPEFT needs Go >= 1.26 (found $GOVER): install it from https://go.dev/dl/" >&2; exit 1 ;;
esac

#######################################################################
step "2/7 System packages (Jupyter stack, reference PyTorch, browser-test tools)"
APT_PACKAGES=(jupyter-notebook jupyter-client python3-nbclient jupyter-nbconvert
  python3-jupyter-kernel-test python3-ipywidgets python3-torch python3-sklearn
  chromium chromium-driver python3-selenium jupyter-console python3-pexpect tmux
  libopenblas-dev debootstrap ca-certificates jupyterhub)
# (jupyterhub: test.sh's class suite, a class of students on one hub.)
# Also needed: a C compiler (the XLA backend is cgo) and npm (gopeft data fetch).
have gcc || APT_PACKAGES+=(gcc)
have npm || APT_PACKAGES+=(npm)
if [ -r /etc/debian_version ] && have apt-get && have dpkg-query; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2> /dev/null)" = "install ok installed" ] || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    note "all ${#APT_PACKAGES[@]} packages present"
  elif [ "$IS_ROOT" -eq 1 ]; then
    note "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
  else
    warn "missing packages; as root run:"
    note "sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    note "continuing with what is here"
  fi
else
  warn "not Debian/Ubuntu: install these yourself, then re-run ./install.sh:"
  note "python3 -m pip install notebook nbconvert nbclient jupyter_client jupyter_console ipywidgets jupyter_kernel_test pexpect"
  note "optional (reference and browser tests): torch scikit-learn, chromium + chromedriver, tmux"
  note "a C compiler (gcc or clang) and Node.js/npm"
fi

# Looked up only now, after step 2 may have installed it. Debian's Jupyter
# stack lives in the system python (/usr/bin/python3), not a pyenv/conda
# python3 that may come first on PATH.
hash -r
JUPYTER=/usr/bin/jupyter
[ -x "$JUPYTER" ] || JUPYTER=$(command -v jupyter || true)

#######################################################################
step "3/7 Go tools: GoNB $GONB_VERSION, goimports, gopls $GOPLS_VERSION"
# Build into a temp name and rename, so an interrupted build never leaves a
# broken binary behind.
build_to() { # build_to NAME go-build-args...
  local name=$1 tmp
  shift
  tmp="$BIN/.$name.tmp.$$"
  if go build -o "$tmp" "$@"; then
    mv -f "$tmp" "$BIN/$name"
  else
    rm -f "$tmp"
    return 1
  fi
}
if have gonb && [ "$(gonb -V 2> /dev/null)" = "$GONB_VERSION" ]; then
  note "gonb $GONB_VERSION: $(command -v gonb)"
else
  # `go install ...@v0.11.1` is refused by the module proxy; build the version
  # go.mod pins instead.
  build_to gonb github.com/janpfeifer/gonb
  note "built $BIN/gonb ($("$BIN/gonb" -V))"
fi
if have goimports; then
  note "goimports: $(command -v goimports)"
else
  GOBIN=$BIN go install "golang.org/x/tools/cmd/goimports@$GOIMPORTS_VERSION"
  note "installed $BIN/goimports"
fi
if have gopls; then
  note "gopls: $(command -v gopls) ($(gopls version 2> /dev/null | head -1))"
elif GOBIN=$BIN go install "golang.org/x/tools/gopls@$GOPLS_VERSION"; then
  note "installed $BIN/gopls $GOPLS_VERSION"
else
  warn "gopls $GOPLS_VERSION did not build; notebooks work without it (no completion/hover)"
fi

#######################################################################
step "4/7 gopeft CLI"
# Every module of the build list, so notebook cells (GOPROXY=off in the
# kernel) compile offline from now on.
go mod download
CGO_ENABLED=1 build_to gopeft ./cmd/gopeft
GOPEFT=$BIN/gopeft
note "built $GOPEFT ($("$GOPEFT" version))"
# Subcommands arrive with later issues; usage lists each as "  name  summary".
GOPEFT_HELP=$("$GOPEFT" help 2>&1 || true)
# grep on a variable, not a pipe: with pipefail, grep -q closing the pipe early
# would fail the check.
has_cmd() { grep -qE "^  $1( |\$)" <<< "$GOPEFT_HELP"; }

#######################################################################
step "5/7 GPU plugin"
GPU_PLUGIN=""
if [ "$GPU" -eq 0 ]; then
  note "skipped (./install.sh --gpu sets up a PJRT CUDA plugin)"
else
  found=""
  pythons=()
  for py in "${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python3}" "${CONDA_PREFIX:+$CONDA_PREFIX/bin/python3}" \
    "$(command -v python3 || true)" /usr/bin/python3; do
    [ -n "$py" ] && [ -x "$py" ] && pythons+=("$py")
  done
  for py in "${pythons[@]}"; do
    while IFS= read -r sp; do
      for so in "$sp"/jax_plugins/xla_cuda*/xla_cuda_plugin.so; do
        # Prefer the newest CUDA (glob order puts xla_cuda13 after xla_cuda12).
        [ -f "$so" ] && found=$so
      done
    done < <("$py" -c 'import sys; print("\n".join(p for p in sys.path if p.endswith("-packages")))' 2> /dev/null || true)
    [ -n "$found" ] && break
  done
  if [ -z "$found" ]; then
    warn "no pip-installed jax CUDA plugin found in: ${pythons[*]}"
    if timeout 10 python3 -m pip index versions jax > /dev/null 2>&1; then
      note "PyPI is reachable: run  python3 -m pip install -U \"jax[cuda13]\"  then  ./install.sh --gpu"
    else
      note "on a machine that reaches PyPI run  pip install -U \"jax[cuda13]\",  or export GOPEFT_PJRT_PLUGIN=/path/to/xla_cuda_plugin.so"
    fi
  else
    note "found $found"
    record() { # record FILE: write the plugin path atomically
      mkdir -p "$(dirname "$1")"
      printf '# PJRT plugin recorded by GoPEFT install.sh --gpu; read by peft/backend\n%s\n' "$found" > "$1.tmp.$$"
      mv -f "$1.tmp.$$" "$1"
      note "recorded in $1"
    }
    record "${XDG_CONFIG_HOME:-$HOME/.config}/gopeft/pjrt_plugin"
    [ "$IS_ROOT" -eq 1 ] && record /etc/gopeft/pjrt_plugin
    if [ ! -e /dev/nvidia0 ] && ! nvidia-smi -L > /dev/null 2>&1; then
      warn "no NVIDIA GPU visible here: GoPEFT keeps the pure-Go backend until one is"
    fi
  fi
  GPU_PLUGIN=$found
fi

#######################################################################
step "6/7 Jupyter kernel and data"
if has_cmd kernel; then
  # With a GPU plugin the kernel installer also writes a gopeft-gpu kernelspec.
  kargs=()
  [ -n "$GPU_PLUGIN" ] && kargs=(--gpu-plugin "$GPU_PLUGIN")
  if [ "$IS_ROOT" -eq 1 ]; then
    "$GOPEFT" kernel install --system "${kargs[@]}"
  else
    "$GOPEFT" kernel install --user "${kargs[@]}"
  fi
else
  note "this checkout has no 'gopeft kernel' yet: skipping the kernelspec"
fi
if has_cmd data; then
  if ! "$GOPEFT" data fetch; then
    warn "gopeft data fetch failed (it needs npm and the npm registry); notebooks that use the corpora will fail until it works"
  fi
else
  note "this checkout has no 'gopeft data' yet: skipping the data fetch"
fi

if [ "$GPU" -eq 1 ]; then
  note "verifying with gopeft doctor:"
  "$GOPEFT" doctor || warn "gopeft doctor reports missing pieces (see above)"
fi

#######################################################################
step "7/7 Main job: notebooks/00-quickstart.ipynb, headless"
NB=notebooks/00-quickstart.ipynb
if [ "$RUN" -eq 0 ]; then
  note "skipped (--no-run)"
elif [ ! -f "$NB" ]; then
  note "$NB is not in this checkout yet: skipping"
elif [ -z "$JUPYTER" ]; then
  warn "no jupyter: install the packages from step 2, then re-run"
else
  OUT=${GOPEFT_OUT:-$ROOT/.cache/executed}
  note "running on backend: $("$GOPEFT" doctor 2> /dev/null | tail -1 | sed 's/^backend: //' || true)"
  # Live progress (cell k of N, the training bar, a heartbeat), then the
  # executed notebook, an HTML export and a record that gopeft doctor reads.
  /usr/bin/python3 scripts/run_notebook.py "$NB" --out "$OUT" --timeout 3600
fi

step "Done"
note "check the setup any time:  gopeft doctor"
note "open the notebooks:        $([ "$JUPYTER" = /usr/bin/jupyter ] && echo /usr/bin/jupyter || echo jupyter) notebook notebooks/"
note "then pick the 'gopeft' kernel (Kernel > Change kernel) if a notebook asks"
