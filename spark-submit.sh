#!/usr/bin/env bash
# Submit a Loyalty Lakehouse job:  ./spark-submit.sh <job> [--env local|cluster] [--set k=v ...] [--conf spark.k=v ...] [job args]
# Packages lib/loyalty as a zip for --py-files, ships conf/*.yaml, runs jobs/<job>.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

list_jobs() {
  echo "Jobs:"
  for f in "$here"/jobs/*.py; do
    name="$(basename "$f" .py)"
    case "$name" in _*) continue ;; esac
    doc="$(sed -n 's/^"""\(.*\)$/\1/p' "$f" | head -n 1)"
    printf "  %-20s %s\n" "$name" "${doc%\"\"\"}"
  done
}

usage() {
  cat <<USAGE
usage: ./spark-submit.sh <job> [--env local|cluster] [--set key=value ...] [--conf spark.key=value ...] [job args]

Runs jobs/<job>.py with spark-submit. --env picks conf/<env>.yaml (default local: master
local[*]; cluster: master from \$SPARK_MASTER or conf cluster.master). --set overrides any
setting for this run; --conf sets a Spark setting (spark.conf.<key>, given to spark-submit too).
'<job> --help' lists a job's own arguments.

USAGE
  list_jobs
}

if [[ $# -eq 0 || "$1" == "-h" || "$1" == "--help" ]]; then usage; exit 0; fi
job="$1"; shift
if [[ ! -f "$here/jobs/$job.py" ]]; then
  echo "unknown job '$job'" >&2; list_jobs >&2; exit 2
fi

env_name="local"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --env) env_name="${args[$((i + 1))]:-local}" ;;
    --env=*) env_name="${args[$i]#--env=}" ;;
  esac
done
if [[ ! -f "$here/conf/$env_name.yaml" ]]; then
  echo "unknown environment '$env_name': no conf/$env_name.yaml" >&2; exit 2
fi

if [[ -x "$here/.venv/bin/python" ]]; then
  py="$here/.venv/bin/python"; submit="${SPARK_SUBMIT:-$here/.venv/bin/spark-submit}"
else
  py="$(command -v python3)"; submit="${SPARK_SUBMIT:-spark-submit}"
fi
command -v java >/dev/null 2>&1 || { echo "ERROR: Java is required to run Spark, but 'java' is not on PATH." >&2; exit 1; }

# Settings the submit command itself needs, from the merged conf (+ --set / --conf): master, driver
# memory, build dir, then every Spark setting (spark.conf) as key=value. All Spark settings go to
# spark-submit as --conf, so those read when the driver starts (JVM options, jars) take effect too,
# with the lake backend's (delta-spark: Delta's Maven package, resolved into Spark's Ivy cache on
# first use, and its SQL extension and catalog).
read_settings() {
  PYTHONPATH="$here/lib" LOYALTY_CONF_DIR="$here/conf" "$py" - "$env_name" "${args[@]}" <<'PY'
import sys
from loyalty import conf
env, rest = sys.argv[1], sys.argv[2:]
def given(flag):
    out = [rest[i + 1] for i, a in enumerate(rest) if a == flag and i + 1 < len(rest)]
    return out + [a[len(flag) + 1:] for a in rest if a.startswith(flag + "=")]
try:
    cfg = conf.load(env, given("--set"), spark_conf=given("--conf"))
    lines = [str(cfg.get(key, None) or "") for key in ("spark.master", "spark.driver_memory", "paths.build")]
    settings = conf.spark_settings(cfg)
    from loyalty.spark import launcher_conf, session_conf   # the lake backend's (delta-spark: Delta's package)
    for key, value in {**launcher_conf(cfg), **session_conf(cfg)}.items():
        mine = settings.get(key)
        settings[key] = value if not mine or key not in ("spark.jars.packages", "spark.sql.extensions") else f"{mine},{value}"
    lines += [f"{k}={v}" for k, v in settings.items()]
    if any("\n" in line for line in lines):
        raise conf.ConfigError("a Spark setting holds a line break: " + next(l for l in lines if "\n" in l).split("=")[0])
except conf.ConfigError as exc:
    print(f"configuration error: {exc}", file=sys.stderr)
    sys.exit(2)
print("\n".join(lines))
PY
}
settings="$(read_settings)"
mapfile -t lines <<< "$settings"
master="${lines[0]}"
if [[ "$env_name" != "local" && -n "${SPARK_MASTER:-}" ]]; then master="$SPARK_MASTER"; fi
driver_memory="${lines[1]}"
build_dir="${lines[2]}"

mkdir -p "$build_dir"
zip_path="$build_dir/loyalty.zip"
"$py" - "$here/lib" "$zip_path" <<'PY'
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out + ".tmp", "w", zipfile.ZIP_DEFLATED) as zf:
    for root, dirs, files in os.walk(os.path.join(src, "loyalty")):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                full = os.path.join(root, name)
                zf.write(full, os.path.relpath(full, src))
os.replace(out + ".tmp", out)
PY

conf_files="$(ls "$here"/conf/*.yaml | paste -sd, -)"
export LOYALTY_CONF_DIR="${LOYALTY_CONF_DIR:-$here/conf}"
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$py}"
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$py}"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
export MLFLOW_DISABLE_TELEMETRY="${MLFLOW_DISABLE_TELEMETRY:-true}"

extra=()
[[ -n "$driver_memory" ]] && extra+=(--driver-memory "$driver_memory")
for setting in "${lines[@]:3}"; do extra+=(--conf "$setting"); done
[[ "$master" == spark://* ]] && extra+=(--conf spark.driver.host="${SPARK_DRIVER_HOST:-127.0.0.1}")

exec "$submit" --master "$master" --name "loyalty-$job" "${extra[@]}" \
  --py-files "$zip_path" --files "$conf_files" \
  --conf spark.ui.showConsoleProgress=false \
  "$here/jobs/$job.py" "$@"
