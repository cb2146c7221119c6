"""The data passport: export everything the hub holds as an open archive, verify it, forget a strand.

Forgetting a stream forgets what the hub made from it too: its forecasts, anomalies and battery
estimates (``agent.prediction.strands.source_of``) and the forecaster's saved state. Forgetting only a
strand made from a stream erases that stream's forecaster state too (it is learned again from its history).

An export is a zip of JSON Lines and CSV files plus ``manifest.json`` listing each file's sha256
and row count and the audit log's head, so the owner (or any tool) can check it without Hearth.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sqlite3
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from agent.consent import audit, outbox
from agent.consent.gate import Admitted, admit_erasure
from agent.consent.ledger import append_audit, audit_head, published_strands
from agent.consent.strands import check_pattern, matches
from agent.errors import AgentError, ConsentError, See
from agent.prediction.strands import source_of  # pure: no NumPy
from agent.store import forecasts, queries
from agent.store.readings import ReadingsStore
from agent.store.sqlite import read_snapshot, sync_dir, transaction

FORMAT = "hearth-passport/1"
Progress = Callable[[str, int, int], None]

# The ledger's tables, each a JSON Lines file of the archive (the readings file's: queries.export_files).
_LEDGER_TABLES = (
    "grants",
    "revocations",
    "receipts",
    "audit_log",
    "outbox",
    "outbox_set_aside",
    "config_history",
    "intents",
    "intent_offers",
    "labels",
    "label_examples",
    "model_versions",
    "model_running",
    "dp_budget",
)
# Columns exported where not every one is: an adapted version's head is binary and follows from its labels;
# a label's windows are binary too, so they go as hex text (float32 little-endian, count x window x inputs).
_LEDGER_COLUMNS = {
    "model_versions": "model, version, created_at, kept, card",
    "label_examples": "label_id, model, streams, rate, hop, window, inputs, count, starts, hex(data) AS data",
}


def _rows(conn: sqlite3.Connection, sql: str) -> Iterator[dict[str, Any]]:
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    for row in cursor:
        yield {
            n: (v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
            for n, v in zip(names, row, strict=True)
        }


def _count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608 (fixed names)


def export(
    readings: sqlite3.Connection,
    ledger: sqlite3.Connection,
    path: Path,
    *,
    hub_id: str,
    now: float,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the passport archive to ``path`` (0600, atomically); return its manifest.

    Each file is read in one transaction, so the archive is one consistent snapshot of each even while
    a running hub goes on writing (the audit log and its recorded head, above all).
    """
    with read_snapshot(readings), read_snapshot(ledger):
        try:
            return _export(readings, ledger, path, hub_id=hub_id, now=now, progress=progress)
        except OSError as exc:  # no such folder, no permission, a full disk: the file system's, not SQLite's
            raise _unwritable(path, exc) from exc


