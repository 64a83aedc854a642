"""Support staff taking over a buyer's conversation: its state, its forum topic in the staff
chat, and the transcript of its messages.

One row of ``conversations`` per buyer, reused across requests::

    bot ─request_person→ waiting ─take_over→ taken ─release→ bot
    bot ─take_over→ taken              (staff may take a conversation that did not ask)

``staff_user_id`` and ``staff_name`` name the holder while the state is ``taken``; in the
other states they name the last holder (None when nobody ever took it), so the queue can say
who handled a released conversation. Only ``state == "taken"`` means someone holds it now.

Sessions and transactions
-------------------------
``request_person``, ``take_over`` and ``release`` take the **engine** and run their own
transaction (``catalog_store.orders.write_session``: ``BEGIN IMMEDIATE`` on SQLite, so the
write lock is held from the first statement and concurrent calls queue on the busy timeout;
a plain transaction on PostgreSQL). Each decides by one conditional ``UPDATE``: a take-over is
``UPDATE conversations ... WHERE id = :id AND state != 'taken'``, so of staff members racing
for one conversation exactly one changes the row (on PostgreSQL the others wait on its row
lock and then match nothing); the losers read the row and see who has it.

Everything else takes an ``AsyncSession`` and commits nothing; the caller owns the
transaction, as in ``catalog_store/buyers.py``::

    async with db.session_factory(engine)() as session, session.begin():
        conversation = await get_or_create(session, buyer_id)
        await record(session, conversation.id, direction="in", sender_kind="buyer", ...)

No Telegram here: the bot passes plain ids and strings (a file is its Telegram ``file_id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from catalog_store.models import Buyer, Conversation, Message, Order, utcnow
from catalog_store.orders import write_session

__all__ = [
    "CONTENT_TYPES",
    "DIRECTIONS",
    "FIND_LIMIT",
    "SENDER_KINDS",
    "STATES",
    "ConversationView",
    "MessageView",
    "TakeOverResult",
    "by_topic",
    "clear_topic",
    "find",
    "for_buyer",
    "get",
    "get_or_create",
    "mark_sla_notified",
    "queue",
    "record",
    "release",
    "request_person",
    "set_last_query",
    "set_topic",
    "sla_due",
    "take_over",
    "transcript",
]

STATES = ("bot", "waiting", "taken")
DIRECTIONS = ("in", "out", "note")  # buyer →, → buyer, internal staff note
SENDER_KINDS = ("buyer", "bot", "staff")
# the usual ones; any other name of at most 16 characters is stored as given
CONTENT_TYPES = (
    "text",
    "photo",
    "voice",
    "document",
    "sticker",
    "video",
    "video_note",
    "audio",
    "animation",
    "album",
    "location",
    "contact",
)
FIND_LIMIT = 10

_NAME = 200  # staff_name, sender_name
_TOPIC_NAME = 128  # Telegram's limit for a forum topic's name
_CONTENT_TYPE = 16


@dataclass(frozen=True)
class ConversationView:
    id: int
    buyer_id: int
    state: str  # bot, waiting, taken
    staff_user_id: int | None  # the holder while taken, else the last holder
    staff_name: str | None
    topic_id: int | None
    topic_name: str | None
    requested_at: datetime | None
    taken_at: datetime | None
    released_at: datetime | None
    sla_notified_at: datetime | None
    last_query: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MessageView:
    id: int
    conversation_id: int
    direction: str  # in, out, note
    sender_kind: str  # buyer, bot, staff
    sender_id: int | None
    sender_name: str | None
    content_type: str
    text: str | None
    file_id: str | None
    media_group_id: str | None
    telegram_message_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class TakeOverResult:
    won: bool  # False: someone else holds it (``conversation`` says who)
    conversation: ConversationView


# --- helpers -------------------------------------------------------------------------------

_CONVERSATIONS = Conversation.__table__
_MESSAGES = Message.__table__


def _select_conversations() -> Select[Any]:
    # plain rows of the table, never the session's identity map: a row changed by a
    # conditional UPDATE in the same session is read as it is now
    return select(*_CONVERSATIONS.c)


def _view(row: Any) -> ConversationView:
    values = dict(row._mapping)
    if values["last_query"] is not None:
        values["last_query"] = dict(values["last_query"])
    return ConversationView(**values)


def _message_view(row: Any) -> MessageView:
    return MessageView(**row._mapping)


def _clip(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit]


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT construct with ``on_conflict_do_*``."""
    name = session.get_bind().dialect.name
    if name == "sqlite":
        return sqlite.insert(Conversation)
    if name == "postgresql":
        return postgresql.insert(Conversation)
    raise NotImplementedError(f"conversations: no upsert for the {name} dialect")


