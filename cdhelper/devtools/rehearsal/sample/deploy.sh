#!/usr/bin/env bash
# Sample deploy: the environment is a directory. Each released version's files are kept in a
# release store (standing for a GitHub Release or a registry), so a promotion or rollback of an
# earlier version redeploys exactly what was released, without rebuilding.
set -euo pipefail
target="$CDHELPER_REHEARSAL_TARGETS/$CD_ENVIRONMENT"
store="$CDHELPER_REHEARSAL_TARGETS/releases/$CD_TAG"
if [ -n "${CD_ARTIFACT:-}" ]; then
  mkdir -p "$store"
  cp -R "$CD_ARTIFACT/." "$store/"
fi
test -d "$store" || { echo "no released files for $CD_TAG" >&2; exit 1; }
rm -rf "$target" && mkdir -p "$target"
cp -R "$store/." "$target/"
printf '%s\n' "$CD_VERSION" > "$target/VERSION"
echo "deployed $CD_VERSION ($CD_DIGEST) to $CD_ENVIRONMENT${CD_ROLLBACK:+ (rollback: $CD_ROLLBACK)}"
