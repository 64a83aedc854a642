"""An order step as a message: the question, what is chosen so far, and its buttons.

Rendering only; the step, its choices and the price breakdown come from the workflow engine
(``catalog_store.workflows.engine.Prompt``) and the pricing module.
"""

from __future__ import annotations

from html import escape

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from catalog_store.pricing import Quote
from catalog_store.workflows.engine import Outcome, Prompt, RunView, sku_label
from catalog_store.workflows.spec import StepKind
from handlers.callbacks import HumanCB, ResumeCB, StepCB
from handlers.render_search import money
from handlers.text_limits import MESSAGE_LIMIT, clip, fit

# variant buttons per message: twenty rows of two fit a phone screen and stay far below
# Telegram's 100 buttons; more variants are paged (an offer may have up to 500)
SKU_PAGE = 40


def sku_page_of(prompt: Prompt, sku_index: int) -> int:
    """The page of the variant step that shows the variant ``sku_index``."""
    for position, choice in enumerate(prompt.skus):
        if choice.index == sku_index:
            return position // SKU_PAGE
    return 0


def _button(text: str, prompt: Prompt, action: str, option: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=text,
        callback_data=StepCB(r=prompt.run.id, i=prompt.run.step_index, a=action, o=option).pack(),
    )


def _header(prompt: Prompt) -> str:
    run = prompt.run
    title = run.spec.label(get_i18n().current_locale)
    return _("order.header").format(
        workflow=escape(title),
        offer=escape(clip(prompt.offer.title, 30)),
        step=min(prompt.number, prompt.total),
        steps=prompt.total,
    )


def _nav(kb: InlineKeyboardBuilder, prompt: Prompt) -> None:
    row = []
    if prompt.run.step_index > 0:
        row.append(_button(_("button.back"), prompt, "back"))
    row.append(_button(_("button.cancel_order"), prompt, "cancel"))
    kb.row(*row)