async def _ensure(session: AsyncSession, buyer_id: int, now: datetime) -> None:
    """Insert the buyer's conversation (state ``bot``) unless it exists."""
    await session.execute(
        _insert(session)
        .values(buyer_id=buyer_id, state="bot", created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=[Conversation.buyer_id])
    )


async def _one(session: AsyncSession, condition: Any) -> ConversationView | None:
    row = (await session.execute(_select_conversations().where(condition))).one_or_none()
    return None if row is None else _view(row)


async def get(session: AsyncSession, conversation_id: int) -> ConversationView | None:
    """The conversation, or None."""
    return await _one(session, _CONVERSATIONS.c.id == conversation_id)


async def for_buyer(session: AsyncSession, buyer_id: int) -> ConversationView | None:
    """The buyer's conversation, or None when there is none yet (nothing is written)."""
    return await _one(session, _CONVERSATIONS.c.buyer_id == buyer_id)


async def get_or_create(
    session: AsyncSession, buyer_id: int, *, now: datetime | None = None
) -> ConversationView:
    """The buyer's conversation; a new one (state ``bot``) when there is none yet.

    An ``INSERT ... ON CONFLICT DO NOTHING`` and a read: two calls at once for one buyer
    make one row.
    """
    await _ensure(session, buyer_id, now or utcnow())
    view = await for_buyer(session, buyer_id)
    assert view is not None
    return view


# --- state changes (own transactions) ------------------------------------------------------


