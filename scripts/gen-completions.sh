#!/usr/bin/env bash
# Regenerates completions/ from each tool's flag table:
#   scripts/gen-completions.sh [BUILD_DIR]     (default: build)
# tests/cli/test_completions.sh fails when the committed files are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build}
for tool in kproduce kconsume kwindow kagg kjoin kjq kadmin; do
  "$bin/$tool" --generate=bash > "completions/bash/$tool"
  "$bin/$tool" --generate=zsh > "completions/zsh/_$tool"
  "$bin/$tool" --generate=fish > "completions/fish/$tool.fish"
done
