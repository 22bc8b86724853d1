#!/usr/bin/env bash
# Benchmark (not a test): one torrent (1 GiB by default) downloaded over loopback from the
# same libtorrent high_performance_seed seeder(s) by bf-console, libtorrent (TCP), rqbit,
# aria2c and transmission-cli, side by side in one run, inside a loopback-only network
# namespace (nothing can leave the machine); then libtorrent downloading from a bf-console
# seeder against from a libtorrent seeder. Wall time, client CPU seconds, peak RSS; every
# download is compared byte for byte with the original.
#
# Usage: scripts/bench-download.sh
#   RUNS=3  PIECES="256K 1M"  SEEDERS="1 3"  SIZE_MIB=1024  BENCH_DIR=/tmp/bf-bench-dl
#   CLIENTS="bf libtorrent rqbit aria2 transmission"  SEED_DIRECTION=1
# Needs: root (unshare --net), /usr/bin/python3 with libtorrent, aria2c, transmission-cli,
# /usr/bin/time; rqbit from `cargo install rqbit --locked` (skipped when missing).
# Clients run one after another in each round (rounds interleave the clients, so that load
# from elsewhere falls on all of them alike). aria2c runs with --file-allocation=none, the
# others with their defaults; every client speaks TCP only (libtorrent's uTP is off).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
if [ "${BF_BENCH_IN_NETNS:-0}" != 1 ]; then
    cargo build --release -q -p bf-console-bin -p bf-tracker-bin -p bf-maketorrent-bin
    exec unshare --net env BF_BENCH_IN_NETNS=1 CARGO_TARGET_DIR="$TARGET" bash "$0" "$@"
fi
ip link set lo up

RUNS=${RUNS:-3}
PIECES=${PIECES:-256K 1M}
SEEDERS=${SEEDERS:-1 3}
SIZE_MIB=${SIZE_MIB:-1024}
CLIENTS=${CLIENTS:-bf libtorrent rqbit aria2 transmission}
SEED_DIRECTION=${SEED_DIRECTION:-1}
BENCH_DIR=${BENCH_DIR:-/tmp/bf-bench-dl}
BIN=$TARGET/release
PY=/usr/bin/python3
LT=$ROOT/scripts/bench
TIMEOUT=600
mkdir -p "$BENCH_DIR"
FILE=$BENCH_DIR/payload.bin
RESULTS=$BENCH_DIR/results.tsv
: >"$RESULTS"

if [ ! -f "$FILE" ] || [ "$(stat -c %s "$FILE")" -ne $((SIZE_MIB << 20)) ]; then
    echo "making $FILE ($SIZE_MIB MiB, once)" >&2
    head -c $((SIZE_MIB << 20)) /dev/urandom >"$FILE.part"
    mv "$FILE.part" "$FILE"
fi
cat "$FILE" >/dev/null

have() { command -v "$1" >/dev/null 2>&1; }
RQBIT=$(command -v rqbit || echo "$HOME/.cargo/bin/rqbit")
[ -x "$RQBIT" ] || RQBIT=""

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# A fresh port for every process (libtorrent will not dial again an address it remembers
# as a seed); kept in a file because callers run in subshells.
echo 20000 >"$BENCH_DIR/next-port"
port() {
    local p
    p=$(($(cat "$BENCH_DIR/next-port") + 1))
    echo "$p" >"$BENCH_DIR/next-port"
    echo "$p"
}

"$BIN/bf-tracker" --port 6969 --bind 127.0.0.1 --interval 30 --min-interval 5 --no-log --no-udp \
    >"$BENCH_DIR/tracker.log" 2>&1 &
PIDS+=($!)
ANNOUNCE=http://127.0.0.1:6969/announce

echo "kernel $(uname -r), congestion control $(cat /proc/sys/net/ipv4/tcp_congestion_control)," \
    "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "bf-console $("$BIN/bf-console" --version | awk '{print $2}'), libtorrent" \
    "$($PY -c 'import libtorrent; print(libtorrent.__version__)'), aria2c" \
    "$(aria2c --version | head -1 | awk '{print $3}'), transmission-cli" \
    "$(transmission-cli --version 2>&1 | head -1 | awk '{print $2}')${RQBIT:+, rqbit $("$RQBIT" --version 2>/dev/null | awk '{print $2}')}" >&2

torrent_for() { # piece size -> torrent path
    local t=$BENCH_DIR/payload-$1.torrent
    if [ ! -f "$t" ]; then
        "$BIN/bf-maketorrent" "$FILE" "$ANNOUNCE" --piece-size "$1" -o "$t" --force >/dev/null 2>&1
    fi
    echo "$t"
}

