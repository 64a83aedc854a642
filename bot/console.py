"""``sourcing-bot chat``: the bot in a terminal, with no Telegram and no network.

The same dispatcher and handlers as ``run``, talking to the offline Bot API double. A typed
line goes to the bot as a message; the bot's messages are printed with their buttons
numbered; ``#3`` presses button 3 of the latest message with buttons (edits show again);
``!sticker``, ``!photo``, ``!voice`` send those kinds of message; end of input exits
with status 0.
"""

from __future__ import annotations

import asyncio
import re
from typing import TextIO

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.types import Update, User

from bot.app import App
from bot.offline_telegram import OfflineTelegram, Sent, photo, sticker, voice

OFFLINE_TOKEN = "42:offline-console-token-no-network"
_PRESS = re.compile(r"#\s*(\d+)")
BANNER = (
    "sourcing-bot chat: type what you need; #N presses button N; "
    "!sticker !photo !voice send those; Ctrl-D (end of input) quits.\n"
)


class Transcript:
    """Prints what the bot sent since the last look; remembers the buttons on screen."""

    def __init__(self, telegram: OfflineTelegram, chat_id: int, out: TextIO) -> None:
        self.telegram = telegram
        self.chat_id = chat_id
        self.out = out
        self.seen: dict[int, int] = {}  # message id -> edits printed
        self.answers = 0
        self.current: Sent | None = None  # the message whose buttons #N presses

    def show_new(self) -> None:
        for answer in self.telegram.callback_answers[self.answers :]:
            if answer.get("text"):
                self.out.write(f"  ⚠ {answer['text']}\n")
        self.answers = len(self.telegram.callback_answers)
        for sent in self.telegram.chat(self.chat_id):
            if self.seen.get(sent.message_id) == sent.edits:
                continue
            edited = sent.message_id in self.seen
            self.seen[sent.message_id] = sent.edits
            self._print(sent, edited)
        self.out.flush()

    def _print(self, sent: Sent, edited: bool) -> None:
        label = "bot (edited)" if edited else "bot"
        self.out.write(f"\n── {label} ──\n")
        if sent.photo:
            self.out.write(f"[picture: {sent.photo}]\n")
        elif sent.link_preview and sent.link_preview.get("url"):
            self.out.write(f"[picture link: {sent.link_preview['url']}]\n")
        self.out.write(sent.text.rstrip() + "\n")
        if sent.markup:
            number = 0
            for row in sent.markup:
                cells = []
                for button in row:
                    number += 1
                    cells.append(f"[{number}] {button['text']}")
                self.out.write("  " + "   ".join(cells) + "\n")
            self.current = sent


def _update_for(
    line: str, user: User, telegram: OfflineTelegram, shown: Transcript
) -> Update | str:
    """The update a typed line stands for, or a message for the person typing."""
    press = _PRESS.fullmatch(line.strip())
    if press:
        if shown.current is None:
            return "(no buttons to press yet)"
        number = int(press.group(1))
        if not 1 <= number <= len(shown.current.buttons):
            return (
                f"(there is no button {number}; the last message has {len(shown.current.buttons)})"
            )
        return telegram.press_update(user, shown.current, number - 1)
    media = {
        "!sticker": {"sticker": sticker()},
        "!photo": {"photo": photo()},
        "!voice": {"voice": voice()},
    }
    if line.strip() in media:
        return telegram.message_update(user, None, **media[line.strip()])
    return telegram.message_update(user, line)


async def run_chat(app: App, stdin: TextIO, stdout: TextIO, user: User) -> int:
    telegram = OfflineTelegram()
    bot = Bot(
        OFFLINE_TOKEN,
        session=telegram,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
    app.attach(bot)
    shown = Transcript(telegram, user.id, stdout)
    stdout.write(BANNER)
    await app.dispatcher.feed_update(bot, telegram.message_update(user, "/start"))
    shown.show_new()
    while True:
        stdout.write("\n> ")
        stdout.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line:  # end of input
            stdout.write("\n")
            break
        update = _update_for(line.rstrip("\n"), user, telegram, shown)
        if isinstance(update, str):
            stdout.write(update + "\n")
            continue
        await app.dispatcher.feed_update(bot, update)
        shown.show_new()
    await app.dispatcher.storage.close()
    return 0
