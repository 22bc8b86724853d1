#!/usr/bin/env bash
# Tracker benchmark: bf-tracker against Debian's opentracker, same load generator, same run.
#
# For each tracker: start it pinned to CPU 1, fill it with PEERS peers over TORRENTS torrents
# (UDP announces, event=started), read its RSS, then run SECS seconds of random announces
# (started/none/completed mix) over UDP and over HTTP. The load generator runs pinned to
# CPU 0 (crates/bf-tracker/examples/loadgen.rs). Loopback only.
#
#   TORRENTS=100000 PEERS=1000000 SECS=20 scripts/bench-tracker.sh
#
# A third column runs bf-tracker with --dfile (its journal written every second, the state
# saved every 10 s here instead of 300): what crash safety costs under load.
#
# Prints a Markdown table (also written to target/bench-tracker.md).
set -euo pipefail
cd "$(dirname "$0")/.."

TORRENTS=${TORRENTS:-100000}
PEERS=${PEERS:-1000000}
SECS=${SECS:-20}
TRACKER_CPU=${TRACKER_CPU:-1}
LOADGEN_CPU=${LOADGEN_CPU:-0}

command -v opentracker >/dev/null || { echo "opentracker is not installed" >&2; exit 1; }
cargo build --release -q -p bf-tracker-bin
cargo build --release -q -p bf-tracker --example loadgen
BF=target/release/bf-tracker
LG=target/release/examples/loadgen

