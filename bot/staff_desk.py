"""The staff desk: a forum topic per buyer in the staff chat, and the relay both ways.

Owns the Telegram side of a takeover: opening (or reusing) the buyer's topic with a summary
card, copying the buyer's messages into it and the owning staff member's messages back,
and recovering when a relay fails: a topic deleted or closed by hand (Telegram sends no
update for that; the next send fails with "message thread not found") gets a new topic
with the transcript so far; a buyer who blocked the bot is reported in the topic. Sends to
the staff group wait their turn under Telegram's group limit (about 20 a minute) instead of
being dropped. The state of each conversation lives in the store
(``catalog_store.conversations``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import TelegramMethod
from aiogram.types import InlineKeyboardMarkup, Message, User
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.settings import Settings
from catalog_store import conversations as desk_store
from catalog_store.conversations import ConversationView
from catalog_store.models import Buyer
from catalog_store.orders import orders_for_buyer
from catalog_store.workflows.engine import active_run
from handlers.callbacks import StaffCB
from handlers.render_order import mask_mobile
from handlers.render_orders import status_name
from handlers.render_search import money
from handlers.text_limits import MESSAGE_LIMIT, clip, fit

log = logging.getLogger(__name__)
T = TypeVar("T")
_THREAD_GONE = ("message thread not found", "topic_deleted", "topic_closed", "thread not found")
LAST_MESSAGES = 10
ALBUM_WAIT_SECONDS = 1.0  # the parts of an album arrive within a moment of each other


class GroupRateLimiter:
    """At most ``per_minute`` sends in any 60 s; callers wait in order (nothing dropped)."""

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.sleep = sleep
        self.sent: deque[float] = deque()
        self.lock = asyncio.Lock()  # FIFO: asyncio locks wake waiters in order

    async def wait_turn(self) -> None:
        async with self.lock:
            while True:
                now = self.clock()
                while self.sent and now - self.sent[0] >= 60:
                    self.sent.popleft()
                if len(self.sent) < self.per_minute:
                    self.sent.append(now)
                    return
                await self.sleep(60 - (now - self.sent[0]))


def _thread_gone(exc: TelegramBadRequest) -> bool:
    text = exc.message.lower()
    return any(sign in text for sign in _THREAD_GONE)


class TranscriptRecorder(BaseRequestMiddleware):
    """Keeps what the bot says to buyers in their transcript (texts and photo captions), so
    the staff card's last messages show both sides. Copies made by the relay are recorded
    by the relay itself, as the staff member's."""

    RECORDED = ("sendMessage", "sendPhoto")

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def __call__(self, make_request: Any, bot: Bot, method: TelegramMethod[Any]) -> Any:
        response = await make_request(bot, method)
        name = method.__api_method__
        chat_id = getattr(method, "chat_id", None)
        if name in self.RECORDED and isinstance(chat_id, int) and chat_id > 0:
            text = getattr(method, "text", None) or getattr(method, "caption", None)
            try:
                async with self.sessions() as session, session.begin():
                    conversation = await desk_store.get_or_create(session, chat_id)
                    await desk_store.record(
                        session, conversation.id, direction="out", sender_kind="bot",
                        sender_id=bot.id, sender_name=None,
                        content_type="photo" if name == "sendPhoto" else "text",
                        text=_plain(text) if isinstance(text, str) else None,
                    )  # fmt: skip
            except Exception:  # the message went out; a lost transcript line must not undo it
                log.exception("could not record the bot's message to %s", chat_id)
        return response


def _plain(text: str) -> str:
    from html import unescape

    return unescape(re.sub(r"<[^>]*>", "", text))


