"""Button payloads: aiogram ``CallbackData`` factories with short integer keys.

Callback data must stay under 64 bytes, so buttons carry small integers (a stored search's
id, an offer's key from ``offer_keys``, a page or option number), never catalog ids or query
text. Anything that does not unpack into one of these is a forged or outdated button and is
answered by the fallback router.
"""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class Refine(StrEnum):
    price = "p"  # a price band: option = band number
    price_clear = "px"  # drop the price limits
    dropship = "d"  # toggle drop-ship only
    super_factory = "s"  # toggle 超级工厂 only
    category = "c"  # a category from the clarifying question: option = its number
    all_categories = "a"  # show every category anyway
    alternative = "n"  # the nearest alternative offered on an empty result: option = number


class ExampleCB(CallbackData, prefix="ex"):
    n: int  # which example query (locale list)


class PageCB(CallbackData, prefix="pg"):
    s: int  # stored search id
    p: int  # page, 0-based


class RefineCB(CallbackData, prefix="rf"):
    s: int
    a: Refine
    o: int = 0


class OfferCB(CallbackData, prefix="of"):
    k: int  # offer key (catalog_store.offer_keys)
    s: int = 0  # the search it was opened from (0: none)


class HumanCB(CallbackData, prefix="hm"):
    """Ask for a person (offered on an empty result)."""