# Starts $2 libtorrent seeders of torrent $1; sets SEED_PIDS and CONNECT_FILES.
start_seeders() {
    SEED_PIDS=()
    CONNECT_FILES=()
    SEED_ADDRS=()
    for i in $(seq 1 "$2"); do
        local p
        p=$(port)
        local cf=$BENCH_DIR/connect-$p
        : >"$cf"
        $PY "$LT/lt_seed.py" "$1" "$BENCH_DIR" "$p" 36000 "$cf" >"$BENCH_DIR/seed-$p.log" 2>&1 &
        SEED_PIDS+=($!)
        PIDS+=($!)
        CONNECT_FILES+=("$cf")
        SEED_ADDRS+=("127.0.0.1:$p")
    done
    for i in $(seq 1 600); do
        local ready=0
        for p in "${SEED_ADDRS[@]}"; do
            grep -q seeding "$BENCH_DIR/seed-${p##*:}.log" 2>/dev/null && ready=$((ready + 1))
        done
        [ "$ready" -eq "$2" ] && return 0
        sleep 0.2
    done
    echo "seeders did not start" >&2
    exit 1
}

stop_seeders() {
    for p in "${SEED_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${SEED_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}

# /usr/bin/time around a command that exits when done: prints "wall user sys maxrss_kb".
timed() {
    local t
    t=$(mktemp)
    if ! /usr/bin/time -f "%e %U %S %M" -o "$t" timeout "$TIMEOUT" "$@" >/dev/null 2>"$BENCH_DIR/client.err"; then
        echo "FAILED: $* (see $BENCH_DIR/client.err)" >&2
        tail -n 5 "$BENCH_DIR/client.err" >&2
        rm -f "$t"
        return 1
    fi
    tail -n 1 "$t"
    rm -f "$t"
}

# CPU seconds (user+sys) and peak RSS (KiB) of a live process.
proc_cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
proc_hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

run_client() { # client torrent out -> "wall user sys rss"
    local client=$1 torrent=$2 out=$3 p
    p=$(port)
    case $client in
        bf)
            timed "$BIN/bf-console" "$torrent" --no-dht --no-lsd --saveas "$out/payload.bin" --port "$p" \
                --bind 127.0.0.1 --no-resume --exit-on-complete
            ;;
        libtorrent)
            timed $PY "$LT/lt_download.py" "$torrent" "$out" "$p" "$TIMEOUT"
            ;;
        rqbit)
            timed "$RQBIT" --disable-dht --disable-dht-persistence --listen-port "$p" \
                download --disable-http-api --exit-on-finish -o "$out" "$torrent"
            ;;
        aria2)
            timed aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
                --enable-peer-exchange=false --disable-ipv6=true --interface=127.0.0.1 \
                --seed-time=0 --file-allocation=none --listen-port="$p" --console-log-level=warn \
                --summary-interval=0 -d "$out" "$torrent"
            ;;
        transmission)
            local cfg=$out/.tr-config marker=$out/.done
            mkdir -p "$cfg"
            cat >"$cfg/settings.json" <<JSON
{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
 "port-forwarding-enabled": false, "bind-address-ipv4": "127.0.0.1", "encryption": 0}
JSON
            printf '#!/bin/sh\ntouch %s\n' "$marker" >"$cfg/done.sh"
            chmod +x "$cfg/done.sh"
            local start
            start=$(date +%s.%N)
            stdbuf -o0 transmission-cli -g "$cfg" -w "$out" -p "$p" -f "$cfg/done.sh" "$torrent" \
                >"$BENCH_DIR/client.err" 2>&1 &
            local pid=$!
            PIDS+=($pid)
            sleep 0.5
            # Transmission never dials loopback peers: the seeders dial it.
            for cf in "${CONNECT_FILES[@]}"; do echo "127.0.0.1:$p" >>"$cf"; done
            local i
            for i in $(seq 1 $((TIMEOUT * 10))); do
                [ -e "$marker" ] && break
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            if [ ! -e "$marker" ]; then
                kill "$pid" 2>/dev/null || true
                echo "FAILED: transmission did not complete" >&2
                return 1
            fi
            local wall cpu rss
            wall=$(echo "$(date +%s.%N) - $start" | bc)
            cpu=$(proc_cpu $pid)
            rss=$(proc_hwm $pid)
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            # user+sys are not told apart by /proc here: all in "user".
            echo "$wall $cpu 0 $rss"
            ;;
    esac
}

record() { # label client "wall user sys rss"
    read -r wall user sys rss <<<"$3"
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$wall" "$(echo "$user + $sys" | bc)" "$rss" >>"$RESULTS"
    printf '  %-22s %-12s %7.2f s %8.1f MiB/s  cpu %6.2f s  rss %7.1f MiB\n' "$1" "$2" "$wall" \
        "$(echo "$SIZE_MIB / $wall" | bc -l)" "$(echo "$user + $sys" | bc)" "$(echo "$rss / 1024" | bc -l)" >&2
}

