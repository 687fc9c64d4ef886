#!/usr/bin/env bash
# Install attnsight (editable) and what it needs. `bash scripts/install.sh test` adds the test extra.
# Without a torch installed, CPU torch 2.13.0 goes in first; an installed torch is never replaced
# (the package asks only torch>=2.3, so pip keeps whatever build is there, CUDA ones included).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c "import torch" >/dev/null 2>&1; then
    "$PYTHON" -m pip install --quiet "torch==2.13.0"
fi
extras="${1:-}"
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"
