"""What every job entrypoint shares: common arguments, logging, and turning expected
failures (bad config, bad input, lake conflicts) into one clear line and an exit code
instead of a traceback."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from loyalty import conf

log = logging.getLogger("loyalty")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_BUSY = 75   # EX_TEMPFAIL: another run of this job holds its lease on the lake; try again later


class UserError(Exception):
    """Bad input or a refused operation: reported as one line, exit code 1."""


class UsageError(Exception):
    """A bad command-line argument (a job's own, e.g. --run-date): one line, exit code 2."""


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("py4j", "urllib3", "alembic", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def parser(job: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=job, description=description)
    p.add_argument("--env", default="local", help="conf/<env>.yaml to merge over base (default: local)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set data_root=/tmp/lake (repeatable)")
    p.add_argument("--conf", dest="spark_conf", action="append", default=[], metavar="SPARK_KEY=VALUE",
                   help="a Spark setting for this run, e.g. --conf spark.eventLog.enabled=true (repeatable; "
                        "same as --set spark.conf.<SPARK_KEY>=VALUE)")
    p.add_argument("--log-level", default="INFO")
    return p


@dataclass
class Report:
    """What a job did, per table: logged as a summary at the end of every run."""
    job: str
    rows: list[dict] = field(default_factory=list)
    ok: bool = True
    started: float = field(default_factory=time.time)

    def add(self, **row) -> None:
        self.rows.append(row)

    def log_summary(self) -> None:
        seconds = time.time() - self.started
        log.info("%s finished in %.1fs: %s", self.job, seconds, "ok" if self.ok else "FAILED")
        if not self.rows:
            return
        keys: list[str] = []
        for row in self.rows:
            keys += [k for k in row if k not in keys]
        widths = {k: max(len(k), *(len(_fmt(r.get(k))) for r in self.rows)) for k in keys}
        log.info("  " + "  ".join(k.ljust(widths[k]) for k in keys))
        for row in self.rows:
            log.info("  " + "  ".join(_fmt(row.get(k)).ljust(widths[k]) for k in keys))


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def run_main(job: str, argv: Sequence[str] | None, p: argparse.ArgumentParser,
             body: Callable[[argparse.Namespace, conf.Config], int],
             expected: tuple[type[BaseException], ...] = (), lease: bool = True) -> int:
    """Parse args, load conf, take the job's lease on the lake (``lease=False`` for a job that
    writes nothing), run ``body``. Bad settings (a ConfigError, also one raised inside the body)
    and bad arguments (UsageError) are one logged line and exit 2; expected failures (UserError,
    LakeError and the job's own ``expected`` types, e.g. no champion model yet) are one logged
    line and exit 1; a live lease held by another run of the job is one line and ``EXIT_BUSY``."""
    args = p.parse_args(argv)
    setup_logging(args.log_level)
    try:
        cfg = conf.load(args.env, args.overrides, spark_conf=args.spark_conf)
    except conf.ConfigError as exc:
        log.error("configuration error: %s", exc)
        return EXIT_USAGE
    from loyalty.lake import LeaseTakenError
    from loyalty.lake import lease as hold_lease
    try:
        if not lease:
            return body(args, cfg)
        with hold_lease(cfg, job):
            return body(args, cfg)
    except LeaseTakenError as exc:
        log.error("%s not started: %s", job, exc)
        return EXIT_BUSY
    except conf.ConfigError as exc:
        log.error("%s: configuration error: %s", job, exc)
        return EXIT_USAGE
    except UsageError as exc:
        log.error("%s: %s", job, exc)
        return EXIT_USAGE
    except (UserError, *expected) as exc:
        log.error("%s failed: %s", job, exc)
        return EXIT_FAILED
    except Exception as exc:  # lake conflicts and the like carry their own clear message
        from loyalty.lake import LakeError  # local import: lake pulls in deltalake
        if isinstance(exc, LakeError):
            log.error("%s failed: %s", job, exc)
            return EXIT_FAILED
        raise
