"""Recipient parsing for drop-ship orders (``nlu.address``).

- the examples of the brief and realistic variants (orders, labels, separators, traditional
  characters, spaced and prefixed phone numbers, emoji), each with every field asserted;
- every problem code from a text that has exactly that problem;
- the field-by-field helpers ``parse_mobile``, ``check_name``, ``check_address``;
- the divisions table: 34 provincial-level divisions, the 333 prefecture-level ones of the
  mainland, the industrial-belt cities of the glossary;
- hypothesis: any text parses without raising, and a recipient always has a valid mobile.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nlu.address import (
    MAX_STREET,
    MAX_TEXT,
    PREFECTURAL,
    PROVINCIAL,
    Address,
    Problem,
    Recipient,
    RecipientParse,
    check_address,
    check_name,
    divisions,
    parse_mobile,
    parse_recipient,
)

HZ = ("浙江省", "杭州市", "西湖区")

# text → (name, mobile, province, city, district, street)
POSITIVE: list[tuple[str, tuple[str, str, str, str, str | None, str]]] = [
    # the brief's examples
    (
        "张三 13800138000 浙江省杭州市西湖区文三路100号",
        ("张三", "13800138000", *HZ, "文三路100号"),
    ),
    (
        "收件人：李四，电话：138-0013-8000，地址：广东省 深圳市 南山区 科技园南区 "
        "深圳湾科技生态园10栋",
        ("李四", "13800138000", "广东省", "深圳市", "南山区", "科技园南区深圳湾科技生态园10栋"),
    ),
    (
        "王五13912345678上海市浦东新区世纪大道100号",
        ("王五", "13912345678", "上海市", "上海市", "浦东新区", "世纪大道100号"),
    ),
    (
        "赵六 +86 139 1234 5678 北京朝阳区建国路88号SOHO现代城",
        ("赵六", "13912345678", "北京市", "北京市", "朝阳区", "建国路88号SOHO现代城"),
    ),
    (
        "广州市天河区天河路385号 陈七 15012345678",
        ("陈七", "15012345678", "广东省", "广州市", "天河区", "天河路385号"),
    ),
    (
        "新疆乌鲁木齐市天山区解放北路1号 马八 13712345678",
        ("马八", "13712345678", "新疆维吾尔自治区", "乌鲁木齐市", "天山区", "解放北路1号"),
    ),
    (
        "内蒙古自治区呼和浩特市新城区中山东路8号 张三 13800138000",
        ("张三", "13800138000", "内蒙古自治区", "呼和浩特市", "新城区", "中山东路8号"),
    ),
    (
        "香港九龙弥敦道100号 李四 13800138000",
        ("李四", "13800138000", "香港特别行政区", "香港特别行政区", None, "九龙弥敦道100号"),
    ),
    # Taobao's "copy address" form: 86- prefix, spaced divisions, post code at the end
    (
        "张三，86-13800138000，浙江省 杭州市 西湖区 文三路100号 ，310000",
        ("张三", "13800138000", *HZ, "文三路100号"),
    ),
    # labels on separate lines, traditional characters: the name stays as typed
    (
        "收貨人: 張三\n手機號碼: 13800138000\n"
        "所在地區: 浙江省 杭州市 西湖區\n詳細地址: 文三路100號",
        ("張三", "13800138000", *HZ, "文三路100号"),
    ),
    # labels in another order, half-width colons
    (
        "电话:13800138000 姓名:张三 地址:浙江省杭州市西湖区文三路100号",
        ("张三", "13800138000", *HZ, "文三路100号"),
    ),
    # labels without colons
    (
        "收货人张三 手机13800138000 浙江省杭州市西湖区文三路100号",
        ("张三", "13800138000", *HZ, "文三路100号"),
    ),
    # semicolons and the ideographic comma
    (
        "张三；13800138000；浙江省杭州市西湖区文三路100号",
        ("张三", "13800138000", *HZ, "文三路100号"),
    ),
    (
        "张三、13800138000、浙江省杭州市西湖区文三路100号",
        ("张三", "13800138000", *HZ, "文三路100号"),
    ),
    # a pleasantry at the end is dropped
    (
        "张三，13800138000，浙江省杭州市西湖区文三路100号，谢谢",
        ("张三", "13800138000", *HZ, "文三路100号"),
    ),
    # phone with spaces / 0086 / 86 glued / full-width digits
    (
        "张三 138 0013 8000 浙江省杭州市西湖区文三路100号",
        ("张三", "13800138000", *HZ, "文三路100号"),
    ),
    (
        "张三 0086 13800138000 浙江省杭州市西湖区文三路100号",
        ("张三", "13800138000", *HZ, "文三路100号"),
    ),
    (
        "张三 8613800138000 浙江省杭州市西湖区文三路100号",
        ("张三", "13800138000", *HZ, "文三路100号"),
    ),
    (
        "张三 １３８００１３８０００ 浙江省杭州市西湖区文三路１００号",
        ("张三", "13800138000", *HZ, "文三路100号"),
    ),
    # emoji noise
    (
        "📦张三😊 13800138000 🏠浙江省杭州市西湖区文三路100号✨",
        ("张三", "13800138000", *HZ, "文三路100号"),
    ),
    # address first, phone in the middle, name last
    (
        "浙江省杭州市西湖区文三路100号 13800138000 张三",
        ("张三", "13800138000", *HZ, "文三路100号"),
    ),
    # name glued to the street, phone after it
    (
        "广州市天河区天河路385号陈七15012345678",
        ("陈七", "15012345678", "广东省", "广州市", "天河区", "天河路385号"),
    ),
    # the city without 市, the province inferred
    (
        "杭州西湖区文三路100号 张三 13800138000",
        ("张三", "13800138000", *HZ, "文三路100号"),
    ),
    # Taobao's municipality form: 北京 北京市 / 上海 上海市
    (
        "北京市北京市朝阳区建国路88号 张三 13800138000",
        ("张三", "13800138000", "北京市", "北京市", "朝阳区", "建国路88号"),
    ),
    (
        "上海 上海市 浦东新区 世纪大道100号 张三 13800138000",
        ("张三", "13800138000", "上海市", "上海市", "浦东新区", "世纪大道100号"),
    ),
    (
        "重庆市万州区太白路1号 张三 13800138000",
        ("张三", "13800138000", "重庆市", "重庆市", "万州区", "太白路1号"),
    ),
    # province and city that share a name
    (
        "吉林省吉林市船营区解放路1号 陈吉林 13800138000",
        ("陈吉林", "13800138000", "吉林省", "吉林市", "船营区", "解放路1号"),
    ),
    # a name holding a division name does not pull the address
    (
        "陈吉林 13800138000 浙江省杭州市西湖区文三路100号",
        ("陈吉林", "13800138000", *HZ, "文三路100号"),
    ),
    # autonomous prefecture by its XX州 short form, county by suffix
    (
        "青海省海南州共和县恰卜恰镇1号 张三 13800138000",
        ("张三", "13800138000", "青海省", "海南藏族自治州", "共和县", "恰卜恰镇1号"),
    ),
    # county-level cities: the city and the province from the table
    (
        "浙江义乌稠城街道工人北路1号 王五 13800138000",
        ("王五", "13800138000", "浙江省", "金华市", "义乌市", "稠城街道工人北路1号"),
    ),
    (
        "江苏省昆山市玉山镇前进路1号 张三 13800138000",
        ("张三", "13800138000", "江苏省", "苏州市", "昆山市", "玉山镇前进路1号"),
    ),
    (
        "福建省泉州市晋江市陈埭镇1号 张三 13800138000",
        ("张三", "13800138000", "福建省", "泉州市", "晋江市", "陈埭镇1号"),
    ),
    # a county-level city named like its prefecture
    (
        "云南省大理市下关镇人民路1号 张三 13800138000",
        ("张三", "13800138000", "云南省", "大理白族自治州", "大理市", "下关镇人民路1号"),
    ),
    # a belt town alone gives its city
    (
        "织里镇珍贝路1号 张三 13800138000",
        ("张三", "13800138000", "浙江省", "湖州市", None, "织里镇珍贝路1号"),
    ),
    # directly administered county-level city
    (
        "湖北省仙桃市沔阳大道1号 张三 13800138000",
        ("张三", "13800138000", "湖北省", "仙桃市", None, "沔阳大道1号"),
    ),
    # Taiwan
    (
        "台湾省台北市信义区信义路五段7号 张三 13800138000",
        ("张三", "13800138000", "台湾省", "台北市", "信义区", "信义路五段7号"),
    ),
    # names: compound surname glued to the phone, 先生, a dotted name, a Latin name
    (
        "欧阳娜娜13800138000湖南省长沙市岳麓区麓山南路932号",
        ("欧阳娜娜", "13800138000", "湖南省", "长沙市", "岳麓区", "麓山南路932号"),
    ),
    (
        "张先生 13800138000 江苏省苏州市吴中区木渎镇金山路8号",
        ("张先生", "13800138000", "江苏省", "苏州市", "吴中区", "木渎镇金山路8号"),
    ),
    (
        "买买提·艾力 13800138000 新疆维吾尔自治区喀什地区喀什市人民路1号",
        ("买买提·艾力", "13800138000", "新疆维吾尔自治区", "喀什地区", "喀什市", "人民路1号"),
    ),
    (
        "Tom 13800138000 浙江省杭州市西湖区文三路100号",
        ("Tom", "13800138000", *HZ, "文三路100号"),
    ),
    (
        "收件人: Tom Lee, 电话: 13800138000, 地址: 浙江省杭州市西湖区文三路100号",
        ("Tom Lee", "13800138000", *HZ, "文三路100号"),
    ),
    # the street keeps its building and its case
    (
        "浙江省杭州市西湖区文三路100号 华星大厦3楼 张三 13800138000",
        ("张三", "13800138000", *HZ, "文三路100号华星大厦3楼"),
    ),
    (
        "张三 13800138000 浙江省杭州市西湖区文三路100号 3#楼 (东门)",
        ("张三", "13800138000", *HZ, "文三路100号3#楼(东门)"),
    ),
    # a fixed line next to the mobile is ignored, the mobile kept
    (
        "张三 0571-88888888 13800138000 浙江省杭州市西湖区文三路100号",
        ("张三", "13800138000", *HZ, "文三路100号"),
    ),
]


@pytest.mark.parametrize(("text", "expected"), POSITIVE, ids=[t for t, _ in POSITIVE])
def test_positive(text: str, expected: tuple) -> None:
    result = parse_recipient(text)
    assert result.problems == []
    assert result.ok
    r = result.recipient
    assert r is not None
    assert (r.name, r.mobile, r.province, r.city, r.district, r.street) == expected
    # the fields read are repeated on the outcome
    assert (result.name, result.mobile, result.street) == (r.name, r.mobile, r.street)


def test_recipient_is_frozen_and_renders_one_line() -> None:
    r = parse_recipient("张三 13800138000 浙江省杭州市西湖区文三路100号").recipient
    assert r is not None
    with pytest.raises(ValueError):
        r.name = "李四"  # type: ignore[misc]
    assert r.address_line() == "浙江省杭州市西湖区文三路100号"
    sh = parse_recipient("王五13912345678上海市浦东新区世纪大道100号").recipient
    assert sh is not None
    assert sh.address_line() == "上海市浦东新区世纪大道100号"
    assert Recipient.model_validate(r.model_dump()) == r


def test_json_codes_are_strings() -> None:
    result = parse_recipient("张三 0571-88888888 浙江省杭州市西湖区文三路100号")
    assert result.model_dump(mode="json")["problems"] == ["bad_mobile"]
    assert RecipientParse.model_validate_json(result.model_dump_json()) == result


# text → (problems, fields read: name, mobile, province, city)
NEGATIVE: list[tuple[str, list[str], tuple]] = [
    ("", ["empty"], (None, None, None, None)),
    ("   \n\t ", ["empty"], (None, None, None, None)),
    ("😀🎁✨，。", ["empty"], (None, None, None, None)),
    (
        "13800138000 浙江省杭州市西湖区文三路100号",
        ["no_name"],
        (None, "13800138000", "浙江省", "杭州市"),
    ),
    (
        "张三 浙江省杭州市西湖区文三路100号",
        ["no_mobile"],
        ("张三", None, "浙江省", "杭州市"),
    ),
    # fixed lines, with or without the area code's dash
    (
        "张三 0571-88888888 浙江省杭州市西湖区文三路100号",
        ["bad_mobile"],
        ("张三", None, "浙江省", "杭州市"),
    ),
    (
        "张三 (010)12345678 北京市朝阳区建国路88号",
        ["bad_mobile"],
        ("张三", None, "北京市", "北京市"),
    ),
    # 12, 10 digits; 11 digits starting 12
    (
        "张三 138001380001 浙江省杭州市西湖区文三路100号",
        ["bad_mobile"],
        ("张三", None, "浙江省", "杭州市"),
    ),
    (
        "张三 138 0013 800 浙江省杭州市西湖区文三路100号",
        ["bad_mobile"],
        ("张三", None, "浙江省", "杭州市"),
    ),
    (
        "张三 12345678901 浙江省杭州市西湖区文三路100号",
        ["bad_mobile"],
        ("张三", None, "浙江省", "杭州市"),
    ),
    # a Hong Kong number is not a mainland mobile
    (
        "陈大文 +852 9123 4567 香港九龙弥敦道100号",
        ["bad_mobile"],
        ("陈大文", None, "香港特别行政区", "香港特别行政区"),
    ),
    ("张三 13800138000", ["no_address"], ("张三", "13800138000", None, None)),
    # divisions but no street
    (
        "张三 13800138000 浙江省杭州市",
        ["no_address"],
        ("张三", "13800138000", "浙江省", "杭州市"),
    ),
    (
        "张三 13800138000 文三路100号",
        ["no_province", "no_city"],
        ("张三", "13800138000", None, None),
    ),
    (
        "张三 13800138000 浙江省文三路100号",
        ["no_city"],
        ("张三", "13800138000", "浙江省", None),
    ),
    # a city the table does not know, written with 市: read, but its province is unknown
    (
        "张三 13800138000 某某市某某区幸福路1号",
        ["no_province"],
        ("张三", "13800138000", None, "某某市"),
    ),
    # a district alone (朝阳区 is in 北京 and in 长春): no guess
    (
        "朝阳区建国路88号 张三 13800138000",
        ["no_province", "no_city"],
        ("张三", "13800138000", None, None),
    ),
    (
        "浙江省广州市天河区天河路1号 张三 13800138000",
        ["city_mismatch"],
        ("张三", "13800138000", "浙江省", "广州市"),
    ),
    # a labeled name that is not a name
    (
        "收件人：12345，电话：13800138000，地址：浙江省杭州市西湖区文三路100号",
        ["no_name"],
        (None, "13800138000", "浙江省", "杭州市"),
    ),
    # everything missing at once
    ("你好", ["no_name", "no_mobile", "no_address"], (None, None, None, None)),
    (
        "文三路100号",
        ["no_name", "no_mobile", "no_province", "no_city"],
        (None, None, None, None),
    ),
]


@pytest.mark.parametrize(("text", "problems", "fields"), NEGATIVE, ids=[t for t, _, _ in NEGATIVE])
def test_negative(text: str, problems: list[str], fields: tuple) -> None:
    result = parse_recipient(text)
    assert result.recipient is None
    assert not result.ok
    assert result.problems == problems
    assert (result.name, result.mobile, result.province, result.city) == fields


def test_too_long_text() -> None:
    text = "张三 13800138000 浙江省杭州市西湖区文三路100号" + "很" * MAX_TEXT
    assert len(text) > MAX_TEXT
    assert parse_recipient(text).problems == ["too_long"]
    # exactly at the limit is fine
    base = "张三 13800138000 浙江省杭州市西湖区文三路100号"
    assert parse_recipient(base + " " * (MAX_TEXT - len(base))).ok


def test_too_long_street() -> None:
    text = "张三 13800138000 浙江省杭州市西湖区文三路100号" + "华" * (MAX_STREET - 5)
    assert len(text) <= MAX_TEXT
    result = parse_recipient(text)
    assert result.problems == ["too_long"]
    assert result.name == "张三"
    assert check_address(text.split(" ", 2)[2]) == ["too_long"]


def test_every_code_is_reachable() -> None:
    codes = {p for _, problems, _ in NEGATIVE for p in problems} | {"too_long"}
    assert codes == {p.value for p in Problem}


# ------------------------------------------------------------------- field by field


@pytest.mark.parametrize(
    ("text", "mobile"),
    [
        ("13800138000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("+86 139 1234 5678", "13912345678"),
        ("+86-13912345678", "13912345678"),
        ("(+86)13912345678", "13912345678"),
        ("008613912345678", "13912345678"),
        ("0086 139-1234-5678", "13912345678"),
        ("86-13912345678", "13912345678"),
        ("手机：１９９１２３４５６７８", "19912345678"),
        ("电话 0571-88888888 手机 13800138000", "13800138000"),
        ("0571-88888888", None),
        ("057188888888", None),
        ("138001380001", None),
        ("1380013800", None),
        ("12345678901", None),
        ("10086", None),
        ("", None),
        ("没有电话", None),
    ],
)
def test_parse_mobile(text: str, mobile: str | None) -> None:
    assert parse_mobile(text) == mobile


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("张三", None),
        ("張三", None),
        ("欧阳娜娜", None),
        ("买买提·艾力", None),
        ("Tom Lee", None),
        ("O'Brien", None),
        (" 李四😊 ", None),
        ("", Problem.no_name),
        ("😊", Problem.no_name),
        ("张", Problem.no_name),
        ("张三123", Problem.no_name),
        ("13800138000", Problem.no_name),
        ("张" * 31, Problem.too_long),
    ],
)
def test_check_name(text: str, problem: Problem | None) -> None:
    assert check_name(text) == problem


def test_check_address() -> None:
    assert check_address("浙江省杭州市西湖区文三路100号") == Address(*HZ, "文三路100号")
    assert check_address("广州天河区天河路385号") == Address(
        "广东省", "广州市", "天河区", "天河路385号"
    )
    assert check_address("详细地址：上海市浦东新区世纪大道100号") == Address(
        "上海市", "上海市", "浦东新区", "世纪大道100号"
    )
    assert check_address("浙江省杭州市西湖區文三路100號") == Address(*HZ, "文三路100号")
    assert check_address("文三路100号") == ["no_province", "no_city"]
    assert check_address("浙江省杭州市") == ["no_address"]
    assert check_address("张三") == ["no_address"]
    assert check_address("") == ["empty"]
    assert check_address("省" * (MAX_TEXT + 1)) == ["too_long"]


# ------------------------------------------------------------------- the divisions table

GLOSSARY_BELTS = [
    *("义乌", "广州", "杭州", "深圳", "东莞", "汕头", "澄海", "温州", "泉州", "晋江", "莆田"),
    *("永康", "武义", "苏州", "湖州", "织里", "海宁", "白沟", "平湖", "佛山", "潮州", "阳江"),
    *("丹阳", "南通", "叠石桥", "桐乡", "濮院", "诸暨", "上海"),
]


def test_provincial_level_divisions() -> None:
    table = divisions()
    provincial = [d for d in table.by_full.values() if d.kind in PROVINCIAL]
    assert len(provincial) == 34
    kinds = Counter(d.kind for d in provincial)
    assert kinds == {"province": 23, "autonomous_region": 5, "municipality": 4, "sar": 2}
    assert all(d.short and d.full.startswith(d.short) for d in provincial)


def test_prefecture_level_divisions() -> None:
    table = divisions()
    mainland = [
        d
        for d in table.by_full.values()
        if d.kind in PREFECTURAL - {"direct"} and d.parent != "台湾省"
    ]
    assert len(mainland) == 333
    per_province = Counter(d.parent for d in mainland)
    assert per_province["浙江省"] == 11
    assert per_province["广东省"] == 21
    assert per_province["新疆维吾尔自治区"] == 14
    kinds = Counter(d.kind for d in mainland)
    assert kinds == {"city": 293, "autonomous_prefecture": 30, "prefecture": 7, "league": 3}
    for d in table.by_full.values():  # every parent exists, at the level above
        if d.kind in PROVINCIAL:
            assert d.parent == ""
        elif d.kind in PREFECTURAL:
            assert table.by_full[d.parent].kind in PROVINCIAL
        else:
            assert table.by_full[d.parent].kind in PREFECTURAL


def test_short_names_of_cities_are_unique() -> None:
    shorts = Counter(
        d.short for d in divisions().by_full.values() if d.kind in PREFECTURAL and d.short
    )
    assert [s for s, n in shorts.items() if n > 1] == []


@pytest.mark.parametrize("place", GLOSSARY_BELTS)
def test_glossary_belt_cities_give_their_province(place: str) -> None:
    result = check_address(f"{place}中心路1号")
    assert not isinstance(result, list), result
    assert result.province and result.city


@pytest.mark.parametrize(
    ("city", "province"),
    [
        ("广州", "广东省"),
        ("成都市", "四川省"),
        ("拉萨", "西藏自治区"),
        ("银川市", "宁夏回族自治区"),
        ("南宁", "广西壮族自治区"),
        ("延边州", "吉林省"),
        ("大兴安岭地区", "黑龙江省"),
        ("锡林郭勒盟", "内蒙古自治区"),
        ("石河子市", "新疆维吾尔自治区"),
    ],
)
def test_city_alone_infers_province(city: str, province: str) -> None:
    result = check_address(f"{city}幸福路1号")
    assert not isinstance(result, list), result
    assert result.province == province


def test_short_city_name_in_a_road_is_not_a_city() -> None:
    # 南京东路 in 上海, 中山路 everywhere
    result = check_address("上海市黄浦区南京东路100号")
    assert result == Address("上海市", "上海市", "黄浦区", "南京东路100号")
    assert check_address("中山路1号") == ["no_province", "no_city"]


# ------------------------------------------------------------------- properties

PIECES = st.sampled_from(
    [
        "张三",
        "收件人：",
        "电话:",
        "地址：",
        "13800138000",
        "138-0013-8000",
        "+86 139 1234 5678",
        "0571-88888888",
        "138001380001",
        "浙江省",
        "杭州市",
        "西湖区",
        "文三路100号",
        "上海",
        "北京朝阳区",
        "广州",
        "，",
        " ",
        "\n",
        "😊",
        "310000",
    ]
)


def _assert_consistent(result: RecipientParse) -> None:
    assert result.problems == sorted(set(result.problems), key=list(Problem).index)
    if result.recipient is not None:
        assert result.problems == []
        assert re.fullmatch(r"1[3-9]\d{9}", result.recipient.mobile)
        assert result.recipient.street and len(result.recipient.street) <= MAX_STREET
    else:
        assert result.problems


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
@example("\x00\x00")
@example("\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
@example("１" * 11)
@example("+86" * 50)
def test_any_text_parses(text: str) -> None:
    result = parse_recipient(text)
    _assert_consistent(result)
    if result.recipient is not None:
        assert parse_mobile(text) == result.recipient.mobile
    check_address(text)
    check_name(text)
    parse_mobile(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=12).map("".join))
def test_assembled_blocks_parse(text: str) -> None:
    result = parse_recipient(text)
    _assert_consistent(result)
    assert parse_recipient(text) == result  # deterministic


def test_lone_surrogate_does_not_raise() -> None:
    _assert_consistent(parse_recipient("张三\ud800 13800138000 浙江省杭州市西湖区文三路100号"))