def prompt_message(prompt: Prompt, sku_page: int = 0) -> tuple[str, InlineKeyboardMarkup]:
    lines = [_header(prompt)]
    kb = InlineKeyboardBuilder()
    kind = prompt.kind
    if kind == StepKind.choose_sku:
        lines.append(_("order.sku.multi" if prompt.multi else "order.sku.ask"))
        pages = max(1, -(-len(prompt.skus) // SKU_PAGE))
        page = min(max(sku_page, 0), pages - 1)
        buttons = []
        for choice in prompt.skus[page * SKU_PAGE : (page + 1) * SKU_PAGE]:
            mark = "✓ " if choice.selected and prompt.multi else ""
            stock = (
                _("order.sku.stock").format(count=choice.available)
                if choice.available > 0
                else _("card.sold_out")
            )
            label = clip(choice.label or _("card.sku_default"), 24)
            buttons.append(_button(f"{mark}{label} · {stock}", prompt, "sku", choice.index))
        kb.row(*buttons, width=2)
        if pages > 1:
            lines.append(
                _("order.sku.page").format(page=page + 1, pages=pages, count=len(prompt.skus))
            )
            turn = []
            if page > 0:
                turn.append(_button(_("button.previous"), prompt, "skp", page - 1))
            if page < pages - 1:
                turn.append(_button(_("button.next"), prompt, "skp", page + 1))
            kb.row(*turn)
        if prompt.multi:
            kb.row(_button(_("button.done"), prompt, "done"))
    elif kind == StepKind.choose_customizations:
        lines.append(_("order.custom.ask"))
        for index, option, on in prompt.customizations:
            fee = _("card.unit_fee").format(fee=money(option.unit_fee))
            if option.setup_fee:
                fee += " + " + _("card.setup_fee").format(fee=money(option.setup_fee))
            if option.min_qty > 1:
                fee += " · " + _("card.min_qty").format(qty=option.min_qty)
            mark = "✓ " if on else ""
            kb.row(_button(f"{mark}{clip(option.name, 20)} {fee}", prompt, "tog", index))
        picked = any(on for _i, _o, on in prompt.customizations)
        kb.row(_button(_("button.done" if picked else "button.no_customization"), prompt, "done"))
    elif kind == StepKind.quantity:
        rules = []
        if prompt.moq > 1:
            rules.append(_("order.qty.moq").format(moq=prompt.moq))
        if prompt.available is not None:
            rules.append(_("order.qty.stock").format(count=prompt.available))
        if prompt.max_qty is not None:
            rules.append(_("order.qty.max").format(max=prompt.max_qty))
        label = prompt.line_label or _("card.sku_default")
        lines.append(_("order.qty.ask").format(sku=escape(label)))
        if rules:
            lines.append(" · ".join(rules))
    elif kind == StepKind.recipient:
        lines += _recipient_lines(prompt, kb)
    elif kind == StepKind.options:
        lines.append(_("order.options.ask"))
        for n, (key, on) in enumerate(prompt.options):
            mark = "✓ " if on else ""
            kb.row(_button(mark + _(f"option.{key}"), prompt, "tog", n))
        kb.row(_button(_("button.done"), prompt, "done"))
    else:
        lines += _review_lines(prompt)
        if prompt.quote is not None:
            kb.row(_button(_("button.place_order"), prompt, "place"))
    _nav(kb, prompt)
    text, _rest = fit(["\n".join(lines)], MESSAGE_LIMIT)
    return text or clip("\n".join(lines), MESSAGE_LIMIT), kb.as_markup()


def _recipient_lines(prompt: Prompt, kb: InlineKeyboardBuilder) -> list[str]:
    whose = prompt.run.step.settings.get("whose", "buyer")
    draft = prompt.recipient_draft
    if draft and not prompt.missing:
        kb.row(
            _button(_("button.recipient_ok"), prompt, "rok"),
            _button(_("button.recipient_redo"), prompt, "redo"),
        )
        return [_("order.recipient.check"), recipient_text(draft)]
    if draft and prompt.missing:
        got = recipient_text(draft)
        return [_("order.recipient.partial"), got, _(f"order.recipient.need.{prompt.missing[0]}")]
    for n, saved in enumerate(prompt.saved):
        label = f"{saved['name']} {mask_mobile(saved['mobile'])} {saved['city']}"
        kb.row(_button(_("button.saved_recipient").format(who=clip(label, 40)), prompt, "saved", n))
    return [_(f"order.recipient.ask.{whose}"), _("order.recipient.example")]


def mask_mobile(mobile: str | None) -> str:
    """138****8000: enough to recognize, not enough to misuse."""
    if not mobile or len(mobile) < 7:
        return mobile or ""
    return mobile[:3] + "****" + mobile[-4:]


def recipient_text(recipient: dict[str, str | None]) -> str:
    place = " ".join(
        part
        for part in (
            recipient.get("province"),
            recipient.get("city") if recipient.get("city") != recipient.get("province") else None,
            recipient.get("district"),
            recipient.get("street"),
        )
        if part
    )
    return _("order.recipient.fields").format(
        name=escape(recipient.get("name") or "—"),
        mobile=escape(recipient.get("mobile") or "—"),
        address=escape(place or "—"),
    )


def quote_lines(quote: Quote, labels: dict[str, str]) -> list[str]:
    lines = []
    for line in quote.lines:
        lines.append(
            _("order.review.line").format(
                sku=escape(labels.get(line.sku_id, line.sku_id)),
                qty=line.qty,
                price=money(line.unit_price),
                total=money(line.line_total),
            )
        )
    for item in quote.customization:
        lines.append(
            _("order.review.custom").format(
                name=escape(item.name),
                fee=money(item.unit_fee),
                qty=item.qty,
                setup=money(item.setup_fee),
                total=money(item.total),
            )
        )
    if quote.shipping_fee:
        lines.append(_("order.review.shipping").format(fee=money(quote.shipping_fee)))
    lines.append(_("order.review.total").format(total=money(quote.total)))
    lines.append(
        _("order.review.ship_by").format(
            date=quote.ship_by.strftime("%Y-%m-%d"), hours=quote.lead_hours
        )
    )
    return lines


def _review_lines(prompt: Prompt) -> list[str]:
    if prompt.quote_problem is not None:
        problem = prompt.quote_problem
        reason = refusal_text(
            Outcome(prompt.run, False, problem.code, problem.nearest, {"message": problem.code})
        )
        return [_("order.review.problem").format(reason=reason)]
    assert prompt.quote is not None
    labels = {
        sku.sku_id: sku_label(sku.color, sku.size, sku.specs) or _("card.sku_default")
        for sku in prompt.offer.skus
    }
    lines = [_("order.review.title"), *quote_lines(prompt.quote, labels)]
    recipient = prompt.run.answers.get("recipient")
    if recipient:
        lines += ["", recipient_text(recipient)]
    options = [key for key, on in prompt.run.answers.get("options", {}).items() if on]
    if options:
        lines.append(" · ".join(_(f"option.{key}") for key in options))
    lines += ["", _("order.review.confirm_hint")]
    return lines


def refusal_text(outcome: Outcome) -> str:
    """Why an answer was not taken, with the nearest valid value when there is one."""
    key = f"refuse.{outcome.reason}"
    template = _(key)
    if template == key:  # a code without its own wording: never the domain's English text
        return _("refuse.generic").format(message=escape(outcome.reason or ""))
    return template.format(
        nearest=outcome.nearest if outcome.nearest is not None else "",
        sku=escape(str(outcome.detail.get("sku", ""))),
    )


def help_markup() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.row(InlineKeyboardButton(text=_("button.human"), callback_data=HumanCB().pack()))
    return kb.as_markup()


def help_text(kind: StepKind) -> str:
    """After two unusable answers: what this step wants, with an example."""
    return _(f"order.help.{kind.value}")


def resume_button(run: RunView) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=_("button.resume").format(workflow=run.spec.label(get_i18n().current_locale)),
        callback_data=ResumeCB(r=run.id).pack(),
    )
