"""Places resolve as a citizen means them: the district named constrains, pinyin and English work."""

import csv
from importlib import resources

import pytest

from hotline.gazetteer import Gazetteer, beijing

ROMANIZED = resources.files("hotline") / "data" / "beijing" / "romanized.csv"
WORDS = resources.files("hotline") / "data" / "beijing" / "place_words.csv"


def resolved(address: str, district: str | None = None) -> tuple[str | None, str | None, bool]:
    place = beijing().resolve(address, district)
    return place.district_code, place.unit_code, place.ambiguous


def unit(code: str) -> tuple[str, str, bool]:
    return code[:6], code, False


def district_only(code: str) -> tuple[str, None, bool]:
    return code, None, False


NOTHING = (None, None, False)
AMBIGUOUS = (None, None, True)


@pytest.mark.parametrize(
    ("address", "district", "expected"),
    [
        # The finding: 东四 (Dongcheng) is inside 东四环 (a ring road in Chaoyang).
        ("朝阳区东四环中路39号", None, district_only("110105")),
        ("东四环中路39号华业国际中心", None, NOTHING),
        ("东四环中路", "朝阳区", district_only("110105")),
        ("东城区东四十条", None, unit("110101006")),
        ("东四北大街107号", None, unit("110101006")),
        # 朝外 and 建外 are short for 朝阳门外 and 建国门外, outside the gates, in Chaoyang.
        ("朝阳区朝阳门外大街18号", None, unit("110105002")),
        ("东城区朝阳门内大街", None, unit("110101007")),
        ("建国门外大街1号", None, unit("110105001")),
        ("东城区建国门内大街", None, unit("110101008")),
        # A district's name inside a unit's (大兴 in 大兴庄, 石景山 holding 景山) names no district.
        ("平谷区大兴庄镇西柏店村", None, unit("110117111")),
        ("大兴庄镇", None, unit("110117111")),
        ("石景山区古城大街", None, unit("110107004")),
        ("石景山老山东里", None, unit("110107002")),
        # A unit of another district does not win: the district alone is the answer.
        ("朝阳区十里堡", None, district_only("110105")),
        ("密云区十里堡镇", None, unit("110118103")),
        ("朝阳区北苑路", None, district_only("110105")),
        ("通州区北苑", None, unit("110112003")),
        ("东城区八里庄", None, district_only("110101")),
        ("望京", "海淀区", district_only("110108")),
        # Road, river and gate names that hold a unit's short name.
        ("东城区永定门内大街", None, district_only("110101")),
        ("永定门外大街", None, unit("110101017")),
        ("丰台区永定河畔", None, district_only("110106")),
        ("门头沟区永定", None, unit("110109006")),
        ("朝阳区安定路35号", None, district_only("110105")),
        ("安定路35号", None, NOTHING),
        ("东城区安定门外大街", None, unit("110101004")),
        ("大兴区安定镇", None, unit("110115105")),
        ("京藏高速人行天桥下", None, NOTHING),
        ("西城区天桥南大街", None, unit("110102014")),
        ("河北省三河市燕郊镇", None, NOTHING),
        ("房山区河北镇", None, unit("110111107")),
        # A bare district name that is also a unit's yields to any other unit named.
        ("怀柔雁栖湖畔", None, unit("110116004")),
        ("海淀", None, unit("110108012")),
        ("海淀八里庄", None, unit("110108005")),
        # Ethnic townships are said without 回族/满族.
        ("通州区于家务", None, unit("110112209")),
        # Two districts and no unit: nobody can tell which.
        ("朝阳区和东城区交界处", None, AMBIGUOUS),
    ],
)
def test_the_district_named_constrains_the_unit(address, district, expected):
    assert resolved(address, district) == expected


