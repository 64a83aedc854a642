"""The workflow engine: runs of stored workflow definitions, step by step, persisted.

A run belongs to one buyer and one offer, remembers the definition version it started with,
its current step and the answers given (JSON in ``workflow_runs``), so a restart or a staff
takeover resumes exactly there. The engine knows nothing of Telegram: it hands out a
``Prompt`` (what the current step needs, with the data to show) and takes ``actions``
(a button's meaning or a typed text), answering with an ``Outcome``: accepted (the run
moved on), or refused with a reason code, the nearest valid value when there is one, and
how many unusable answers this step has had.

Actions carry the step index they were meant for, so a button from an earlier step, of a
finished run, or of someone else's run is refused as ``stale`` and changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from catalog_store.models import WorkflowDefinition, WorkflowRun
from catalog_store.offer_details import OfferDetails, load_offer
from catalog_store.orders import (
    OrderRefused,
    PlaceResult,
    place_order,
    save_recipient,
    saved_recipients,
)
from catalog_store.pricing import Quote, QuoteRefused, check_quantity, quote
from catalog_store.stock import available
from catalog_store.workflows.spec import (
    OPTION_CHOICES,
    ChooseSkuSettings,
    CustomizationSettings,
    OptionsSettings,
    QuantitySettings,
    Step,
    StepKind,
    WorkflowSpec,
)
from nlu.address import check_address, check_name, parse_mobile, parse_recipient

ACTIVE = "active"
MISSES_BEFORE_HELP = 2


class WorkflowError(ValueError):
    pass


# --- definitions in the store -----------------------------------------------------------------


async def install(session: AsyncSession, specs: list[WorkflowSpec]) -> list[tuple[str, int, bool]]:
    """Store definitions; (name, version, newly stored). A stored version never changes: a
    different definition under an existing name and version is refused (bump the version)."""
    done: list[tuple[str, int, bool]] = []
    async with session.begin():
        for spec in specs:
            row = await session.get(WorkflowDefinition, (spec.name, spec.version))
            body = spec.model_dump(mode="json")
            if row is not None:
                if _spec(row) != spec:
                    raise WorkflowError(
                        f"workflow {spec.name} version {spec.version} is already stored with "
                        "other steps; give the changed definition a new version"
                    )
                done.append((spec.name, spec.version, False))
                continue
            session.add(
                WorkflowDefinition(
                    name=spec.name,
                    version=spec.version,
                    order_kind=spec.order_kind,
                    title=dict(spec.title),
                    steps={"requires": list(spec.requires), "steps": body["steps"]},
                    active=True,
                )
            )
            done.append((spec.name, spec.version, True))
    return done


def _spec(row: WorkflowDefinition) -> WorkflowSpec:
    steps = row.steps
    return WorkflowSpec.model_validate(
        {
            "name": row.name,
            "version": row.version,
            "order_kind": row.order_kind,
            "title": row.title,
            "requires": steps.get("requires", []),
            "steps": steps["steps"],
        }
    )


async def latest_specs(session: AsyncSession) -> list[WorkflowSpec]:
    """The newest active version of each stored workflow."""
    async with session.begin():
        rows = (
            await session.scalars(
                select(WorkflowDefinition)
                .where(WorkflowDefinition.active)
                .order_by(WorkflowDefinition.name, WorkflowDefinition.version.desc())
            )
        ).all()
    newest: dict[str, WorkflowSpec] = {}
    for row in rows:
        newest.setdefault(row.name, _spec(row))
    return list(newest.values())


def applies(spec: WorkflowSpec, offer: OfferDetails) -> bool:
    kinds = {option.kind for option in offer.customization}
    for need in spec.requires:
        if need == "dropship" and not (offer.dropship_supported and offer.dropship_price):
            return False
        if need == "sample" and "sample" not in kinds:
            return False
        if need.startswith("customization:") and need.split(":", 1)[1] not in kinds:
            return False
    return bool(offer.skus) and offer.active


# --- runs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunView:
    id: int
    buyer_id: int
    spec: WorkflowSpec
    offer_id: str
    step_index: int
    answers: dict[str, Any]
    status: str
    idempotency_key: str
    misunderstandings: dict[str, int]
    order_id: int | None

    @property
    def step(self) -> Step:
        return self.spec.step(self.step_index)

    @property
    def misses(self) -> int:
        return self.misunderstandings.get(str(self.step_index), 0)


async def _view(session: AsyncSession, row: WorkflowRun) -> RunView:
    definition = await session.get(
        WorkflowDefinition, (row.definition_name, row.definition_version)
    )
    if definition is None:
        raise WorkflowError(f"run {row.id}: definition {row.definition_name} is gone")
    return RunView(
        id=row.id,
        buyer_id=row.buyer_id,
        spec=_spec(definition),
        offer_id=row.offer_id,
        step_index=row.step_index,
        answers=dict(row.answers or {}),
        status=row.status,
        idempotency_key=row.idempotency_key,
        misunderstandings=dict(row.misunderstandings or {}),
        order_id=row.order_id,
    )


async def start_run(session: AsyncSession, buyer_id: int, spec_name: str, offer_id: str) -> RunView:
    """A new run at the first step, with the newest version of ``spec_name``; the buyer's
    other unfinished run, if any, is abandoned (one order in progress at a time)."""
    specs = {spec.name: spec for spec in await latest_specs(session)}
    if spec_name not in specs:
        raise WorkflowError(f"no workflow {spec_name!r}")
    spec = specs[spec_name]
    now = datetime.now(UTC)
    async with session.begin():
        await session.execute(
            update(WorkflowRun)
            .where(WorkflowRun.buyer_id == buyer_id, WorkflowRun.status == ACTIVE)
            .values(status="abandoned", updated_at=now)
        )
        row = WorkflowRun(
            buyer_id=buyer_id,
            definition_name=spec.name,
            definition_version=spec.version,
            offer_id=offer_id,
            step_index=0,
            answers={"lines": [], "customization": [], "options": {}},
            status=ACTIVE,
            idempotency_key=uuid.uuid4().hex,
            misunderstandings={},
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
        return RunView(
            row.id, buyer_id, spec, offer_id, 0, dict(row.answers), ACTIVE,
            row.idempotency_key, {}, None,
        )  # fmt: skip


async def load_run(session: AsyncSession, run_id: int, buyer_id: int) -> RunView | None:
    """The run, or None when it does not exist or is another buyer's."""
    async with session.begin():
        row = await session.get(WorkflowRun, run_id)
        if row is None or row.buyer_id != buyer_id:
            return None
        return await _view(session, row)


