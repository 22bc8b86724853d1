#!/usr/bin/env bash
# The test command: every unit, integration, property and doc test in the workspace.
# Interop tests drive real clients when installed (`.ci/run` installs them); set
# BF_REQUIRE_TOOLS=1 to make a missing client a failure rather than a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --workspace "$@"
