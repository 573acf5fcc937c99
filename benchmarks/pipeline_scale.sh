#!/usr/bin/env bash
# Times every job of the pipeline at a given scale on this machine and prints one RESULT line.
#   benchmarks/pipeline_scale.sh [members] [days] [data_root]
#   STEPS="build_gold train_segments" benchmarks/pipeline_scale.sh 200000   # re-time some steps on existing data
# Default: 200,000 members x 180 days under /tmp/loyalty-bench-<members> (kept out of ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
members="${1:-200000}"; days="${2:-180}"; root="${3:-/tmp/loyalty-bench-$members}"
all="generate_feeds ingest_bronze build_silver build_gold train_segments score_segments train_recommender recommend"
steps="${STEPS:-$all}"
sets=(--set "data_root=$root" --set "generator.members=$members" --set "generator.days=$days")
[ "$steps" = "$all" ] && rm -rf "$root"
result="members=$members days=$days"
for step in $steps; do
  [ -f "jobs/$step.py" ] || { echo "skip $step (no jobs/$step.py)"; continue; }
  extra=()
  case "$step" in
    build_gold) extra=(--snapshots 2) ;;
    score_segments) extra=(--all) ;;
  esac
  t0=$(date +%s)
  ./spark-submit.sh "$step" "${sets[@]}" "${extra[@]}" > "$root.$step.log" 2>&1 || { echo "$step FAILED, see $root.$step.log"; tail -n 5 "$root.$step.log"; exit 1; }
  t1=$(date +%s)
  grep -E "finished in|RESULT|ndcg|silhouette|interactions" "$root.$step.log" | tail -n 6 || true
  result="$result ${step}_s=$((t1 - t0))"
done
echo "RESULT $result lake_mb=$(du -sm "$root/lake" | cut -f1)"