async def active_run(session: AsyncSession, buyer_id: int) -> RunView | None:
    async with session.begin():
        row = await session.scalar(
            select(WorkflowRun)
            .where(WorkflowRun.buyer_id == buyer_id, WorkflowRun.status == ACTIVE)
            .order_by(WorkflowRun.id.desc())
            .limit(1)
        )
        return None if row is None else await _view(session, row)


async def _save(session: AsyncSession, before: RunView, after: RunView) -> bool:
    """Write ``after`` if the run is still where ``before`` saw it (active, same step)."""
    async with session.begin():
        result = await session.execute(
            update(WorkflowRun)
            .where(
                WorkflowRun.id == before.id,
                WorkflowRun.status == ACTIVE,
                WorkflowRun.step_index == before.step_index,
            )
            .values(
                step_index=after.step_index,
                answers=after.answers,
                misunderstandings=after.misunderstandings,
                status=after.status,
                order_id=after.order_id,
                updated_at=datetime.now(UTC),
            )
        )
    return result.rowcount == 1  # type: ignore[attr-defined]


# --- prompts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkuChoice:
    index: int
    sku_id: str
    color: str | None
    size: str | None
    label: str
    available: int
    selected: bool


@dataclass(frozen=True)
class Prompt:
    run: RunView
    offer: OfferDetails
    kind: StepKind
    skus: list[SkuChoice] = field(default_factory=list)
    multi: bool = False
    customizations: list[tuple[int, Any, bool]] = field(default_factory=list)  # (i, view, on)
    line: dict[str, Any] | None = None  # the line whose quantity is asked
    line_label: str = ""
    moq: int = 1
    max_qty: int | None = None
    available: int | None = None
    recipient_draft: dict[str, Any] | None = None
    missing: list[str] = field(default_factory=list)
    saved: list[dict[str, Any]] = field(default_factory=list)
    options: list[tuple[str, bool]] = field(default_factory=list)
    quote: Quote | None = None
    quote_problem: QuoteRefused | None = None
    number: int = 1  # this step's place among the steps the buyer sees (1-based)
    total: int = 1  # steps the buyer sees: not confirm (the review's button), not a
    # customization step with nothing to offer


