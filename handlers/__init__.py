"""aiogram routers, one per feature; thin: read input, call the domain, render."""

from __future__ import annotations

from aiogram import Router


def feature_routers() -> list[Router]:
    """Fresh routers in the order they see an update (the fallback last)."""
    from handlers import assistance, errors, fallback, offer_card, search, start

    return [
        module.build_router()
        for module in (errors, start, assistance, search, offer_card, fallback)
    ]
