#!/usr/bin/env bash
# Sample `shift-traffic` hook (canary): CD_WEIGHT percent of the live traffic to CD_VERSION, the
# rest to the stable version. The rollback sends CD_WEIGHT=0: from then on no request reaches it.
set -euo pipefail
. "$(dirname "$0")/_platform.sh"
ctl weight --version "$CD_VERSION" --percent "${CD_WEIGHT:?shift-traffic needs CD_WEIGHT}"
