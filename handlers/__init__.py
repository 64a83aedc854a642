"""aiogram routers, one per feature; thin: read input, call the domain, render."""

from __future__ import annotations

from aiogram import Router


def feature_routers() -> list[Router]:
    """Fresh routers in the order they see an update (the fallback last)."""
    from handlers import (
        assistance,
        errors,
        fallback,
        offer_card,
        ordering,
        orders,
        search,
        staff,
        start,
    )

    # orders first: a deep link /start <token> is a factory binding, not a greeting;
    # ordering before assistance and search: typed text in a step is that step's answer
    # staff first: nothing in the staff chat is a buyer's message
    modules = (errors, staff, orders, start, ordering, assistance, search, offer_card, fallback)
    return [module.build_router() for module in modules]
