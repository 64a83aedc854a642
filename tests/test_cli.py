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
