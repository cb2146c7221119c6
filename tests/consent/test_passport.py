"""Passport: export then verify, tampering detected, forget erases locally and asks recipients to erase."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import cli
from agent.consent import outbox
from agent.consent.ledger import verify_audit
from agent.consent.passport import export, forget, verify_archive
from agent.sync.summariser import Summariser

from .conftest import T0, LocalHub


def _summarise_and_ack(hub: LocalHub) -> None:
    """Summarise and pretend the broker acknowledged every queued message."""
    Summariser(hub.ledger, hub.store.conn, hub_id="test-hub", prefix="hearth/v1", ttl_s=86400, cap=1000).step(
        T0 + 100
    )
    rows = outbox.next_batch(hub.ledger, after=0, limit=1000, now=T0 + 100)
    outbox.acknowledged(hub.ledger, rows, now=T0 + 101)


def test_export_then_verify(hub: LocalHub, tmp_path: Path) -> None:
    hub.record("living_room.temperature", [(T0 + i, 20.0 + i / 10) for i in range(40)])
    hub.grant("coop", ["living_room.temperature"], "summary:10s")
    _summarise_and_ack(hub)
    archive = tmp_path / "passport.zip"
    seen: list[int] = []
    manifest = export(
        hub.store.conn,
        hub.ledger,
        archive,
        hub_id="test-hub",
        now=T0 + 200,
        progress=lambda _n, d, _t: seen.append(d),
    )
    assert archive.stat().st_mode & 0o077 == 0
    assert seen
    assert seen[-1] == sum(f["rows"] for f in manifest["files"].values())
    assert verify_archive(archive) == []
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        readings_csv = z.read("readings/readings.csv").decode().splitlines()
        grants = [json.loads(line) for line in z.read("ledger/grants.jsonl").decode().splitlines()]
        receipts = [json.loads(line) for line in z.read("ledger/receipts.jsonl").decode().splitlines()]
    assert {"manifest.json", "ledger/audit_log.jsonl", "readings/streams.jsonl"} <= names
    assert len(readings_csv) == 41  # header + every reading
    assert grants[0]["recipient"] == "coop"
    assert json.loads(receipts[0]["document"])["services"][0]["purposes"][0]["thirdPartyName"] == "coop"


def test_an_export_beside_a_running_hub_is_one_snapshot(hub: LocalHub, tmp_path: Path) -> None:
    """The hub goes on auditing while the archive is written: the archive's log and head still agree."""
    from agent.store.ledger import open_ledger

    hub.record("living_room.temperature", [(T0 + i, 20.0) for i in range(40)])
    hub.grant("coop", ["living_room.temperature"], "summary:10s")
    export_ledger = open_ledger(hub.data_dir, read_only=True)

    def meanwhile(name: str, _done: int, _total: int) -> None:
        if name == "ledger/audit_log.jsonl":  # the hub audits a grant between two tables of the export
            hub.grant("other", ["living_room.temperature"], "summary:10s")

    archive = tmp_path / "passport.zip"
    export(hub.store.conn, export_ledger, archive, hub_id="test-hub", now=T0, progress=meanwhile)
    assert verify_archive(archive) == []
    with zipfile.ZipFile(archive) as z:
        grants = z.read("ledger/grants.jsonl").decode().splitlines()
    assert len(grants) == 1  # the grant given during the export is not half in it
    assert len(list(hub.ledger.execute("SELECT * FROM grants"))) == 2
    export_ledger.close()


def test_an_edited_audit_row_is_detected(hub: LocalHub, tmp_path: Path) -> None:
    hub.record("living_room.temperature", [(T0 + i, 20.0) for i in range(40)])
    hub.grant("coop", ["living_room.temperature"], "summary:10s")
    _summarise_and_ack(hub)
    assert verify_audit(hub.ledger) == []
    hub.ledger.execute(
        "UPDATE audit_log SET detail = replace(detail, '\"coop\"', '\"someone-else\"') WHERE kind = 'publish'"
        " AND seq = (SELECT min(seq) FROM audit_log WHERE kind = 'publish')"
    )
    problems = verify_audit(hub.ledger)
    assert any("was edited" in p for p in problems)
    archive = tmp_path / "p.zip"
    export(hub.store.conn, hub.ledger, archive, hub_id="test-hub", now=T0 + 200)
    assert any("was edited" in p for p in verify_archive(archive))


