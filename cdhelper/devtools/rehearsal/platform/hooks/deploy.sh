#!/usr/bin/env bash
# Sample `deploy` hook: starts CD_VERSION on the sample platform (cdhelper/devtools/rehearsal/platform).
#   canary       beside the stable version, no traffic yet (shift-traffic.sh gives it its share)
#   blue-green   in the idle slot CD_SLOT (switch.sh makes it live)
#   rolling      batch CD_BATCH of CD_BATCHES: that share of the traffic; the last batch replaces the old
#   all-at-once  instead of the running version: all the traffic, the old one stops
# A rollback (CD_ROLLBACK=true) deploys the previous version (CD_VERSION) back in its place.
# CD_FLAGS (the environment's <environment>.flagd.json, when it has one): the service evaluates its
# feature flags from that file (OpenFeature SDK, flagd provider in file mode; docs/flags-sample.md).
set -euo pipefail
. "$(dirname "$0")/_platform.sh"
if [ -n "${CD_FLAGS:-}" ]; then
  CD_FLAGS="$(cd "$(dirname "$CD_FLAGS")" && pwd)/$(basename "$CD_FLAGS")"  # the supervisor's folder is not ours
  start() { ctl deploy --flags "$CD_FLAGS" "$@"; }
else
  start() { ctl deploy "$@"; }
fi
case "${CD_STRATEGY:-all-at-once}" in
  canary)
    start --version "$CD_VERSION" --wait-scraped ;;
  blue-green)
    start --version "$CD_VERSION" --slot "${CD_SLOT:?blue-green deploys to CD_SLOT}" --wait-scraped ;;
  rolling)
    batch="${CD_BATCH:-1}" batches="${CD_BATCHES:-1}"
    if [ "${CD_ROLLBACK:-false}" = true ] || [ "$batch" -ge "$batches" ]; then
      start --version "$CD_VERSION" --replace
    else
      start --version "$CD_VERSION" --wait-scraped
      ctl weight --version "$CD_VERSION" --percent $((100 * batch / batches))
    fi ;;
  *)
    start --version "$CD_VERSION" --replace ;;
esac