def sku_label(color: str | None, size: str | None, specs: dict[str, str]) -> str:
    parts = [p for p in (color, size) if p]
    return " / ".join(parts) or " / ".join(specs.values())  # "" for the only, unnamed variant


async def prompt(session: AsyncSession, run: RunView) -> Prompt:
    offer = await _offer(session, run)
    return await _prompt_for(session, run, offer)


async def _offer(session: AsyncSession, run: RunView) -> OfferDetails:
    async with session.begin():
        offer = await load_offer(session, run.offer_id)
    if offer is None:
        raise WorkflowError(f"offer {run.offer_id} is gone")
    return offer


async def _stock(session: AsyncSession, offer_id: str) -> dict[str, int]:
    async with session.begin():
        return await available(session, offer_id)


async def _prompt_for(session: AsyncSession, run: RunView, offer: OfferDetails) -> Prompt:
    step = run.step
    lines = run.answers.get("lines", [])
    chosen = {line["sku_id"] for line in lines}
    shown = [
        i
        for i, each in enumerate(run.spec.steps)
        if each.kind != StepKind.confirm
        and not (each.kind == StepKind.choose_customizations and not _offered(each, offer, set()))
    ]
    number = sum(1 for i in shown if i <= run.step_index) or 1
    base = Prompt(run=run, offer=offer, kind=step.kind, number=number, total=len(shown))
    if step.kind == StepKind.choose_sku:
        stock = await _stock(session, offer.offer_id)
        skus = [
            SkuChoice(
                index=i,
                sku_id=sku.sku_id,
                color=sku.color,
                size=sku.size,
                label=sku_label(sku.color, sku.size, sku.specs),
                available=stock.get(sku.sku_id, 0),
                selected=sku.sku_id in chosen,
            )
            for i, sku in enumerate(offer.skus)
        ]
        multi = ChooseSkuSettings.model_validate(step.settings).multi
        return replace(base, skus=skus, multi=multi)
    if step.kind == StepKind.choose_customizations:
        picked = set(run.answers.get("customization", []))
        return replace(base, customizations=_offered(step, offer, picked))
    if step.kind == StepKind.quantity:
        line = next((ln for ln in lines if ln.get("qty") is None), lines[-1] if lines else None)
        stock = await _stock(session, offer.offer_id)
        sku = _sku(offer, line["sku_id"]) if line else None
        return replace(
            base,
            line=line,
            line_label=sku_label(sku.color, sku.size, sku.specs) if sku else "",
            moq=1 if run.spec.order_kind in ("dropship", "sample") else offer.moq,
            max_qty=QuantitySettings.model_validate(step.settings).max,
            available=stock.get(line["sku_id"], 0) if line else None,
        )
    if step.kind == StepKind.recipient:
        draft = run.answers.get("recipient_draft")
        async with session.begin():
            saved = await saved_recipients(session, run.buyer_id)
        return replace(
            base, recipient_draft=draft, missing=run.answers.get("missing", []), saved=saved
        )
    if step.kind == StepKind.options:
        choices = OptionsSettings.model_validate(step.settings).choices
        on = run.answers.get("options", {})
        return replace(base, options=[(key, bool(on.get(key))) for key in choices])
    # review (and confirm, which shows the review again until it is pressed)
    try:
        return replace(base, quote=_quote(run, offer))
    except QuoteRefused as exc:
        return replace(base, quote_problem=exc)


def _offered(step: Step, offer: OfferDetails, picked: set[int]) -> list[tuple[int, Any, bool]]:
    kinds = CustomizationSettings.model_validate(step.settings).kinds
    return [
        (i, option, i in picked)
        for i, option in enumerate(offer.customization)
        if option.kind != "sample" and (kinds is None or option.kind in kinds)
    ]


