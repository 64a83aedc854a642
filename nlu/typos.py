"""Typo and homophone correction against the lexicon (连衣群 → 连衣裙, 一件带发 → 一件代发).

Buyers type pinyin and pick the wrong character of the same sound. So the index is keyed by
sound: every lexicon word of three or more Chinese characters is filed under the toneless
pinyin of its characters, with the usual confusions folded (zh/z, ch/c, sh/s, n/l, -ng/-n).
A stretch of the query is a candidate only when:
- it is not itself a known word (lexicon or the segmenter's dictionary), its edges do not cut
  a word the segmenter found (保暖 in 充电保暖 stays whole), and any lexicon word it
  overlaps lies wholly inside it and is left as it is (known words are never "corrected");
- the index holds a word of the same length under the same folded sound, differing in
  exactly one character, and not a numeral for a numeral (十件套 is not 四件套);
- rapidfuzz's similarity of the two tone-marked pinyin strings reaches ``MIN_CONFIDENCE``
  (a tone apart still passes; a different syllable does not).
Candidates are looked up by key, never by scanning the lexicon.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pypinyin.pinyin_dict import pinyin_dict
from rapidfuzz import fuzz

MIN_CONFIDENCE = 85.0  # pinned by tests/test_nlu_properties.py
MIN_LENGTH = 3
# two-character goods words (卫衣, 项链, 婚纱) are corrected only from an exact homophone,
# tones and all (卫依 → 卫衣, 项练 → 项链): a near sound is too weak a clue at that length
SHORT_LENGTH = 2
SHORT_CONFIDENCE = 100.0
MAX_LENGTH = 8

_HAN = re.compile(r"[\u4e00-\u9fff]+")
# zh/z, ch/c, sh/s and n/l are what southern speakers' pinyin blurs; -ng/-n is left out:
# it made 充电箱 (a real product) into 充电线
_FOLD = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("l", "n"))
_NUMERALS = set("零〇一二两三四五六七八九十百千万")


def _readings(ch: str) -> tuple[str, str] | None:
    """(tone-marked, folded toneless) first reading of a character, or None."""
    raw = pinyin_dict.get(ord(ch))
    if raw is None:
        return None
    marked = raw.split(",")[0]
    plain = "".join(c for c in unicodedata.normalize("NFD", marked) if not unicodedata.combining(c))
    plain = plain.replace("ü", "v")
    folded = plain
    for a, b in _FOLD:
        folded = folded.replace(a, b)
    return marked, folded


@dataclass(frozen=True)
class Fix:
    start: int
    end: int
    wrong: str
    right: str
    confidence: float


def _delimited(text: str, start: int, end: int, protected: list[tuple[int, int]]) -> bool:
    """Whether text[start:end] has no loose Chinese character right before or after it."""

    def loose(k: int) -> bool:
        if k < 0 or k >= len(text) or not _HAN.match(text[k]):
            return False
        return not any(a <= k < b for a, b in protected)

    return not loose(start - 1) and not loose(end)


class TypoIndex:
    def __init__(
        self,
        words: Iterable[str],
        is_known: Callable[[str], bool],
        short_words: Iterable[str] = (),
    ) -> None:
        """``words``: lexicon words to correct towards; ``is_known``: whether a string is a
        word in its own right (the lexicon or the segmenter's dictionary); ``short_words``:
        goods names: two-character ones may be corrected towards, and only they may absorb
        a stray character next to a known word."""
        self._by_sound: dict[tuple[str, ...], list[str]] = {}
        self._is_known = is_known
        self.lengths: set[int] = set()
        self._goods = frozenset(short_words)
        short = {w for w in short_words if len(w) == SHORT_LENGTH}
        for word in [*words, *short]:
            if not (MIN_LENGTH <= len(word) <= MAX_LENGTH or word in short):
                continue
            if not _HAN.fullmatch(word):
                continue
            key = self.key(word)
            if key is None:
                continue
            if word not in self._by_sound.get(key, ()):
                self._by_sound.setdefault(key, []).append(word)
            self.lengths.add(len(word))

    @staticmethod
    def key(text: str) -> tuple[str, ...] | None:
        out = []
        for ch in text:
            reading = _readings(ch)
            if reading is None:
                return None
            out.append(reading[1])
        return tuple(out)

    @staticmethod
    def _marked(text: str) -> str:
        return " ".join((_readings(ch) or (ch, ch))[0] for ch in text)

    def find(
        self,
        text: str,
        protected: list[tuple[int, int]],
        words: list[tuple[int, int]] | None = None,
    ) -> list[Fix]:
        """Corrections for ``text``. ``protected``: spans of lexicon words found, never changed;
        ``words``: spans of every word the segmenter found, which a window may not cut
        (None: no segmentation known, any window may be tried)."""
        every = range(len(text) + 1)
        starts = every if words is None else {s for s, _ in words} | {len(text)}
        ends = every if words is None else {e for _, e in words} | {0}
        fixes: list[Fix] = []
        for run in _HAN.finditer(text):
            start, stop = run.span()
            keys = [(_readings(ch) or ("", ""))[1] for ch in run.group()]
            for length in sorted(self.lengths, reverse=True):
                for i in range(start, stop - length + 1):
                    j = i + length
                    if i not in starts or j not in ends:
                        continue  # the window would cut a word in two
                    inside = [(a, b) for a, b in protected if i < b and a < j]
                    if any(a < i or b > j for a, b in inside):
                        continue
                    stray = bool(inside) and length - sum(b - a for a, b in inside) < 2
                    if (stray or length == SHORT_LENGTH) and not _delimited(text, i, j, protected):
                        # the weakest clues (two characters, or one stray character) count
                        # only for a stretch that stands apart: 卫依 or 牛仔库 on their own,
                        # not 磨方 inside 老金磨方芝麻丸 or 练 before 肺活量
                        continue
                    if any(i < f.end and f.start < j for f in fixes):
                        continue
                    window = text[i:j]
                    candidates = self._by_sound.get(tuple(keys[i - start : j - start]))
                    if not candidates or self._is_known(window):
                        continue
                    if stray:
                        # a known word plus one stray character (家 + 大码, 烫金 + 字) is
                        # two words, unless together they sound like goods (牛仔 + 库)
                        candidates = [c for c in candidates if c in self._goods]
                    fix = self._best(window, candidates, i, [(a - i, b - i) for a, b in inside])
                    if fix is not None:
                        fixes.append(fix)
        return sorted(fixes, key=lambda f: f.start)

    def _best(
        self, window: str, candidates: list[str], start: int, keep: list[tuple[int, int]]
    ) -> Fix | None:
        best: Fix | None = None
        for word in candidates:
            diff = [k for k, (a, b) in enumerate(zip(word, window, strict=True)) if a != b]
            if len(diff) != 1:
                continue
            k = diff[0]
            if any(a <= k < b for a, b in keep):
                continue  # the differing character belongs to a known word
            if window[k] in _NUMERALS and word[k] in _NUMERALS:
                continue
            score = fuzz.ratio(self._marked(window), self._marked(word))
            needed = SHORT_CONFIDENCE if len(word) == SHORT_LENGTH else MIN_CONFIDENCE
            if score >= needed and (best is None or score > best.confidence):
                best = Fix(start, start + len(window), window, word, score)
        return best
