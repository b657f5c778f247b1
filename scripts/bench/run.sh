#!/usr/bin/env bash
# Time wk's own benchmarks beside python3: scripts/bench/run.sh [WK]   (default ./wk)
# Each program prints one checksum line; wk's must equal python3's.
set -u
cd "$(dirname "$0")/../.."
wk=${1:-./wk}
printf '%-16s %8s %8s %7s  %s\n' benchmark "py s" "wk s" "wk/py" check
for f in scripts/bench/*.wk; do
    name=$(basename "$f" .wk)
    t0=$(date +%s.%N); py=$(python3 "$f" 2>&1); t1=$(date +%s.%N)
    w=$("$wk" "$f" 2>&1); t2=$(date +%s.%N)
    pys=$(echo "$t1 - $t0" | bc); wks=$(echo "$t2 - $t1" | bc)
    ok=same; [ "$py" = "$w" ] || ok="DIFFERENT: $w"
    printf '%-16s %8.3f %8.3f %7.2f  %s\n' "$name" "$pys" "$wks" "$(echo "$wks / $pys" | bc -l)" "$ok"
done