def test_a_removed_audit_row_is_detected(hub: LocalHub) -> None:
    hub.grant("coop", ["living_room.temperature"], "summary:10s")
    hub.grant("coop", ["kitchen.*"], "summary:10s")
    hub.ledger.execute("DELETE FROM audit_log WHERE seq = 1")
    assert any("missing" in p or "does not follow" in p for p in verify_audit(hub.ledger))
    hub.ledger.execute("DELETE FROM audit_log")
    assert any("removed from the end" in p for p in verify_audit(hub.ledger))


def test_a_tampered_archive_file_is_detected(hub: LocalHub, tmp_path: Path) -> None:
    hub.record("living_room.temperature", [(T0 + i, 20.0) for i in range(5)])
    archive = tmp_path / "p.zip"
    export(hub.store.conn, hub.ledger, archive, hub_id="test-hub", now=T0)
    tampered = tmp_path / "t.zip"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "readings/readings.csv":
                data = data.replace(b"20.0", b"25.0")
            dst.writestr(item, data)
    assert verify_archive(tampered) == ["readings/readings.csv does not match its sha256 in the manifest"]


def _flipped(archive: Path, at: int, to: Path) -> Path:
    data = bytearray(archive.read_bytes())
    data[at] ^= 0x01
    to.write_bytes(bytes(data))
    return to


def _verify_cli(archive: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["passport", "verify", "--archive", str(archive)])
    # Anything but a clean exit (an exception escaping the command) would be a traceback for the owner.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output