for piece in $PIECES; do
    torrent=$(torrent_for "$piece")
    for n in $SEEDERS; do
        label="${piece} pieces, ${n} seeder(s)"
        echo "== $label" >&2
        start_seeders "$torrent" "$n"
        for round in $(seq 1 "$RUNS"); do
            for client in $CLIENTS; do
                if [ "$client" = rqbit ] && [ -z "$RQBIT" ]; then continue; fi
                out=$BENCH_DIR/out-$client
                rm -rf "$out"
                mkdir -p "$out"
                if r=$(run_client "$client" "$torrent" "$out"); then
                    if cmp -s "$FILE" "$out/payload.bin"; then
                        record "$label" "$client" "$r"
                    else
                        echo "  $client: WRONG DATA" >&2
                    fi
                fi
                rm -rf "$out"
            done
        done
        stop_seeders
    done
done

if [ "$SEED_DIRECTION" = 1 ]; then
    for piece in $PIECES; do
        torrent=$(torrent_for "$piece")
        label="${piece} pieces, lt from seeder"
        echo "== libtorrent downloading from a bf-console seeder / a libtorrent seeder ($piece pieces)" >&2
        for round in $(seq 1 "$RUNS"); do
            for seeder in bf libtorrent; do
                sp=$(port)
                if [ $seeder = bf ]; then
                    "$BIN/bf-console" "$torrent" --no-dht --no-lsd --saveas "$FILE" --port "$sp" --bind 127.0.0.1 \
                        --no-resume --json >"$BENCH_DIR/bfseed.log" 2>&1 &
                    spid=$!
                    for i in $(seq 1 600); do
                        grep -q '"state":"seeding"' "$BENCH_DIR/bfseed.log" && break
                        sleep 0.2
                    done
                else
                    $PY "$LT/lt_seed.py" "$torrent" "$BENCH_DIR" "$sp" 36000 >"$BENCH_DIR/ltseed.log" 2>&1 &
                    spid=$!
                    for i in $(seq 1 600); do
                        grep -q seeding "$BENCH_DIR/ltseed.log" && break
                        sleep 0.2
                    done
                fi
                PIDS+=($spid)
                before=$(proc_cpu $spid)
                out=$BENCH_DIR/out-seed
                rm -rf "$out"
                mkdir -p "$out"
                # The downloader dials this seeder only (no tracker in the way: a fresh
                # seeder, not the benchmark's others), in plain text: libtorrent otherwise
                # tries MSE first, which costs it a second with bf-console (docs/performance.md).
                if r=$(LT_PLAIN=1 timed $PY "$LT/lt_download.py" "$torrent" "$out" "$(port)" "$TIMEOUT" "127.0.0.1:$sp"); then
                    after=$(proc_cpu $spid)
                    if cmp -s "$FILE" "$out/payload.bin"; then
                        record "$label" "seeder-$seeder" "$r"
                        printf '  %-22s %-12s seeder cpu %6.2f s\n' "" "seeder-$seeder" \
                            "$(echo "$after - $before" | bc)" >&2
                        printf '%s\t%s\t%s\n' "$label" "seeder-cpu-$seeder" "$(echo "$after - $before" | bc)" >>"$RESULTS"
                    else
                        echo "  WRONG DATA from seeder $seeder" >&2
                    fi
                fi
                kill "$spid" 2>/dev/null || true
                wait "$spid" 2>/dev/null || true
                rm -rf "$out"
            done
        done
    done
fi

echo >&2
echo "Medians over $RUNS runs ($SIZE_MIB MiB; wall s, MiB/s, client CPU s, peak RSS MiB):" >&2
python3 - "$RESULTS" "$SIZE_MIB" <<'PY'
import sys, statistics
from collections import defaultdict
rows = defaultdict(list)
cpu = defaultdict(list)
for line in open(sys.argv[1]):
    f = line.rstrip('\n').split('\t')
    if f[1].startswith('seeder-cpu-'):
        cpu[(f[0], f[1][len('seeder-cpu-'):])].append(float(f[2]))
        continue
    rows[(f[0], f[1])].append((float(f[2]), float(f[3]), float(f[4])))
size = float(sys.argv[2])
print('| configuration | client | wall s | MiB/s | client CPU s | peak RSS MiB | runs |')
print('|---|---|---:|---:|---:|---:|---:|')
for (label, client), v in rows.items():
    wall = statistics.median(x[0] for x in v)
    c = statistics.median(x[1] for x in v)
    rss = statistics.median(x[2] for x in v) / 1024
    extra = ''
    if client.startswith('seeder-'):
        s = cpu.get((label, client[len('seeder-'):]))
        if s:
            extra = ' (seeder CPU %.2f s)' % statistics.median(s)
    print('| %s | %s | %.2f | %.0f | %.2f%s | %.0f | %d |' % (label, client, wall, size / wall, c, extra, rss, len(v)))
PY
