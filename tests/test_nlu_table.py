"""Table-driven parses: queries the way buyers type them on a phone, with the parse they want.

Each case names only the fields that matter for it; two fields are always checked:
``intent`` (``search`` unless the case says otherwise) and ``corrections`` (none unless the
case says which), so a case that is not about typos also proves correct words stay as typed.

Field conventions:
- ``keywords``: words that must be among the keywords (a subset, in any order);
  ``absent``: words that must not be keywords (slot words such as 包邮, 一件代发, 50元);
- ``tokens``: words the segmentation must keep whole (a subset of ``tokens``);
- ``colors`` / ``sizes`` / ``materials`` / ``badges`` / ``customization`` / ``changes``:
  exactly these values, in any order;
- ``price_min`` / ``price_max``: decimal strings as the JSON carries them ("50.00"), or None;
- ``corrections``: ``[(from, to), ...]`` exactly, in order.

The parser is built once from the seeds plus a small catalog lexicon written here (the shape
``catalog_store.lexicon_source.build_catalog_lexicon`` writes), so catalog-only words (belts
such as 汕头玩具, colors such as 焦糖色, seller synonyms such as 鲨鱼夹) are covered too.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from nlu import Parser
from nlu.lexicon import load_lexicon

# --- the catalog lexicon --------------------------------------------------------------------

TOPS: dict[str, list[str]] = {
    "女装": ["连衣裙", "T恤", "衬衫", "半身裙", "卫衣", "牛仔裤", "羽绒服", "毛衣"],
    "鞋靴": ["运动鞋", "凉鞋", "拖鞋", "帆布鞋"],
    "箱包": ["双肩包", "钱包", "行李箱"],
    "配饰": ["发夹", "耳环", "项链", "腰带", "帽子"],
    "内衣袜子": ["袜子"],
    "数码配件": ["手机壳", "数据线", "充电宝", "蓝牙耳机", "手机支架"],
    "家居日用": ["保温杯", "收纳袋", "收纳盒", "毛巾"],
    "家纺": ["四件套"],
    "玩具": ["积木", "毛绒玩具"],
    "节庆礼品": ["月饼礼盒"],
}

CATALOG_LEXICON: dict[str, Any] = {
    "format": 1,
    "import_id": 1,
    "leaves": {leaf: [top, leaf] for top, leaves in TOPS.items() for leaf in leaves},
    # seller keywords that point at one leaf
    "synonyms": {
        "半袖": "T恤",
        "短袖上衣": "T恤",
        "小白鞋": "运动鞋",
        "洞洞鞋": "拖鞋",
        "鲨鱼夹": "发夹",
        "拉杆箱": "行李箱",
        "登机箱": "行李箱",
        "棒球帽": "帽子",
        "渔夫帽": "帽子",
        "充电头": "数据线",
    },
    "colors": {
        c: c
        for c in (
            "红色",
            "黑色",
            "白色",
            "杏色",
            "米白色",
            "奶茶色",
            "焦糖色",
            "雾霾蓝",
            "浅灰色",
            "卡其色",
            "透明",
            "酒红色",
            "藏青色",
            "玫瑰金",
        )
    },
    "sizes": {s: s for s in ("S", "M", "L", "XL", "2XL", "均码", "36", "37", "38", "39", "40")},
    "materials": {m: m for m in ("纯棉", "涤纶", "304不锈钢", "冰丝", "PU", "天丝", "锌合金")},
    "regions": {
        "义乌": "义乌",
        "义乌小商品": "义乌",
        "广州": "广州",
        "广州女装": "广州",
        "深圳": "深圳",
        "深圳数码": "深圳",
        "汕头": "汕头",
        "汕头玩具": "汕头",
        "东莞": "东莞",
        "东莞玩具": "东莞",
        "永康": "永康",
        "永康五金": "永康",
        "杭州": "杭州",
        "杭州女装": "杭州",
        "莆田": "莆田",
        "莆田鞋业": "莆田",
        "诸暨": "诸暨",
        "诸暨袜业": "诸暨",
        "南通": "南通",
        "南通家纺": "南通",
    },
}


@pytest.fixture(scope="module")
def parser(tmp_path_factory: pytest.TempPathFactory) -> Parser:
    path = tmp_path_factory.mktemp("lexicon") / "catalog.json"
    path.write_text(json.dumps(CATALOG_LEXICON, ensure_ascii=False), encoding="utf-8")
    lexicon = load_lexicon(path)
    assert lexicon.catalog_version == 1  # the catalog part was read, not ignored
    return Parser(lexicon)


# --- the table --------------------------------------------------------------------------

SEG = "1-segmentation"
NORM = "2-normalization"
NUM = "3-numbers"
TYPO = "4-typos"
PLACE = "5-regions-badges"
INTENT = "6-intents"
MIX = "7-everyday"

_FIELDS = {
    "intent",
    "category",
    "keywords",
    "absent",
    "tokens",
    "normalized",
    "colors",
    "sizes",
    "materials",
    "price_min",
    "price_max",
    "quantity",
    "dropship",
    "customization",
    "region",
    "badges",
    "corrections",
    "changes",
}

CASES: list[tuple[str, str, dict[str, Any]]] = []
ANY = object()  # a field the case leaves open (e.g. the intent of a bare "一件代发")


def case(item: str, query: str, **expected: Any) -> None:
    unknown = set(expected) - _FIELDS
    assert not unknown, f"unknown fields {unknown} in case {query!r}"
    CASES.append((item, query, expected))


def price(low: str | None, high: str | None) -> dict[str, str | None]:
    return {"price_min": low, "price_max": high}


# 1. Segmentation with the domain lexicon: trade phrases, goods, badges and belts stay whole.
case(SEG, "一件代发手机壳", tokens=["一件代发", "手机壳"], dropship=True, category="手机壳",
     quantity=None, absent=["一件代发", "一件", "代发"])  # fmt: skip
case(SEG, "超级工厂保温杯", tokens=["超级工厂", "保温杯"], badges=["super_factory"],
     category="保温杯", absent=["超级", "工厂", "超级工厂"])  # fmt: skip
case(SEG, "实力商家蓝牙耳机", tokens=["实力商家", "蓝牙耳机"], badges=["power_merchant"],
     category="蓝牙耳机")  # fmt: skip
case(SEG, "专精特新企业数据线", tokens=["专精特新", "数据线"], badges=["specialized_sme"],
     category="数据线")  # fmt: skip
case(SEG, "月饼礼盒定制logo", tokens=["月饼礼盒", "定制logo"], category="月饼礼盒",
     customization=["logo"], absent=["logo"])  # fmt: skip
case(SEG, "毛绒玩具一件起发", tokens=["毛绒玩具", "一件起发"], category="毛绒玩具",
     dropship=True, quantity=None)  # fmt: skip
case(SEG, "义乌小商品收纳盒", tokens=["义乌小商品", "收纳盒"], region="义乌", category="收纳盒")
case(SEG, "全棉四件套", tokens=["全棉", "四件套"], materials=["纯棉"], category="四件套",
     quantity=None)  # fmt: skip
case(SEG, "雾霾蓝卫衣", tokens=["雾霾蓝", "卫衣"], colors=["雾霾蓝"], category="卫衣")
case(SEG, "304不锈钢保温杯", tokens=["304不锈钢", "保温杯"], materials=["304不锈钢"],
     category="保温杯", **price(None, None))  # fmt: skip
case(SEG, "厂家直销双肩包", tokens=["厂家直销", "双肩包"], category="双肩包",
     absent=["厂家直销", "厂家", "直销"])  # fmt: skip
case(SEG, "来图定制手机壳", tokens=["来图定制", "手机壳"], customization=["logo"],
     category="手机壳")  # fmt: skip
case(SEG, "连衣裙收纳袋", tokens=["连衣裙", "收纳袋"], category="收纳袋")
case(SEG, "华强北蓝牙耳机", tokens=["华强北", "蓝牙耳机"], region="深圳", category="蓝牙耳机")
case(SEG, "汕头玩具积木", tokens=["汕头玩具", "积木"], region="汕头", category="积木")

# 2. Normalization: full width, case, traditional characters, decoration, spaces; model
#    numbers survive whole.
case(NORM, "ＩＰＨＯＮＥ１５ 手機殼", normalized="iphone15 手机壳", keywords=["iphone15"],
     category="手机壳", quantity=None)  # fmt: skip
case(NORM, "hwy14-186bku1 數據線", normalized="hwy14-186bku1 数据线",
     keywords=["hwy14-186bku1"], tokens=["hwy14-186bku1"], category="数据线")  # fmt: skip
case(NORM, "🔥🔥爆款T恤🔥包邮", normalized="爆款t恤 包邮", category="T恤",
     absent=["爆款", "包邮"])  # fmt: skip
case(NORM, "連衣裙　紅色　Ｍ碼", normalized="连衣裙 红色 m码", category="连衣裙",
     colors=["红色"], sizes=["M"])  # fmt: skip
case(NORM, "  保温杯     500ML  ", normalized="保温杯 500ml", category="保温杯",
     keywords=["500ml"])  # fmt: skip
case(NORM, "★新款★卫衣✨✨", normalized="新款 卫衣", category="卫衣", absent=["新款"])
case(NORM, "【现货】雙肩包", normalized="现货 双肩包", category="双肩包", absent=["现货"])
case(NORM, "ＸＬ碼 衛衣", normalized="xl码 卫衣", sizes=["XL"], category="卫衣")
case(NORM, "IPHONE15 Pro Max 手机壳", normalized="iphone15 pro max 手机壳",
     keywords=["iphone15"], category="手机壳", quantity=None)  # fmt: skip
case(NORM, "運動鞋 ４２碼", normalized="运动鞋 42码", sizes=["42"], category="运动鞋",
     quantity=None)  # fmt: skip
case(NORM, "耳環 S925銀", normalized="耳环 s925银", materials=["纯银"], category="耳环")
case(NORM, "♥发夹♥ 义乌 ♥", normalized="发夹 义乌", category="发夹", region="义乌")
case(NORM, "５０元以內 毛巾", normalized="50元以内 毛巾", category="毛巾", **price(None, "50.00"))
case(NORM, "Oversize T恤 要XL", normalized="oversize t恤 要xl", category="T恤", sizes=["XL"],
     keywords=["oversize"])  # fmt: skip
case(NORM, "蘋果15手機殼", normalized="苹果15手机壳", category="手机壳", quantity=None)
case(NORM, "義烏 耳環 批發", normalized="义乌 耳环 批发", region="义乌", category="耳环")

# 3. Numbers: Chinese and Arabic numerals with their units; 一件代发 is never one piece.
case(NUM, "五十元以内的连衣裙", category="连衣裙", quantity=None, **price(None, "50.00"))
case(NUM, "50块以下 数据线", category="数据线", absent=["50"], **price(None, "50.00"))
case(NUM, "不超过100元的保温杯", category="保温杯", **price(None, "100.00"))
case(NUM, "20到30元 发夹", category="发夹", quantity=None, **price("20.00", "30.00"))
case(NUM, "100件起 t恤", category="T恤", quantity=100, **price(None, None))
case(NUM, "要两件卫衣", category="卫衣", quantity=2, **price(None, None))
case(NUM, "袜子三打", category="袜子", quantity=36, **price(None, None))
case(NUM, "一件代发 手机壳", category="手机壳", dropship=True, quantity=None)
case(NUM, "耳环一件代发 二十块以内", category="耳环", dropship=True, quantity=None,
     **price(None, "20.00"))  # fmt: skip
case(NUM, "充电宝 100元以上", category="充电宝", **price("100.00", None))
case(NUM, "项链 ¥30-50", category="项链", **price("30.00", "50.00"))
case(NUM, "腰带 十五元", category="腰带", quantity=None, **price(None, "15.00"))
case(NUM, "运动鞋 要3双 39码", category="运动鞋", quantity=3, sizes=["39"],
     **price(None, None))  # fmt: skip
case(NUM, "四件套 两套", category="四件套", quantity=2)
case(NUM, "收纳盒 1000个起批", category="收纳盒", quantity=1000, **price(None, None))
case(NUM, "预算80 双肩包", category="双肩包", quantity=None, **price(None, "80.00"))
case(NUM, "三十元到五十元的蓝牙耳机", category="蓝牙耳机", **price("30.00", "50.00"))
case(NUM, "积木 一百五十块以下", category="积木", **price(None, "150.00"))
case(NUM, "毛绒玩具 50-80元", category="毛绒玩具", quantity=None, **price("50.00", "80.00"))
case(NUM, "iphone15 手机壳 10块以内", category="手机壳", keywords=["iphone15"], quantity=None,
     **price(None, "10.00"))  # fmt: skip
case(NUM, "来两打发夹", category="发夹", quantity=24)
case(NUM, "毛巾 五块钱左右", category="毛巾", **price("4.00", "6.00"))
case(NUM, "一件起发 卫衣 两百以内", category="卫衣", dropship=True, quantity=None,
     **price(None, "200.00"))  # fmt: skip
case(NUM, "数据线 20 条", category="数据线", quantity=20)
case(NUM, "低于50元的发夹", category="发夹", **price(None, "50.00"))
case(NUM, "连衣裙 100元内", category="连衣裙", **price(None, "100.00"))
case(NUM, "发夹 100个 20元以内", category="发夹", quantity=100, **price(None, "20.00"))
case(NUM, "保温杯 9块9", category="保温杯", quantity=None, **price(None, "9.90"))
case(NUM, "毛巾 一块五", category="毛巾", **price(None, "1.50"))
case(NUM, "发夹 5毛钱", category="发夹", absent=["5", "毛钱"], **price(None, "0.50"))
case(NUM, "三件套 睡衣", keywords=["三件套", "睡衣"], quantity=None)

# 4. Typos and homophones, reported in corrections; correct words are left alone.
case(TYPO, "夏天连衣群", corrections=[("连衣群", "连衣裙")], category="连衣裙")
case(TYPO, "手机克 iphone15", corrections=[("手机克", "手机壳")], category="手机壳",
     keywords=["iphone15"])  # fmt: skip
case(TYPO, "一件带发 运动鞋", corrections=[("一件带发", "一件代发")], dropship=True,
     quantity=None, category="运动鞋")  # fmt: skip
case(TYPO, "宝温杯 304", corrections=[("宝温杯", "保温杯")], category="保温杯")
case(TYPO, "蓝牙耳鸡", corrections=[("蓝牙耳鸡", "蓝牙耳机")], category="蓝牙耳机")
case(TYPO, "毛绒玩句", corrections=[("毛绒玩句", "毛绒玩具")], category="毛绒玩具")
case(TYPO, "双间包 学生", corrections=[("双间包", "双肩包")], category="双肩包")
case(TYPO, "月饼里盒", corrections=[("月饼里盒", "月饼礼盒")], category="月饼礼盒")
case(TYPO, "超级工场 毛巾", corrections=[("超级工场", "超级工厂")], badges=["super_factory"],
     category="毛巾")  # fmt: skip
case(TYPO, "实力商加 手机壳", corrections=[("实力商加", "实力商家")],
     badges=["power_merchant"], category="手机壳")  # fmt: skip
case(TYPO, "牛仔库 高腰", corrections=[("牛仔库", "牛仔裤")], category="牛仔裤")
case(TYPO, "数剧线", corrections=[("数剧线", "数据线")], category="数据线")
case(TYPO, "运动协 男", corrections=[("运动协", "运动鞋")], category="运动鞋")
case(TYPO, "充电包 快充", corrections=[("充电包", "充电宝")], category="充电宝")
case(TYPO, "连衣群 紅色 m碼 50元以內 一件帶發",
     corrections=[("连衣群", "连衣裙"), ("一件带发", "一件代发")], category="连衣裙",
     colors=["红色"], sizes=["M"], dropship=True, quantity=None,
     **price(None, "50.00"))  # fmt: skip
# correct words are never "corrected"
case(TYPO, "连衣裙 夏天", corrections=[], category="连衣裙")
case(TYPO, "保温瓶 大容量", corrections=[], keywords=["保温瓶"])
case(TYPO, "一件代发", corrections=[], dropship=True, quantity=None, keywords=[], intent=ANY)
case(TYPO, "收纳盒 桌面", corrections=[], category="收纳盒")
case(TYPO, "小白鞋 女", corrections=[], category="运动鞋")
# real queries where a correct word sits next to a lexicon word's sound-alike
case(TYPO, "北汽充电箱", corrections=[], category=None, keywords=["充电箱"])
case(TYPO, "腰围充电保暖", corrections=[], category=None)
case(TYPO, "usb加热充电保温桶", corrections=[], keywords=["usb"])
case(TYPO, "雪花秀十件套", corrections=[], quantity=None)
case(TYPO, "无纺布鞋套", corrections=[], category=None)
case(TYPO, "玫瑰精油", corrections=[], colors=[])
case(TYPO, "玫瑰金耳环 925银", corrections=[], colors=["玫瑰金"], materials=["纯银"],
     category="耳环")  # fmt: skip

# 5. Regions (cities, markets, industrial belts) and badges.
case(PLACE, "义乌 发夹 批发", region="义乌", category="发夹", absent=["批发", "义乌"])
case(PLACE, "义乌小商品 收纳盒", region="义乌", category="收纳盒", absent=["义乌小商品"])
case(PLACE, "广州十三行连衣裙", region="广州", category="连衣裙", absent=["十三行"])
case(PLACE, "深圳华强北 数据线", region="深圳", category="数据线")
case(PLACE, "汕头玩具 积木", region="汕头", category="积木")
case(PLACE, "广州女装 半身裙", region="广州", category="半身裙")
case(PLACE, "超级工厂 保温杯", badges=["super_factory"], category="保温杯", region=None)
case(PLACE, "实力商家的手机壳", badges=["power_merchant"], category="手机壳")
case(PLACE, "专精特新 蓝牙耳机", badges=["specialized_sme"], category="蓝牙耳机")
case(PLACE, "永康保温杯 超级工厂", region="永康", badges=["super_factory"], category="保温杯")
case(PLACE, "杭州四季青 毛衣 实力商家", region="杭州", badges=["power_merchant"],
     category="毛衣")  # fmt: skip
case(PLACE, "要超级工厂或者实力商家的毛巾", badges=["super_factory", "power_merchant"],
     category="毛巾")  # fmt: skip
case(PLACE, "莆田运动鞋", region="莆田", category="运动鞋")
case(PLACE, "诸暨袜子", region="诸暨", category="袜子")
case(PLACE, "小巨人 充电宝", badges=["little_giant"], category="充电宝")
case(PLACE, "诚信通 四件套", badges=["trust_pass"], category="四件套")
case(PLACE, "南通叠石桥 四件套", region="南通", category="四件套")
case(PLACE, "东莞玩具 毛绒玩具", region="东莞", category="毛绒玩具")
case(PLACE, "義烏 耳環", region="义乌", category="耳环")
case(PLACE, "广州沙河 牛仔裤", region="广州", category="牛仔裤", absent=["沙河"])

# 6. Intents, colloquial and mixed-language; modify carries the changed slots; a long
#    message that is really a search keeps its search slots.
case(INTENT, "转人工", intent="human_agent")
case(INTENT, "人工", intent="human_agent")
case(INTENT, "我要找真人客服", intent="human_agent")
case(INTENT, "can i talk to a person", intent="human_agent")
case(INTENT, "客服在吗", intent="human_agent")
case(INTENT, "human please", intent="human_agent")
case(INTENT, "转人工 手机壳的事", intent="human_agent")
case(INTENT, "我的订单到哪了", intent="order_status")
case(INTENT, "快递到哪了？", intent="order_status")
case(INTENT, "where is my order", intent="order_status")
case(INTENT, "查一下物流信息", intent="order_status")
case(INTENT, "order status", intent="order_status")
case(INTENT, "我的订单 手机壳 到哪了", intent="order_status")
case(INTENT, "取消订单", intent="cancel")
case(INTENT, "不要了", intent="cancel")
case(INTENT, "算了算了", intent="cancel")
case(INTENT, "cancel", intent="cancel")
case(INTENT, "取消订单 那个连衣裙不要了", intent="cancel")
case(INTENT, "我想取消", intent="cancel")
case(INTENT, "怎么用啊", intent="help")
case(INTENT, "help", intent="help")
case(INTENT, "怎么下单", intent="help")
case(INTENT, "你好", intent="greeting")
case(INTENT, "在吗", intent="greeting")
case(INTENT, "颜色改成红色", intent="modify", colors=["红色"], changes=["colors"],
     category=None)  # fmt: skip
case(INTENT, "数量改成3", intent="modify", quantity=3, changes=["quantity"])
case(INTENT, "换成黑色的", intent="modify", colors=["黑色"], changes=["colors"])
case(INTENT, "尺码改成xl", intent="modify", sizes=["XL"], changes=["sizes"])
case(INTENT, "改成5件", intent="modify", quantity=5, changes=["quantity"])
case(INTENT, "材质换成纯棉", intent="modify", materials=["纯棉"], changes=["materials"])
case(INTENT, "颜色换成雾霾蓝吧", intent="modify", colors=["雾霾蓝"], changes=["colors"])
case(INTENT, "换成m码", intent="modify", sizes=["M"], changes=["sizes"])
case(INTENT, "改成38码", intent="modify", sizes=["38"], changes=["sizes"])
case(INTENT, "数量改为两件", intent="modify", quantity=2, changes=["quantity"])
case(INTENT, "要红色的", intent="modify", colors=["红色"], changes=["colors"])
case(INTENT, "改数量 5", intent="modify", quantity=5, changes=["quantity"])
case(INTENT, "不要红色 换黑色", intent="modify", colors=["黑色"], changes=["colors"])
case(INTENT, "改成一件代发", intent="modify", dropship=True, keywords=[])
case(INTENT, "颜色改成红色 尺码改成l", intent="modify", colors=["红色"], sizes=["L"],
     changes=["colors", "sizes"])  # fmt: skip
case(INTENT, "换成黑色的吧 xl", intent="modify", colors=["黑色"], sizes=["XL"],
     changes=["colors", "sizes"])  # fmt: skip
case(INTENT, "你好，我想找一款适合夏天穿的碎花连衣裙，预算一百块以内，最好是广州的工厂，能一件代发",
     category="连衣裙", region="广州", dropship=True, quantity=None,
     **price(None, "100.00"))  # fmt: skip
case(INTENT, "在吗 有没有义乌的发夹 要超级工厂 50个起", category="发夹", region="义乌",
     badges=["super_factory"], quantity=50)  # fmt: skip
case(INTENT, "hi 有没有oversize t恤 要xl", category="T恤", sizes=["XL"], keywords=["oversize"])
case(INTENT, "hello 想要手机壳 iphone15", category="手机壳", keywords=["iphone15"])
case(INTENT, "人工草坪", keywords=["草坪"])  # goods, not a request for a person
case(INTENT, "能定制logo吗", intent="customize", customization=["logo"])
case(INTENT, "可以印logo吗 保温杯", category="保温杯", customization=["logo"])

# 7. Everyday queries: several slots at once, synonyms, catalog-only words, noise.
case(MIX, "oversize t恤 要xl", category="T恤", sizes=["XL"], keywords=["oversize"])
case(MIX, "iphone15 case", category="手机壳", keywords=["iphone15"], quantity=None)
case(MIX, "tee 纯棉 白色 l码", category="T恤", materials=["纯棉"], colors=["白色"], sizes=["L"])
case(MIX, "纯棉短袖 白色", category="T恤", materials=["纯棉"], colors=["白色"])
case(MIX, "真丝连衣裙", category="连衣裙", materials=["真丝"])
case(MIX, "硅胶手机壳 透明", category="手机壳", materials=["硅胶"], colors=["透明"])
case(MIX, "pu皮腰带 黑色", category="腰带", materials=["PU"], colors=["黑色"])
case(MIX, "帆布双肩包 学生", category="双肩包", materials=["帆布"], keywords=["学生"])
case(MIX, "酒红色毛衣 均码", category="毛衣", colors=["酒红色"], sizes=["均码"])
case(MIX, "雪纺半身裙 s码", category="半身裙", materials=["雪纺"], sizes=["S"])
case(MIX, "纯银耳钉", category="耳环", materials=["纯银"])
case(MIX, "珍珠项链", category="项链", materials=["珍珠"])
case(MIX, "亚克力收纳盒", category="收纳盒", materials=["亚克力"])
case(MIX, "月饼礼盒 定制包装", category="月饼礼盒", customization=["packaging"])
case(MIX, "儿童积木 益智", category="积木", keywords=["儿童"])
case(MIX, "老爹鞋 厚底", category="运动鞋", keywords=["厚底"])
case(MIX, "洞洞鞋 男", category="拖鞋")
case(MIX, "鲨鱼夹 大号", category="发夹")
case(MIX, "拉杆箱 20寸", category="行李箱", quantity=None, **price(None, None))
case(MIX, "棒球帽 刺绣logo", category="帽子", customization=["logo"])
case(MIX, "袜子 纯棉 10双", category="袜子", materials=["纯棉"], quantity=10)
case(MIX, "充电线 type-c 1米", category="数据线", keywords=["type-c"], quantity=None)
case(MIX, "移动电源 20000毫安", category="充电宝", quantity=None)
case(MIX, "牛仔裤 高腰 阔腿", category="牛仔裤", keywords=["高腰"])
case(MIX, "羽绒服 黑色 加大码", category="羽绒服", colors=["黑色"], sizes=["大码"])
case(MIX, "手机支架 桌面 懒人", category="手机支架")
case(MIX, "毛巾 纯棉 洗脸", category="毛巾", materials=["纯棉"])
case(MIX, "运动鞋 莆田 一件代发", category="运动鞋", region="莆田", dropship=True)
case(MIX, "厂家直销 毛巾 包邮 现货", category="毛巾", absent=["厂家直销", "包邮", "现货"])
case(MIX, "焦糖色羽绒服", category="羽绒服", colors=["焦糖色"])
case(MIX, "奶茶色卫衣 宽松", category="卫衣", colors=["奶茶色"], keywords=["宽松"])
case(MIX, "天丝衬衫", category="衬衫", materials=["天丝"])
case(MIX, "激光刻字保温杯", category="保温杯", customization=["engraving"])
case(MIX, "打样 手机壳 要多久", category="手机壳", customization=["sample"])
case(MIX, "蓝牙耳机 降噪 白色", category="蓝牙耳机", colors=["白色"], keywords=["降噪"])
case(MIX, "项链 钛钢 不掉色", category="项链", materials=["钛钢"], colors=[])
case(MIX, "粉色发夹 少女心", category="发夹", colors=["粉色"])
case(MIX, "拖鞋 夏天 浴室 防滑", category="拖鞋", keywords=["防滑"])
case(MIX, "渔夫帽 黑色", category="帽子", colors=["黑色"])
case(MIX, "黑色皮带 真皮 男士", category="腰带", colors=["黑色"], materials=["真皮"])
case(MIX, "收纳袋 衣服 大容量", category="收纳袋")
case(MIX, "凉鞋 37码 38码", category="凉鞋", sizes=["37", "38"])
case(MIX, "白色t恤 m l xl", category="T恤", colors=["白色"], sizes=["M", "L", "XL"])
case(MIX, "充电宝 10000mah 小巧", category="充电宝", keywords=["10000mah"], quantity=None)
case(MIX, "蓝色碎花裙", category="连衣裙", colors=["蓝色"])
case(MIX, "藏青色 双肩包 大容量 男", category="双肩包", colors=["藏青色"])
case(MIX, "数据线 苹果 1.5米 白色", category="数据线", colors=["白色"], quantity=None)
case(MIX, "冰丝 半袖 男", category="T恤", materials=["冰丝"])
case(MIX, "帆布鞋 白色 36码", category="帆布鞋", colors=["白色"], sizes=["36"])
case(MIX, "t-shirt 白色", category="T恤", colors=["白色"])
# real queries (taobao-queries.tsv) whose goods word is missing from jieba's dictionary
case(MIX, "杯垫定制logo", customization=["logo"], keywords=["杯垫"])
case(MIX, "来图定制抱枕", customization=["logo"], keywords=["抱枕"])
case(MIX, "煮面锅")  # a search, not "unknown"
case(MIX, "烤漆板实木", materials=["实木"])
case(MIX, "嗨吃家螺狮粉", colors=[])
case(MIX, "😂", intent="unknown", keywords=[])
case(MIX, "", intent="unknown")
case(MIX, "。。。", intent="unknown")
case(MIX, "？？？", intent="unknown")


# --- running the table ------------------------------------------------------------------

_SETS = ("colors", "sizes", "materials", "badges", "customization", "changes")


def mismatches(got: dict[str, Any], expected: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """field -> (expected, got) for every expectation the parse does not meet."""
    want = {"intent": "search", "corrections": [], **expected}
    bad: dict[str, tuple[Any, Any]] = {}
    for field, value in want.items():
        if value is ANY:
            continue
        if field == "keywords":
            missing = [w for w in value if w not in got["keywords"]]
            if missing or (value == [] and got["keywords"]):
                bad[field] = (value, got["keywords"])
        elif field == "absent":
            present = [w for w in value if w in got["keywords"]]
            if present:
                bad["keywords"] = (f"none of {value}", got["keywords"])
        elif field == "tokens":
            if any(w not in got["tokens"] for w in value):
                bad[field] = (value, got["tokens"])
        elif field == "corrections":
            pairs = [(c["from"], c["to"]) for c in got["corrections"]]
            if pairs != [tuple(p) for p in value]:
                bad[field] = (value, pairs)
        elif field in _SETS:
            if sorted(got[field]) != sorted(value):
                bad[field] = (value, got[field])
        elif got[field] != value:
            bad[field] = (value, got[field])
    return bad


def test_table_covers_every_requirement() -> None:
    per_item = Counter(item for item, _, _ in CASES)
    assert len(CASES) >= 150, len(CASES)
    for item in (SEG, NORM, NUM, TYPO, PLACE, INTENT):
        assert per_item[item] >= 10, (item, per_item[item])
    queries = [q for _, q, _ in CASES]
    assert len(set(queries)) == len(queries), "a query appears twice"


@pytest.mark.parametrize(
    ("item", "query", "expected"),
    CASES,
    ids=[f"{item.split('-')[1]}-{i:03d}" for i, (item, _, _) in enumerate(CASES)],
)
def test_parse(parser: Parser, item: str, query: str, expected: dict[str, Any]) -> None:
    got = parser.parse(query).as_json()
    bad = mismatches(got, expected)
    assert not bad, f"{query!r}: " + "; ".join(
        f"{field}: expected {want!r}, got {have!r}" for field, (want, have) in bad.items()
    )
