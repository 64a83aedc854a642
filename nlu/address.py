"""Recipient parsing for drop-ship orders: one pasted block → name, mobile and address.

``parse_recipient(text) -> RecipientParse`` reads what a buyer pastes as the ship-to of a
drop-ship order, in any order and with or without labels::

    张三 13800138000 浙江省杭州市西湖区文三路100号
    收件人：李四，电话：138-0013-8000，地址：广东省 深圳市 南山区 科技园南区 …
    广州市天河区天河路385号 陈七 15012345678

and returns either a ``Recipient`` (name, mobile, province, city, district, street) or the
problem codes saying what is missing or wrong (``Problem``), together with whatever was read,
so a conversation can ask only for the rest. Field-by-field entry uses ``check_name``,
``parse_mobile`` and ``check_address``.

Decisions:

- Mobile: mainland only, 11 digits ``1[3-9]xxxxxxxxx``; spaces and dashes inside, a
  ``+86`` / ``0086`` / ``86-`` / ``(+86)`` prefix are accepted. Other digit runs that look
  like a phone (fixed lines such as 0571-88888888, 10 or 12 digits, 11 digits starting 10-12)
  give ``bad_mobile`` when no valid mobile is present. A 6-digit post code is ignored.
- Names are kept as typed (traditional characters stay: 張三); only full-width forms are
  folded (NFKC) and emoji dropped. Addresses are simplified (OpenCC t2s, as in
  ``nlu.normalize``) but keep their case (SOHO) and their punctuation (3#楼, (东门)).
- Divisions come from ``nlu/seeds/divisions.tsv``: the 34 provincial-level divisions, every
  prefecture-level division of the mainland (333), the county-level units provinces
  administer directly, Taiwan's main cities, and a list of county-level cities, districts and
  towns known by name (industrial belts). Output uses full names (浙江省, 杭州市). A city
  alone gives its province (广州 → 广东省); a municipality or SAR is both province and city
  (上海市 / 上海市); a known county-level city gives its city (义乌 → 金华市, 浙江省).
  Districts and counties are read by suffix (区, 县, 旗, 林区, 特区, 新区, and 市 after a
  city), without a table. A city the table lacks still parses when written ``XX市`` (or
  州/盟/地区); its province is then unknown unless written (``no_province``).
- Hong Kong and Macau addresses parse (province = city = 香港特别行政区), but the mobile
  must be a mainland one, so a local 8-digit number gives ``bad_mobile``.
- Limits: the whole text at most 300 characters, the street at most 200, a name at most 30.

Pure and synchronous: the seed file is read once, on first use.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Annotated, NamedTuple

import opencc
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_TEXT = 300
MAX_STREET = 200
MAX_NAME = 30


class Problem(StrEnum):
    """Why a block did not give a recipient (values are the codes)."""

    empty = "empty"  # nothing but blanks, punctuation or emoji
    no_name = "no_name"
    no_mobile = "no_mobile"
    bad_mobile = "bad_mobile"  # phone-like digits, but not a mainland mobile
    no_address = "no_address"  # no address, or nothing below the divisions (no street)
    no_province = "no_province"
    no_city = "no_city"
    city_mismatch = "city_mismatch"  # the city written is not in the province written
    too_long = "too_long"  # the text over 300 characters, the street over 200, a name over 30


_PROBLEM_ORDER = list(Problem)

Mobile = Annotated[str, StringConstraints(pattern=r"^1[3-9][0-9]{9}$")]


class Recipient(BaseModel):
    """Who a drop-ship parcel goes to. Names of divisions are full names (浙江省, 杭州市)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=MAX_NAME)
    mobile: Mobile
    province: str = Field(min_length=1)
    city: str = Field(min_length=1)
    district: str | None = None
    street: str = Field(min_length=1, max_length=MAX_STREET)

    def address_line(self) -> str:
        """The address as one line: 浙江省杭州市西湖区文三路100号 (a municipality once)."""
        parts = [self.province]
        if self.city != self.province:
            parts.append(self.city)
        if self.district:
            parts.append(self.district)
        parts.append(self.street)
        return "".join(parts)


