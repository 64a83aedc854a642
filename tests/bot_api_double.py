"""A Bot API server double for tests: real HTTP on 127.0.0.1, no internet.

Not a Bot API implementation: just enough for aiogram's ``AiohttpSession`` and a polling
``Dispatcher`` to talk to it.

* ``POST|GET /bot{token}/{method}`` with multipart/form-data or urlencoded fields (what
  aiogram sends: complex fields JSON-encoded, files as ``attach://`` parts) or a JSON body.
* getMe (a fixed bot user, its id taken from the token), deleteWebhook, getUpdates (long
  polling over the queue ``push_update`` fills, each wait capped at ``max_poll_wait``),
  sendMessage, sendPhoto, editMessageText, editMessageReplyMarkup, answerCallbackQuery,
  sendChatAction, deleteMessage; ``respond(method, result)`` answers any other method.
  Unknown methods get Telegram's 404.
* Every call is recorded in ``calls`` as ``Call(method, params)`` (a 2-tuple) when it
  arrives, failed ones too; ``statuses`` holds the HTTP status of each, in the same order
  (None while unanswered, 0 for a dropped connection). Field values are
  decoded from JSON where they are JSON (``chat_id`` is an int, ``reply_markup`` a dict),
  except free-text fields (``text``, ``caption``, ...), which stay strings; an uploaded
  file appears as an ``Upload`` under the field that referred to it.
* Scripted faults: ``fail_next(method, status=429, retry_after=2)`` (also 403 "bot was
  blocked by the user", 5xx, 400 with a description of your choice) and
  ``disconnect_next(method)`` (the connection is dropped without an answer: a network error
  for the client).

Use::

    async with BotApiDouble() as double:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(double.base_url)))
        double.push_message("ping", user_id=42)
        [params] = await double.wait_for("sendMessage")
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Self

from aiohttp import web
from aiohttp.test_utils import TestServer

__all__ = ["TOKEN", "BotApiDouble", "Call", "Upload"]

TOKEN = "1000001:TEST-token-for-the-bot-api-double"

# fields whose value is free text: never JSON-decoded, so a text "42" stays a string
_TEXT_FIELDS = frozenset(
    {
        "text",
        "caption",
        "callback_query_id",
        "inline_message_id",
        "parse_mode",
        "url",
        "action",
        "emoji",
        "title",
        "description",
        "query",
        "data",
        "name",
        "business_connection_id",
        "message_effect_id",
    }
)

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: something is wrong",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

_MESSAGE_METHODS = frozenset(
    {"sendmessage", "sendphoto", "editmessagetext", "editmessagereplymarkup"}
)


class Call(NamedTuple):
    method: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str | None
    content: bytes


@dataclass
class _Fault:
    status: int | None  # None: drop the connection
    description: str
    retry_after: int | None
    times: int


@dataclass
class _State:
    updates: list[dict[str, Any]] = field(default_factory=list)
    next_update_id: int = 1
    next_message_id: int = 1


class BotApiDouble:
    """A Bot API server double on 127.0.0.1 and a free port; see the module docstring."""

    def __init__(self, *, token: str | None = None, max_poll_wait: float = 0.2) -> None:
        """``token``: when given, other tokens get 401. ``max_poll_wait``: the longest a
        getUpdates waits for an update, whatever its ``timeout`` asks."""
        self.token = token
        self.max_poll_wait = max_poll_wait
        self.calls: list[Call] = []
        self.statuses: list[int | None] = []  # None: not answered yet; 0: dropped
        self._state = _State()
        self._faults: dict[str, list[_Fault]] = {}
        self._results: dict[str, Any] = {}
        self._changed = asyncio.Event()  # set on every call and every pushed update
        self._closing = False
        self._server: TestServer | None = None
        self._file_ids = itertools.count(1)

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._server = TestServer(app, host="127.0.0.1", port=None)
        await self._server.start_server()

    async def close(self) -> None:
        self._closing = True
        self._notify()
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """For ``TelegramAPIServer.from_base`` / TELEGRAM_API_BASE, e.g. http://127.0.0.1:5xxxx"""
        if self._server is None or self._server.port is None:
            raise RuntimeError("BotApiDouble is not started")
        return f"http://127.0.0.1:{self._server.port}"

    # --- scripting -----------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; an ``update_id`` is assigned when missing.
        Returns the update_id."""
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = self._state.next_update_id
        self._state.next_update_id = max(self._state.next_update_id, update["update_id"] + 1)
        self._state.updates.append(update)
        self._notify()
        return int(update["update_id"])

    def push_message(
        self,
        text: str,
        *,
        user_id: int = 42,
        first_name: str = "Li",
        username: str | None = None,
        language_code: str | None = "zh-hans",
        chat_id: int | None = None,
    ) -> int:
        """Queue a text message from a user (in the private chat unless ``chat_id``)."""
        user = _user(user_id, first_name, username, language_code)
        message = {
            "message_id": self._take_message_id(),
            "date": int(time.time()),
            "chat": _chat(chat_id if chat_id is not None else user_id, user),
            "from": user,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.push_update({"message": message})

    def push_callback_query(
        self,
        data: str,
        *,
        user_id: int = 42,
        first_name: str = "Li",
        language_code: str | None = "zh-hans",
        message_id: int = 1,
        message_text: str = "…",
        query_id: str | None = None,
    ) -> int:
        """Queue a button press on a message the bot sent (``message_id``) in a private chat."""
        user = _user(user_id, first_name, None, language_code)
        update_id = self._state.next_update_id
        return self.push_update(
            {
                "update_id": update_id,
                "callback_query": {
                    "id": query_id or f"cbq-{update_id}",
                    "from": user,
                    "chat_instance": f"ci-{user_id}",
                    "data": data,
                    "message": {
                        "message_id": message_id,
                        "date": int(time.time()),
                        "chat": _chat(user_id, user),
                        "from": self.bot_user(),
                        "text": message_text,
                    },
                },
            }
        )

    def fail_next(
        self,
        method: str,
        status: int = 429,
        *,
        retry_after: int = 2,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls of ``method`` fail with ``status``: 429 carries
        ``parameters.retry_after``; 403 says "Forbidden: bot was blocked by the user"."""
        text = description or _DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
        fault = _Fault(
            status=status,
            description=text.format(retry_after=retry_after),
            retry_after=retry_after if status == 429 else None,
            times=times,
        )
        self._faults.setdefault(method.lower(), []).append(fault)

    def disconnect_next(self, method: str, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` are read, recorded and then the connection
        is closed without an answer (the client cannot know whether the call took effect)."""
        fault = _Fault(status=None, description="", retry_after=None, times=times)
        self._faults.setdefault(method.lower(), []).append(fault)

    def respond(self, method: str, result: Any) -> None:
        """Answer ``method`` (one the double does not know) with ``result``."""
        self._results[method.lower()] = result

    # --- inspection ----------------------------------------------------------------------

    def calls_of(self, method: str, *, ok: bool | None = None) -> list[dict[str, Any]]:
        """The params of the recorded calls of ``method``; ``ok``: only answered (True) or
        only failed (False) ones."""
        name = method.lower()
        return [
            call.params
            for call, status in zip(self.calls, self.statuses, strict=True)
            if call.method.lower() == name and (ok is None or (status == 200) == ok)
        ]

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5,  # noqa: ASYNC109 - the helper's documented signature
        *,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` calls of ``method`` (matching ``where``) were recorded;
        returns their params. Raises TimeoutError listing the calls seen."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._changed.clear()
                    found = [p for p in self.calls_of(method) if where is None or where(p)]
                    if len(found) >= count:
                        return found
                    await self._changed.wait()
        except TimeoutError:
            seen = [c.method for c in self.calls if c.method.lower() != "getupdates"]
            raise TimeoutError(
                f"{count} call(s) of {method} not seen within {timeout} s; seen: {seen}"
            ) from None

    @staticmethod
    def bot_user(bot_id: int = 1000001) -> dict[str, Any]:
        return {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Test Bot",
            "username": "test_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    # --- the server ----------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()

    def _take_message_id(self) -> int:
        message_id = self._state.next_message_id
        self._state.next_message_id += 1
        return message_id

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method = request.match_info["method"]
        params = await _read_params(request)
        index = len(self.calls)
        self.calls.append(Call(method, params))
        self.statuses.append(None)
        if self.token is not None and token != self.token:
            return self._answer(index, 401, _error(401, "Unauthorized"))

        faults = self._faults.get(method.lower())
        if faults:
            fault = faults[0]
            fault.times -= 1
            if fault.times <= 0:
                faults.pop(0)
            if fault.status is None:
                self.statuses[index] = 0
                self._notify()
                if request.transport is not None:
                    request.transport.close()
                return web.Response()  # never written: the connection is gone
            body = _error(fault.status, fault.description)
            if fault.retry_after is not None:
                body["parameters"] = {"retry_after": fault.retry_after}
            return self._answer(index, fault.status, body)

        try:
            result = await self._result(method, params, token)
        except _ApiError as exc:
            return self._answer(index, exc.status, _error(exc.status, exc.description))
        return self._answer(index, 200, {"ok": True, "result": result})

    def _answer(self, index: int, status: int, body: dict[str, Any]) -> web.Response:
        self.statuses[index] = status
        self._notify()
        return web.json_response(body, status=status)

    async def _result(self, method: str, params: dict[str, Any], token: str) -> Any:
        name = method.lower()
        if name in self._results:
            return self._results[name]
        if name == "getme":
            head = token.split(":", 1)[0]
            return self.bot_user(int(head) if head.isdigit() else 1000001)
        if name in {"deletewebhook", "answercallbackquery", "sendchataction", "deletemessage"}:
            return True
        if name == "getupdates":
            return await self._get_updates(params)
        if name in _MESSAGE_METHODS:
            if "inline_message_id" in params:
                return True
            if "chat_id" not in params:
                raise _ApiError(400, "Bad Request: chat_id is empty")
            return self._message(name, params, token)
        raise _ApiError(404, "Not Found")

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        wait = min(float(params.get("timeout") or 0), self.max_poll_wait)
        if offset:  # Telegram forgets the updates an offset confirms
            self._state.updates = [u for u in self._state.updates if u["update_id"] >= offset]
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            pending = [u for u in self._state.updates if u["update_id"] >= offset][:limit]
            remaining = deadline - asyncio.get_running_loop().time()
            if pending or remaining <= 0 or self._closing:
                return pending
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()

    def _message(self, name: str, params: dict[str, Any], token: str) -> dict[str, Any]:
        chat_id = params["chat_id"]
        head = token.split(":", 1)[0]
        bot = self.bot_user(int(head) if head.isdigit() else 1000001)
        if isinstance(chat_id, int):
            chat = _chat(chat_id, {"first_name": "Li"})
        else:  # "@channelusername"
            chat = {"id": -1001000000001, "type": "channel", "title": str(chat_id)}
        editing = name.startswith("edit")
        message: dict[str, Any] = {
            "message_id": int(params["message_id"]) if editing else self._take_message_id(),
            "date": int(time.time()),
            "chat": chat,
            "from": bot,
        }
        if editing:
            message["edit_date"] = int(time.time())
        if name in {"sendmessage", "editmessagetext"}:
            message["text"] = params.get("text", "")
        if name == "sendphoto":
            n = next(self._file_ids)
            message["photo"] = [
                {
                    "file_id": f"photo-{n}",
                    "file_unique_id": f"u-photo-{n}",
                    "width": 800,
                    "height": 800,
                }
            ]
            if "caption" in params:
                message["caption"] = params["caption"]
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return message


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _error(status: int, description: str) -> dict[str, Any]:
    return {"ok": False, "error_code": status, "description": description}


def _user(
    user_id: int, first_name: str, username: str | None, language_code: str | None
) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        user["username"] = username
    if language_code:
        user["language_code"] = language_code
    return user


def _chat(chat_id: int, user: dict[str, Any]) -> dict[str, Any]:
    if chat_id > 0:
        chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
        if "username" in user:
            chat["username"] = user["username"]
        return chat
    return {"id": chat_id, "type": "supergroup", "title": "Test group"}


def _decode(key: str, value: str) -> Any:
    if key in _TEXT_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def _read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = {k: _decode(k, v) for k, v in request.query.items()}
    if request.method != "POST" or not request.can_read_body:
        return params
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
        return params
    uploads: dict[str, Upload] = {}
    for key, value in (await request.post()).items():
        if isinstance(value, web.FileField):
            uploads[key] = Upload(value.filename, value.content_type, value.file.read())
        else:
            params[key] = _decode(key, str(value))
    for key, value in list(params.items()):  # "attach://<part>" refers to an uploaded part
        if isinstance(value, str) and value.startswith("attach://"):
            part = value.removeprefix("attach://")
            if part in uploads:
                params[key] = uploads.pop(part)
    params.update(uploads)
    return params
