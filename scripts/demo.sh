#!/usr/bin/env bash
# Install voc, run the demo pipeline on the bundled sample and show what it found.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
voc run pipelines/demo.yaml --out runs/demo
voc query runs/demo --category delivery --polarity negative --limit 5
