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


class StartOrderCB(CallbackData, prefix="so"):
    """Start a workflow (by its name, our own short slug) on an offer (by its key)."""

    k: int
    w: str


class StepCB(CallbackData, prefix="st"):
    r: int  # workflow run id
    i: int  # the step index the button belongs to (older buttons are stale)
    a: str  # sku, skp (a page of variants), done, tog, back, cancel, saved, rok, redo, place
    o: int = 0


class ResumeCB(CallbackData, prefix="rs"):
    r: int  # an unfinished run to go back to


class OrderCB(CallbackData, prefix="od"):
    n: int  # order id
    a: str = "v"  # v view, c cancel, d delivered; factory: ok, no, paid, ship, car (o=carrier)
    o: int = 0


class StaffCB(CallbackData, prefix="sf"):
    """Staff buttons in the staff chat: t take over, r release, o open (card in its topic)."""

    c: int  # conversation id
    a: str
