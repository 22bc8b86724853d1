#!/usr/bin/env bash
# Benchmark (not a test): the fountain exchange against block exchange and against
# libtorrent, with bf-console seeders on hosts of their own (network namespaces on one
# bridge, each host's upload shaped by `tc tbf`) in five scenarios: healthy, one seeder 20x
# slower, one seeder that stops answering mid-download without closing, churn (seeders
# vanish and come back), and a flash crowd. Results go to BENCH_DIR/results.jsonl; then
# `scripts/bench/fountain-report.py BENCH_DIR/results.jsonl` writes the tables and the plot
# for docs/fountain-results.md.
#
# Usage: sudo scripts/bench-fountain.sh
#   RUNS=3  SCENARIOS="healthy slow stall churn crowd"  MODES="tcp fountain blocks libtorrent"
#   SIZE_MIB=96  PIECE=256K  SEED_RATE_MIB=1.5  CROWD=10  CROWD_SIZE_MIB=32
#   CROWD_SEED_RATE_MIB=4  CROWD_PEER_RATE_MIB=1  CHURN_PERIOD=4  BENCH_DIR=/tmp/bf-bench-fountain
#   LT_PLAIN=1 (0: libtorrent tries MSE encryption first, as by default)
# Needs root (ip netns, tc), /usr/bin/python3 with libtorrent, /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "needs root (ip netns, tc)" >&2; exit 1; }
cargo build --release -q -p bf-console-bin -p bf-tracker-bin -p bf-maketorrent-bin
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
echo "kernel $(uname -r), congestion control $(cat /proc/sys/net/ipv4/tcp_congestion_control)," \
    "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
BF_BIN="$TARGET/release" BF_ROOT="$PWD" exec python3 scripts/bench/fountain.py
