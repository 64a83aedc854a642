"""``parse(text) -> ParsedQuery``: segmentation, slots and intent for one buyer message.

The pipeline: normalize → correct typos against the lexicon → Chinese numerals to digits
and numbers read (prices, quantities, sizes in 码) → segment with jieba plus the domain
lexicon → read slots from the tokens → decide the intent. A ``Parser`` holds everything it
needs in memory; ``parse`` is pure (no I/O), deterministic and safe to call from many tasks.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import rjieba

from nlu.lexicon import Lexicon, load_lexicon
from nlu.normalize import normalize
from nlu.numbers import read_numbers
from nlu.query import Correction, Intent, ParsedQuery
from nlu.typos import TypoIndex

# a lexicon word outweighs jieba's own splits of it (一件 + 代发) but stays in proportion
LEXICON_FREQ = 200_000
_ASCII_JOIN = re.compile(r"^[a-z0-9]+$")
_JOINERS = {"-", "_", "."}
_MODIFY = re.compile(
    r"(?:把|将)?(?P<field>颜色|尺码|码数|尺寸|大小|数量|规格|款式|材质|定制)?\s*"
    r"(?:改成|换成|改为|换为|改到|调成|调到|变成|改|换)\s*(?P<rest>.+)"
)
_FIELD_SLOTS = {
    "颜色": "colors",
    "尺码": "sizes",
    "码数": "sizes",
    "尺寸": "sizes",
    "大小": "sizes",
    "数量": "quantity",
    "材质": "materials",
    "定制": "customization",
}
_MODIFY_VERB_FIRST = re.compile(
    r"(?:改|换|调)(?P<field>颜色|尺码|码数|尺寸|大小|数量|材质|定制)\s*(?:为|成|到)?\s*(?P<rest>.*)"
)
_BARE_NUMBER = re.compile(r"^\s*(\d{1,7})\s*(?:件|个|双|条|套)?\s*$")
_NEGATIONS = frozenset({"不要", "不是", "别", "不想要", "除了"})


class Parser:
    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self._kinds = lexicon.slot_words()
        self._tokenizer = _load_tokenizer(sorted(self._kinds))
        self._numeral_words = [w for w in self._kinds if re.search(r"[一二两三四五六七八九十]", w)]
        tokenizer = self._tokenizer
        self._typos = TypoIndex(
            self._kinds,
            is_known=lambda w: w in self._kinds or tokenizer.has_word(w),
            short_words=lexicon.categories,
        )

    # --- segmentation ----------------------------------------------------------------------

    def segment(self, text: str) -> list[tuple[str, int, int]]:
        """Tokens with offsets; spaces dropped, model numbers (hwy14-186bku1) kept whole."""
        # HMM on: words missing from the dictionary (厚底, 螺狮粉) come out whole instead of
        # as single characters that would then be dropped
        raw = [
            (w, s, e)
            for w, s, e in self._tokenizer.tokenize(text, "default", True)
            if not w.isspace()
        ]
        out: list[tuple[str, int, int]] = []
        for word, start, end in raw:
            if (
                out
                and out[-1][2] == start
                and (word in _JOINERS or out[-1][0][-1] in _JOINERS or _ASCII_JOIN.match(word))
                and _is_model_part(out[-1][0])
                and _is_model_part(word)
            ):
                prev, pstart, _ = out.pop()
                out.append((prev + word, pstart, end))
            else:
                out.append((word, start, end))
        stripped = [(w.strip("-_."), s, e) if len(w) > 1 else (w, s, e) for w, s, e in out]
        return [t for t in stripped if t[0]]

    # --- parsing ---------------------------------------------------------------------------

    def parse(self, text: str) -> ParsedQuery:
        normalized = normalize(text)
        corrected, corrections = self._correct(normalized)
        digits, numbers = read_numbers(corrected, self._numeral_words)
        tokens = self.segment(digits)
        lex = self.lexicon

        keywords: list[str] = []
        colors: list[str] = []
        sizes: list[str] = list(numbers.sizes)
        materials: list[str] = []
        customization: list[str] = []
        badges: list[str] = []
        region: str | None = None
        category: str | None = None
        dropship = False
        negated = False
        singles: list[str] = []  # a run of lone characters: 杯 垫 is the word 杯垫
        last_plain: str | None = None  # the last keyword that is no slot word, and its end
        last_end = -1

        def flush_singles() -> None:
            if len(singles) > 1:
                _add(keywords, "".join(singles))
            singles.clear()

        for word, start, end in tokens:
            if any(start < b and a < end for a, b in numbers.spans):
                flush_singles()
                continue
            if word in _NEGATIONS:
                negated = True
                flush_singles()
                continue
            if negated and (word in lex.colors or word in lex.sizes or word in lex.materials):
                negated = False  # "不要红色": not a wish for red
                continue
            negated = False
            if (
                len(word) == 1
                and not word.isascii()
                and word not in lex.stopwords
                and word not in self._kinds
            ):
                if not singles and keywords and last_plain == keywords[-1] and last_end == start:
                    # 充电 + 箱: a lone character right after a plain word finishes it
                    keywords[-1] = last_plain = keywords[-1] + word
                    last_end = end
                    continue
                singles.append(word)
                continue
            flush_singles()
            last_plain, last_end = None, end
            if word in lex.trade:
                slot, value = lex.trade[word]
                if slot == "dropship":
                    dropship = True
                elif slot == "customization":
                    _add(customization, value)
                elif slot == "badge":
                    _add(badges, value)
                continue
            if word in lex.categories:
                category = lex.categories[word]  # the last goods word is what is sold
                _add(keywords, word)
            elif word in lex.colors:
                _add(colors, lex.colors[word])
            elif word in lex.materials:
                _add(materials, lex.materials[word])
            elif word in lex.sizes and (len(word) > 1 or _standalone(digits, start, end)):
                _add(sizes, lex.sizes[word])
            elif word in lex.regions:
                region = lex.regions[word]
            elif word in lex.stopwords or not any(ch.isalnum() for ch in word):
                continue
            else:
                _add(keywords, word)
                last_plain = word
        flush_singles()

        intent, changes, bare_quantity = self._intent(
            digits,
            category,
            keywords,
            colors,
            sizes,
            materials,
            customization,
            numbers.quantity,
            dropship,
            supply=region is not None or bool(badges),
        )
        quantity = numbers.quantity if numbers.quantity is not None else bare_quantity
        if intent not in (Intent.search, Intent.customize):
            keywords, category = [], None  # "颜色改成红色", "转人工": no goods to look for
        price_min, price_max = numbers.price_min, numbers.price_max
        if price_min is not None and price_max is not None and price_min > price_max:
            price_min, price_max = price_max, price_min
        return ParsedQuery(
            text=text,
            normalized=normalized,
            intent=intent,
            keywords=keywords,
            category=category,
            colors=colors,
            sizes=sizes,
            materials=materials,
            price_min=price_min,
            price_max=price_max,
            quantity=quantity,
            dropship=dropship,
            customization=customization,
            region=region,
            badges=badges,
            corrections=[Correction(**{"from": w, "to": r}) for w, r in corrections],
            tokens=[w for w, _, _ in tokens],
            changes=changes,
        )

    def _correct(self, text: str) -> tuple[str, list[tuple[str, str]]]:
        if not self._typos.lengths:
            return text, []
        tokens = self.segment(text)
        protected = [(s, e) for w, s, e in tokens if w in self._kinds]
        fixes = self._typos.find(text, protected, [(s, e) for _, s, e in tokens])
        if not fixes:
            return text, []
        out, last = [], 0
        for fix in fixes:
            out.append(text[last : fix.start] + fix.right)
            last = fix.end
        out.append(text[last:])
        return "".join(out), [(f.wrong, f.right) for f in fixes]

    def _intent(
        self,
        text: str,
        category: str | None,
        keywords: list[str],
        colors: list[str],
        sizes: list[str],
        materials: list[str],
        customization: list[str],
        quantity: int | None,
        dropship: bool,
        supply: bool = False,
    ) -> tuple[Intent, list[str], int | None]:
        """(intent, the slots a ``modify`` changes, a bare number that a modify gives)."""
        goods = category is not None or bool(keywords)
        for phrase, intent, anchored in self.lexicon.intents:
            if anchored:
                # "人工草坪" is goods, "人工" alone is a person: an anchored phrase counts
                # only when the rest of the message says nothing more
                if text.startswith(phrase) and self._says_nothing_else(text, phrase):
                    return Intent(intent), [], None
            elif phrase in text:
                return Intent(intent), [], None
        m = _MODIFY_VERB_FIRST.search(text) or _MODIFY.search(text)
        if m is not None and category is None:
            changes: list[str] = []
            field = m.group("field")
            if field and field in _FIELD_SLOTS:
                changes.append(_FIELD_SLOTS[field])
            for name, present in (
                ("colors", bool(colors)),
                ("sizes", bool(sizes)),
                ("materials", bool(materials)),
                ("customization", bool(customization)),
                ("quantity", quantity is not None),
                ("dropship", dropship),
            ):
                if present and name not in changes:
                    changes.append(name)
            bare = _BARE_NUMBER.match(m.group("rest"))
            if bare and "quantity" not in changes and (not changes or changes == ["quantity"]):
                changes = ["quantity"]
            if changes:
                number = int(bare.group(1)) if bare and "quantity" in changes else None
                if number == 0:  # "数量改成0" is no quantity; the order step says why
                    number = None
                return Intent.modify, changes, number
        if goods:
            return Intent.search, [], None
        if customization:
            return Intent.customize, [], None
        if supply:
            return Intent.search, [], None  # "义乌 超级工厂", "织里童装": where to buy, a search
        if colors or sizes or materials:
            # "要红色的" with no goods named: a change to what is being chosen
            named = (("colors", colors), ("sizes", sizes), ("materials", materials))
            return Intent.modify, [n for n, v in named if v], None
        return Intent.unknown, [], None

    def _says_nothing_else(self, text: str, phrase: str) -> bool:
        rest = text.replace(phrase, " ")
        return all(
            w in self.lexicon.stopwords or not any(ch.isalnum() for ch in w)
            for w, _, _ in self.segment(rest)
        )


def _load_tokenizer(words: list[str]) -> rjieba.Jieba:
    """jieba's algorithm and dictionary (jieba-rs, through rjieba) with the lexicon's words.

    The Rust port segments a title in about 5 µs where the Python jieba takes 55 µs, and
    loads its built-in dictionary in under 0.1 s, so nothing is cached between starts.
    """
    tokenizer = rjieba.Jieba()
    for word in words:
        tokenizer.add_word(word, LEXICON_FREQ, None)
    return tokenizer


def _add(values: list[str], value: str) -> None:
    if value not in values:
        values.append(value)


def _is_model_part(word: str) -> bool:
    return bool(word) and all(ch.isascii() and (ch.isalnum() or ch in _JOINERS) for ch in word)


def _standalone(text: str, start: int, end: int) -> bool:
    """A one-letter size (s, m, l) only counts when it stands alone, not inside a word."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isascii() and before.isalnum()) and not (after.isascii() and after.isalnum())


# --- the default parser ------------------------------------------------------------------

_default: Parser | None = None
_default_lexicon: Path | None = None
_lock = threading.Lock()


def configure(catalog_lexicon: Path | None) -> Parser:
    """Load (or reload, after a catalog import) the parser that ``parse`` uses."""
    global _default, _default_lexicon
    parser = Parser(load_lexicon(catalog_lexicon))
    with _lock:
        _default, _default_lexicon = parser, catalog_lexicon
    return parser


def configured_lexicon() -> Path | None:
    """The catalog lexicon the default parser was loaded with (None: the seeds only), so
    that another process (an import's workers) can segment exactly as this one does."""
    return _default_lexicon


def default_parser() -> Parser:
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = Parser(load_lexicon(None))
    return _default


def parse(text: str) -> ParsedQuery:
    """Parse with the configured lexicon (seeds only until ``configure`` is called)."""
    return default_parser().parse(text)
