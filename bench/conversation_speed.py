"""Conversation speed: one buyer message to the bot's answer, through the real dispatcher.

    .venv/bin/python bench/conversation_speed.py [--database-url URL] [--queries N]

Each query goes in as a real ``Update`` through the same dispatcher as ``sourcing-bot run``
(middlewares, FSM storage in the store with event isolation, the search, offer keys, the
stored search, rendering) and out to the offline Bot API double, so the time is the bot's
own, with no network. Beside it, in the same run and on the same queries, the baseline:
the search alone (parse + index), so the ratio is what the conversation adds (the buyer's
row, the stored search, FSM writes). Then a page turn and an offer card. Prints medians,
p99 and ratios. Default store: the demo catalog in DATA_DIR (``sourcing-bot demo`` first).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import pct, real_queries
from bot.settings import Settings
from tests.conversation import buyer, conversation


def _ms(values: list[float]) -> str:
    return f"p50 {statistics.median(values) * 1000:7.2f} ms   p99 {pct(values, 99) * 1000:7.2f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    settings = Settings(database_url=args.database_url) if args.database_url else Settings()
    queries = real_queries(args.queries, args.seed)
    async with conversation(settings, user=buyer(90_001)) as talk:
        search = talk.app.search
        assert search.index is not None, "no catalog: run `sourcing-bot demo` first"
        print(f"store: {settings.db_url}  offers indexed: {len(search.index):,}")
        for text in queries[:20]:  # warm caches on both paths
            search.search(text, limit=5)
            await talk.feed(talk.telegram.message_update(talk.user, text))
        alone, whole, pages, cards = [], [], [], []
        for n, text in enumerate(queries):
            talk.user = buyer(100_000 + n % 50)  # 50 buyers, as in a small shop's evening
            start = time.perf_counter()
            search.search(text, limit=5)
            alone.append(time.perf_counter() - start)
            update = talk.telegram.message_update(talk.user, text)
            start = time.perf_counter()
            await talk.feed(update)
            whole.append(time.perf_counter() - start)
            answer = talk.telegram.last(talk.user.id)
            turn = [i for i, b in enumerate(answer.buttons) if b["callback_data"].startswith("pg:")]
            if turn:
                press = talk.telegram.press_update(talk.user, answer, turn[-1])
                start = time.perf_counter()
                await talk.feed(press)
                pages.append(time.perf_counter() - start)
            first = [
                i for i, b in enumerate(answer.buttons) if b["callback_data"].startswith("of:")
            ]
            if first and n % 5 == 0:
                press = talk.telegram.press_update(talk.user, answer, first[0])
                start = time.perf_counter()
                await talk.feed(press)
                cards.append(time.perf_counter() - start)
    print(f"{len(queries)} real queries (../shared/data/taobao-queries.tsv, seed {args.seed})")
    print(f"  search alone (baseline)   {_ms(alone)}")
    print(f"  message → answer          {_ms(whole)}")
    p50 = statistics.median(whole) / statistics.median(alone)
    p99 = pct(whole, 99) / pct(alone, 99)
    print(f"  ratio                     p50 {p50:.1f}x   p99 {p99:.1f}x")
    if pages:
        print(f"  page turn ({len(pages):>4})          {_ms(pages)}")
    if cards:
        print(f"  offer card ({len(cards):>4})         {_ms(cards)}")


if __name__ == "__main__":
    asyncio.run(main())