class RecipientParse(BaseModel):
    """The outcome: a recipient, or the problems; the fields read so far either way."""

    model_config = ConfigDict(frozen=True)

    recipient: Recipient | None = None
    problems: list[Problem] = Field(default_factory=list)
    name: str | None = None
    mobile: str | None = None
    province: str | None = None
    city: str | None = None
    district: str | None = None
    street: str | None = None

    @property
    def ok(self) -> bool:
        return self.recipient is not None


class Address(NamedTuple):
    province: str
    city: str
    district: str | None
    street: str


# --------------------------------------------------------------------------- divisions

PROVINCIAL = frozenset({"municipality", "province", "autonomous_region", "sar"})
PREFECTURAL = frozenset({"city", "prefecture", "autonomous_prefecture", "league", "direct"})
LOCAL = frozenset({"county", "district", "town"})
_SAME_AS_CITY = frozenset({"municipality", "sar"})
# suffixes that make a name unambiguous on its own (杭州市, 浙江省, 延边州)
_STRONG_SUFFIX = re.compile(r"(?:省|市|自治区|特别行政区|特区|州|盟|地区|县|林区|区|镇|旗)$")


@dataclass(frozen=True)
class Division:
    kind: str
    full: str
    short: str
    parent: str  # the parent's full name; "" for provincial-level divisions


@dataclass
class _Table:
    by_full: dict[str, Division] = field(default_factory=dict)
    by_name: dict[str, list[tuple[Division, bool]]] = field(default_factory=dict)  # strong?
    max_len: int = 2

    def province_of(self, div: Division | None) -> Division | None:
        while div is not None and div.kind not in PROVINCIAL:
            div = self.by_full.get(div.parent)
        return div

    def city_of(self, div: Division) -> Division | None:
        while div is not None and div.kind not in PREFECTURAL | PROVINCIAL:
            div = self.by_full.get(div.parent)
        if div is not None and div.kind in PROVINCIAL:
            return div if div.kind in _SAME_AS_CITY else None
        return div


@cache
def divisions() -> _Table:
    """The divisions table from ``nlu/seeds/divisions.tsv`` (read once)."""
    text = resources.files("nlu").joinpath("seeds", "divisions.tsv").read_text(encoding="utf-8")
    table = _Table()
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cols = [*line.split("\t"), "", "", "", ""][:5]
        kind, full, short, parent, aliases = (c.strip() for c in cols)
        div = Division(kind, full, short, parent)
        table.by_full[full] = div
        names = [(full, True)]
        if short:
            names.append((short, False))
        names += [(a, bool(_STRONG_SUFFIX.search(a))) for a in aliases.split(",") if a]
        for name, strong in names:
            table.by_name.setdefault(name, []).append((div, strong))
            table.max_len = max(table.max_len, len(name))
    return table


# ---------------------------------------------------------------------- text preparation

_T2S = opencc.OpenCC("t2s")  # the conversion nlu.normalize applies
_KEEP = set(",;:、。|/#-()·.+_&'*")
_HARD = "\n\r\t"


def _clean_char(ch: str) -> str:
    if ch.isalnum() or ch in _KEEP:
        return ch
    if ch in _HARD:
        return ","
    cat = unicodedata.category(ch)
    if cat in ("Mn", "Me", "Cf", "Cs"):
        return ""  # combining marks, joiners, variation selectors, lone surrogates
    if cat == "Pd":
        return "-"
    if ch in "•‧・":
        return "·"
    return " "  # spaces, controls, emoji and other symbols, brackets used as ornaments


@dataclass
class _Text:
    orig: str  # full-width folded, noise removed: what names are taken from
    simp: str  # the same, simplified: what is read (same length as ``orig``)