def _export(
    readings: sqlite3.Connection,
    ledger: sqlite3.Connection,
    path: Path,
    *,
    hub_id: str,
    now: float,
    progress: Progress | None,
) -> dict[str, Any]:
    jobs: list[tuple[str, sqlite3.Connection, str, str, int]] = [
        (f.name, readings, f.sql, f.fmt, f.rows) for f in queries.export_files(readings)
    ]
    for table in _LEDGER_TABLES:
        order = "seq" if table in ("audit_log", "outbox", "outbox_set_aside") else "rowid"
        columns = _LEDGER_COLUMNS.get(table, "*")
        select = f"SELECT {columns} FROM {table} ORDER BY {order}"  # noqa: S608 (fixed table names)
        jobs.append((f"ledger/{table}.jsonl", ledger, select, "jsonl", _count(ledger, table)))
    total = sum(j[4] for j in jobs)
    done = 0
    files: dict[str, dict[str, Any]] = {}
    tmp = path.with_name(path.name + ".partial")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw:
            with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, conn, sql, fmt, _ in jobs:
                    digest = hashlib.sha256()
                    rows = 0
                    with archive.open(name, "w") as member:
                        text = io.TextIOWrapper(member, encoding="utf-8", newline="")
                        first = True
                        for row in _rows(conn, sql):
                            if fmt == "csv":
                                buffer = io.StringIO()
                                if first:
                                    csv.writer(buffer).writerow(list(row))
                                csv.writer(buffer).writerow(list(row.values()))
                                line = buffer.getvalue()
                            else:
                                line = json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n"
                            first = False
                            text.write(line)
                            digest.update(line.encode())
                            rows += 1
                            done += 1
                            if progress is not None and done % 5000 == 0:
                                progress(name, done, total)
                        text.flush()
                        text.detach()
                    files[name] = {"sha256": digest.hexdigest(), "rows": rows}
                    if progress is not None:
                        progress(name, done, total)
                head = audit_head(ledger)
                manifest = {
                    "format": FORMAT,
                    "hub_id": hub_id,
                    "exported_at": now,
                    "audit_head": {"seq": head[0], "hash": head[1]} if head else None,
                    "files": files,
                    "notes": "readings and rollups as CSV (UTC times), everything else as JSON Lines",
                }
                archive.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
            # On the disk before it takes its name, and its name on the disk before we return: a power
            # cut leaves the finished archive or none, never an empty or torn one.
            _sync(raw)
        _rename_synced(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return manifest


def _unwritable(path: Path, exc: OSError) -> AgentError:
    """The owner's error for an archive that cannot be written at ``path``."""
    reason = exc.strerror or str(exc)
    if not path.parent.is_dir():
        return AgentError(
            f"cannot write the passport to {path}: there is no folder {path.parent}",
            hint="name a file in a folder that exists",
        )
    return AgentError(
        f"cannot write the passport to {path}: {reason}",
        hint="name a file in a folder you can write to, on a disk with room for it",
    )


# What zipfile raises for a member whose bytes were damaged (CRC, deflate stream, header fields).
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError)


def _sync(raw: BinaryIO) -> None:
    raw.flush()
    os.fsync(raw.fileno())


def _rename_synced(tmp: Path, path: Path) -> None:
    os.replace(tmp, path)
    sync_dir(path.parent)