async def request_person(
    engine: AsyncEngine, buyer_id: int, now: datetime | None = None
) -> ConversationView:
    """The buyer asks for a person: ``bot`` → ``waiting`` (``requested_at`` = now, the SLA
    mark cleared); the conversation is created first when the buyer has none. A conversation
    already waiting or taken is left as it is (asking twice changes nothing). Returns the
    conversation as it is now."""
    now = now or utcnow()
    async with write_session(engine) as session:
        await _ensure(session, buyer_id, now)
        await session.execute(
            update(Conversation)
            .where(Conversation.buyer_id == buyer_id, Conversation.state == "bot")
            .values(state="waiting", requested_at=now, sla_notified_at=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        view = await for_buyer(session, buyer_id)
    assert view is not None
    return view


async def take_over(
    engine: AsyncEngine,
    conversation_id: int,
    staff_user_id: int,
    staff_name: str,
    now: datetime | None = None,
) -> TakeOverResult:
    """``staff_user_id`` takes the conversation (from ``waiting`` or ``bot``).

    One conditional ``UPDATE ... WHERE id = :id AND state != 'taken'``: of several staff
    members at once exactly one wins. A loser gets ``won=False`` and the conversation as it
    is now (the winner's id and name). Taking again a conversation one already holds is a
    win that changes nothing. Raises LookupError for an unknown conversation.
    """
    now = now or utcnow()
    async with write_session(engine) as session:
        result = await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.state != "taken")
            .values(
                state="taken",
                staff_user_id=staff_user_id,
                staff_name=_clip(staff_name, _NAME),
                taken_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        changed = result.rowcount == 1
        view = await get(session, conversation_id)
    if view is None:
        raise LookupError(f"no conversation {conversation_id}")
    won = changed or (view.state == "taken" and view.staff_user_id == staff_user_id)
    return TakeOverResult(won=won, conversation=view)


async def release(
    engine: AsyncEngine,
    conversation_id: int,
    staff_user_id: int | None,
    now: datetime | None = None,
    force: bool = False,
) -> ConversationView | None:
    """Hand a taken conversation back to the bot: ``taken`` → ``bot`` (``released_at`` =
    now). Only its holder may, or anyone with ``force=True`` (an admin; ``staff_user_id`` may
    then be None). Returns the conversation as it is now, or None when nothing changed (not
    taken, held by someone else, unknown)."""
    now = now or utcnow()
    conditions = [Conversation.id == conversation_id, Conversation.state == "taken"]
    if not force:
        if staff_user_id is None:
            return None
        conditions.append(Conversation.staff_user_id == staff_user_id)
    async with write_session(engine) as session:
        result = await session.execute(
            update(Conversation)
            .where(*conditions)
            .values(state="bot", released_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            return None
        return await get(session, conversation_id)


# --- in the caller's transaction -----------------------------------------------------------


async def set_topic(
    session: AsyncSession, conversation_id: int, topic_id: int, topic_name: str | None
) -> None:
    """Remember the forum topic of the conversation in the staff chat."""
    await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(topic_id=topic_id, topic_name=_clip(topic_name, _TOPIC_NAME))
        .execution_options(synchronize_session=False)
    )


async def clear_topic(session: AsyncSession, conversation_id: int) -> None:
    """Forget the conversation's topic (it was deleted): the next relay opens a new one."""
    await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(topic_id=None, topic_name=None)
        .execution_options(synchronize_session=False)
    )


async def record(
    session: AsyncSession,
    conversation_id: int,
    *,
    direction: str,
    sender_kind: str,
    sender_id: int | None,
    sender_name: str | None,
    content_type: str,
    text: str | None,
    file_id: str | None = None,
    media_group_id: str | None = None,
    telegram_message_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Add a message to the transcript; its id. The conversation's ``updated_at`` moves to
    ``now`` (the queue lists recent conversations by it).

    ``direction``: in (from the buyer), out (to the buyer), note (internal, among staff);
    ``sender_kind``: buyer, bot or staff; ``content_type``: text, photo, voice, document,
    sticker, video, audio, animation, album, ... (1-16 characters); ``text``: the text or
    the caption. Raises ValueError for an unknown direction or sender kind.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction: one of {DIRECTIONS}, not {direction!r}")
    if sender_kind not in SENDER_KINDS:
        raise ValueError(f"sender_kind: one of {SENDER_KINDS}, not {sender_kind!r}")
    if not content_type or len(content_type) > _CONTENT_TYPE:
        raise ValueError(f"content_type: 1 to {_CONTENT_TYPE} characters, not {content_type!r}")
    now = now or utcnow()
    message_id = await session.scalar(
        _MESSAGES.insert()
        .values(
            conversation_id=conversation_id,
            direction=direction,
            sender_kind=sender_kind,
            sender_id=sender_id,
            sender_name=_clip(sender_name, _NAME),
            content_type=content_type,
            text=text,
            file_id=file_id,
            media_group_id=media_group_id,
            telegram_message_id=telegram_message_id,
            created_at=now,
        )
        .returning(_MESSAGES.c.id)
    )
    await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    assert message_id is not None
    return int(message_id)


async def transcript(
    session: AsyncSession, conversation_id: int, limit: int | None = None
) -> list[MessageView]:
    """The conversation's messages, oldest first; with ``limit``, the last ``limit`` of them."""
    columns = _MESSAGES.c
    statement = select(*columns).where(columns.conversation_id == conversation_id)
    if limit is None:
        rows = await session.execute(statement.order_by(columns.created_at, columns.id))
        return [_message_view(row) for row in rows]
    if limit <= 0:
        return []
    rows = await session.execute(
        statement.order_by(columns.created_at.desc(), columns.id.desc()).limit(limit)
    )
    return [_message_view(row) for row in reversed(rows.all())]


async def set_last_query(
    session: AsyncSession,
    buyer_id: int,
    query_json: dict[str, Any],
    *,
    now: datetime | None = None,
) -> None:
    """Keep the buyer's last parsed query (JSON-safe) for staff; creates the conversation
    (state ``bot``) when the buyer has none. ``updated_at`` is left alone."""
    now = now or utcnow()
    stmt = _insert(session).values(
        buyer_id=buyer_id, state="bot", last_query=query_json, created_at=now, updated_at=now
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Conversation.buyer_id],
            set_={"last_query": stmt.excluded.last_query},
        )
    )


async def by_topic(session: AsyncSession, topic_id: int) -> ConversationView | None:
    """The conversation whose forum topic is ``topic_id``, or None."""
    row = (
        await session.execute(
            _select_conversations()
            .where(_CONVERSATIONS.c.topic_id == topic_id)
            .order_by(_CONVERSATIONS.c.updated_at.desc(), _CONVERSATIONS.c.id.desc())
            .limit(1)
        )
    ).one_or_none()
    return None if row is None else _view(row)


async def queue(session: AsyncSession, recent: int = 20) -> list[ConversationView]:
    """What staff should look at: every waiting conversation (the oldest request first),
    then every taken one (the longest held first), then up to ``recent`` conversations back
    with the bot that have a topic (the most recently active first)."""
    c = _CONVERSATIONS.c
    waiting = await session.execute(
        _select_conversations().where(c.state == "waiting").order_by(c.requested_at, c.id)
    )
    taken = await session.execute(
        _select_conversations().where(c.state == "taken").order_by(c.taken_at, c.id)
    )
    views = [_view(row) for row in waiting] + [_view(row) for row in taken]
    if recent > 0:
        released = await session.execute(
            _select_conversations()
            .where(c.state == "bot", c.topic_id.is_not(None))
            .order_by(c.updated_at.desc(), c.id.desc())
            .limit(recent)
        )
        views += [_view(row) for row in released]
    return views


async def find(
    session: AsyncSession, text: str, *, now: datetime | None = None
) -> list[ConversationView]:
    """Conversations for a staff search, at most ``FIND_LIMIT``: the buyer of the order whose
    number is ``text`` (exact; letters may be typed in lower case) first, then buyers whose
    first name or username contains ``text`` (case-insensitive; a leading ``@`` is ignored),
    the most recently seen first. A buyer found without a conversation gets one (state
    ``bot``), so every result can be taken over: the caller commits."""
    needle = text.strip()
    if not needle:
        return []
    now = now or utcnow()
    buyer_ids: list[int] = []
    order_buyer = await session.scalar(
        select(Order.buyer_id).where(Order.number.in_(sorted({needle, needle.upper()}))).limit(1)
    )
    if order_buyer is not None:
        buyer_ids.append(order_buyer)
    name = needle.removeprefix("@") or needle
    matches = await session.scalars(
        select(Buyer.id)
        .where(
            or_(
                Buyer.first_name.icontains(name, autoescape=True),
                Buyer.username.icontains(name, autoescape=True),
            )
        )
        .order_by(Buyer.last_seen_at.desc(), Buyer.id)
        .limit(FIND_LIMIT)
    )
    buyer_ids += [b for b in matches if b not in buyer_ids]
    buyer_ids = buyer_ids[:FIND_LIMIT]
    if not buyer_ids:
        return []
    for buyer_id in buyer_ids:
        await _ensure(session, buyer_id, now)
    rows = await session.execute(
        _select_conversations().where(_CONVERSATIONS.c.buyer_id.in_(buyer_ids))
    )
    by_buyer = {row.buyer_id: _view(row) for row in rows}
    return [by_buyer[b] for b in buyer_ids]


async def sla_due(session: AsyncSession, now: datetime, minutes: float) -> list[ConversationView]:
    """Waiting conversations requested at least ``minutes`` before ``now`` whose delay was
    not reported yet (``sla_notified_at`` is null), the oldest request first."""
    c = _CONVERSATIONS.c
    rows = await session.execute(
        _select_conversations()
        .where(
            c.state == "waiting",
            c.requested_at <= now - timedelta(minutes=minutes),
            c.sla_notified_at.is_(None),
        )
        .order_by(c.requested_at, c.id)
    )
    return [_view(row) for row in rows]


async def mark_sla_notified(session: AsyncSession, conversation_id: int, now: datetime) -> bool:
    """Record that staff were told the conversation waits too long; True when this call
    marked it (False: already marked, no longer waiting, or unknown), so of two workers
    only one reports. A new request clears the mark (``request_person``)."""
    result = await session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            Conversation.state == "waiting",
            Conversation.sla_notified_at.is_(None),
        )
        .values(sla_notified_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)