def test_a_flipped_byte_in_an_archive_fails_verification_without_a_traceback(
    hub: LocalHub, tmp_path: Path
) -> None:
    hub.record("living_room.temperature", [(T0 + i, 20.0 + i) for i in range(30)])
    hub.grant("coop", ["living_room.temperature"], "summary:10s")
    _summarise_and_ack(hub)
    archive = tmp_path / "p.zip"
    export(hub.store.conn, hub.ledger, archive, hub_id="test-hub", now=T0 + 200)
    with zipfile.ZipFile(archive) as z:
        member = z.getinfo("ledger/audit_log.jsonl")
    # One byte inside the audit log's compressed data (past its 30-byte local header, name and extra).
    data_at = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra) + 2
    code, out = _verify_cli(_flipped(archive, data_at, tmp_path / "bad.zip"))
    assert code == 1
    assert "failed verification" in out
    assert "ledger/audit_log.jsonl is damaged" in out

    size = archive.stat().st_size
    failed = 0
    for at in range(0, size, max(1, size // 300)):
        code, out = _verify_cli(_flipped(archive, at, tmp_path / "bad.zip"))
        assert code in (0, 1), out
        if code == 1:
            failed += 1
            assert "error:" in out
    assert failed > 0


def test_forget_removes_every_reading_and_queues_erasure_requests(hub: LocalHub) -> None:
    hub.record("living_room.temperature", [(T0 + i, 20.0) for i in range(40)])
    hub.record("living_room.humidity", [(T0 + i, 40.0) for i in range(40)])
    hub.grant("coop", ["living_room.temperature"], "summary:10s")
    hub.grant("other", ["living_room.humidity"], "summary:10s")
    _summarise_and_ack(hub)
    hub.store.conn.execute(
        "INSERT INTO rollups SELECT id, 60, 0, 1, 1, 1, 1 FROM streams WHERE name = 'living_room.temperature'"
    )
    result = forget(
        hub.store,
        hub.ledger,
        "living_room.temperature",
        hub_id="test-hub",
        prefix="hearth/v1",
        ttl_s=86400,
        cap=1000,
        now=T0 + 300,
    )
    assert result.readings == 40
    assert result.rollups == 1
    assert result.requests == [("coop", "living_room.temperature")]
    assert hub.store.count_readings("living_room.temperature") == 0
    assert hub.store.count_readings("living_room.humidity") == 40
    assert hub.store.conn.execute(
        "SELECT count(*) FROM streams WHERE name LIKE '%temperature'"
    ).fetchone() == (0,)
    [row] = outbox.next_batch(hub.ledger, after=0, limit=10, now=T0 + 300)
    assert row.topic == "hearth/v1/test-hub/coop/_erasure"
    assert json.loads(row.payload)["stream"] == "living_room.temperature"
    kinds = [k for (k,) in hub.ledger.execute("SELECT kind FROM audit_log ORDER BY seq")]
    assert kinds[-1] == "erasure"
    assert verify_audit(hub.ledger) == []


def test_cli_consent_and_passport_round_trip(tmp_path: Path) -> None:
    config = tmp_path / "hearth.toml"
    config.write_text(f'[hub]\nid = "cli-hub"\ndata_dir = "{tmp_path / "data"}"\n')
    runner = CliRunner()
    hub = LocalHub(tmp_path / "data")
    hub.record("living_room.temperature", [(T0 + i, 20.0) for i in range(5)])
    hub.close()
    out = runner.invoke(
        cli,
        [
            "consent",
            "grant",
            "-c",
            str(config),
            "--recipient",
            "coop",
            "--purpose",
            "heating advice",
            "--strand",
            "living_room.temperature",
            "--granularity",
            "summary:1h",
            "--expires",
            "30d",
        ],
    )
    assert out.exit_code == 0, out.output
    grant_id = out.output.split()[1].rstrip(":")
    listing = runner.invoke(cli, ["consent", "list", "-c", str(config)])
    assert "active" in listing.output
    receipt = runner.invoke(cli, ["consent", "receipt", "-c", str(config), grant_id])
    assert json.loads(receipt.output)["grantId"] == grant_id
    revoked = runner.invoke(cli, ["consent", "revoke", "-c", str(config), grant_id])
    assert "revoked" in revoked.output
    again = runner.invoke(cli, ["consent", "revoke", "-c", str(config), grant_id])
    assert again.exit_code == 1
    assert "already revoked" in again.output
    exported = runner.invoke(cli, ["passport", "export", "-c", str(config), str(tmp_path / "p.zip")])
    assert exported.exit_code == 0, exported.output
    verified = runner.invoke(
        cli, ["passport", "verify", "-c", str(config), "--archive", str(tmp_path / "p.zip")]
    )
    assert "intact" in verified.output
    forgot = runner.invoke(cli, ["forget", "-c", str(config), "living_room.temperature"])
    assert "5 readings" in forgot.output
    status = runner.invoke(cli, ["sync", "status", "-c", str(config)])
    assert "nothing leaves this hub" in status.output


def test_an_export_to_a_folder_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "hearth.toml"
    config.write_text(f'[hub]\nid = "cli-hub"\ndata_dir = "{tmp_path / "data"}"\n')
    LocalHub(tmp_path / "data").close()
    target = tmp_path / "no-such-folder" / "p.zip"
    exported = CliRunner().invoke(cli, ["passport", "export", "-c", str(config), str(target)])
    assert exported.exit_code == 1, exported.output
    assert f"cannot write the passport to {target}: there is no folder {target.parent}" in exported.output
    assert "hint: name a file in a folder that exists" in exported.output
    assert not isinstance(exported.exception, OSError)


def test_forgetting_a_glob_says_what_it_names_and_wants_a_yes(tmp_path: Path) -> None:
    config = tmp_path / "hearth.toml"
    config.write_text(f'[hub]\nid = "cli-hub"\ndata_dir = "{tmp_path / "data"}"\n')
    hub = LocalHub(tmp_path / "data")
    hub.record("living_room.temperature", [(T0 + i, 20.0) for i in range(5)])
    hub.record("kitchen.power", [(T0 + i, 5.0) for i in range(5)])
    hub.close()
    runner = CliRunner()
    refused = runner.invoke(cli, ["forget", "-c", str(config), "*"])
    assert refused.exit_code == 1
    assert "names 2 strands: kitchen.power, living_room.temperature" in refused.output
    assert "--yes" in refused.output
    done = runner.invoke(cli, ["forget", "-c", str(config), "*", "--yes"])
    assert done.exit_code == 0, done.output
    assert "erased kitchen.power, living_room.temperature: 10 readings" in done.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--granularity", "hourly"], "unknown granularity"),
        (["--granularity", "raw"], "explicitly"),
        (["--granularity", "summary:1h", "--expires", "soon"], "invalid --expires"),
        (["--granularity", "events"], "names no context strand"),
        (["--strand", "living_room", "--granularity", "summary:1h"], "names no stream"),
    ],
)
def test_cli_refuses_bad_grants_clearly(tmp_path: Path, args: list[str], message: str) -> None:
    config = tmp_path / "hearth.toml"
    config.write_text(f'[hub]\nid = "cli-hub"\ndata_dir = "{tmp_path / "data"}"\n')
    out = CliRunner().invoke(
        cli,
        [
            "consent",
            "grant",
            "-c",
            str(config),
            "--recipient",
            "coop",
            "--purpose",
            "p",
            "--strand",
            "a.b",
            *args,
        ],
    )
    assert out.exit_code == 1
    assert message in out.output
    assert "Traceback" not in out.output
