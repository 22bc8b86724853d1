#!/usr/bin/env bash
# UDP tracker benchmark under aquatic's own load generator: bf-tracker against aquatic_udp
# (the fastest open-source UDP tracker), one core each, alternating runs in one go.
#
# Set-up (not CI): cargo install --locked aquatic_udp --no-default-features
#                  cargo install --locked aquatic_udp_load_test
# (aquatic_udp's default features fail to build on this toolchain in the `metrics` crate.)
#
#   RUNS=3 SECS=30 scripts/bench-tracker-aquatic.sh
#
# Each run: the tracker pinned to CPU 1, aquatic_udp_load_test (1 worker, 4 sockets, many
# client addresses on 127/8, its default mix: 1M torrents, 2M peers, connect/announce/scrape
# 50/50/1) pinned to CPU 0 for SECS seconds, the first one not counted. bf-tracker runs with
# its limits on (the per-address rate set above what one load address sends). Prints a
# Markdown table of the medians (also written to target/bench-tracker-aquatic.md).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
SECS=${SECS:-30}
TRACKER_CPU=${TRACKER_CPU:-1}
LOADGEN_CPU=${LOADGEN_CPU:-0}
for t in aquatic_udp aquatic_udp_load_test; do
    command -v "$t" >/dev/null || { echo "$t is not installed (see the top of $0)" >&2; exit 1; }
done
cargo build --release -q -p bf-tracker-bin
BF=target/release/bf-tracker

WORK=$(mktemp -d /tmp/bench-aquatic.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
peak_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

load_config() { # port
    aquatic_udp_load_test -p > "$WORK/lt.toml"
    sed -i "s/^server_address = .*/server_address = \"127.0.0.1:$1\"/; s/^duration = .*/duration = $SECS/; s/^summarize_last = .*/summarize_last = $((SECS - 1))/; s/^workers = .*/workers = 1/" "$WORK/lt.toml"
}

declare -A RATE CPU RSS
run_one() { # name run
    local name=$1 run=$2 port pid
    port=$(free_port)
    case $name in
        bf-tracker)
            taskset -c "$TRACKER_CPU" "$BF" --bind 127.0.0.1 --port "$port" --no-log --threads 1 \
                --udp-workers 1 --max-requests-per-ip 1000000 >/dev/null 2>"$WORK/$name.err" &
            pid=$! ;;
        aquatic_udp)
            aquatic_udp -p > "$WORK/aq.toml"
            sed -i "s/^address = .*/address = \"127.0.0.1:$port\"/; s/^socket_workers = .*/socket_workers = 1/" "$WORK/aq.toml"
            taskset -c "$TRACKER_CPU" aquatic_udp -c "$WORK/aq.toml" >/dev/null 2>"$WORK/$name.err" &
            pid=$! ;;
    esac
    PIDS+=("$pid")
    sleep 1
    kill -0 "$pid" || { echo "$name did not start" >&2; cat "$WORK/$name.err" >&2; exit 1; }
    load_config "$port"
    local c0; c0=$(cpu_ticks "$pid")
    # The load tester panics on its way out once its time is up: its report is printed first.
    taskset -c "$LOADGEN_CPU" timeout $((SECS + 20)) aquatic_udp_load_test -c "$WORK/lt.toml" \
        > "$WORK/lt.out" 2>&1 || true
    local c1; c1=$(cpu_ticks "$pid")
    local rate; rate=$(sed -n 's/^Average responses per second: \([0-9.]*\).*/\1/p' "$WORK/lt.out" | cut -d. -f1)
    [ -n "$rate" ] || { echo "$name: no report" >&2; tail -20 "$WORK/lt.out" >&2; exit 1; }
    RATE[$name,$run]=$rate
    CPU[$name,$run]=$(echo "scale=0; $rate * $SECS * $HZ / ($c1 - $c0 + 1)" | bc)
    RSS[$name,$run]=$(peak_kib "$pid")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "$name run $run: $rate responses/s, ${CPU[$name,$run]} per CPU-second, peak RSS ${RSS[$name,$run]} KiB" >&2
}

for r in $(seq "$RUNS"); do
    run_one bf-tracker "$r"
    run_one aquatic_udp "$r"
done

med() { local n=$1 k=$2 arr; for r in $(seq "$RUNS"); do eval "echo \${$k[$n,$r]}"; done | median; }
ratio() { echo "scale=2; $1 / $2" | bc; }
bfr=$(med bf-tracker RATE); aqr=$(med aquatic_udp RATE)
bfc=$(med bf-tracker CPU); aqc=$(med aquatic_udp CPU)
bfm=$(med bf-tracker RSS); aqm=$(med aquatic_udp RSS)
{
echo "aquatic_udp_load_test, ${SECS}s per run, medians of $RUNS alternating runs; tracker on CPU $TRACKER_CPU, load on CPU $LOADGEN_CPU."
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r). $(date -u '+%F %H:%M') UTC."
echo
echo "| | bf-tracker | aquatic_udp 0.9 | ratio |"
echo "|---|---:|---:|---:|"
echo "| responses/s | $bfr | $aqr | $(ratio "$bfr" "$aqr") |"
echo "| responses per tracker CPU-second | $bfc | $aqc | $(ratio "$bfc" "$aqc") |"
echo "| peak RSS (KiB) | $bfm | $aqm | $(ratio "$bfm" "$aqm") |"
echo
echo "Runs (responses/s): bf-tracker $(for r in $(seq "$RUNS"); do printf '%s ' "${RATE[bf-tracker,$r]}"; done); aquatic_udp $(for r in $(seq "$RUNS"); do printf '%s ' "${RATE[aquatic_udp,$r]}"; done)"
} | tee target/bench-tracker-aquatic.md