def _prepare(text: str) -> _Text:
    folded = unicodedata.normalize("NFKC", text)
    cleaned = "".join(_clean_char(ch) for ch in folded)
    simp = _T2S.convert(cleaned)
    if len(simp) != len(cleaned):  # a phrase conversion changed the length: read simplified
        cleaned = simp
    return _Text(cleaned, simp)


def _has_content(s: str) -> bool:
    return any(ch.isalnum() for ch in s)


# --------------------------------------------------------------------------- phones

MARK = "\x00"  # replaces a phone number in the text; never present after _prepare
_DIGIT_RUN = re.compile(r"(?:\+|\(\+?)?\d(?:[ ()-]{0,2}\d)*\)?")
_MOBILE = re.compile(
    r"(?<!\d)(?:(?:\+|00) ?86[ -]?|\(\+?86\) ?|86-|86(?=1[3-9]\d{9}(?!\d)))?"
    r"(1(?:[ -]?\d){10})(?!\d)"
)
_VALID = re.compile(r"^1[3-9]\d{9}$")


@dataclass
class _Phones:
    mobile: str | None = None
    bad: bool = False
    spans: list[tuple[int, int]] = field(default_factory=list)


def _phone_like(piece: str) -> bool:
    digits = sum(ch.isdigit() for ch in piece)
    return digits >= 10 if " " in piece.strip() else digits >= 7


def _scan_phones(s: str) -> _Phones:
    found = _Phones()
    for run in _DIGIT_RUN.finditer(s):
        text, base = run.group(), run.start()
        last = 0
        for m in _MOBILE.finditer(text):
            digits = re.sub(r"\D", "", m.group(1))
            if _VALID.match(digits):
                found.mobile = found.mobile or digits
            else:
                found.bad = True
            found.spans.append((base + m.start(), base + m.end()))
            if _phone_like(text[last : m.start()]):
                found.bad = True
                found.spans.append((base + last, base + m.start()))
            last = m.end()
        if _phone_like(text[last:]):
            found.bad = True
            found.spans.append((base + last, run.end()))
    return found


def parse_mobile(text: str) -> str | None:
    """The first valid mainland mobile in ``text`` as 11 digits, or None.

    Accepts spaces and dashes inside and a +86 / 0086 / 86- prefix: ``+86 139 1234 5678``
    → ``13912345678``. Fixed lines, 10- or 12-digit numbers give None.
    """
    return _scan_phones(_prepare(text).simp).mobile


# --------------------------------------------------------------------------- labels

_LABELS = {
    "name": "收件人姓名 收货人姓名 收件人名字 收货人名字 收件人 收货人 联系人 姓名 名字 name",
    "phone": "收件人电话 收货人电话 收件人手机 收货人手机 联系电话 联系手机 联系方式 手机号码 "
    "电话号码 手机号 手机 电话 tel phone mobile",
    "address": "收件人地址 收货人地址 收货地址 收件地址 详细地址 所在地区 所在地址 所在地 省市区 "
    "地区 街道地址 地址 address addr",
    "note": "收件信息 收货信息 备注 留言",
}
_LABEL_KIND = {w: kind for kind, words in _LABELS.items() for w in words.split()}
# labels read without a colon only at the start of a piece, and only these
_BARE_OK = frozenset(
    {w for w in _LABEL_KIND if len(w) >= 3 and not w.isascii()} | {"姓名", "地址", "备注"}
)
_BARE_PHONE = frozenset({"手机", "电话"})  # without a colon only before the number
_LABEL_RE = re.compile(
    "(" + "|".join(sorted(map(re.escape, _LABEL_KIND), key=len, reverse=True)) + r")( ?:)?",
    re.IGNORECASE,
)
_PIECE_START = set(" ,;、。|/" + MARK)


@dataclass
class _Region:
    start: int
    end: int
    kind: str | None  # None: unlabeled; else name, phone, address or note


