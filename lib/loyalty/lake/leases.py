"""Leases: at most one run of a writing job per lake at a time, and a bound for vacuum.

Delta's optimistic concurrency control makes each commit safe, but it cannot stop two runs of
the same job from planning the same work (two ingest runs both taking batch max+1 from one
manifest). So every writing job holds a lease for the job on the lake while it runs:

- ``<lake.lease_dir>/<job>.lease`` (default ``<paths.lake>/_leases``), a small JSON file created
  with O_CREAT|O_EXCL, which is atomic on a local or POSIX-shared file system: of two runs, one
  creates it, the other gets ``LeaseTakenError`` (the job exits with ``EXIT_BUSY``).
- A heartbeat thread rewrites it every ``ttl/3`` seconds. A lease whose heartbeat is older than
  ``lake.lease_ttl_seconds`` (a crashed run), or whose process is gone on this very host, has
  expired: the next run takes it over by renaming it away (rename is atomic: of two runs taking
  over, one wins) and creating its own.
- ``oldest_start()`` is the start of the oldest live lease: vacuum never deletes files younger
  than that, so it cannot remove the files of a write in flight.

On object stores (S3, GCS, ADLS) O_EXCL does not exist: point ``lake.lease_dir`` at a POSIX file
system every driver sees (NFS, EFS, a Databricks volume), or replace ``_create`` with the store's
conditional write (S3 ``If-None-Match: *``, GCS ``ifGenerationMatch=0``, ADLS ``If-None-Match``),
which gives the same create-once guarantee. docs/lake.md says more.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

from loyalty.conf import Config, ConfigError
from loyalty.lake.core import LakeError

log = logging.getLogger(__name__)

SUFFIX = ".lease"
_HELD: set[str] = set()   # owners of the leases this process holds


class LeaseTakenError(LakeError):
    """Another live run holds the lease. The message names the holder and when it expires."""


@dataclass
class Lease:
    job: str
    path: str
    owner: str
    started: float
    ttl: float
    _stop: threading.Event | None = None
    _thread: threading.Thread | None = None
    lost: bool = False


def lease_dir(cfg: Config) -> str:
    where = cfg.get("lake.lease_dir", None) or os.path.join(cfg.typed("paths.lake", str), "_leases")
    if "://" in str(where) and not str(where).startswith("file:"):
        raise ConfigError(f"setting 'lake.lease_dir' ({where}, from {cfg.where('lake.lease_dir')}) must be a local "
                          "or POSIX-shared directory: leases need an atomic create (see docs/lake.md, Leases)")
    return str(where)[len("file:"):] if str(where).startswith("file:") else str(where)


def _ttl(cfg: Config) -> float:
    ttl = cfg.typed("lake.lease_ttl_seconds", (int, float), 600)
    if ttl <= 0:
        raise ConfigError(f"setting 'lake.lease_ttl_seconds' in {cfg.where('lake.lease_ttl_seconds')} must be > 0")
    return float(ttl)


@contextmanager
def hold(cfg: Config, job: str) -> Iterator[Lease]:
    """Hold the lease of ``job`` on this lake for the duration of the block."""
    lease = acquire(cfg, job)
    try:
        yield lease
    finally:
        release(lease)


def acquire(cfg: Config, job: str) -> Lease:
    directory = lease_dir(cfg)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{job}{SUFFIX}")
    ttl = _ttl(cfg)
    lease = Lease(job, path, uuid.uuid4().hex, time.time(), ttl)
    for _ in range(3):
        if _create(path, _body(lease)):
            break
        holder = _read(path)
        if holder is None:     # vanished (released, or taken over) between our two calls
            continue
        if not _expired(holder, time.time()):
            raise LeaseTakenError(
                f"{job} is already running on this lake (run {holder.get('owner', '?')[:8]}, pid {holder.get('pid')} "
                f"on {holder.get('host')}, started {_iso(holder.get('started'))}); its lease {path} expires "
                f"{_iso(holder.get('renewed', 0) + holder.get('ttl', ttl))} unless renewed. Wait for it to finish")
        stale = f"{path}.expired-{lease.owner}"
        try:
            os.rename(path, stale)          # atomic: of two runs taking over, one wins
        except FileNotFoundError:
            continue
        os.unlink(stale)
        log.warning("%s: took over the expired lease of run %s (pid %s on %s, last heartbeat %s)", job,
                    holder.get("owner", "?")[:8], holder.get("pid"), holder.get("host"), _iso(holder.get("renewed")))
    else:
        raise LeaseTakenError(f"{job}: could not take the lease {path} (another run keeps taking it); try again")
    _HELD.add(lease.owner)
    lease._stop = threading.Event()
    lease._thread = threading.Thread(target=_heartbeat, args=(lease,), name=f"lease-{job}", daemon=True)
    lease._thread.start()
    log.info("%s: lease %s taken (run %s, ttl %ds)", job, path, lease.owner[:8], ttl)
    return lease


def release(lease: Lease) -> None:
    _HELD.discard(lease.owner)
    if lease._stop is not None:
        lease._stop.set()
        lease._thread.join(timeout=5)
    holder = _read(lease.path)
    if holder is not None and holder.get("owner") == lease.owner:
        try:
            os.unlink(lease.path)
        except FileNotFoundError:
            pass


def live(cfg: Config, now: float | None = None) -> list[dict]:
    """The leases on this lake that have not expired."""
    directory = lease_dir(cfg)
    now = time.time() if now is None else now
    if not os.path.isdir(directory):
        return []
    out = []
    for entry in sorted(os.listdir(directory)):
        if entry.endswith(SUFFIX):
            holder = _read(os.path.join(directory, entry))
            if holder is not None and not _expired(holder, now):
                out.append(holder)
    return out


def oldest_start(cfg: Config, others_only: bool = True) -> float | None:
    """Start time (epoch seconds) of the oldest live lease, or None. ``others_only`` leaves out the
    leases this process holds (maintain_lake's own lease must not stop its own vacuum)."""
    starts = [float(h.get("started", 0)) for h in live(cfg)
              if not (others_only and h.get("owner") in _HELD)]
    return min(starts) if starts else None


# -- internals ----------------------------------------------------------------------------------
def _body(lease: Lease) -> dict:
    return {"job": lease.job, "owner": lease.owner, "pid": os.getpid(), "host": socket.gethostname(),
            "started": lease.started, "renewed": time.time(), "ttl": lease.ttl}


def _create(path: str, body: dict) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as out:
        json.dump(body, out)
    return True


def _read(path: str) -> dict | None:
    try:
        with open(path) as src:
            text = src.read()
    except FileNotFoundError:
        return None
    try:
        body = json.loads(text)
    except ValueError:   # being written right now (create, then dump): treat as fresh
        return {"owner": "?", "started": time.time(), "renewed": time.time(), "ttl": 60.0}
    return body if isinstance(body, dict) else None


def _expired(holder: dict, now: float) -> bool:
    if now > float(holder.get("renewed", 0)) + float(holder.get("ttl", 0)):
        return True
    if holder.get("host") == socket.gethostname() and holder.get("pid"):
        return not _alive(int(holder["pid"]))
    return False


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _heartbeat(lease: Lease) -> None:
    interval = max(lease.ttl / 3.0, 0.05)
    while not lease._stop.wait(interval):
        holder = _read(lease.path)
        if holder is None or holder.get("owner") != lease.owner:
            lease.lost = True
            log.error("%s: lost the lease %s (another run took it over after a missed heartbeat)", lease.job,
                      lease.path)
            return
        tmp = f"{lease.path}.{lease.owner}.tmp"
        with open(tmp, "w") as out:
            json.dump({**_body(lease), "started": lease.started}, out)
        os.replace(tmp, lease.path)


def _iso(epoch) -> str:
    try:
        return datetime.fromtimestamp(float(epoch), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError):
        return "?"
