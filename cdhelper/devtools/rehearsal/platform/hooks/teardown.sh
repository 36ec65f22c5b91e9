#!/usr/bin/env bash
# Sample `teardown` hook: stop what is no longer needed.
#   canary, after success     the previous version (it carries no traffic any more)
#   canary, after a rollback  the canary that failed (CD_VERSION, back at weight 0)
#   blue-green                nothing: the previous slot stays warm, so a switch back is instant
set -euo pipefail
. "$(dirname "$0")/_platform.sh"
case "${CD_STRATEGY:-}" in
  canary)
    if [ "${CD_ROLLBACK:-false}" = true ]; then
      if [ "$CD_VERSION" != "${CD_PREVIOUS_VERSION:-}" ]; then ctl teardown --version "$CD_VERSION"; fi
    elif [ -n "${CD_PREVIOUS_VERSION:-}" ] && [ "$CD_PREVIOUS_VERSION" != "$CD_VERSION" ]; then
      ctl teardown --version "$CD_PREVIOUS_VERSION"
    fi ;;
  *)
    echo "teardown: nothing to stop for ${CD_STRATEGY:-this strategy} (the previous slot stays warm)" ;;
esac