def _regions(s: str) -> list[_Region]:
    """The text cut at its labels; a label's region runs to the next label."""
    labels: list[tuple[int, int, str]] = []
    for m in _LABEL_RE.finditer(s):
        word, colon = m.group(1).lower(), bool(m.group(2))
        at_start = m.start() == 0 or s[m.start() - 1] in _PIECE_START
        if not colon:
            nxt = s[m.end() :].lstrip(" ")
            if word in _BARE_PHONE:
                if not (at_start and nxt[:1] and (nxt[0].isdigit() or nxt[0] in "+(" + MARK)):
                    continue
            elif not (at_start and word in _BARE_OK):
                continue
        elif word.isascii() and not at_start:
            continue
        labels.append((m.start(), m.end(), _LABEL_KIND[word]))
    if not labels:
        return [_Region(0, len(s), None)]
    regions = [_Region(0, labels[0][0], None)]
    for n, (_, end, kind) in enumerate(labels):
        stop = labels[n + 1][0] if n + 1 < len(labels) else len(s)
        regions.append(_Region(end, stop, kind))
    return [r for r in regions if r.end > r.start]


# --------------------------------------------------------------------------- tokens

_TOKEN = re.compile(r"[^ ,;:、。|/" + MARK + r"]+")
_POSTCODE = re.compile(r"^\d{6}$")
# pleasantries pasted along with an address: dropped
_COURTESY = re.compile(r"^(?:谢谢|多谢|感谢|麻烦了?|辛苦了?|请?尽快发货|老板|亲|您好|你好)+[!.~]*$")


@dataclass
class _Token:
    start: int
    end: int
    text: str  # simplified
    orig: str  # as typed (folded)


def _groups(t: _Text, masked: str, regions: list[_Region]) -> list[list[_Token]]:
    """Tokens of the regions, in groups a phone number or a region boundary separates."""
    groups: list[list[_Token]] = []
    for r in regions:
        current: list[_Token] = []
        prev_end = r.start
        for m in _TOKEN.finditer(masked, r.start, r.end):
            if not _has_content(m.group()):
                continue
            if MARK in masked[prev_end : m.start()] and current:
                groups.append(current)
                current = []
            current.append(_Token(m.start(), m.end(), m.group(), t.orig[m.start() : m.end()]))
            prev_end = m.end()
        if current:
            groups.append(current)
    return groups


# --------------------------------------------------------------------------- names

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff"
_NAME_CJK = re.compile(rf"^[{_CJK}]{{2,4}}$")
_NAME_DOTTED = re.compile(rf"^[{_CJK}]{{1,8}}(?:·[{_CJK}]{{1,8}}){{1,3}}$")
_NAME_LATIN = re.compile(r"^[A-Za-z][A-Za-z'.-]{1,29}$")
_NOT_NAME = re.compile(
    "谢谢|麻烦|快递|门卫|前台|备注|代收|驿站|丰巢|邮编|收件|收货|地址|电话|手机|姓名|发货|包邮|尽快"
    "|订单|号码|联系|小区|公司|大厦|大学|学校|医院|广场|中心|花园|公寓|宿舍|市场|工业|仓库|一件|代发"
)
_ADDRESS_CHAR = re.compile(
    rf"[路街道巷弄号栋幢室楼村镇乡区县市省州盟旗]$|\d.*[{_CJK}]|[{_CJK}].*\d"
)
_SURNAMES = (
    "欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|长孙|宇文|司徒|夏侯|令狐|端木|"
    "[王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱"
    "严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚"
    "符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农"
    "司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁"
    "沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝]"
)
_GLUED_NAME = re.compile(
    rf"^(.*[\d号室栋幢楼座层户门])((?:{_SURNAMES})[{_CJK}]{{1,2}}|[{_CJK}]{{1,8}}(?:·[{_CJK}]{{1,8}})+)$"
)


def _name_like(token: str, *, latin: bool = True) -> bool:
    """A token that reads as a person's name in an unlabeled block."""
    if _NOT_NAME.search(token) or token in divisions().by_name:
        return False
    if _NAME_CJK.match(token) or _NAME_DOTTED.match(token):
        return len(token) <= MAX_NAME and not _ADDRESS_CHAR.search(token)
    return latin and bool(_NAME_LATIN.match(token))


