#!/usr/bin/env bash
# Builds the site into the directory given (the artifact).
set -euo pipefail
out="${1:?usage: build.sh OUTDIR}"
mkdir -p "$out"
cp site/index.html "$out/index.html"
git rev-parse HEAD > "$out/COMMIT"
