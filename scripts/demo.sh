#!/usr/bin/env bash
# Install voc, run the demo pipeline on the bundled sample and show what it found.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
voc run pipelines/demo.yaml --out runs/demo
voc query runs/demo --category delivery --polarity negative --limit 5
echo "Report: runs/demo/report.html (open it in a browser; it works offline)"
