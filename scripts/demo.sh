#!/usr/bin/env bash
# The main job: a local fountain swarm on loopback, needing nothing but the build. An
# in-process tracker, a generated file, a seeder, a slow seeder, a peer that stalls without
# closing, three downloaders; live progress, then what the fountain exchange did.
# Arguments go to `bf-console demo` (see `--help`: --size, --downloaders, --no-fountain, …).
# `cargo run` builds where CARGO_TARGET_DIR says, so this works whatever it is.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release -q -p bf-console-bin --bin bf-console -- demo "$@"