def check_name(text: str) -> Problem | None:
    """None when ``text`` is a usable recipient name, else the problem code.

    Letters of any script, with ·, spaces, dots, apostrophes and dashes between; at least
    two characters, at most 30; no digits.
    """
    name = _clean_name(text)
    if not name:
        return Problem.no_name
    if len(name) > MAX_NAME:
        return Problem.too_long
    if len(name.replace(" ", "")) < 2 or not re.fullmatch(
        r"[^\W\d_]+(?:[ ·.'-]+[^\W\d_]+)*\.?", name
    ):
        return Problem.no_name
    return None


def _clean_name(text: str) -> str:
    return " ".join(_prepare(text).orig.replace(",", " ").split())


# --------------------------------------------------------------------------- addresses

# a short name (杭州) is not a division when a road or a district follows (南京路, 朝阳区)
_ROAD_NEXT = re.compile(r"[东西南北中]{0,2}(?:大道|大街|路|街|巷|弄)")
_WEAK_NEXT = re.compile(r"[东西南北中]{0,2}(?:大道|大街|路|街|巷|弄)|[区县镇乡村里]")
_DISTRICT = re.compile(rf"([{_CJK}]{{1,8}}?)(自治县|自治旗|林区|特区|新区|区|县|旗|市)")
_DISTRICT_BAD = re.compile(r"[省市路街道巷弄号园村镇乡]")
_UNKNOWN_CITY = re.compile(rf"([{_CJK}]{{2,4}}?)(市|州|盟|地区)(?!场)")
_UNKNOWN_BAD = re.compile(r"[省区县路街道巷弄号园村镇乡]")
_NOT_DISTRICT = re.compile(r"(?:小|社|校|景|厂|片|街|园|住宅|生活|宿舍|工业|商业)区$")
_SKIP = " -,"


@dataclass
class _Match:
    div: Division
    strong: bool
    end: int


def _match(a: str, i: int, kinds: frozenset[str], parent: str | None = None) -> _Match | None:
    """The longest division of ``kinds`` named at ``a[i:]`` (one under ``parent`` first)."""
    table = divisions()
    for length in range(min(table.max_len, len(a) - i), 1, -1):
        hits = []
        for div, strong in table.by_name.get(a[i : i + length], ()):
            if div.kind in kinds and _name_ok(div, strong, a, i + length):
                hits.append(_Match(div, strong, i + length))
        if hits:
            if parent is not None:
                hits.sort(key=lambda h: h.div.parent != parent)
            return hits[0]
    return None


def _name_ok(div: Division, strong: bool, a: str, end: int) -> bool:
    nxt = a[end : end + 4]
    if strong:
        return not (a[end - 1] == "市" and nxt.startswith("场"))
    if div.kind == "town":
        return not _ROAD_NEXT.match(nxt)
    if div.kind in PROVINCIAL and nxt.startswith("市"):
        return div.kind in _SAME_AS_CITY  # 吉林市 is the city; 北京市 is 北京
    return not _WEAK_NEXT.match(nxt)


def _skip(a: str, i: int) -> int:
    while i < len(a) and a[i] in _SKIP:
        i += 1
    return i


def _district_at(a: str, i: int) -> re.Match[str] | None:
    m = _DISTRICT.match(a, i)
    if m is None:
        return None
    name, suffix = m.group(1), m.group(2)
    if _DISTRICT_BAD.search(name) or _NOT_DISTRICT.search(m.group()):
        return None
    if suffix == "市" and (len(name) < 2 or a.startswith("场", m.end())):
        return None
    known = divisions().by_name.get(m.group(), ())
    if any(d.kind in PROVINCIAL | PREFECTURAL for d, _ in known):
        return None  # a city, not a district
    return m


