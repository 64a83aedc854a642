"""The runners: ``run`` long-polls another Bot API server (TELEGRAM_API_BASE), ``chat`` is the
same bot in a terminal; both with the demo catalog in a store of their own."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.app import open_app
from bot.cli import main
from bot.polling import run_polling
from bot.settings import Settings
from catalog_store import db
from tests.bot_api_double import TOKEN, BotApiDouble
from tests.conversation import copy_store, make_demo_template


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_template(tmp_path_factory.mktemp("runner-demo"))[1]


@pytest.fixture
async def settings(template: Path, tmp_path: Path) -> AsyncIterator[Settings]:
    yield copy_store(template, tmp_path / "data")


async def test_run_long_polls_the_bot_api_server_it_is_pointed_at(settings: Settings) -> None:
    async with BotApiDouble() as double:
        double.respond("setMyCommands", True)
        configured = settings.model_copy(
            update={"bot_token": SecretStr(TOKEN), "telegram_api_base": double.base_url}
        )
        engine = db.create_engine(configured.db_url)
        try:
            async with open_app(configured, engine) as app:
                polling = asyncio.create_task(run_polling(app))
                double.push_message("/start", user_id=77, language_code="en")
                double.push_message("连衣裙 一件代发", user_id=77)
                sent = await double.wait_for("sendMessage", count=2, timeout=20)
                await app.dispatcher.stop_polling()
                assert await asyncio.wait_for(polling, 10) == 0
        finally:
            await engine.dispose()
    greeting, results = sent[0], sent[1]
    assert greeting["chat_id"] == 77 and greeting["text"].startswith("Hi Li!")
    assert "1." in results["text"] and "代发" in results["text"]
    menus = double.calls_of("setMyCommands")
    assert {m.get("language_code") for m in menus} == {None, "en"}


def test_run_without_a_token_says_what_to_do(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    assert main(["run"]) == 2
    assert "BOT_TOKEN is not set" in capsys.readouterr().err


def test_chat_talks_in_the_terminal_and_exits_cleanly_at_end_of_input(
    template: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    copy_store(template, data)
    env = {**os.environ, "DATA_DIR": str(data)}
    env.pop("DATABASE_URL", None)
    env.pop("BOT_TOKEN", None)
    lines = "连衣裙 一件代发\n#6\n#1\n!sticker\n#99\n"
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat"],
        input=lines,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "你好，买家" in out  # the greeting after /start
    assert "[1] 1   [2] 2" in out and "下一页 ▶" in out  # numbered buttons
    assert "── bot (edited) ──" in out and "第 2/" in out  # #6 turned the page in place
    assert "批发价" in out  # #1 opened an offer card
    assert "收到贴纸" in out
    assert "there is no button 99" in out
    assert "Traceback" not in out + done.stderr
