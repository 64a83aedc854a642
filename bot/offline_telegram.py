"""Telegram without a network: an in-process Bot API double behind aiogram's session.

``sourcing-bot chat`` runs the real dispatcher and handlers against it, and the tests use it
to drive the bot with real ``Update`` objects. It answers the Bot API methods the bot uses
with the JSON Telegram would send, through aiogram's own response checking, so an error
here becomes the same exception as from Telegram. It keeps every chat's messages (edits
change them in place) and enforces Telegram's rules that a bot can break: 4096 characters
a message, 1024 a caption, 64 bytes of callback data, 100 buttons, well-formed HTML,
"message is not modified", and photos by URL only when the URL "can be fetched" (none can
by default: there is no network).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    AcceptedGiftTypes,
    CallbackQuery,
    Chat,
    Message,
    MessageEntity,
    PhotoSize,
    Sticker,
    Update,
    User,
    Voice,
)

from handlers.text_limits import (
    BUTTONS_LIMIT,
    CALLBACK_DATA_LIMIT,
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    utf16_len,
)

BOT_USER = {"id": 42, "is_bot": True, "first_name": "sourcing-bot", "username": "sourcing_bot"}
_ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "tg-spoiler", "span", "blockquote", "tg-emoji",
}  # fmt: skip


class _EntityCheck(HTMLParser):
    """Telegram's HTML rules: known tags, properly nested; returns the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED_TAGS:
            self.problem = f'unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problem = f'unmatched end tag "{tag}"'
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def visible_text(text: str, parse_mode: str | None) -> str:
    """The text a user sees; raises ValueError where Telegram says "can't parse entities"."""
    if parse_mode != "HTML":
        return text
    if re.search(r"<(?![a-zA-Z/])|&(?![a-zA-Z]+;|#\d+;|#x[0-9a-fA-F]+;)", text):
        raise ValueError("can't parse entities: unescaped < or &")
    check = _EntityCheck()
    check.feed(text)
    check.close()
    if check.problem or check.stack:
        raise ValueError(f"can't parse entities: {check.problem or 'unclosed tag'}")
    return "".join(check.text)


@dataclass
class Sent:
    """A message the bot sent, as the chat shows it now."""

    chat_id: int
    message_id: int
    kind: str  # text, photo
    text: str  # visible text (or caption)
    markup: list[list[dict[str, Any]]] = field(default_factory=list)  # inline keyboard rows
    photo: str | None = None
    link_preview: dict[str, Any] | None = None
    edits: int = 0
    deleted: bool = False
    thread_id: int | None = None  # the forum topic it was posted in
    copied_from: tuple[int, int] | None = None  # (chat, message) of a copy's original

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [button for row in self.markup for button in row]