@dataclass
class _Parsed:
    province: Division | None = None
    city: Division | None = None
    unknown_city: str | None = None
    district: str | None = None
    mismatch: bool = False
    rest: str = ""
    score: float = 0.0
    found: bool = False  # something at the start reads as a division


def _parse_divisions(a: str, *, loose: bool) -> _Parsed:
    """Divisions at the start of ``a`` and the street after them.

    ``loose``: also read an unknown ``XX市`` or a bare district at the very start (used only
    where a piece of text begins, never in the middle of a word).
    """
    table = divisions()
    out = _Parsed()
    points: list[tuple[float, bool]] = []  # (weight, strong) of each division read
    i = _skip(a, 0)
    prov = _match(a, i, PROVINCIAL)
    if prov:
        out.province = prov.div
        points.append((3 + prov.strong, prov.strong))
        i = _skip(a, prov.end)
    town = False
    if prov and prov.div.kind in _SAME_AS_CITY:
        out.city = prov.div
        again = _match(a, i, PROVINCIAL)
        if again and again.div is prov.div:  # 北京 北京市 朝阳区
            i = _skip(a, again.end)
        if a.startswith("市辖区", i):
            i = _skip(a, i + 3)
    else:
        city = _match(a, i, PREFECTURAL, prov.div.full if prov else None)
        if city:
            out.city = city.div
            points.append((3 + city.strong, city.strong))
            out.mismatch = prov is not None and city.div.parent != prov.div.full
            i = _skip(a, city.end)
            if not city.strong and a.startswith("市", i) and city.div.kind != "city":
                out.district = city.div.short + "市"  # 大理市 in 大理州
                i = _skip(a, i + 1)
        elif (prov or loose) and _match(a, i, LOCAL) is None:
            m = _UNKNOWN_CITY.match(a, i)
            if m and not _UNKNOWN_BAD.search(m.group(1)):
                out.unknown_city = m.group()
                points.append((2, True))
                i = _skip(a, m.end())
    if out.district is None:
        local = _match(a, i, LOCAL, out.city.full if out.city else None)
        fits = local is not None and (
            out.unknown_city is None
            and (out.city is None or table.city_of(local.div) in (out.city, None))
            and (out.province is None or table.province_of(local.div) is out.province)
        )
        if local is not None and fits:
            if out.city is None:
                out.city = table.city_of(local.div)
            if local.div.kind == "town":  # the town stays in the street
                town = True
                points.append((1, local.strong))
            else:
                out.district = local.div.full
                points.append((2, local.strong))
                i = _skip(a, local.end)
        elif points or loose:
            m = _district_at(a, i)
            if m:
                out.district = m.group()
                points.append((2, True))
                i = _skip(a, m.end())
    if out.province is None and out.city is not None:
        out.province = table.province_of(out.city)
    out.rest = a[i:].strip(_SKIP)
    out.found = bool(points)
    out.score = sum(w for w, _ in points) + bool(out.rest)
    if len(points) == 1 and not points[0][1] and not out.rest and not town:
        out.score = 1.0  # one short name alone (a name like 陈吉林 holds one)
    return out


def _address_ish(token: str) -> bool:
    return (
        bool(re.search(rf"[{_CJK}]", token))
        and not _name_like(token)
        and bool(re.search(r"[路街道巷弄号栋幢室楼村镇乡区县市省]|\d", token))
    )


def _compact(s: str) -> str:
    """Spaces next to Chinese characters dropped, others collapsed: 科技园南区深圳湾…, Room 1201."""
    s = " ".join(s.split())
    s = re.sub(rf"(?<=[{_CJK}]) | (?=[{_CJK}])", "", s)
    return s.strip(" ,-")


@dataclass
class _Choice:
    group: int
    token: int
    pos: int
    parsed: _Parsed
    score: float


def _run_text(group: list[_Token], token: int, pos: int) -> str:
    return " ".join([group[token].text[pos:], *(t.text for t in group[token + 1 :])])


