"""cli.run_main: settings from the command line reach the live session; errors are one line with
the documented exit code."""

import importlib

import pytest

from loyalty import cli, conf
from loyalty.spark import spark_session


def _probe(spark, argv, keys):
    """Run a job body through run_main that reads ``keys`` from the session it gets."""
    seen = {}

    def body(args, cfg):
        with spark_session("probe", cfg) as session:
            seen.update({k: session.conf.get(k, None) for k in keys})
        return cli.EXIT_OK

    before = {k: spark.conf.get(k, None) for k in keys}
    try:
        rc = cli.run_main("probe", argv, cli.parser("probe", "test job"), body)
    finally:
        for k, v in before.items():
            spark.conf.unset(k) if v is None else spark.conf.set(k, v)
    return rc, seen


def test_spark_settings_from_conf_flag_and_set_reach_the_live_session(spark, tmp_path):
    rc, seen = _probe(spark, ["--env", "test", "--set", f"data_root={tmp_path}",
                              "--conf", "spark.sql.shuffle.partitions=3",
                              "--set", "spark.conf.spark.sql.autoBroadcastJoinThreshold=1234",
                              "--set", 'spark.conf."spark.sql.files.maxPartitionBytes"=4321'],
                      ["spark.sql.shuffle.partitions", "spark.sql.autoBroadcastJoinThreshold",
                       "spark.sql.files.maxPartitionBytes"])
    assert rc == cli.EXIT_OK
    assert seen == {"spark.sql.shuffle.partitions": "3", "spark.sql.autoBroadcastJoinThreshold": "1234",
                    "spark.sql.files.maxPartitionBytes": "4321"}


def test_unknown_setting_on_a_job_is_one_line_and_exit_2(caplog, capsys, tmp_path):
    from jobs import generate_feeds

    argv = ["--env", "test", "--set", f"data_root={tmp_path}", "--set", "generator.member=5000"]
    assert generate_feeds.main(argv) == cli.EXIT_USAGE
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == [
        "configuration error: unknown setting 'generator.member' in --set (did you mean generator.members?)"]
    assert not any(r.exc_info for r in caplog.records) and "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("job, setting, message", [
    ("build_gold", "gold.as_of=2026-02-30", "setting 'gold.as_of' in --set gold.as_of must be a date YYYY-MM-DD, "
                                            "got '2026-02-30' (day is out of range for month)"),
    ("generate_feeds", "generator.members=lots", "setting 'generator.members' in --set generator.members must be a "
                                                 "whole number, got 'lots'"),
])
def test_invalid_value_on_a_job_is_one_line_and_exit_2(caplog, capsys, tmp_path, job, setting, message):
    main = importlib.import_module(f"jobs.{job}").main
    assert main(["--env", "test", "--set", f"data_root={tmp_path}", "--set", setting]) == cli.EXIT_USAGE
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [f"configuration error: {message}"]
    assert not any(r.exc_info for r in caplog.records) and "Traceback" not in capsys.readouterr().err


def test_config_error_raised_inside_a_job_exits_2_and_user_error_exits_1(tmp_path, caplog):
    def fails_with(exc):
        def body(args, cfg):
            raise exc
        return cli.run_main("probe", ["--env", "test", "--set", f"data_root={tmp_path}"],
                            cli.parser("probe", "test job"), body)

    assert fails_with(conf.ConfigError("setting 'x' in base.yaml must be y")) == cli.EXIT_USAGE
    assert fails_with(cli.UsageError("--run-date must be YYYY-MM-DD, got 'x'")) == cli.EXIT_USAGE
    assert fails_with(cli.UserError("landing is not empty")) == cli.EXIT_FAILED
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "probe: configuration error: setting 'x' in base.yaml must be y",
        "probe: --run-date must be YYYY-MM-DD, got 'x'",
        "probe failed: landing is not empty"]
