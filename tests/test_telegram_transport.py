"""bot.telegram_transport against the Bot API double: real HTTP on 127.0.0.1, no internet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, Message
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from bot.telegram_transport import FloodControl, blocked_marker, build_bot, retry_safe
from catalog_store import db
from catalog_store.buyers import is_blocked, upsert_buyer
from catalog_store.models import Buyer
from tests.bot_api_double import TOKEN, BotApiDouble, Upload

USER = 5_000_000_042


class Sleeps(list[float]):
    """An injected sleep that records the waits instead of waiting."""

    async def __call__(self, delay: float) -> None:
        self.append(delay)


@pytest.fixture
async def double() -> AsyncIterator[BotApiDouble]:
    async with BotApiDouble() as running:
        yield running


def _settings(double: BotApiDouble, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "bot_token": SecretStr(TOKEN),
        "telegram_api_base": double.base_url,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def make_bot(double: BotApiDouble, sleeps: Sleeps) -> AsyncIterator[Callable[..., Bot]]:
    bots: list[Bot] = []

    def make(on_blocked: Callable[[int], Awaitable[None]] | None = None, **settings: object) -> Bot:
        bot = build_bot(_settings(double, **settings), on_blocked=on_blocked, sleep=sleeps)
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        await bot.session.close()


# --- build_bot ------------------------------------------------------------------------------


async def test_telegram_api_base_from_the_environment_reaches_the_double(
    double: BotApiDouble, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE", double.base_url + "/")
    bot = build_bot(Settings())
    try:
        me = await bot.get_me()
    finally:
        await bot.session.close()
    assert (me.id, me.username, me.is_bot) == (1000001, "test_bot", True)
    assert [c.method for c in double.calls] == ["getMe"]


def test_without_a_token_build_bot_says_so(double: BotApiDouble) -> None:
    with pytest.raises(ValueError, match="BOT_TOKEN is not set"):
        build_bot(_settings(double, bot_token=None))
    with pytest.raises(ValueError, match="BOT_TOKEN is not set"):
        build_bot(_settings(double, bot_token=SecretStr("  ")))


async def test_defaults_html_and_no_link_previews(
    double: BotApiDouble, make_bot: Callable[..., Bot]
) -> None:
    bot = make_bot()
    sent = await bot.send_message(USER, "<b>hi</b> https://example.com")
    assert isinstance(sent, Message)
    assert sent.chat.id == USER
    [params] = double.calls_of("sendMessage")
    assert params["chat_id"] == USER
    assert params["parse_mode"] == "HTML"
    assert params["link_preview_options"] == {"is_disabled": True}


async def test_build_bot_installs_one_flood_control_with_the_configured_retries(
    double: BotApiDouble,
) -> None:
    session = AiohttpSession()
    build_bot(_settings(double, flood_retries=5), session=session)
    bot = build_bot(_settings(double, flood_retries=7), session=session)
    try:
        controls = [m for m in bot.session.middleware if isinstance(m, FloodControl)]
        assert [c.retries for c in controls] == [7]
    finally:
        await bot.session.close()


# --- flood control (429) --------------------------------------------------------------------


async def test_a_429_is_waited_out_and_the_message_sent_once(
    double: BotApiDouble, make_bot: Callable[..., Bot], sleeps: Sleeps
) -> None:
    bot = make_bot()
    double.fail_next("sendMessage", 429, retry_after=2)
    sent = await bot.send_message(USER, "hello")
    assert sent.text == "hello"
    assert sleeps == [2]
    assert len(double.calls_of("sendMessage", ok=False)) == 1
    assert [p["text"] for p in double.calls_of("sendMessage", ok=True)] == ["hello"]


async def test_more_429s_than_retries_reraise(
    double: BotApiDouble, make_bot: Callable[..., Bot], sleeps: Sleeps
) -> None:
    bot = make_bot(flood_retries=2)
    double.fail_next("sendMessage", 429, retry_after=3, times=3)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(USER, "hello")
    assert caught.value.retry_after == 3
    assert sleeps == [3, 3]
    assert len(double.calls_of("sendMessage")) == 3
    assert double.calls_of("sendMessage", ok=True) == []


async def test_no_retries_configured_means_no_wait(
    double: BotApiDouble, make_bot: Callable[..., Bot], sleeps: Sleeps
) -> None:
    bot = make_bot(flood_retries=0)
    double.fail_next("sendMessage", 429, retry_after=1)
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(USER, "hello")
    assert sleeps == []


# --- blocked (403) ----------------------------------------------------------------------------


async def test_a_403_reports_the_user_and_is_not_retried(
    double: BotApiDouble, make_bot: Callable[..., Bot], sleeps: Sleeps
) -> None:
    reported: list[int] = []

    async def on_blocked(user_id: int) -> None:
        reported.append(user_id)

    bot = make_bot(on_blocked)
    double.fail_next("sendMessage", 403)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER, "hello")
    assert reported == [USER]
    assert len(double.calls_of("sendMessage")) == 1
    assert sleeps == []


async def test_a_403_in_a_group_reports_nobody(
    double: BotApiDouble, make_bot: Callable[..., Bot]
) -> None:
    reported: list[int] = []

    async def on_blocked(user_id: int) -> None:
        reported.append(user_id)

    bot = make_bot(on_blocked)
    double.fail_next("sendMessage", 403, description="Forbidden: bot was kicked from the group")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(-100123, "hello")
    assert reported == []


async def test_a_failing_callback_does_not_hide_the_403(
    double: BotApiDouble, make_bot: Callable[..., Bot], caplog: pytest.LogCaptureFixture
) -> None:
    async def on_blocked(user_id: int) -> None:
        raise RuntimeError("database is down")

    bot = make_bot(on_blocked)
    double.fail_next("sendMessage", 403, description="Forbidden: user is deactivated")
    with pytest.raises(TelegramForbiddenError, match="user is deactivated"):
        await bot.send_message(USER, "hello")
    assert "on_blocked" in caplog.text


async def test_blocked_marker_marks_the_buyer_in_the_store(
    double: BotApiDouble, make_bot: Callable[..., Bot], engine: AsyncEngine
) -> None:
    factory = db.session_factory(engine)
    async with factory() as session, session.begin():
        await upsert_buyer(session, USER, "Li", "li_w", "zh-hans")
    bot = make_bot(blocked_marker(factory))
    double.fail_next("sendMessage", 403)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(USER, "hello")
    async with factory() as session:
        assert await is_blocked(session, USER)
        buyer = await session.get(Buyer, USER)
    assert buyer is not None
    assert buyer.blocked_at is not None
    assert buyer.first_name == "Li"
    assert len(double.calls_of("sendMessage")) == 1


async def test_blocked_marker_swallows_database_errors(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    marker = blocked_marker(db.session_factory(engine))
    await engine.dispose()
    async with engine.begin() as conn:
        await conn.run_sync(Buyer.__table__.drop)  # type: ignore[attr-defined]
    await marker(USER)  # no exception
    assert f"could not mark buyer {USER} as blocked" in caplog.text


# --- server and network errors --------------------------------------------------------------


def test_retry_safe_methods() -> None:
    for name in ("getMe", "getUpdates", "editMessageText", "answerCallbackQuery", "setMyCommands"):
        assert retry_safe(name), name
    for name in ("sendMessage", "sendPhoto", "forwardMessage", "deleteMessage", "copyMessage"):
        assert not retry_safe(name), name


async def test_a_server_error_on_an_edit_is_retried_with_backoff(
    double: BotApiDouble, make_bot: Callable[..., Bot], sleeps: Sleeps
) -> None:
    bot = make_bot()
    double.fail_next("editMessageText", 502, times=3)
    edited = await bot.edit_message_text(text="new", chat_id=USER, message_id=7)
    assert isinstance(edited, Message)
    assert (edited.message_id, edited.text) == (7, "new")
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(double.calls_of("editMessageText")) == 4


async def test_server_errors_beyond_the_retries_reraise(
    double: BotApiDouble, make_bot: Callable[..., Bot], sleeps: Sleeps
) -> None:
    bot = make_bot(flood_retries=1)
    double.fail_next("editMessageText", 500, times=2)
    with pytest.raises(TelegramServerError):
        await bot.edit_message_text(text="new", chat_id=USER, message_id=7)
    assert sleeps == [0.5]


async def test_a_server_error_on_send_message_is_not_retried(
    double: BotApiDouble, make_bot: Callable[..., Bot], sleeps: Sleeps
) -> None:
    bot = make_bot()
    double.fail_next("sendMessage", 500)
    with pytest.raises(TelegramServerError):
        await bot.send_message(USER, "hello")
    assert len(double.calls_of("sendMessage")) == 1
    assert sleeps == []


async def test_a_dropped_connection_on_send_message_is_not_retried(
    double: BotApiDouble, make_bot: Callable[..., Bot], sleeps: Sleeps
) -> None:
    bot = make_bot()
    double.disconnect_next("sendMessage")
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(USER, "hello")
    assert len(double.calls_of("sendMessage")) == 1
    assert sleeps == []


async def test_a_dropped_connection_on_answer_callback_query_is_retried(
    double: BotApiDouble, make_bot: Callable[..., Bot], sleeps: Sleeps
) -> None:
    bot = make_bot()
    double.disconnect_next("answerCallbackQuery")
    assert await bot.answer_callback_query("cbq-1", text="ok") is True
    assert len(double.calls_of("answerCallbackQuery")) == 2
    assert double.calls_of("answerCallbackQuery", ok=True) == [
        {"callback_query_id": "cbq-1", "text": "ok"}
    ]
    assert sleeps == [0.5]


async def test_a_bad_request_is_raised_unchanged(
    double: BotApiDouble, make_bot: Callable[..., Bot], sleeps: Sleeps
) -> None:
    bot = make_bot()
    double.fail_next("editMessageText", 400, description="Bad Request: message is not modified")
    with pytest.raises(TelegramBadRequest, match="not modified"):
        await bot.edit_message_text(text="same", chat_id=USER, message_id=7)
    assert sleeps == []


# --- the double itself ----------------------------------------------------------------------


async def test_the_double_answers_the_other_methods(
    double: BotApiDouble, make_bot: Callable[..., Bot]
) -> None:
    bot = make_bot()
    photo = await bot.send_photo(
        USER, BufferedInputFile(b"\x89PNG...", filename="p.png"), caption="42"
    )
    assert photo.photo and photo.caption == "42"
    first = await bot.send_message(USER, "a")
    second = await bot.send_message(USER, "b")
    assert photo.message_id < first.message_id < second.message_id
    assert await bot.send_chat_action(USER, "typing") is True
    assert await bot.delete_message(USER, first.message_id) is True
    assert await bot.delete_webhook() is True
    edited = await bot.edit_message_reply_markup(chat_id=USER, message_id=second.message_id)
    assert isinstance(edited, Message)
    [params] = double.calls_of("sendPhoto")
    assert params["caption"] == "42"  # free text stays a string
    assert params["photo"] == Upload("p.png", "application/octet-stream", b"\x89PNG...")
    with pytest.raises(TelegramNotFound):
        await bot.set_my_commands([])  # a method the double does not know
    double.respond("setMyCommands", True)
    assert await bot.set_my_commands([]) is True


# --- polling ----------------------------------------------------------------------------------


async def test_polling_answers_a_message(
    double: BotApiDouble, make_bot: Callable[..., Bot]
) -> None:
    bot = make_bot()
    dp = Dispatcher()

    @dp.message()
    async def pong(message: Message) -> None:
        await message.answer("pong")

    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    try:
        await double.wait_for("getUpdates")
        double.push_message("ping", user_id=USER)
        [params] = await double.wait_for("sendMessage", where=lambda p: p["text"] == "pong")
        assert params["chat_id"] == USER
        await asyncio.wait_for(dp.stop_polling(), 5)
        await asyncio.wait_for(polling, 5)
    finally:
        if not polling.done():
            polling.cancel()
    assert polling.exception() is None
    assert len(double.calls_of("sendMessage")) == 1


async def test_the_double_takes_json_bodies_and_confirms_updates_by_offset() -> None:
    async with BotApiDouble(token=TOKEN) as double, aiohttp.ClientSession() as http:
        url = f"{double.base_url}/bot{TOKEN}"
        async with http.post(f"{url}/sendMessage", json={"chat_id": 7, "text": "42"}) as resp:
            body = await resp.json()
        assert body["ok"] and body["result"]["chat"]["id"] == 7
        assert double.calls_of("sendMessage") == [{"chat_id": 7, "text": "42"}]
        async with http.post(f"{double.base_url}/bot1:wrong/getMe") as resp:
            assert resp.status == 401

        first = double.push_message("a")
        second = double.push_message("b")
        async with http.post(f"{url}/getUpdates", data={"timeout": "30"}) as resp:
            updates = (await resp.json())["result"]
        assert [u["update_id"] for u in updates] == [first, second]
        async with http.post(f"{url}/getUpdates", data={"offset": str(second)}) as resp:
            updates = (await resp.json())["result"]
        assert [u["update_id"] for u in updates] == [second]
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with http.post(
            f"{url}/getUpdates", data={"offset": str(second + 1), "timeout": "30"}
        ) as resp:
            assert (await resp.json())["result"] == []
        assert loop.time() - started < 2  # capped at max_poll_wait, not 30 s
        async with http.post(f"{url}/getUpdates", data={"offset": "0"}) as resp:
            assert (await resp.json())["result"] == []  # confirmed updates are gone
        assert double.statuses[-1] == 200