def _choose_address(groups: list[list[_Token]]) -> _Choice | None:
    """Where the address starts: the start that reads the most divisions, else a street."""
    table = divisions()
    best: _Choice | None = None
    for gi, group in enumerate(groups):
        for ti, tok in enumerate(group):
            text = tok.text
            for p in range(len(text)):
                named = any(
                    text[p : p + n] in table.by_name
                    for n in range(2, min(table.max_len, len(text) - p) + 1)
                )
                if not named and p:
                    continue
                parsed = _parse_divisions(_run_text(group, ti, p), loose=p == 0)
                if not parsed.found:
                    continue
                score = parsed.score
                if p and not _name_like(text[:p]):
                    score -= 2  # the start cuts a word that is not a name
                if best is None or score > best.score:
                    best = _Choice(gi, ti, p, parsed, score)
    if best is not None:
        return best
    for gi, group in enumerate(groups):  # no division at all: the first street-like piece
        for ti, tok in enumerate(group):
            if _address_ish(tok.text):
                parsed = _parse_divisions(_run_text(group, ti, 0), loose=True)
                return _Choice(gi, ti, 0, parsed, 0.0)
    return None


def _drop_postcodes(groups: list[list[_Token]]) -> list[list[_Token]]:
    out = []
    for group in groups:
        kept = [t for t in group if not (_POSTCODE.match(t.text) or _COURTESY.match(t.text))]
        if kept:
            out.append(kept)
    return out


def _mask(s: str, spans: list[tuple[int, int]]) -> str:
    chars = list(s)
    for start, end in spans:
        chars[start:end] = MARK * (end - start)
    return "".join(chars)


@dataclass
class _Address:
    province: str | None
    city: str | None
    district: str | None
    street: str
    mismatch: bool

    def problems(self) -> list[Problem]:
        problems = []
        if self.province is None:
            problems.append(Problem.no_province)
        if self.city is None:
            problems.append(Problem.no_city)
        if self.mismatch:
            problems.append(Problem.city_mismatch)
        if not self.street:
            problems.append(Problem.no_address)
        elif len(self.street) > MAX_STREET:
            problems.append(Problem.too_long)
        return problems


def _address_of(parsed: _Parsed, rest: str) -> _Address:
    city = parsed.city.full if parsed.city else parsed.unknown_city
    province = parsed.province.full if parsed.province else None
    return _Address(province, city, parsed.district, _compact(rest), parsed.mismatch)


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(set(problems), key=_PROBLEM_ORDER.index)


def check_address(text: str) -> Address | list[Problem]:
    """``(province, city, district, street)`` read from an address typed on its own, or the
    problem codes (``empty``, ``no_address``, ``no_province``, ``no_city``,
    ``city_mismatch``, ``too_long``). A phone number or labels in the text are ignored."""
    if len(text) > MAX_TEXT:
        return [Problem.too_long]
    t = _prepare(text)
    if not _has_content(t.simp):
        return [Problem.empty]
    masked = _mask(t.simp, _scan_phones(t.simp).spans)
    regions = [r for r in _regions(masked) if r.kind != "note"]
    tokens = [tok for g in _groups(t, masked, regions) for tok in g]
    groups = _drop_postcodes([tokens])
    choice = _choose_address(groups)
    if choice is None:
        return [Problem.no_address]
    address = _address_of(choice.parsed, choice.parsed.rest)
    problems = address.problems()
    if problems:
        return _sorted(problems)
    assert address.province is not None and address.city is not None
    return Address(address.province, address.city, address.district, address.street)


def _labeled_name(tokens: list[_Token]) -> str:
    """The name a 收件人 label gives: its first token, or its Latin words (Tom Lee)."""
    first = tokens[0].orig
    if not first.isascii():
        return first
    words = [first]
    for tok in tokens[1:]:
        if not (tok.orig.isascii() and tok.orig.isalpha()):
            break
        words.append(tok.orig)
    return " ".join(words)


