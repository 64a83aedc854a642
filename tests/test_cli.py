"""The ``sourcing-bot`` command as a user runs it: exit codes, messages, files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests.catalog_samples import catalog, write_catalog


def test_import_stats_export(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_catalog(tmp_path / "cat")
    assert main(["catalog", "import", str(source)]) == 0
    captured = capsys.readouterr()
    assert "offers:    3 new, 0 changed, 0 unchanged, 0 rejected" in captured.out
    assert captured.err == ""  # not a terminal: no progress bar, nothing on stderr
    assert (data_dir / "sourcing.db").is_file()

    assert main(["catalog", "import", str(source)]) == 0
    assert "offers:    0 new, 0 changed, 3 unchanged" in capsys.readouterr().out

    assert main(["catalog", "stats"]) == 0
    out = capsys.readouterr().out
    assert "3 factories, 3 offers" in out
    for word in ("女装", "配饰", "家居日用", "义乌", "永康", "super_factory"):
        assert word in out

    assert main(["catalog", "export", str(tmp_path / "out.zip")]) == 0
    assert "wrote 3 factories and 3 offers" in capsys.readouterr().out
    assert (tmp_path / "out.zip").stat().st_size > 0


def test_refused_import_exits_1_and_says_why(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    factories, offers = catalog()
    offers[1]["price_tiers"][0]["price"] = -59
    assert main(["catalog", "import", str(write_catalog(tmp_path / "c", factories, offers))]) == 1
    err = capsys.readouterr().err
    assert "offers.jsonl:2 (id o-dress-1): price_tiers[0].price" in err
    assert "nothing imported" in err and "database is unchanged" in err

    assert main(["catalog", "stats"]) == 0
    assert "0 offers" in capsys.readouterr().out


def test_partial_import_writes_a_report(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    factories, offers = catalog()
    del offers[2]["title"]
    assert (
        main(
            [
                "catalog",
                "import",
                "--partial",
                str(write_catalog(tmp_path / "c", factories, offers)),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    reports = list((data_dir / "import-reports").glob("rejected-*.jsonl"))
    assert len(reports) == 1 and str(reports[0]) in out.replace("\n", "")
    entry = json.loads(reports[0].read_text(encoding="utf-8"))
    assert (entry["line"], entry["field"], entry["error"]) == (
        3,
        "title",
        "required key is missing",
    )


def test_unreadable_source(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["catalog", "import", str(tmp_path / "nowhere")]) == 1
    assert "cannot import" in capsys.readouterr().err


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("sourcing-bot")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "catalog" in done.stdout


def test_factory_link_prints_a_one_time_start_link(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    assert main(["catalog", "import", str(write_catalog(tmp_path / "cat"))]) == 0
    factory_id = "f-yiwu-1"  # in tests/catalog_samples.py
    capsys.readouterr()
    assert main(["factory", "link", factory_id]) == 0
    plain = capsys.readouterr().out.strip()
    assert plain.startswith("/start ") and len(plain.split()[1]) >= 16
    monkeypatch.setenv("BOT_USERNAME", "sourcing_demo_bot")
    assert main(["factory", "link", factory_id]) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("https://t.me/sourcing_demo_bot?start=")
    assert link.split("=", 1)[1] != plain.split()[1]  # a new token each time
    assert main(["factory", "link", "no-such-factory"]) == 1
    assert "cannot link" in capsys.readouterr().err


def test_workflows_list_and_load(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["workflows", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("dropship v1", "wholesale v1", "sample v1"):
        assert name in out
    spec = {
        "name": "gift_box",
        "version": 1,
        "order_kind": "wholesale",
        "title": {"zh_CN": "礼盒"},
        "requires": ["customization:packaging"],
        "steps": [
            {"kind": "choose_sku"},
            {"kind": "choose_customizations", "settings": {"kinds": ["packaging"]}},
            {"kind": "quantity"},
            {"kind": "recipient"},
            {"kind": "review"},
            {"kind": "confirm"},
        ],
    }
    path = tmp_path / "gift_box.json"
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    assert main(["workflows", "load", str(path)]) == 0
    assert "gift_box v1: stored" in capsys.readouterr().out
    assert main(["workflows", "load", str(path)]) == 0
    assert "already stored" in capsys.readouterr().out
    spec["steps"] = [spec["steps"][i] for i in (1, 0, 2, 3, 4, 5)]  # same version, changed
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    assert main(["workflows", "load", str(path)]) == 1
    assert "give the changed definition a new version" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    spec["steps"] = [{"kind": "fly"}]
    broken.write_text(json.dumps(spec), encoding="utf-8")
    assert main(["workflows", "load", str(broken)]) == 1
    assert "broken.json" in capsys.readouterr().err


def test_ctrl_c_during_a_large_import_leaves_the_store_as_it_was(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C reaches the whole process group, workers included: the import's transaction is
    rolled back, the user is told so, no worker is left behind, the store is unchanged."""
    import os
    import signal
    import time

    from catalog_store.demo_catalog import generate

    assert main(["catalog", "import", str(write_catalog(tmp_path / "small"))]) == 0
    assert main(["catalog", "stats"]) == 0
    before = capsys.readouterr().out.splitlines()[-1:]
    big = tmp_path / "big"
    generate(big, offers=40_000)  # about 55 MB
    store = data_dir / "sourcing.db"
    wal = Path(f"{store}-wal")
    start_size = wal.stat().st_size if wal.exists() else 0
    script = Path(sys.executable).with_name("sourcing-bot")
    started = subprocess.Popen(
        [str(script), "catalog", "import", str(big), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives it
    )
    try:
        deadline = time.monotonic() + 60
        # interrupt once offers are being written (the write-ahead log grows)
        while time.monotonic() < deadline and started.poll() is None:
            if wal.exists() and wal.stat().st_size > start_size + 2_000_000:
                break
            time.sleep(0.02)
        assert started.poll() is None, "the import ended before it could be interrupted"
        os.killpg(started.pid, signal.SIGINT)
        out, err = started.communicate(timeout=60)
    finally:
        if started.poll() is None:
            os.killpg(started.pid, signal.SIGKILL)
    assert started.returncode == 130, err
    assert "interrupted: nothing imported, the database is unchanged" in err
    assert "Traceback" not in out + err

    def group_alive() -> bool:
        try:
            os.killpg(started.pid, 0)
        except ProcessLookupError:
            return False
        return True

    deadline = time.monotonic() + 10
    while group_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not group_alive()  # no worker outlived the import
    assert main(["catalog", "stats"]) == 0
    assert capsys.readouterr().out.splitlines()[-1:] == before
