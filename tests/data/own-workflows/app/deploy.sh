#!/usr/bin/env bash
# Deploys the artifact to a directory per environment (in a rehearsal, under CDHELPER_REHEARSAL_TARGETS).
set -euo pipefail
target="${CDHELPER_REHEARSAL_TARGETS:?}/$CD_ENVIRONMENT"
rm -rf "$target" && mkdir -p "$target"
cp -R "${CD_ARTIFACT:?}/." "$target/"
printf '%s\n' "$CD_VERSION" > "$target/VERSION"
echo "deployed $CD_VERSION ($CD_DIGEST) to $CD_ENVIRONMENT"
