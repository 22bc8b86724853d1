#!/usr/bin/env bash
# The main job. For now: build the programs, make a torrent of a generated file and inspect it,
# the first steps of a publisher. (The local fountain swarm demo replaces this once the engine
# exists.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins
bin=target/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== generating a 64 MiB file in $work"
head -c $((64 << 20)) /dev/urandom >"$work/demo.bin"
echo "== bf-maketorrent"
"$bin/bf-maketorrent" "$work/demo.bin" http://127.0.0.1:6969/announce
echo "== bf-console info"
"$bin/bf-console" info "$work/demo.bin.torrent"