WORK=$(mktemp -d /tmp/bench-tracker.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

# opentracker (Debian) is whitelist-only: every hash must be listed; it chroots into $WORK.
"$LG" hashes "$TORRENTS" > "$WORK/whitelist"
chmod 644 "$WORK/whitelist"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rate_of() { sed -n 's/.* rate=\([0-9]*\).*/\1/p'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
HZ=$(getconf CLK_TCK)

declare -A R
run_one() { # name, "command line with PORT"
    local name=$1
    local port; port=$(free_port)
    local -a cmd
    read -ra cmd <<< "${2//PORT/$port}"
    taskset -c "$TRACKER_CPU" "${cmd[@]}" >/dev/null 2>"$WORK/$name.err" &
    local launcher=$!
    PIDS+=("$launcher")
    wait_port "$port" || { echo "$name did not start" >&2; cat "$WORK/$name.err" >&2; exit 1; }
    sleep 0.5
    # opentracker keeps its pid; find the process listening on the port either way.
    local pid; pid=$(ss -ltnpH "sport = :$port" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
    local rss0; rss0=$(rss_kib "$pid")
    local load; load=$(taskset -c "$LOADGEN_CPU" "$LG" load "udp://127.0.0.1:$port" --torrents "$TORRENTS" --peers "$PEERS")
    echo "$name load: $load" >&2
    local rss1; rss1=$(rss_kib "$pid")
    local c0; c0=$(cpu_ticks "$pid")
    local udp; udp=$(taskset -c "$LOADGEN_CPU" "$LG" bench "udp://127.0.0.1:$port" --torrents "$TORRENTS" --peers "$PEERS" --secs "$SECS")
    echo "$name udp: $udp" >&2
    local c1; c1=$(cpu_ticks "$pid")
    local httpk=""
    if [ "$name" != opentracker ]; then
        httpk=$(taskset -c "$LOADGEN_CPU" "$LG" bench "http://127.0.0.1:$port" --torrents "$TORRENTS" --peers "$PEERS" --secs "$SECS" --workers 8)
        echo "$name http keep-alive: $httpk" >&2
    fi
    local c2; c2=$(cpu_ticks "$pid")
    # opentracker closes every connection after one answer, so both get one request per
    # connection here.
    local httpc; httpc=$(taskset -c "$LOADGEN_CPU" "$LG" bench "http://127.0.0.1:$port" --torrents "$TORRENTS" --peers "$PEERS" --secs "$SECS" --workers 8 --http-close)
    echo "$name http close: $httpc" >&2
    local c3; c3=$(cpu_ticks "$pid")
    local rss2; rss2=$(rss_kib "$pid")
    R[$name,hwm]=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
    kill "$pid" 2>/dev/null || true
    R[$name,rss0]=$rss0; R[$name,rss1]=$rss1; R[$name,rss2]=$rss2
    R[$name,udp]=$(echo "$udp" | rate_of)
    R[$name,udpcpu]=$(echo "scale=0; ${R[$name,udp]} * $SECS * $HZ / ($c1 - $c0 + 1)" | bc)
    R[$name,httpk]=$(echo "$httpk" | rate_of)
    if [ -n "$httpk" ]; then
        R[$name,httpkcpu]=$(echo "scale=0; ${R[$name,httpk]} * $SECS * $HZ / ($c2 - $c1 + 1)" | bc)
    else
        R[$name,httpkcpu]=""
    fi
    R[$name,httpc]=$(echo "$httpc" | rate_of)
    R[$name,httpccpu]=$(echo "scale=0; ${R[$name,httpc]} * $SECS * $HZ / ($c3 - $c2 + 1)" | bc)
    R[$name,bpp]=$(echo "scale=1; ($rss1 - $rss0) * 1024 / $PEERS" | bc)
}

# The per-address rate limit stays on (its cost is part of the figure) but far above the
# load, which all comes from 127.0.0.1.
run_one bf-tracker "$BF --bind 127.0.0.1 --port PORT --no-log --threads 1 --udp-workers 1 --max-requests-per-ip 100000000"
run_one bf-dfile "$BF --bind 127.0.0.1 --port PORT --no-log --threads 1 --udp-workers 1 --max-requests-per-ip 100000000 --dfile $WORK/state --save-interval 10"
run_one opentracker "opentracker -i 127.0.0.1 -p PORT -P PORT -w /whitelist -d $WORK"

ratio() { echo "scale=2; $1 / $2" | bc; }
{
echo "Tracker benchmark: $TORRENTS torrents, $PEERS peers, ${SECS}s per protocol; tracker on CPU $TRACKER_CPU, load generator on CPU $LOADGEN_CPU."
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r). $(date -u +%F)."
echo
echo "| | bf-tracker | opentracker | ratio | bf-tracker --dfile |"
echo "|---|---:|---:|---:|---:|"
echo "| UDP announces/s | ${R[bf-tracker,udp]} | ${R[opentracker,udp]} | $(ratio "${R[bf-tracker,udp]}" "${R[opentracker,udp]}") | ${R[bf-dfile,udp]} |"
echo "| UDP announces per tracker CPU-second | ${R[bf-tracker,udpcpu]} | ${R[opentracker,udpcpu]} | $(ratio "${R[bf-tracker,udpcpu]}" "${R[opentracker,udpcpu]}") | ${R[bf-dfile,udpcpu]} |"
echo "| HTTP announces/s, one request per connection | ${R[bf-tracker,httpc]} | ${R[opentracker,httpc]} | $(ratio "${R[bf-tracker,httpc]}" "${R[opentracker,httpc]}") | ${R[bf-dfile,httpc]} |"
echo "| HTTP per tracker CPU-second, one request per connection | ${R[bf-tracker,httpccpu]} | ${R[opentracker,httpccpu]} | $(ratio "${R[bf-tracker,httpccpu]}" "${R[opentracker,httpccpu]}") | ${R[bf-dfile,httpccpu]} |"
echo "| HTTP announces/s, keep-alive | ${R[bf-tracker,httpk]} | n/a (closes after each answer) | | ${R[bf-dfile,httpk]} |"
echo "| HTTP per tracker CPU-second, keep-alive | ${R[bf-tracker,httpkcpu]} | n/a | | ${R[bf-dfile,httpkcpu]} |"
echo "| RSS empty (KiB) | ${R[bf-tracker,rss0]} | ${R[opentracker,rss0]} | | ${R[bf-dfile,rss0]} |"
echo "| RSS with $PEERS peers (KiB) | ${R[bf-tracker,rss1]} | ${R[opentracker,rss1]} | | ${R[bf-dfile,rss1]} |"
echo "| RSS at the end (KiB) | ${R[bf-tracker,rss2]} | ${R[opentracker,rss2]} | | ${R[bf-dfile,rss2]} |"
echo "| peak RSS (KiB) | ${R[bf-tracker,hwm]} | ${R[opentracker,hwm]} | | ${R[bf-dfile,hwm]} |"
echo "| bytes per peer (RSS growth / peers) | ${R[bf-tracker,bpp]} | ${R[opentracker,bpp]} | $(ratio "${R[bf-tracker,bpp]}" "${R[opentracker,bpp]}") | ${R[bf-dfile,bpp]} |"
} | tee target/bench-tracker.md
