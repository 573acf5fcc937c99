"""spark-submit.sh: what it hands to spark-submit (a stub that prints its arguments, no JVM)."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def submit(tmp_path):
    stub = tmp_path / "spark-submit-stub"
    stub.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    stub.chmod(0o755)

    def run(*args):
        env = {**os.environ, "SPARK_SUBMIT": str(stub)}
        env.pop("LOYALTY_CONF_DIR", None)
        return subprocess.run([str(ROOT / "spark-submit.sh"), *args, "--set", f"paths.build={tmp_path}/build"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    return run


def test_spark_settings_go_to_spark_submit_and_to_the_job(submit):
    out = submit("ingest_bronze", "--env", "test", "--conf", "spark.eventLog.enabled=true",
                 "--set", "spark.conf.spark.driver.extraJavaOptions=-Dloyalty.probe=1")
    assert out.returncode == 0, out.stderr
    argv = out.stdout.splitlines()
    job = argv.index(str(ROOT / "jobs" / "ingest_bronze.py"))
    submit_args, job_args = argv[:job], argv[job + 1:]
    pairs = {submit_args[i + 1] for i, a in enumerate(submit_args) if a == "--conf"}
    assert {"spark.eventLog.enabled=true", "spark.driver.extraJavaOptions=-Dloyalty.probe=1",
            "spark.sql.shuffle.partitions=2"} <= pairs          # conf/test.yaml's settings too
    assert job_args[job_args.index("--conf") + 1] == "spark.eventLog.enabled=true"
