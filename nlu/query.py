"""The parsed query: the one typed structure that search and the conversation rely on."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer


class Intent(StrEnum):
    search = "search"  # looking for goods (the default when the text names any)
    order_status = "order_status"  # "我的订单到哪了"
    human_agent = "human_agent"  # "转人工": a person, please
    customize = "customize"  # asks about customization without naming goods
    modify = "modify"  # changes an answer already given: "颜色改成红色", "数量改成3"
    help = "help"
    greeting = "greeting"
    cancel = "cancel"
    unknown = "unknown"  # nothing understood (empty, emoji only, noise)


# money leaves as a decimal string ("50.00"), never a float
Price = Annotated[Decimal, PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json")]


class Correction(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    from_: str = Field(alias="from", serialization_alias="from")
    to: str


class ParsedQuery(BaseModel):
    """What a buyer's message means.

    - ``keywords``: normalized search terms, in order, without the words that became slots
      (prices, quantities, colors, sizes, materials, regions, badges, trade phrases).
    - ``category``: the leaf category of the goods when recognized (the last goods word:
      in 连衣裙收纳袋 the bag is what is sold), else None.
    - ``price_min`` / ``price_max``: CNY bounds from the text; ``quantity``: pieces wanted.
    - ``dropship``: 一件代发 asked; ``customization``: kinds from the catalog contract.
    - ``region``: a city (industrial belts and markets name their city); ``badges``: codes.
    - ``corrections``: each typo fix applied, ``{"from", "to"}``; ``tokens``: the segmentation.
    - ``changes``: for ``modify``, which slots the message changes (e.g. ["colors"]).
    """

    model_config = ConfigDict(frozen=True)

    text: str
    normalized: str
    intent: Intent
    keywords: list[str] = Field(default_factory=list)
    category: str | None = None
    colors: list[str] = Field(default_factory=list)
    sizes: list[str] = Field(default_factory=list)
    materials: list[str] = Field(default_factory=list)
    price_min: Price | None = None
    price_max: Price | None = None
    quantity: int | None = None
    dropship: bool = False
    customization: list[str] = Field(default_factory=list)
    region: str | None = None
    badges: list[str] = Field(default_factory=list)
    corrections: list[Correction] = Field(default_factory=list)
    tokens: list[str] = Field(default_factory=list)
    changes: list[str] = Field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)
