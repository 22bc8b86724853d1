#!/usr/bin/env bash
# Benchmark (not a test): bf-maketorrent hashing against mktorrent and sha1sum on one warm
# 1 GiB file, plus the SHA-1 limit (RustCrypto sha1, one core, data in memory).
#
# Usage: scripts/bench-maketorrent.sh     (BENCH_DIR=/tmp/bf-bench, RUNS=5, HYPERFINE=0)
# HYPERFINE=1 times with hyperfine (each command's runs back to back) instead of the default
# interleaved rounds with /usr/bin/time, which share out background load fairly.
# The file is made once and reused; the page cache is warmed before timing, so this measures
# CPU (hashing and copying out of the page cache), not the disk.
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/bf-bench}
RUNS=${RUNS:-5}
FILE="$BENCH_DIR/bench-1GiB.bin"
URL=http://127.0.0.1:6969/announce
mkdir -p "$BENCH_DIR"

if [ ! -f "$FILE" ] || [ "$(stat -c %s "$FILE")" -ne 1073741824 ]; then
    echo "making $FILE (once)" >&2
    head -c 1073741824 /dev/urandom > "$FILE.part"
    mv "$FILE.part" "$FILE"
fi

cargo build --release -q -p bf-maketorrent-bin
BF="$PWD/target/release/bf-maketorrent"
command -v mktorrent >/dev/null || { echo "mktorrent is not installed" >&2; exit 1; }

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average: $LOAD (other work on the machine skews wall times; CPU times less so)" >&2
echo "warming the page cache" >&2
cat "$FILE" > /dev/null
cat "$FILE" > /dev/null

# Same piece size for both makers (1 MiB, also bf-maketorrent's automatic choice for 1 GiB),
# and the same info-hash: checked, so the comparison is of equal work.
"$BF" "$FILE" "$URL" -o "$BENCH_DIR/bf.torrent" --force --no-date > /dev/null 2>&1
rm -f "$BENCH_DIR/mk.torrent"
mktorrent -t 2 -l 20 -a "$URL" -o "$BENCH_DIR/mk.torrent" "$FILE" > /dev/null
bf_hash=$("$BF" retrack "$BENCH_DIR/bf.torrent" "$URL" -o "$BENCH_DIR/check1.torrent" --force | awk '/info-hash/ {print $2}')
mk_hash=$("$BF" retrack "$BENCH_DIR/mk.torrent" "$URL" -o "$BENCH_DIR/check2.torrent" --force | awk '/info-hash/ {print $2}')
if [ "$bf_hash" != "$mk_hash" ]; then
    echo "info-hashes differ: bf-maketorrent $bf_hash, mktorrent $mk_hash" >&2
    exit 1
fi
echo "same info-hash from both makers: $bf_hash" >&2

declare -A CMDS=(
    [bf-maketorrent]="$BF $FILE $URL -o $BENCH_DIR/bf.torrent --force --no-date"
    [bf-maketorrent-1thread]="$BF $FILE $URL -o $BENCH_DIR/bf.torrent --force --no-date --threads 1"
    [mktorrent-t2]="rm -f $BENCH_DIR/mk.torrent; mktorrent -t 2 -l 20 -a $URL -o $BENCH_DIR/mk.torrent $FILE"
    [sha1sum]="sha1sum $FILE"
)
ORDER=(bf-maketorrent bf-maketorrent-1thread mktorrent-t2 sha1sum)
RESULTS="$BENCH_DIR/results.txt"
: > "$RESULTS"

if [ "${HYPERFINE:-0}" = 1 ] && command -v hyperfine >/dev/null; then
    # Each command's runs back to back: fine on an idle machine.
    args=()
    for name in "${ORDER[@]}"; do args+=(-n "$name" "${CMDS[$name]}"); done
    hyperfine -S bash --warmup 1 --runs "$RUNS" --export-json "$BENCH_DIR/hyperfine.json" "${args[@]}" >&2
    python3 - "$BENCH_DIR/hyperfine.json" >> "$RESULTS" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(r["command"], r["median"], r["user"] + r["system"])
PY
else
    # Default: rounds that run every command once, so that load from other work on a shared
    # machine falls on all of them alike (hyperfine would run each command's runs together).
    echo "interleaved rounds with /usr/bin/time: 1 warm-up + $RUNS timed" >&2
    declare -A TIMES
    for round in $(seq 0 "$RUNS"); do
        for name in "${ORDER[@]}"; do
            t=$( { /usr/bin/time -f "%e %U %S" bash -c "${CMDS[$name]} > /dev/null 2>&1"; } 2>&1 | tail -1)
            [ "$round" = 0 ] && continue
            TIMES[$name]+="$t"$'\n'
            echo "round $round $name: wall user sys = $t" >&2
        done
    done
    for name in "${ORDER[@]}"; do
        # Median wall time and median CPU time (user + system), each sorted on its own.
        wall=$(printf '%s' "${TIMES[$name]}" | awk '{print $1}' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        cpu=$(printf '%s' "${TIMES[$name]}" | awk '{print $2 + $3}' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        echo "$name $wall $cpu" >> "$RESULTS"
    done
fi

echo >&2
echo "SHA-1 limit (criterion, one core, in memory):" >&2
limit_line=$(cargo bench -q -p bf-metainfo --bench hash -- --noplot "sha1/1024 KiB" 2>/dev/null | grep -A2 "sha1/1024 KiB" | grep thrpt || true)
echo "$limit_line" >&2
# thrpt:  [low MEDIAN high] with units such as GiB/s or MiB/s: take the middle estimate.
limit_mib=$(echo "$limit_line" | sed -E 's/.*\[([^]]*)\].*/\1/' | awk '{v=$3; u=$4; if (u=="GiB/s") v*=1024; print v}')

echo
echo "## results: 1 GiB, warm page cache, median of $RUNS runs (wall and CPU medians taken separately)"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
echo "load average before the run: $LOAD"
printf '%-24s %10s %10s %12s %16s\n' program "wall s" MiB/s "CPU s" "MiB per CPU-s"
while read -r name secs cpu; do
    printf '%-24s %10.3f %10.0f %12.3f %16.0f\n' "$name" "$secs" "$(echo "1024 / $secs" | bc -l)" \
        "$cpu" "$(echo "1024 / $cpu" | bc -l)"
done < "$RESULTS"
bf=$(awk '$1=="bf-maketorrent" {print $2}' "$RESULTS")
mk=$(awk '$1=="mktorrent-t2" {print $2}' "$RESULTS")
sh=$(awk '$1=="sha1sum" {print $2}' "$RESULTS")
printf 'bf-maketorrent vs mktorrent -t 2: %.2fx faster\n' "$(echo "$mk / $bf" | bc -l)"
printf 'bf-maketorrent vs sha1sum:        %.2fx faster\n' "$(echo "$sh / $bf" | bc -l)"
if [ -n "$limit_mib" ]; then
    cores=$(nproc)
    printf 'SHA-1 limit: %.0f MiB/s per core, x %d cores = %.0f MiB/s; bf-maketorrent reaches %.1f%% of it\n' \
        "$limit_mib" "$cores" "$(echo "$limit_mib * $cores" | bc -l)" \
        "$(echo "100 * 1024 / $bf / ($limit_mib * $cores)" | bc -l)"
fi
