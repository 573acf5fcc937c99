#!/usr/bin/env bash
# Times generate_feeds + ingest_bronze at a given scale on this machine and prints the numbers.
#   benchmarks/bronze_scale.sh [members] [days] [data_root]
# Default: 200,000 members x 180 days under /tmp/loyalty-bench (kept out of ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
members="${1:-200000}"; days="${2:-180}"; root="${3:-/tmp/loyalty-bench-$members}"
rm -rf "$root"
sets=(--set "data_root=$root" --set "generator.members=$members" --set "generator.days=$days")
t0=$(date +%s)
./spark-submit.sh generate_feeds "${sets[@]}" 2>&1 | tail -n 20
t1=$(date +%s)
./spark-submit.sh ingest_bronze "${sets[@]}" 2>&1 | tail -n 20
t2=$(date +%s)
./spark-submit.sh ingest_bronze "${sets[@]}" 2>&1 | grep -E "no_new_files|ingested|failed" | head -n 3 || true
t3=$(date +%s)
landing_mb=$(du -sm "$root/landing" | cut -f1)
lake_mb=$(du -sm "$root/lake" | cut -f1)
echo "RESULT members=$members days=$days generate_feeds_s=$((t1 - t0)) ingest_bronze_s=$((t2 - t1)) rerun_ingest_s=$((t3 - t2)) landing_mb=$landing_mb lake_mb=$lake_mb"
