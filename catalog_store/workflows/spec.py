"""Workflow definitions: the data that says which steps an order goes through.

A definition is JSON (``definitions/*.json`` ship three: ``dropship``, ``wholesale``,
``sample``); ``install`` loads definitions into the store (``workflow_definitions``), where
runs find them by name and version. A new workflow (say ``custom_packaging``) is a new JSON
file and ``sourcing-bot workflows load FILE``: no code changes.

The step kinds, and their settings:

``choose_sku``               the variant (color, size) by buttons. ``multi`` (bool, default
                             false): several variants in one order (混批), each with its own
                             quantity.
``choose_customizations``    the offer's customization options to add, by toggles; always
                             skippable. ``kinds`` (list): only these kinds are offered
                             (default: all but ``sample``).
``quantity``                 pieces per chosen variant, typed; checked against the MOQ (混批
                             across variants when the offer allows it), stock minus open
                             reservations, and each chosen customization's ``min_qty``.
                             ``max`` (int): an upper bound (a sample order's few pieces).
``recipient``                where it goes: one pasted block (name, mobile, address) or field
                             by field; saved recipients offered again. ``whose``: ``customer``
                             (drop-ship: the seller's customer) or ``buyer``.
``options``                  yes/no extras from a known set. ``choices`` (list): ``no_trace``
                             (无痕代发: no factory name or price slip in the parcel).
``review``                   the full price breakdown, lead time and ship-by date.
``confirm``                  places the order, exactly once.

``requires`` says when a workflow applies to an offer: ``dropship`` (the offer drop-ships),
``sample`` (it has a ``sample`` option), ``customization:<kind>`` (it has an option of that
kind).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from catalog_store.catalog_format import CUSTOMIZATION_KINDS

DEFINITIONS_DIR = Path(__file__).with_name("definitions")
OPTION_CHOICES = ("no_trace",)


class StepKind(StrEnum):
    choose_sku = "choose_sku"
    choose_customizations = "choose_customizations"
    quantity = "quantity"
    recipient = "recipient"
    options = "options"
    review = "review"
    confirm = "confirm"


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChooseSkuSettings(_Settings):
    multi: bool = False


class CustomizationSettings(_Settings):
    kinds: list[str] | None = None

    @field_validator("kinds")
    @classmethod
    def _known(cls, kinds: list[str] | None) -> list[str] | None:
        unknown = sorted(set(kinds or ()) - set(CUSTOMIZATION_KINDS))
        if unknown:
            raise ValueError(f"unknown customization kinds {unknown}")
        return kinds


class QuantitySettings(_Settings):
    max: int | None = Field(default=None, ge=1)


class RecipientSettings(_Settings):
    whose: Literal["customer", "buyer"] = "buyer"


class OptionsSettings(_Settings):
    choices: list[str] = Field(default_factory=list)

    @field_validator("choices")
    @classmethod
    def _known(cls, choices: list[str]) -> list[str]:
        unknown = sorted(set(choices) - set(OPTION_CHOICES))
        if unknown:
            raise ValueError(f"unknown options {unknown}; known: {list(OPTION_CHOICES)}")
        return choices


class NoSettings(_Settings):
    pass


SETTINGS: dict[StepKind, type[_Settings]] = {
    StepKind.choose_sku: ChooseSkuSettings,
    StepKind.choose_customizations: CustomizationSettings,
    StepKind.quantity: QuantitySettings,
    StepKind.recipient: RecipientSettings,
    StepKind.options: OptionsSettings,
    StepKind.review: NoSettings,
    StepKind.confirm: NoSettings,
}


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: StepKind
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _settings_fit_the_kind(self) -> Step:
        SETTINGS[self.kind].model_validate(self.settings)
        return self

    def parsed_settings(self) -> Any:
        return SETTINGS[self.kind].model_validate(self.settings)


class WorkflowSpec(BaseModel):
    """One workflow definition, as stored and as written in its JSON file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    version: int = Field(ge=1)
    order_kind: Literal["dropship", "wholesale", "sample"]  # how it is priced (the contract)
    title: dict[str, str]
    requires: list[str] = Field(default_factory=list)
    steps: list[Step]

    @model_validator(mode="after")
    def _well_formed(self) -> WorkflowSpec:
        kinds = [step.kind for step in self.steps]
        if not kinds or kinds[-1] != StepKind.confirm or kinds.count(StepKind.confirm) != 1:
            raise ValueError("a workflow ends with exactly one confirm step")
        if StepKind.review not in kinds:
            raise ValueError("a workflow shows a review before confirm")
        for needed in (StepKind.choose_sku, StepKind.quantity, StepKind.recipient):
            if needed not in kinds:
                raise ValueError(f"a workflow needs a {needed} step")
        if len(set(kinds)) != len(kinds):
            raise ValueError("each step kind at most once")
        if kinds.index(StepKind.choose_sku) > kinds.index(StepKind.quantity):
            raise ValueError("choose_sku comes before quantity")
        if kinds.index(StepKind.review) != len(kinds) - 2:
            raise ValueError("review comes right before confirm")
        for need in self.requires:
            kind = need.removeprefix("customization:")
            if need not in ("dropship", "sample") and (
                not need.startswith("customization:") or kind not in CUSTOMIZATION_KINDS
            ):
                raise ValueError(f"unknown requirement {need!r}")
        if "zh_CN" not in self.title:
            raise ValueError("title needs at least zh_CN")
        return self

    def step(self, index: int) -> Step:
        return self.steps[index]

    def label(self, locale: str) -> str:
        return self.title.get(locale) or self.title["zh_CN"]


def read_spec(path: Path) -> WorkflowSpec:
    """A definition file, validated; ValueError names the file and the problem."""
    try:
        return WorkflowSpec.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path.name}: {exc}") from exc


def shipped_specs() -> list[WorkflowSpec]:
    return [read_spec(path) for path in sorted(DEFINITIONS_DIR.glob("*.json"))]