def _sku(offer: OfferDetails, sku_id: str) -> Any:
    return next((s for s in offer.skus if s.sku_id == sku_id), None)


def _lines(run: RunView) -> list[tuple[str, int]]:
    return [(ln["sku_id"], int(ln["qty"])) for ln in run.answers.get("lines", []) if ln.get("qty")]


def _quote(run: RunView, offer: OfferDetails) -> Quote:
    return quote(
        offer,
        run.spec.order_kind,
        _lines(run),
        list(run.answers.get("customization", [])),
        datetime.now(UTC),
    )


# --- outcomes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    run: RunView
    accepted: bool
    reason: str | None = None  # a code; the handler words it
    nearest: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    placed: PlaceResult | None = None

    @property
    def needs_help(self) -> bool:
        """Two unusable answers at this step: explain with an example, offer a person."""
        return not self.accepted and self.run.misses >= MISSES_BEFORE_HELP


def _advance(run: RunView, answers: dict[str, Any]) -> RunView:
    index = run.step_index + 1
    # a step with nothing to ask is passed over (no customization options to offer, say)
    return replace(run, step_index=min(index, len(run.spec.steps) - 1), answers=answers)


class Engine:
    """Actions on runs, each persisted before it returns (needs the engine for orders)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def _refuse(
        self, session: AsyncSession, run: RunView, reason: str, **detail: Any
    ) -> Outcome:
        nearest = detail.pop("nearest", None)
        if reason == "stale":
            return Outcome(run, False, reason, nearest, detail)
        misses = dict(run.misunderstandings)
        misses[str(run.step_index)] = misses.get(str(run.step_index), 0) + 1
        counted = replace(run, misunderstandings=misses)
        await _save(session, run, counted)
        return Outcome(counted, False, reason, nearest, detail)

    async def _accept(self, session: AsyncSession, run: RunView, after: RunView) -> Outcome:
        after = await self._skip_empty(session, after)
        if after.step_index != run.step_index:
            misses = dict(after.misunderstandings)
            misses.pop(str(after.step_index), None)
            after = replace(after, misunderstandings=misses)
        if not await _save(session, run, after):
            return Outcome(run, False, "stale")
        return Outcome(after, True)

    async def _skip_empty(self, session: AsyncSession, run: RunView) -> RunView:
        """Pass over a customization step when the offer has nothing of the kinds asked."""
        while run.step.kind == StepKind.choose_customizations:
            offer = await _offer(session, run)
            if _offered(run.step, offer, set()):
                break
            run = replace(run, step_index=run.step_index + 1)
        return run

    def _check(self, run: RunView, step_index: int) -> str | None:
        if run.status != ACTIVE or step_index != run.step_index:
            return "stale"
        return None

    # buttons ------------------------------------------------------------------------------

    async def pick_sku(
        self, session: AsyncSession, run: RunView, step_index: int, sku_index: int
    ) -> Outcome:
        if (stale := self._check(run, step_index)) or run.step.kind != StepKind.choose_sku:
            return Outcome(run, False, stale or "stale")
        offer = await _offer(session, run)
        if not 0 <= sku_index < len(offer.skus):
            return Outcome(run, False, "stale")
        sku = offer.skus[sku_index]
        stock = await _stock(session, offer.offer_id)
        if stock.get(sku.sku_id, 0) <= 0:
            return await self._refuse(
                session, run, "sold_out", sku=sku_label(sku.color, sku.size, sku.specs)
            )
        answers = dict(run.answers)
        lines = [dict(ln) for ln in answers.get("lines", [])]
        if ChooseSkuSettings.model_validate(run.step.settings).multi:
            if any(ln["sku_id"] == sku.sku_id for ln in lines):
                lines = [ln for ln in lines if ln["sku_id"] != sku.sku_id]
            else:
                lines.append({"sku_id": sku.sku_id, "qty": None})
            answers["lines"] = lines
            return await self._accept(session, run, replace(run, answers=answers))
        kept = lines[0].get("qty") if lines else None
        answers["lines"] = [{"sku_id": sku.sku_id, "qty": kept}]
        return await self._accept(session, run, _advance(run, answers))

    async def done(self, session: AsyncSession, run: RunView, step_index: int) -> Outcome:
        """'Done' on a multi-choice step (variants, customizations, options)."""
        if stale := self._check(run, step_index):
            return Outcome(run, False, stale)
        if run.step.kind == StepKind.choose_sku and not run.answers.get("lines"):
            return await self._refuse(session, run, "choose_a_sku")
        if run.step.kind not in (
            StepKind.choose_sku, StepKind.choose_customizations, StepKind.options
        ):  # fmt: skip
            return Outcome(run, False, "stale")
        return await self._accept(session, run, _advance(run, dict(run.answers)))

    async def toggle(
        self, session: AsyncSession, run: RunView, step_index: int, choice: int
    ) -> Outcome:
        """A customization (by its index in the offer) or an option (by its index in the
        step's choices) switched on or off."""
        if stale := self._check(run, step_index):
            return Outcome(run, False, stale)
        answers = dict(run.answers)
        if run.step.kind == StepKind.choose_customizations:
            offer = await _offer(session, run)
            if choice not in {i for i, _, _ in _offered(run.step, offer, set())}:
                return Outcome(run, False, "stale")
            picked = set(answers.get("customization", []))
            picked ^= {choice}
            answers["customization"] = sorted(picked)
            return await self._accept(session, run, replace(run, answers=answers))
        if run.step.kind == StepKind.options:
            choices = OptionsSettings.model_validate(run.step.settings).choices
            if not 0 <= choice < len(choices):
                return Outcome(run, False, "stale")
            options = dict(answers.get("options", {}))
            options[choices[choice]] = not options.get(choices[choice], False)
            answers["options"] = options
            return await self._accept(session, run, replace(run, answers=answers))
        return Outcome(run, False, "stale")

    async def back(self, session: AsyncSession, run: RunView, step_index: int) -> Outcome:
        if stale := self._check(run, step_index):
            return Outcome(run, False, stale)
        if run.step_index == 0:
            return Outcome(run, False, "first_step")
        index = run.step_index - 1
        while index > 0 and run.spec.step(index).kind == StepKind.choose_customizations:
            offer = await _offer(session, run)
            if _offered(run.spec.step(index), offer, set()):
                break
            index -= 1
        answers = dict(run.answers)
        if run.spec.step(index).kind == StepKind.quantity:
            # asking again: the last line's quantity is the one to give again
            lines = [dict(ln) for ln in answers.get("lines", [])]
            if lines:
                lines[-1]["qty"] = None
            answers["lines"] = lines
        after = replace(run, step_index=index, answers=answers)
        if not await _save(session, run, after):
            return Outcome(run, False, "stale")
        return Outcome(after, True)

    async def cancel(self, session: AsyncSession, run: RunView) -> Outcome:
        if run.status != ACTIVE:
            return Outcome(run, False, "stale")
        after = replace(run, status="cancelled")
        if not await _save(session, run, after):
            return Outcome(run, False, "stale")
        return Outcome(after, True)

    async def use_saved(
        self, session: AsyncSession, run: RunView, step_index: int, saved_index: int
    ) -> Outcome:
        if (stale := self._check(run, step_index)) or run.step.kind != StepKind.recipient:
            return Outcome(run, False, stale or "stale")
        async with session.begin():
            saved = await saved_recipients(session, run.buyer_id)
        if not 0 <= saved_index < len(saved):
            return Outcome(run, False, "stale")
        answers = dict(run.answers)
        answers["recipient"] = _recipient_fields(saved[saved_index])
        answers.pop("recipient_draft", None)
        answers.pop("missing", None)
        return await self._accept(session, run, _advance(run, answers))

    async def confirm_recipient(
        self, session: AsyncSession, run: RunView, step_index: int
    ) -> Outcome:
        if (stale := self._check(run, step_index)) or run.step.kind != StepKind.recipient:
            return Outcome(run, False, stale or "stale")
        draft = run.answers.get("recipient_draft")
        if not draft or run.answers.get("missing"):
            return Outcome(run, False, "stale")
        answers = dict(run.answers)
        answers["recipient"] = draft
        answers.pop("recipient_draft", None)
        answers.pop("missing", None)
        return await self._accept(session, run, _advance(run, answers))

    async def redo_recipient(self, session: AsyncSession, run: RunView, step_index: int) -> Outcome:
        """The parsed recipient was wrong: forget it and ask again."""
        if (stale := self._check(run, step_index)) or run.step.kind != StepKind.recipient:
            return Outcome(run, False, stale or "stale")
        answers = dict(run.answers)
        answers.pop("recipient_draft", None)
        answers.pop("missing", None)
        return await self._accept(session, run, replace(run, answers=answers))

    async def place(self, session: AsyncSession, run: RunView, step_index: int) -> Outcome:
        """Confirm: place the order, exactly once for this run (its idempotency key).

        A second press, a replayed update or a retry after a crash finds the same order.
        """
        if run.status == "completed" and run.order_id is not None:
            return Outcome(run, True, "already_placed")
        if (stale := self._check(run, step_index)) or run.step.kind not in (
            StepKind.review, StepKind.confirm
        ):  # fmt: skip
            return Outcome(run, False, stale or "stale")
        answers = run.answers
        try:
            placed = await place_order(
                self.engine,
                idempotency_key=run.idempotency_key,
                buyer_id=run.buyer_id,
                offer_id=run.offer_id,
                kind=run.spec.order_kind,
                lines=_lines(run),
                customization=list(answers.get("customization", [])),
                recipient=answers.get("recipient"),
                options=dict(answers.get("options", {})),
                workflow_run_id=run.id,
            )
        except OrderRefused as exc:
            return Outcome(run, False, exc.code, exc.nearest, {"message": str(exc)})
        except QuoteRefused as exc:
            return Outcome(run, False, exc.code, exc.nearest, {"message": str(exc)})
        after = replace(run, status="completed", order_id=placed.order_id)
        recipient = answers.get("recipient")
        if placed.created and recipient:
            try:  # offered again at the next order's recipient step
                async with session.begin():
                    await save_recipient(session, run.buyer_id, recipient)
            except ValueError:
                pass  # a recipient the order took but the address book does not: no matter
        async with session.begin():
            await session.execute(
                update(WorkflowRun)
                .where(WorkflowRun.id == run.id)
                .values(status="completed", order_id=placed.order_id, updated_at=datetime.now(UTC))
            )
        return Outcome(after, True, None if placed.created else "already_placed", placed=placed)

    # typed answers ---------------------------------------------------------------------------

    async def text(
        self, session: AsyncSession, run: RunView, text: str, quantity: int | None = None
    ) -> Outcome:
        """A typed answer to the current step (``quantity``: what the parser read, if any)."""
        kind = run.step.kind
        if kind == StepKind.quantity:
            return await self._quantity(session, run, text, quantity)
        if kind == StepKind.recipient:
            return await self._recipient(session, run, text)
        if kind == StepKind.choose_sku:
            offer = await _offer(session, run)
            match = _match_sku(offer, text)
            if match is not None:
                return await self.pick_sku(session, run, run.step_index, match)
            return await self._refuse(session, run, "expects_button")
        return await self._refuse(session, run, "expects_button")

    async def _quantity(
        self, session: AsyncSession, run: RunView, text: str, parsed: int | None
    ) -> Outcome:
        qty = _read_quantity(text, parsed)
        if isinstance(qty, str):
            return await self._refuse(session, run, qty)
        offer = await _offer(session, run)
        lines = [dict(ln) for ln in run.answers.get("lines", [])]
        if not lines:
            return Outcome(run, False, "stale")
        pending = next((ln for ln in lines if ln.get("qty") is None), lines[-1])
        limit = QuantitySettings.model_validate(run.step.settings).max
        if limit is not None and qty > limit:
            return await self._refuse(session, run, "over_max", nearest=limit)
        pending["qty"] = qty
        if any(ln.get("qty") is None for ln in lines):  # the next variant's quantity
            answers = {**run.answers, "lines": lines}
            return await self._accept(session, run, replace(run, answers=answers))
        stock = await _stock(session, offer.offer_id)
        problem = check_quantity(
            offer,
            run.spec.order_kind,
            [(ln["sku_id"], int(ln["qty"])) for ln in lines],
            list(run.answers.get("customization", [])),
            stock,
        )
        if problem is not None:
            if len(lines) > 1:  # 混批 short of the MOQ: the last variant's number again
                pending["qty"] = None
                answers = {**run.answers, "lines": lines}
                refused = replace(run, answers=answers)
                await _save(session, run, refused)
                run = refused
            return await self._refuse(
                session, run, problem.code, nearest=problem.nearest, message=str(problem)
            )
        return await self._accept(session, run, _advance(run, {**run.answers, "lines": lines}))

    async def _recipient(self, session: AsyncSession, run: RunView, text: str) -> Outcome:
        answers = dict(run.answers)
        draft = dict(answers.get("recipient_draft") or {})
        missing = list(answers.get("missing") or [])
        if draft and missing:  # field by field: this text fills what was missing
            draft, missing, problem = _fill(draft, missing, text)
            if problem:
                return await self._refuse(session, run, problem)
        else:
            parsed = parse_recipient(text)
            if parsed.recipient is not None:
                draft, missing = _recipient_fields(parsed.recipient.model_dump()), []
            else:
                blocking = [
                    p for p in parsed.problems
                    if p in ("too_long", "bad_mobile", "empty", "city_mismatch")
                ]  # fmt: skip
                if blocking:
                    return await self._refuse(session, run, blocking[0])
                draft, missing = _partial(parsed)
                if not draft:
                    return await self._refuse(session, run, "no_recipient")
        answers["recipient_draft"] = draft
        answers["missing"] = missing
        return await self._accept(session, run, replace(run, answers=answers))

    async def record_miss(self, session: AsyncSession, run: RunView, reason: str) -> Outcome:
        return await self._refuse(session, run, reason)

    # changes of earlier answers ------------------------------------------------------------------

    async def modify(
        self,
        session: AsyncSession,
        run: RunView,
        *,
        colors: list[str],
        sizes: list[str],
        quantity: int | None,
    ) -> Outcome:
        """ "颜色改成红色", "数量改成3": change an earlier answer and come back to where the
        buyer was (or to the step that now needs an answer)."""
        if run.status != ACTIVE:
            return Outcome(run, False, "stale")
        offer = await _offer(session, run)
        answers = dict(run.answers)
        lines = [dict(ln) for ln in answers.get("lines", [])]
        kinds = [step.kind for step in run.spec.steps]
        if colors or sizes:
            if len(lines) > 1:
                return await self._refuse(session, run, "modify_which_sku")
            current = _sku(offer, lines[0]["sku_id"]) if lines else None
            want_color = colors[0] if colors else (current.color if current else None)
            want_size = sizes[0] if sizes else (current.size if current else None)
            match = _find_sku(offer, want_color, want_size)
            if match is None:
                return await self._refuse(
                    session, run, "no_such_sku", sku=sku_label(want_color, want_size, {})
                )
            stock = await _stock(session, offer.offer_id)
            if stock.get(match.sku_id, 0) <= 0:
                return await self._refuse(
                    session, run, "sold_out", sku=sku_label(match.color, match.size, match.specs)
                )
            qty = lines[0].get("qty") if lines else None
            lines = [{"sku_id": match.sku_id, "qty": qty}]
        if quantity is not None:
            if not lines:
                return await self._refuse(session, run, "choose_a_sku")
            lines[-1]["qty"] = quantity
        answers["lines"] = lines
        changed = replace(run, answers=answers)
        # where to go: stay, unless an answer the change needs is missing or now invalid
        target = run.step_index
        if not lines:
            target = kinds.index(StepKind.choose_sku)
        elif any(ln.get("qty") is None for ln in lines) and run.step_index > kinds.index(
            StepKind.quantity
        ):
            target = kinds.index(StepKind.quantity)
        elif run.step_index > kinds.index(StepKind.quantity):
            stock = await _stock(session, offer.offer_id)
            problem = check_quantity(
                offer, run.spec.order_kind, [(ln["sku_id"], int(ln["qty"])) for ln in lines],
                list(answers.get("customization", [])), stock,
            )  # fmt: skip
            if problem is not None:
                lines[-1]["qty"] = None
                moved = replace(changed, step_index=kinds.index(StepKind.quantity))
                await _save(session, run, moved)
                return Outcome(
                    moved, False, problem.code, problem.nearest, {"message": str(problem)}
                )
        elif run.step.kind == StepKind.choose_sku and lines:
            target = run.step_index + 1
        moved = await self._skip_empty(session, replace(changed, step_index=target))
        if not await _save(session, run, moved):
            return Outcome(run, False, "stale")
        return Outcome(moved, True)


# --- reading answers ------------------------------------------------------------------------------


def _read_quantity(text: str, parsed: int | None) -> int | str:
    """A typed quantity, or the problem code: not_a_number, not_whole, not_positive, absurd."""
    raw = text.strip().replace(",", "").replace("，", "")
    for unit in ("件", "个", "双", "条", "套", "只", "pcs", "pc"):
        raw = raw.removesuffix(unit).strip()
    if raw.startswith("-"):
        return "not_positive"
    try:
        number = int(raw)
    except ValueError:
        try:
            float(raw)
        except ValueError:
            if parsed is None:
                return "not_a_number"
            number = parsed
        else:
            return "not_whole"
    if number <= 0:
        return "not_positive"
    if number > 1_000_000:
        return "absurd"
    return number


def _match_sku(offer: OfferDetails, text: str) -> int | None:
    """A typed variant ("红色 M", "黑色/L"): the only SKU whose color and size the text names."""
    words = text.replace("/", " ").replace("，", " ").replace(",", " ").split()
    flat = text.replace(" ", "")
    found = [
        i
        for i, sku in enumerate(offer.skus)
        if (sku.color or sku.size)
        and (not sku.color or sku.color in flat)
        and (not sku.size or sku.size.lower() in [w.lower() for w in words] or sku.size in flat)
    ]
    return found[0] if len(found) == 1 else None


def _find_sku(offer: OfferDetails, color: str | None, size: str | None) -> Any:
    for sku in offer.skus:
        if (color is None or sku.color == color or (sku.color and color in sku.color)) and (
            size is None or (sku.size or "").lower() == size.lower()
        ):
            return sku
    return None


def _recipient_fields(recipient: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "mobile", "province", "city", "district", "street")
    return {key: recipient.get(key) for key in keys}


def _partial(parsed: Any) -> tuple[dict[str, Any], list[str]]:
    """What one paste gave when it was not complete, and what is still missing (the parser
    reads every field it can even when the block as a whole fails)."""
    draft: dict[str, Any] = {}
    missing: list[str] = []
    if parsed.name:
        draft["name"] = parsed.name
    else:
        missing.append("name")
    if parsed.mobile:
        draft["mobile"] = parsed.mobile
    else:
        missing.append("mobile")
    if parsed.province and parsed.city and parsed.street:
        draft.update(
            province=parsed.province,
            city=parsed.city,
            district=parsed.district,
            street=parsed.street,
        )
    else:
        missing.append("address")
    return (draft, missing) if draft else ({}, [])


def _fill(
    draft: dict[str, Any], missing: list[str], text: str
) -> tuple[dict[str, Any], list[str], str | None]:
    field_name = missing[0]
    if field_name == "mobile":
        mobile = parse_mobile(text)
        if mobile is None:
            return draft, missing, "bad_mobile"
        draft["mobile"] = mobile
    elif field_name == "name":
        problem = check_name(text)
        if problem:
            return draft, missing, problem
        draft["name"] = text.strip()
    else:
        address = check_address(text)
        if not isinstance(address, tuple):
            return draft, missing, address[0] if address else "no_address"
        province, city, district, street = address
        draft.update(province=province, city=city, district=district, street=street)
    return draft, missing[1:], None


__all__ = [
    "MISSES_BEFORE_HELP",
    "OPTION_CHOICES",
    "Engine",
    "Outcome",
    "Prompt",
    "RunView",
    "SkuChoice",
    "WorkflowError",
    "active_run",
    "applies",
    "install",
    "latest_specs",
    "load_run",
    "prompt",
    "sku_label",
    "start_run",
]