class StaffDesk:
    def __init__(
        self, settings: Settings, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession],
        limiter: GroupRateLimiter | None = None,
    ) -> None:  # fmt: skip
        self.chat_id = settings.staff_chat_id
        self.staff = frozenset(settings.staff_user_ids)
        self.sla_minutes = settings.staff_sla_minutes
        self.engine = engine
        self.sessions = sessions
        self.limiter = limiter or GroupRateLimiter(settings.staff_group_per_minute)
        # an album arrives as one update per picture: gather them, copy them as one album
        self.album_wait = ALBUM_WAIT_SECONDS
        self._albums: dict[tuple[int, str], list[int]] = {}
        self._album_tasks: dict[tuple[int, str], asyncio.Task[None]] = {}

    @property
    def enabled(self) -> bool:
        return self.chat_id is not None and bool(self.staff)

    def is_staff(self, user: User | None) -> bool:
        return user is not None and user.id in self.staff

    def install(self, bot: Bot) -> None:
        """Record the bot's messages to buyers in their transcripts (when the desk is on)."""
        if self.enabled and not any(
            isinstance(m, TranscriptRecorder) for m in bot.session.middleware
        ):
            bot.session.middleware(TranscriptRecorder(self.sessions))

    # --- start-up check ---------------------------------------------------------------------

    async def problems(self, bot: Bot) -> list[str]:
        """What stops the desk from working, in words for the operator (empty: all good)."""
        if self.chat_id is None:
            return ["STAFF_CHAT_ID is not set: requests for a person cannot reach staff"]
        found: list[str] = []
        if not self.staff:
            found.append("STAFF_USER_IDS is empty: nobody may take over a conversation")
        try:
            chat = await bot.get_chat(self.chat_id)
            if not chat.is_forum:
                found.append(f"STAFF_CHAT_ID {self.chat_id} is not a supergroup with topics")
            me = await bot.get_me()
            member = await bot.get_chat_member(self.chat_id, me.id)
            if not getattr(member, "can_manage_topics", False):
                found.append(
                    f"the bot cannot manage topics in {self.chat_id}: make it an administrator "
                    "with the 'Manage topics' right"
                )
        except (TelegramBadRequest, TelegramForbiddenError) as exc:
            found.append(f"the staff chat {self.chat_id} is unreachable: {exc.message}")
        return found

    # --- sending to the staff chat ------------------------------------------------------------

    async def _staff_send(self, call: Callable[[], Awaitable[T]]) -> T:
        await self.limiter.wait_turn()
        return await call()

    async def _open_topic(self, bot: Bot, conversation: ConversationView) -> int:
        async with self.sessions() as session, session.begin():
            buyer = await session.get(Buyer, conversation.buyer_id)
        name = clip(f"{buyer.first_name if buyer else ''} · {conversation.buyer_id}", 120)
        assert self.chat_id is not None
        topic = await self._staff_send(lambda: bot.create_forum_topic(self.chat_id, name))
        async with self.sessions() as session, session.begin():
            await desk_store.set_topic(session, conversation.id, topic.message_thread_id, name)
        return topic.message_thread_id

    async def to_topic(
        self, bot: Bot, conversation: ConversationView,
        send: Callable[[int], Awaitable[Any]],
    ) -> Any:  # fmt: skip
        """``send(thread_id)`` into the buyer's topic, opening one when there is none, and a
        new one (with the transcript so far) when the old one was deleted or closed by hand."""
        thread = conversation.topic_id or await self._open_topic(bot, conversation)
        try:
            return await self._staff_send(lambda: send(thread))
        except TelegramBadRequest as exc:
            if not _thread_gone(exc):
                raise
            log.warning("topic %s of conversation %s is gone; opening a new one", thread,
                        conversation.id)  # fmt: skip
        async with self.sessions() as session, session.begin():
            await desk_store.clear_topic(session, conversation.id)
        fresh = await self._open_topic(bot, conversation)
        await self._staff_send(
            lambda: bot.send_message(
                self.chat_id, _("staff.topic_recreated"), message_thread_id=fresh
            )  # type: ignore[arg-type]
        )
        await self._post_transcript(bot, conversation.id, fresh)
        return await self._staff_send(lambda: send(fresh))

    async def _post_transcript(self, bot: Bot, conversation_id: int, thread: int) -> None:
        async with self.sessions() as session, session.begin():
            lines = await desk_store.transcript(session, conversation_id, limit=50)
        if not lines:
            return
        blocks = [_("staff.transcript")]
        for m in lines:
            body = m.text or f"[{m.content_type}]"
            blocks.append(f"{m.created_at:%m-%d %H:%M} {escape_name(m)}: {_esc(clip(body, 300))}")
        text, _rest = fit([mask_mobiles("\n".join(blocks))], MESSAGE_LIMIT)
        await self._staff_send(
            lambda: bot.send_message(self.chat_id, text, message_thread_id=thread)  # type: ignore[arg-type]
        )

    async def reply(
        self, message: Message, text: str, reply_markup: InlineKeyboardMarkup | None = None
    ) -> None:
        """A reply in the staff chat, in turn under the group limit like every other send."""
        await self._staff_send(lambda: message.reply(text, reply_markup=reply_markup))

    # --- a buyer asks for a person --------------------------------------------------------------

    async def request(self, bot: Bot, user: User) -> ConversationView:
        conversation = await desk_store.request_person(self.engine, user.id)
        card, markup = await self.summary(conversation)
        await self.to_topic(
            bot,
            conversation,
            lambda thread: bot.send_message(
                self.chat_id,
                card,
                message_thread_id=thread,
                reply_markup=markup,  # type: ignore[arg-type]
            ),
        )
        return conversation

    async def summary(self, conversation: ConversationView) -> tuple[str, InlineKeyboardMarkup]:
        """The card staff see first: who, what they searched, where they are, what they said,
        their recent orders (mobiles masked but the last 4 digits)."""
        async with self.sessions() as session:
            async with session.begin():
                buyer = await session.get(Buyer, conversation.buyer_id)
                last = await desk_store.transcript(session, conversation.id, limit=LAST_MESSAGES)
                orders = await orders_for_buyer(session, conversation.buyer_id, limit=3)
            run = await active_run(session, conversation.buyer_id)
        name = buyer.first_name if buyer else str(conversation.buyer_id)
        lines = [
            _("staff.card.head").format(
                name=_esc(name),
                username=_esc("@" + buyer.username) if buyer and buyer.username else "",
                language=_esc(buyer.language_code or "?") if buyer else "?",
                buyer_id=conversation.buyer_id,
            )
        ]
        query = conversation.last_query or {}
        if query:
            lines.append(_("staff.card.query").format(query=_esc(str(query.get("text", "")))))
        if run is not None:
            answers = {k: v for k, v in run.answers.items() if k not in ("recipient_draft",)}
            if isinstance(answers.get("recipient"), dict):
                recipient = dict(answers["recipient"])
                recipient["mobile"] = mask_mobile(recipient.get("mobile"))
                answers["recipient"] = recipient
            lines.append(
                _("staff.card.run").format(
                    workflow=_esc(run.spec.label("zh_CN")),
                    step=run.step_index + 1,
                    kind=run.step.kind.value,
                    answers=_esc(clip(str(answers), 400)),
                )
            )
        if last:
            lines.append(_("staff.card.messages"))
            for m in last:
                body = m.text or f"[{m.content_type}]"
                lines.append(f"  {m.created_at:%H:%M} {escape_name(m)}: {_esc(clip(body, 120))}")
        for order in orders:
            mobile = (order.recipient or {}).get("mobile")
            lines.append(
                _("staff.card.order").format(
                    number=order.number,
                    status=status_name(order.status),
                    total=money(order.total),
                    mobile=mask_mobile(mobile) if mobile else "—",
                )
            )
        text, _rest = fit([mask_mobiles("\n".join(lines))], MESSAGE_LIMIT)
        return text, self.card_markup(conversation)

    def card_markup(self, conversation: ConversationView) -> InlineKeyboardMarkup:
        kb = InlineKeyboardBuilder()
        if conversation.state == "taken":
            kb.button(
                text=_("staff.button.release"), callback_data=StaffCB(c=conversation.id, a="r")
            )
        else:
            kb.button(text=_("staff.button.take"), callback_data=StaffCB(c=conversation.id, a="t"))
        return kb.as_markup()

    # --- the relay -------------------------------------------------------------------------------

    async def buyer_said(self, bot: Bot, message: Message, conversation: ConversationView) -> None:
        """A message of a buyer whose conversation staff took over: into the topic (an
        album's pictures are gathered and copied together, as one album)."""
        assert self.chat_id is not None
        if message.media_group_id:
            key = (message.chat.id, message.media_group_id)
            self._albums.setdefault(key, []).append(message.message_id)
            if key not in self._album_tasks:
                self._album_tasks[key] = asyncio.create_task(
                    self._copy_album(bot, key, conversation)
                )
            return
        await self.to_topic(
            bot,
            conversation,
            lambda thread: bot.copy_message(
                self.chat_id,
                message.chat.id,
                message.message_id,
                message_thread_id=thread,  # type: ignore[arg-type]
            ),
        )

    async def _copy_album(
        self, bot: Bot, key: tuple[int, str], conversation: ConversationView
    ) -> None:
        seen = -1
        while seen != len(self._albums[key]):  # until no new picture came for a moment
            seen = len(self._albums[key])
            await asyncio.sleep(self.album_wait)
        ids = sorted(self._albums.pop(key))
        self._album_tasks.pop(key, None)
        try:
            await self.to_topic(
                bot,
                conversation,
                lambda thread: bot.copy_messages(
                    self.chat_id,
                    key[0],
                    ids,
                    message_thread_id=thread,  # type: ignore[arg-type]
                ),
            )
        except TelegramAPIError as exc:
            # as for a single message: the staff chat cannot be reached, so the buyer goes
            # back to the bot and is told (in their language: the task kept the update's)
            log.warning("album relay to staff failed for buyer %s: %s", key[0], exc)
            await desk_store.release(self.engine, conversation.id, None, force=True)
            await bot.send_message(key[0], _("human.unreachable"))
        except Exception:  # in the background: logged; the pictures are in the transcript
            log.exception("could not copy album %s of buyer %s", key[1], key[0])

    async def drain(self) -> None:
        """Wait for albums still being gathered (tests, shutdown)."""
        while self._album_tasks:
            await asyncio.gather(*list(self._album_tasks.values()))

    async def staff_said(self, bot: Bot, message: Message, conversation: ConversationView) -> bool:
        """The owner's message in the topic: to the buyer. False (and said in the topic) when
        the buyer cannot be reached."""
        try:
            await bot.copy_message(conversation.buyer_id, message.chat.id, message.message_id)
        except TelegramForbiddenError:
            await self.to_topic(
                bot,
                conversation,
                lambda thread: bot.send_message(
                    self.chat_id,
                    _("staff.buyer_blocked"),
                    message_thread_id=thread,  # type: ignore[arg-type]
                ),
            )
            return False
        return True

    async def note(self, bot: Bot, conversation: ConversationView, text: str) -> None:
        """A line from the bot into the topic (a takeover, a release, an SLA)."""
        await self.to_topic(
            bot,
            conversation,
            lambda thread: bot.send_message(self.chat_id, text, message_thread_id=thread),  # type: ignore[arg-type]
        )


_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_mobiles(text: str) -> str:
    """Every mainland mobile in ``text`` as 138****8000 (staff see the last 4 digits only)."""
    return _MOBILE.sub(r"\1****\2", text)


def _esc(text: str) -> str:
    from html import escape

    return escape(text)


def escape_name(message: Any) -> str:
    who = message.sender_name or message.sender_kind
    return _esc(str(who))
