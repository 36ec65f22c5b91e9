#!/usr/bin/env bash
# Sample acceptance test: staging must serve the candidate's version and its page.
set -euo pipefail
target="$CDHELPER_REHEARSAL_TARGETS/$CD_ENVIRONMENT"
test "$(cat "$target/VERSION")" = "$CD_VERSION"
grep -q "Hello from the cdhelper rehearsal" "$target/index.html"
echo "acceptance passed for $CD_VERSION on $CD_ENVIRONMENT"