class OfflineTelegram(BaseSession):
    """An aiogram session whose "server" is this object (no network at all)."""

    def __init__(self, fetchable: set[str] | None = None) -> None:
        super().__init__()
        self.fetchable = set(fetchable or ())
        self.sent: list[Sent] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.failures: dict[str, list[tuple[int, str, dict[str, Any] | None]]] = {}
        self.blocked: set[int] = set()  # users who blocked the bot: every send answers 403
        self._message_ids = itertools.count(1)
        self.incoming: dict[tuple[int, int], Message] = {}  # what users sent, for copies
        self.topics: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, thread) -> topic
        self.forums: dict[int, dict[str, Any]] = {}  # chat id -> {"title", "can_manage"}
        self._thread_ids = itertools.count(1000)
        self._update_ids = itertools.count(1)
        self._incoming_ids = itertools.count(100_000)

    # --- what the bot sees ---------------------------------------------------------------

    async def close(self) -> None:
        return None

    async def stream_content(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover
        raise NotImplementedError("the offline double serves no files")
        yield b""

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> TelegramType:
        name = method.__api_method__
        params = {
            key: prepared
            for key, value in method.model_dump(warnings=False).items()
            if (prepared := self.prepare_value(value, bot=bot, files={}, _dumps_json=False))
            is not None
        }
        self.calls.append((name, params))
        status, payload = self._answer(name, params)
        return self.check_response(bot, method, status, json.dumps(payload)).result  # type: ignore[return-value]

    def fail_next(
        self, method: str, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        """Make the next call of ``method`` fail as Telegram would (e.g. 429, 403)."""
        self.failures.setdefault(method, []).append((status, description, parameters))

    def _answer(self, name: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.failures.get(name):
            status, description, parameters = self.failures[name].pop(0)
            body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
            if parameters:
                body["parameters"] = parameters
            return status, body
        handler = getattr(self, f"_do_{name}", None)
        if handler is None:
            return _bad(f"method {name} is not served by the offline double")
        chat = params.get("chat_id")
        if name.startswith("send") and chat is not None and int(chat) in self.blocked:
            return 403, {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            }
        try:
            return 200, {"ok": True, "result": handler(params)}
        except _Forbidden as exc:
            return 403, {"ok": False, "error_code": 403, "description": str(exc)}
        except _ApiError as exc:
            return _bad(str(exc))

    # --- methods -------------------------------------------------------------------------

    def _do_getMe(self, params: dict[str, Any]) -> Any:
        return BOT_USER

    def _do_setMyCommands(self, params: dict[str, Any]) -> Any:
        return True

    def _do_deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    def _do_sendChatAction(self, params: dict[str, Any]) -> Any:
        return True

    def _do_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        if utf16_len(params.get("text") or "") > 200:
            raise _ApiError("MESSAGE_TOO_LONG")
        self.callback_answers.append(params)
        return True

    def _do_sendMessage(self, params: dict[str, Any]) -> Any:
        text = self._visible(params, "text", MESSAGE_LIMIT, "message is too long")
        thread = self._thread(params)
        sent = Sent(
            chat_id=int(params["chat_id"]),
            message_id=next(self._message_ids),
            kind="text",
            text=text,
            markup=self._markup(params),
            link_preview=params.get("link_preview_options"),
            thread_id=thread,
        )
        self.sent.append(sent)
        return self._message_json(sent)

    def _do_sendPhoto(self, params: dict[str, Any]) -> Any:
        photo = str(params.get("photo", ""))
        caption = self._visible(params, "caption", CAPTION_LIMIT, "message caption is too long")
        if photo not in self.fetchable:
            raise _ApiError("Bad Request: failed to get HTTP URL content")
        sent = Sent(
            chat_id=int(params["chat_id"]),
            message_id=next(self._message_ids),
            kind="photo",
            text=caption,
            markup=self._markup(params),
            photo=photo,
        )
        self.sent.append(sent)
        return self._message_json(sent)

    def _do_editMessageText(self, params: dict[str, Any]) -> Any:
        sent = self._find(params)
        if sent.kind != "text":
            raise _ApiError("Bad Request: there is no text in the message to edit")
        text = self._visible(params, "text", MESSAGE_LIMIT, "MESSAGE_TOO_LONG")
        markup = self._markup(params)
        if text == sent.text and markup == sent.markup:
            raise _ApiError(
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message"
            )
        sent.text, sent.markup = text, markup
        sent.link_preview = params.get("link_preview_options")
        sent.edits += 1
        return self._message_json(sent)

    def _do_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        sent = self._find(params)
        markup = self._markup(params)
        if markup == sent.markup:
            raise _ApiError("Bad Request: message is not modified")
        sent.markup = markup
        sent.edits += 1
        return self._message_json(sent)

    def _do_getChat(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        forum = self.forums.get(chat_id)
        if forum is None:
            raise _ApiError("Bad Request: chat not found")
        return {
            "id": chat_id,
            "type": "supergroup",
            "title": forum["title"],
            "is_forum": forum.get("is_forum", True),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            # every flag this aiogram version requires (the set grows with the Bot API)
            "accepted_gift_types": {
                name: False
                for name, spec in AcceptedGiftTypes.model_fields.items()
                if spec.is_required()
            },
        }

    def _do_getChatMember(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        forum = self.forums.get(chat_id)
        if forum is None:
            raise _ApiError("Bad Request: chat not found")
        if int(params["user_id"]) != BOT_USER["id"] or not forum.get("bot_admin", True):
            return {"status": "member", "user": BOT_USER}
        rights = {
            name: True
            for name in (
                "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
                "can_restrict_members", "can_change_info", "can_invite_users",
                "can_post_stories", "can_edit_stories", "can_delete_stories",
                "can_send_welcome_messages",
            )
        }  # fmt: skip
        return {
            "status": "administrator",
            "user": BOT_USER,
            "can_be_edited": False,
            "is_anonymous": False,
            "can_promote_members": False,
            "can_manage_topics": bool(forum.get("can_manage", True)),
            **rights,
        }

    def _do_createForumTopic(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        forum = self.forums.get(chat_id)
        if forum is None:
            raise _ApiError("Bad Request: chat not found")
        if not forum.get("can_manage", True):
            raise _ApiError("Bad Request: not enough rights to create a topic")
        name = str(params.get("name", ""))
        if not 1 <= len(name) <= 128:
            raise _ApiError("Bad Request: TOPIC_TITLE_EMPTY")
        thread = next(self._thread_ids)
        self.topics[(chat_id, thread)] = {"name": name, "closed": False, "deleted": False}
        return {"message_thread_id": thread, "name": name, "icon_color": 7322096}

    def _do_editForumTopic(self, params: dict[str, Any]) -> Any:
        topic = self._topic(int(params["chat_id"]), int(params["message_thread_id"]))
        if params.get("name"):
            topic["name"] = params["name"]
        return True

    def _do_closeForumTopic(self, params: dict[str, Any]) -> Any:
        self._topic(int(params["chat_id"]), int(params["message_thread_id"]))["closed"] = True
        return True

    def _do_reopenForumTopic(self, params: dict[str, Any]) -> Any:
        self._topic(int(params["chat_id"]), int(params["message_thread_id"]))["closed"] = False
        return True

    def _do_copyMessage(self, params: dict[str, Any]) -> Any:
        return {"message_id": self._copy(params, int(params["message_id"]))}

    def _do_copyMessages(self, params: dict[str, Any]) -> Any:
        return [{"message_id": self._copy(params, int(m))} for m in params["message_ids"]]

    def _copy(self, params: dict[str, Any], message_id: int) -> int:
        source_chat = int(params["from_chat_id"])
        original = self.incoming.get((source_chat, message_id))
        if original is None:
            raise _ApiError("Bad Request: message to copy not found")
        thread = self._thread(params)
        target = int(params["chat_id"])
        if target > 0 and target in self.blocked:
            raise _Forbidden("Forbidden: bot was blocked by the user")
        kind = next(
            (k for k in ("photo", "voice", "document", "sticker", "video", "audio", "animation")
             if getattr(original, k) is not None),
            "text",
        )  # fmt: skip
        sent = Sent(
            chat_id=target,
            message_id=next(self._message_ids),
            kind=kind,
            text=original.text or original.caption or "",
            thread_id=thread,
            copied_from=(source_chat, message_id),
        )
        self.sent.append(sent)
        return sent.message_id

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """What a person does by hand; Telegram sends the bot no update about it."""
        self.topics[(chat_id, thread_id)]["deleted"] = True

    def _topic(self, chat_id: int, thread_id: int) -> dict[str, Any]:
        topic = self.topics.get((chat_id, thread_id))
        if topic is None or topic["deleted"]:
            raise _ApiError("Bad Request: message thread not found")
        return topic

    def _thread(self, params: dict[str, Any]) -> int | None:
        thread = params.get("message_thread_id")
        if thread is None:
            return None
        topic = self._topic(int(params["chat_id"]), int(thread))
        if topic["closed"]:
            raise _ApiError("Bad Request: TOPIC_CLOSED")
        return int(thread)

    def _do_deleteMessage(self, params: dict[str, Any]) -> Any:
        self._find(params).deleted = True
        return True

    # --- rules ---------------------------------------------------------------------------

    def _visible(self, params: dict[str, Any], key: str, limit: int, too_long: str) -> str:
        raw = params.get(key) or ""
        try:
            text = visible_text(raw, params.get("parse_mode"))
        except ValueError as exc:
            raise _ApiError(f"Bad Request: {exc}") from None
        if key == "text" and not text.strip():
            raise _ApiError("Bad Request: message text is empty")
        if utf16_len(text) > limit:
            raise _ApiError(f"Bad Request: {too_long}")
        return text

    def _markup(self, params: dict[str, Any]) -> list[list[dict[str, Any]]]:
        markup = params.get("reply_markup")
        if not markup:
            return []
        rows = markup.get("inline_keyboard", [])
        if sum(len(row) for row in rows) > BUTTONS_LIMIT:
            raise _ApiError("Bad Request: reply markup is too long")
        for row in rows:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                    raise _ApiError("Bad Request: BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise _ApiError(
                        "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
        return [list(row) for row in rows]

    def _find(self, params: dict[str, Any]) -> Sent:
        chat_id, message_id = int(params.get("chat_id", 0)), int(params.get("message_id", 0))
        for sent in self.sent:
            if sent.chat_id == chat_id and sent.message_id == message_id and not sent.deleted:
                return sent
        raise _ApiError("Bad Request: message to edit not found")

    def _message_json(self, sent: Sent) -> dict[str, Any]:
        body: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(datetime.now(UTC).timestamp()),
            "chat": {"id": sent.chat_id, "type": "private"}
            if sent.chat_id > 0
            else {"id": sent.chat_id, "type": "supergroup", "title": "staff", "is_forum": True},
            "from": BOT_USER,
        }
        if sent.thread_id is not None:
            body["message_thread_id"] = sent.thread_id
            body["is_topic_message"] = True
        if sent.kind == "photo":
            body["photo"] = [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]
            if sent.text:
                body["caption"] = sent.text
        else:
            body["text"] = sent.text
        if sent.markup:
            body["reply_markup"] = {"inline_keyboard": sent.markup}
        return body

    # --- what a user does ----------------------------------------------------------------

    def chat(self, chat_id: int) -> list[Sent]:
        """The bot's messages in a chat, oldest first (deleted ones left out)."""
        return [s for s in self.sent if s.chat_id == chat_id and not s.deleted]

    def last(self, chat_id: int) -> Sent:
        return self.chat(chat_id)[-1]

    def message_update(self, user: User, text: str | None = None, **content: Any) -> Update:
        """An update carrying a private message from ``user`` (text, sticker=..., photo=...)."""
        message = Message(
            message_id=next(self._incoming_ids),
            date=datetime.now(UTC),
            chat=Chat(id=user.id, type="private", first_name=user.first_name),
            from_user=user,
            text=text,
            **content,
        )
        self.incoming[(user.id, message.message_id)] = message
        return Update(update_id=next(self._update_ids), message=message)

    def group_update(
        self, user: User, chat_id: int, text: str | None = None, thread_id: int | None = None,
        **content: Any,
    ) -> Update:  # fmt: skip
        """A message from ``user`` in a supergroup (in a forum topic when ``thread_id``)."""
        entities = None
        if text and text.startswith("/"):
            command = text.split()[0]
            entities = [MessageEntity(type="bot_command", offset=0, length=len(command))]
        message = Message(
            message_id=next(self._incoming_ids),
            date=datetime.now(UTC),
            chat=Chat(id=chat_id, type="supergroup", title="staff", is_forum=True),
            from_user=user,
            text=text,
            entities=entities,
            message_thread_id=thread_id,
            is_topic_message=thread_id is not None or None,
            **content,
        )
        self.incoming[(chat_id, message.message_id)] = message
        return Update(update_id=next(self._update_ids), message=message)

    def in_thread(self, chat_id: int, thread_id: int) -> list[Sent]:
        """The bot's messages (and copies) in one forum topic, oldest first."""
        return [s for s in self.sent if s.chat_id == chat_id and s.thread_id == thread_id]

    def press_update(self, user: User, sent: Sent, button: int) -> Update:
        """An update for ``user`` pressing the ``button``-th (0-based) button of ``sent``."""
        data = sent.buttons[button].get("callback_data")
        if data is None:
            raise ValueError(f"button {button} is a link, not a callback button")
        return self.callback_update(user, sent, data)

    def callback_update(self, user: User, sent: Sent, data: str) -> Update:
        """A callback query with any ``data`` (also forged data) on message ``sent``."""
        message = Message.model_validate(self._message_json(sent))
        query = CallbackQuery(
            id=str(next(self._incoming_ids)),
            from_user=user,
            chat_instance="offline",
            message=message,
            data=data,
        )
        return Update(update_id=next(self._update_ids), callback_query=query)


class _ApiError(Exception):
    pass


class _Forbidden(Exception):
    pass


def _bad(description: str) -> tuple[int, dict[str, Any]]:
    if not description.startswith("Bad Request"):
        description = f"Bad Request: {description}"
    return 400, {"ok": False, "error_code": 400, "description": description}


def sticker() -> Sticker:
    return Sticker(
        file_id="sticker",
        file_unique_id="sticker",
        type="regular",
        width=512,
        height=512,
        is_animated=False,
        is_video=False,
        emoji="👍",
    )


def photo() -> list[PhotoSize]:
    return [PhotoSize(file_id="photo", file_unique_id="photo", width=640, height=480)]


def voice() -> Voice:
    return Voice(file_id="voice", file_unique_id="voice", duration=3)