def verify_archive(path: Path) -> list[str]:
    """Problems found in an exported archive: file digests, and the audit chain it carries."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise AgentError(f"{path} is not a passport archive: {exc}") from exc
    problems: list[str] = []
    with archive:
        try:
            manifest = json.loads(archive.read("manifest.json"))
        except (KeyError, ValueError, *_DAMAGED) as exc:
            raise AgentError(f"{path} has no readable manifest.json: {exc}") from exc
        for name, meta in manifest.get("files", {}).items():
            try:
                data = archive.read(name)
            except KeyError:
                problems.append(f"{name} is missing")
                continue
            except _DAMAGED as exc:
                problems.append(f"{name} is damaged: {exc}")
                continue
            if hashlib.sha256(data).hexdigest() != meta["sha256"]:
                problems.append(f"{name} does not match its sha256 in the manifest")
        try:
            lines = archive.read("ledger/audit_log.jsonl").decode().splitlines()
        except KeyError:
            return [*problems, "ledger/audit_log.jsonl is missing"]
        except (*_DAMAGED, UnicodeDecodeError) as exc:
            return [*problems, f"the audit chain cannot be checked: ledger/audit_log.jsonl is damaged: {exc}"]
        try:
            entries = [
                audit.Entry(r["seq"], r["ts"], r["kind"], r["detail"], r["prev_hash"], r["hash"])
                for r in map(json.loads, lines)
            ]
        except (ValueError, KeyError, TypeError) as exc:
            return [*problems, f"ledger/audit_log.jsonl has an unreadable entry: {exc!r}"]
        head = manifest.get("audit_head")
        problems += audit.verify(entries, head=(head["seq"], head["hash"]) if head else None)
    return problems


@dataclass(frozen=True)
class Forgotten:
    """What ``forget`` erased and whom it asked to erase too."""

    streams: list[str]
    readings: int
    rollups: int
    purged_unsent: int
    requests: list[tuple[str, str]]  # (recipient, stream)


def named_by(pattern: str, strand: str) -> bool:
    """True when forgetting ``pattern`` forgets ``strand``: it names it, or the stream it is made from."""
    if matches(pattern, strand):
        return True
    source = source_of(strand)
    return source is not None and matches(pattern, source)


def of_device(device: str, strand: str) -> bool:
    """True when forgetting ``device`` forgets ``strand``: one of its streams, or made from one."""
    source = source_of(strand) or strand
    return source.startswith(f"{device}.")


def matching_streams(store: ReadingsStore, pattern: str) -> list[str]:
    """The streams of the readings file that forgetting ``pattern`` erases (``named_by``)."""
    return [name for name in store.stream_names() if named_by(pattern, name)]


def device_streams(store: ReadingsStore, device: str) -> list[str]:
    """The streams of the readings file that forgetting ``device`` erases (``of_device``)."""
    return [name for name in store.stream_names() if of_device(device, name)]


def received_strands(ledger: sqlite3.Connection, pattern: str) -> set[tuple[str, str]]:
    """(recipient, stream) pairs the audit log shows were published, for strands ``pattern`` forgets."""
    check_pattern(pattern)
    return {(r, s) for r, s in published_strands(ledger) if s is not None and named_by(pattern, s)}


def erase_streams(store: ReadingsStore, names: list[str]) -> tuple[int, int]:
    """The local half of forgetting: ``names`` with their readings, rollups and the forecasters' saved
    state of them and of the streams the derived ones among them were made from (a forecaster holds
    its forecasts' errors), in one transaction; return (readings, rollups) erased."""
    states = sorted({*names, *filter(None, map(source_of, names))})
    return store.forget_streams(names, first=lambda conn: _delete_states(conn, states))


def _delete_states(conn: sqlite3.Connection, names: list[str]) -> None:
    forecasts.delete_states(conn, names)


def queue_erasure(
    ledger: sqlite3.Connection,
    pattern: str,
    local_streams: list[str],
    *,
    hub_id: str,
    prefix: str,
    ttl_s: float,
    cap: int,
    now: float,
) -> Forgotten:
    """The ledger half of forgetting ``pattern``: purge its unsent messages, queue an erasure request to
    each recipient that received it, audit it; one transaction. ``local_streams`` are the matching
    streams of the readings file, erased next (``readings``/``rollups`` are 0 here).

    Ledger first: once the requests are queued and audited, a crash before the local erase is repaired
    by running forget again; the other order could lose the requests.
    """
    received = received_strands(ledger, pattern)
    if not local_streams and not received:
        raise ConsentError(
            f"no stream matches {pattern!r}", hint="{see} lists the streams", see=See("streams")
        )
    requests: list[Admitted] = []
    for recipient, stream in sorted(received):
        verdict = admit_erasure(
            recipient=recipient, stream=stream, received=True, now=now, hub_id=hub_id, prefix=prefix
        )
        if isinstance(verdict, Admitted):
            requests.append(verdict)
    names = sorted(set(local_streams) | {s for _, s in received})
    with transaction(ledger, immediate=True):
        purged = 0
        for name in names:
            purged += outbox.purge_stream(ledger, name)
        outbox.enqueue(ledger, requests, hub_id=hub_id, now=now, ttl_s=ttl_s, cap=cap)
        append_audit(
            ledger,
            [
                (
                    now,
                    "erasure",
                    {
                        "pattern": pattern,
                        "streams": names,
                        "purged_unsent": purged,
                        "requests": [[m.recipient, m.stream] for m in requests],
                    },
                )
            ],
        )
    return Forgotten(names, 0, 0, purged, [(m.recipient, m.stream) for m in requests])


def forget(
    store: ReadingsStore,
    ledger: sqlite3.Connection,
    pattern: str,
    *,
    hub_id: str,
    prefix: str,
    ttl_s: float,
    cap: int,
    now: float,
) -> Forgotten:
    """Forget ``pattern`` in files no recorder is writing: ``queue_erasure``, then the local erase."""
    local = matching_streams(store, pattern)
    queued = queue_erasure(
        ledger, pattern, local, hub_id=hub_id, prefix=prefix, ttl_s=ttl_s, cap=cap, now=now
    )
    readings, rollups = erase_streams(store, queued.streams)
    return replace(queued, readings=readings, rollups=rollups)