def _first_name(tokens: list[_Token]) -> str | None:
    """The first name-like token, a Chinese one before a Latin one (ZHANG 张三 → 张三)."""
    for latin in (False, True):
        for tok in tokens:
            if _name_like(tok.text, latin=latin):
                return tok.orig
    return None


def parse_recipient(text: str) -> RecipientParse:
    """Read one pasted block into a ``Recipient`` or the problems with it (see module doc)."""
    if len(text) > MAX_TEXT:
        return RecipientParse(problems=[Problem.too_long])
    t = _prepare(text)
    if not _has_content(t.simp):
        return RecipientParse(problems=[Problem.empty])
    phones = _scan_phones(t.simp)
    masked = _mask(t.simp, phones.spans)
    pool: list[list[_Token]] = []
    address_tokens: list[_Token] = []
    labeled: list[_Token] | None = None
    for region in _regions(masked):
        groups = _groups(t, masked, [region])
        if region.kind == "name" and labeled is None and groups:
            tokens = [tok for g in groups for tok in g]
            taken = len(_labeled_name(tokens).split(" "))
            labeled = tokens[:taken]
            for g in groups:  # what follows the name in its region is read as unlabeled
                kept = [tok for tok in g if tok not in labeled]
                if kept:
                    pool.append(kept)
        elif region.kind == "address":
            address_tokens += [tok for g in groups for tok in g]
        elif region.kind != "note":
            pool += groups
    pool = _drop_postcodes(pool)

    problems: list[Problem] = []
    name: str | None = None
    if labeled:
        candidate = " ".join(tok.orig for tok in labeled)
        problem = check_name(candidate)
        if problem is None:
            name = candidate
        else:
            problems.append(problem)

    # the address: from its label, else from the unlabeled text
    source = _drop_postcodes([address_tokens]) if address_tokens else pool
    choice = _choose_address(source)
    address: _Address | None = None
    if choice is not None:
        group = source[choice.group]
        start = group[choice.token]
        run = group[choice.token :]
        rest = choice.parsed.rest
        if address_tokens:
            before = [tok for g in pool for tok in g] + group[: choice.token]
            after: list[_Token] = []
        else:
            before = [tok for g in source[: choice.group] for tok in g] + group[: choice.token]
            after = [tok for g in source[choice.group + 1 :] for tok in g]
        if name is None and not problems:
            prefix_orig = start.orig[: choice.pos]
            if choice.pos and _name_like(start.text[: choice.pos]):
                name = prefix_orig
            else:
                name = _first_name([*before, *after])
        if name is None and not problems:
            last = run[-1]
            if (
                len(run) > 1
                and _name_like(last.text, latin=False)
                and (rest == last.text or rest.endswith(" " + last.text))
            ):
                name = last.orig
                rest = rest[: -len(last.text)]
        address = _address_of(choice.parsed, rest)
        if name is None and not problems and address.street:
            glued = _GLUED_NAME.match(address.street)
            if glued and run[-1].text.endswith(glued.group(2)):
                name = run[-1].orig[-len(glued.group(2)) :]
                address.street = glued.group(1)
    elif name is None and not problems:
        name = _first_name([tok for g in pool for tok in g])

    if name is None and Problem.too_long not in problems:
        problems.append(Problem.no_name)
    if phones.mobile is None:
        problems.append(Problem.bad_mobile if phones.bad else Problem.no_mobile)
    if address is None:
        problems.append(Problem.no_address)
    else:
        problems += address.problems()
    problems = _sorted(problems)
    found = {
        "name": name,
        "mobile": phones.mobile,
        "province": address.province if address else None,
        "city": address.city if address else None,
        "district": address.district if address else None,
        "street": (address.street or None) if address else None,
    }
    if problems:
        return RecipientParse(problems=problems, **found)
    assert name is not None and address is not None
    recipient = Recipient(
        name=name,
        mobile=phones.mobile,
        province=address.province,
        city=address.city,
        district=address.district,
        street=address.street,
    )
    return RecipientParse(recipient=recipient, **found)
