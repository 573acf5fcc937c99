"""Job leases (lib/loyalty/lake/lease.py): one live run per job and lake, expiry of a crashed
run's lease, heartbeats, and the oldest start that bounds vacuum."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from loyalty import lake
from loyalty.lake import leases


def _lease_file(cfg, job):
    return os.path.join(leases.lease_dir(cfg), f"{job}.lease")


def test_a_second_holder_is_refused_until_the_first_releases(cfg):
    with lake.lease(cfg, "ingest_bronze") as first:
        assert os.path.exists(first.path)
        with pytest.raises(lake.LeaseTakenError, match=r"ingest_bronze is already running .*pid %d" % os.getpid()):
            leases.acquire(cfg, "ingest_bronze")
        with lake.lease(cfg, "build_silver"):          # another job's lease is independent
            assert {h["job"] for h in leases.live(cfg)} == {"ingest_bronze", "build_silver"}
    assert not os.path.exists(first.path)
    with lake.lease(cfg, "ingest_bronze"):
        pass
    assert leases.live(cfg) == []


def test_the_lease_of_a_crashed_process_on_this_host_is_taken_over(cfg):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    os.makedirs(leases.lease_dir(cfg), exist_ok=True)
    body = {"job": "ingest_bronze", "owner": "crashed-run", "pid": dead.pid, "host": leases.socket.gethostname(),
            "started": time.time(), "renewed": time.time(), "ttl": 600}
    with open(_lease_file(cfg, "ingest_bronze"), "w") as out:
        json.dump(body, out)
    with lake.lease(cfg, "ingest_bronze") as mine:
        assert json.load(open(mine.path))["owner"] == mine.owner


def test_a_lease_not_renewed_within_its_ttl_expires(cfg):
    os.makedirs(leases.lease_dir(cfg), exist_ok=True)
    body = {"job": "build_silver", "owner": "other-host-run", "pid": 1, "host": "another-host",
            "started": time.time() - 3600, "renewed": time.time() - 30, "ttl": 20}
    with open(_lease_file(cfg, "build_silver"), "w") as out:
        json.dump(body, out)
    with lake.lease(cfg, "build_silver") as mine:
        assert json.load(open(mine.path))["owner"] == mine.owner
    body["renewed"] = time.time()                   # a live holder on another host is respected
    with open(_lease_file(cfg, "build_silver"), "w") as out:
        json.dump(body, out)
    with pytest.raises(lake.LeaseTakenError, match="another-host"):
        leases.acquire(cfg, "build_silver")
    assert leases.oldest_start(cfg) == pytest.approx(body["started"])


def test_the_heartbeat_keeps_a_short_lease_alive(cfg):
    short = cfg.with_overrides(["lake.lease_ttl_seconds=0.6"])
    with lake.lease(short, "recommend") as mine:
        first = json.load(open(mine.path))["renewed"]
        time.sleep(1.5)                              # longer than the ttl: only heartbeats keep it
        body = json.load(open(mine.path))
        assert body["renewed"] > first and body["started"] == pytest.approx(mine.started)
        assert not leases._expired(body, time.time())
        assert not mine.lost


def test_bad_lease_settings_name_the_key(cfg):
    with pytest.raises(leases.ConfigError, match="lake.lease_ttl_seconds"):
        leases.acquire(cfg.with_overrides(["lake.lease_ttl_seconds=0"]), "x")
    with pytest.raises(leases.ConfigError, match="lake.lease_dir"):
        leases.acquire(cfg.with_overrides(["lake.lease_dir=s3://bucket/leases"]), "x")


WRITING_JOBS = ["generate_feeds", "ingest_bronze", "build_silver", "build_gold", "train_segments",
                "score_segments", "train_recommender", "recommend", "build_cross_banner", "maintain_lake"]


@pytest.mark.parametrize("job", WRITING_JOBS)
def test_every_writing_job_refuses_to_start_while_another_run_holds_its_lease(cfg, job, tmp_path, caplog):
    """The overlap tests run ingest_bronze and build_silver twice at once for real; here every
    other writing job, with a live holder in another process on this host, exits EXIT_BUSY before
    it reads or writes anything, and says who holds the lease."""
    import importlib

    from loyalty import cli
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        os.makedirs(leases.lease_dir(cfg), exist_ok=True)
        body = {"job": job, "owner": "other-run-0001", "pid": holder.pid, "host": leases.socket.gethostname(),
                "started": time.time(), "renewed": time.time(), "ttl": 600}
        with open(_lease_file(cfg, job), "w") as out:
            json.dump(body, out)
        module = importlib.import_module(f"jobs.{job}")
        code = module.main(["--env", "test", "--set", f"data_root={cfg['data_root']}"])
        assert code == cli.EXIT_BUSY
        assert f"{job} not started: {job} is already running on this lake (run other-ru, pid {holder.pid}" in caplog.text
        assert sorted(os.listdir(cfg["data_root"])) == ["lake"]          # nothing generated, landed or logged
        assert sorted(os.listdir(os.path.join(cfg["data_root"], "lake"))) == ["_leases"]
        assert json.load(open(_lease_file(cfg, job)))["owner"] == "other-run-0001"   # the holder keeps it
    finally:
        holder.kill()
        holder.wait()