@pytest.mark.parametrize(
    ("address", "district", "expected"),
    [
        ("Huajiadi North, Wangjing, Chaoyang District", None, unit("110105026")),
        ("Chaoyang District", None, district_only("110105")),
        ("chaoyang qu", None, district_only("110105")),
        ("Chaoyangqu", None, district_only("110105")),
        ("CHAOYANG", None, district_only("110105")),
        ("Wangjing Subdistrict", None, unit("110105026")),
        ("Wangjing Street", None, unit("110105026")),
        ("Wangjingjiedao", None, unit("110105026")),
        ("wang jing jie dao", None, unit("110105026")),
        ("Wàngjīng Sub-district", None, unit("110105026")),
        ("Ｗａｎｇｊｉｎｇ", None, unit("110105026")),
        ("Wangjing", "Chaoyang", unit("110105026")),
        ("Liangxiang Town", None, unit("110111008")),
        ("Liangxiang Zhen", None, unit("110111008")),
        ("Liangxiang Area, Fangshan District", None, unit("110111008")),
        ("Xueyuan Road, Haidian District", None, unit("110108010")),
        ("Jinrong Street, Xicheng", None, unit("110102011")),
        ("Yujiawu Township", None, unit("110112209")),
        ("Zhang Town, Shunyi", None, unit("110113110")),
        # Readings pypinyin alone gets wrong.
        ("Shichahai, Xicheng District", None, unit("110102012")),
        ("Chaoyangmen, Dongcheng", None, unit("110101007")),
        ("Majiapu, Fengtai", None, unit("110106015")),
        ("Changxindian", None, unit("110106011")),
        ("Dashilar", None, unit("110102013")),
        # English names, longer than the district name inside them.
        ("Daxing International Airport", None, unit("110115406")),
        ("Beijing Economic-Technological Development Area", None, unit("110115403")),
        # The district constrains Latin names too.
        ("Dongsi Huan Zhong Lu, Chaoyang", None, district_only("110105")),
        ("Dongsi, Dongcheng", None, unit("110101006")),
        ("Wangjing, Haidian District", None, district_only("110108")),
        ("朝阳区 Wangjing", None, unit("110105026")),
    ],
)
def test_pinyin_and_english_names_resolve(address, district, expected):
    assert resolved(address, district) == expected


@pytest.mark.parametrize(
    ("address", "district", "expected"),
    [
        ("Balizhuang", None, AMBIGUOUS),
        ("Balizhuang, Chaoyang District", None, unit("110105015")),
        ("Balizhuang Jiedao", "Haidian District", unit("110108005")),
        ("Dongfeng", None, AMBIGUOUS),
        ("Dongfeng Diqu", None, unit("110105030")),
        ("Dongfeng Subdistrict", None, unit("110111005")),
        ("Dongfeng, Fangshan", None, unit("110111005")),
    ],
)
def test_a_pinyin_shared_by_units_is_ambiguous_until_the_district_settles_it(address, district, expected):
    assert resolved(address, district) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("Wangjingyuan", NOTHING),  # not inside another word
        ("Xiwangjing", NOTHING),
        ("Dongsihuan", NOTHING),
        ("somewhere far away", NOTHING),
        ("Wangjing Xi Lu 8", unit("110105026")),  # "Xi Lu" is a west road, not 西潞
        ("Xilu Jiedao", unit("110111012")),
        ("Boxing gym near Wangjing", unit("110105026")),  # boxing is English, not 博兴
        ("Boxing Jiedao, Daxing", unit("110115013")),
        ("Wangjing2", unit("110105026")),
        ("北京大 兴庄园小区", NOTHING),  # a Chinese name does not run across a space: not 大兴庄
    ],
)
def test_latin_names_hold_word_boundaries(address, expected):
    assert resolved(address) == expected


def _rows() -> list[dict[str, str]]:
    with ROMANIZED.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_unit_resolves_by_each_of_its_latin_forms_with_its_district():
    with WORDS.open(encoding="utf-8") as f:
        masks = {row["word"] for row in csv.DictReader(f) if not row["code"]}
    rows = {row["code"]: row for row in _rows()}
    gazetteer = beijing()
    for code, place in gazetteer.units.items():
        district = rows[place.district_code]["forms"].split("|")[0]
        for form in set(rows[code]["forms"].split("|")) - masks:
            assert resolved(f"{form}, {district} district") == unit(code), form
        assert resolved(gazetteer.districts[place.district_code].name + place.name) == unit(code)


def test_the_romanized_table_has_every_district_and_unit():
    rows = {row["code"]: row for row in _rows()}
    assert set(rows) == set(beijing().districts) | set(beijing().units)
    assert len(rows) == 365
    assert rows["110105"]["forms"] == "chaoyang|chaoyangdistrict|chaoyangqu"
    assert rows["110105026"]["pinyin"] == "wang jing"
    assert rows["110101007"]["pinyin"] == "chao yang men"
    assert "liangxiangtown" in rows["110111008"]["forms"].split("|")


def test_the_romanized_table_is_what_the_generator_writes():
    pytest.importorskip("pypinyin")
    from hotline.romanize import table

    assert ROMANIZED.read_text(encoding="utf-8") == table()


def test_a_city_without_places_resolves_nothing():
    place = Gazetteer([], []).resolve("朝阳区望京街道 Wangjing")
    assert (place.district_code, place.unit_code, place.ambiguous) == NOTHING
