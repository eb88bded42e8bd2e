#!/usr/bin/env bash
# Install voc and its dependencies into the current Python (a venv if one is active).
# torch is pinned and installed first: pip then takes the CPU wheel instead of a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -m pip install --disable-pip-version-check -q "torch==2.13.0"
"$PY" -m pip install --disable-pip-version-check -q -e ".[dev]"
