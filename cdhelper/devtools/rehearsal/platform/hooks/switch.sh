#!/usr/bin/env bash
# Sample `switch` hook (blue-green): make slot CD_SLOT live (also the switch back of a rollback).
set -euo pipefail
. "$(dirname "$0")/_platform.sh"
ctl switch --slot "${CD_SLOT:?switch needs CD_SLOT}"
