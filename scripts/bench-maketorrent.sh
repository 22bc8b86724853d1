#!/usr/bin/env bash
# Benchmark (not a test): bf-maketorrent hashing against mktorrent, intermodal (imdl) and
# sha1sum on one warm 1 GiB file, plus the SHA-1 limit (RustCrypto sha1, one core, data in
# memory); and `bf-console verify` against `imdl torrent verify` on the same file.
#
# Set-up (not CI): mktorrent from Debian, and `cargo install --locked imdl` (0.1.16).
#
# Usage: scripts/bench-maketorrent.sh     (BENCH_DIR=/tmp/bf-bench, RUNS=5, HYPERFINE=0,
#                                          VERIFY=1)
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

VERIFY=${VERIFY:-1}
cargo build --release -q -p bf-maketorrent-bin
BF="$PWD/target/release/bf-maketorrent"
if [ "$VERIFY" = 1 ]; then
    cargo build --release -q -p bf-console-bin
    BFC="$PWD/target/release/bf-console"
fi
command -v mktorrent >/dev/null || { echo "mktorrent is not installed" >&2; exit 1; }
command -v imdl >/dev/null || { echo "imdl is not installed: cargo install --locked imdl" >&2; exit 1; }
IMDL_VERSION=$(imdl --version)

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average: $LOAD (other work on the machine skews wall times; CPU times less so)" >&2
echo "warming the page cache" >&2
cat "$FILE" > /dev/null
cat "$FILE" > /dev/null

# Same piece size for every maker (1 MiB, also bf-maketorrent's automatic choice for 1 GiB),
# and the same info-hash: checked, so the comparison is of equal work.
IMDL_MAKE="imdl -q torrent create -i $FILE -a $URL -p 1mib -o $BENCH_DIR/imdl.torrent --force --no-created-by --no-creation-date"
"$BF" "$FILE" "$URL" -o "$BENCH_DIR/bf.torrent" --force --no-date > /dev/null 2>&1
rm -f "$BENCH_DIR/mk.torrent"
mktorrent -t 2 -l 20 -a "$URL" -o "$BENCH_DIR/mk.torrent" "$FILE" > /dev/null
$IMDL_MAKE > /dev/null 2>&1
info_hash() {
    "$BF" retrack "$1" "$URL" -o "$BENCH_DIR/check.torrent" --force | awk '/info-hash/ {print $2}'
}
bf_hash=$(info_hash "$BENCH_DIR/bf.torrent")
for other in mk imdl; do
    other_hash=$(info_hash "$BENCH_DIR/$other.torrent")
    if [ "$bf_hash" != "$other_hash" ]; then
        echo "info-hashes differ: bf-maketorrent $bf_hash, $other $other_hash" >&2
        exit 1
    fi
done
echo "same info-hash from bf-maketorrent, mktorrent and imdl: $bf_hash" >&2

declare -A CMDS=(
    [bf-maketorrent]="$BF $FILE $URL -o $BENCH_DIR/bf.torrent --force --no-date"
    [bf-maketorrent-1thread]="$BF $FILE $URL -o $BENCH_DIR/bf.torrent --force --no-date --threads 1"
    [mktorrent-t2]="rm -f $BENCH_DIR/mk.torrent; mktorrent -t 2 -l 20 -a $URL -o $BENCH_DIR/mk.torrent $FILE"
    [imdl]="$IMDL_MAKE"
    [sha1sum]="sha1sum $FILE"
)
ORDER=(bf-maketorrent bf-maketorrent-1thread mktorrent-t2 imdl sha1sum)
if [ "$VERIFY" = 1 ]; then
    # Both check the same torrent against the same file; both must say it matches.
    "$BFC" verify "$BENCH_DIR/bf.torrent" "$FILE" > /dev/null
    imdl -q torrent verify -i "$BENCH_DIR/bf.torrent" -c "$FILE"
    CMDS[bf-console-verify]="$BFC verify $BENCH_DIR/bf.torrent $FILE"
    CMDS[imdl-verify]="imdl -q torrent verify -i $BENCH_DIR/bf.torrent -c $FILE"
    ORDER+=(bf-console-verify imdl-verify)
fi
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
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $IMDL_VERSION, $(mktorrent -h 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "load average before the run: $LOAD"
printf '%-24s %10s %10s %12s %16s\n' program "wall s" MiB/s "CPU s" "MiB per CPU-s"
while read -r name secs cpu; do
    printf '%-24s %10.3f %10.0f %12.3f %16.0f\n' "$name" "$secs" "$(echo "1024 / $secs" | bc -l)" \
        "$cpu" "$(echo "1024 / $cpu" | bc -l)"
done < "$RESULTS"
bf=$(awk '$1=="bf-maketorrent" {print $2}' "$RESULTS")
mk=$(awk '$1=="mktorrent-t2" {print $2}' "$RESULTS")
im=$(awk '$1=="imdl" {print $2}' "$RESULTS")
sh=$(awk '$1=="sha1sum" {print $2}' "$RESULTS")
printf 'bf-maketorrent vs mktorrent -t 2: %.2fx faster\n' "$(echo "$mk / $bf" | bc -l)"
printf 'bf-maketorrent vs imdl:           %.2fx faster\n' "$(echo "$im / $bf" | bc -l)"
printf 'bf-maketorrent vs sha1sum:        %.2fx faster\n' "$(echo "$sh / $bf" | bc -l)"
if [ "$VERIFY" = 1 ]; then
    bv=$(awk '$1=="bf-console-verify" {print $2}' "$RESULTS")
    iv=$(awk '$1=="imdl-verify" {print $2}' "$RESULTS")
    printf 'bf-console verify vs imdl torrent verify: %.2fx faster\n' "$(echo "$iv / $bv" | bc -l)"
fi
if [ -n "$limit_mib" ]; then
    cores=$(nproc)
    printf 'SHA-1 limit: %.0f MiB/s per core, x %d cores = %.0f MiB/s; bf-maketorrent reaches %.1f%% of it\n' \
        "$limit_mib" "$cores" "$(echo "$limit_mib * $cores" | bc -l)" \
        "$(echo "100 * 1024 / $bf / ($limit_mib * $cores)" | bc -l)"
fi
