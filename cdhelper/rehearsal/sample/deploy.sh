#!/usr/bin/env bash
# Sample deploy: copies the released artifact into a directory standing for the environment.
set -euo pipefail
target="$CDHELPER_REHEARSAL_TARGETS/$CD_ENVIRONMENT"
mkdir -p "$target"
cp -R "$CD_ARTIFACT/." "$target/"
printf '%s\n' "$CD_VERSION" > "$target/VERSION"
echo "deployed $CD_VERSION ($CD_DIGEST) to $CD_ENVIRONMENT"
