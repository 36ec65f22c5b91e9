#!/usr/bin/env bash
# Sends CD_WEIGHT percent of the traffic to the new version: here, notes each weight beside the target.
set -euo pipefail
printf '%s %s\n' "$CD_VERSION" "$CD_WEIGHT" >> "${CDHELPER_REHEARSAL_TARGETS:?}/$CD_ENVIRONMENT-weights"
