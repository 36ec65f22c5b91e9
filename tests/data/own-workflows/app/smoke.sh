#!/usr/bin/env bash
# Smoke test: the environment serves the candidate's version and page.
set -euo pipefail
target="${CDHELPER_REHEARSAL_TARGETS:?}/${CD_ENVIRONMENT:?}"
test "$(cat "$target/VERSION")" = "${CD_VERSION:?}"
grep -q "Hello from a team's own pipeline" "$target/index.html"
echo "smoke passed for $CD_VERSION on $CD_ENVIRONMENT"
