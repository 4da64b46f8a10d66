import pytest

from hotline.gazetteer import UnitKind, beijing


def test_beijing_has_16_districts_and_349_units():
    gazetteer = beijing()
    assert len(gazetteer.districts) == 16
    assert len(gazetteer.units) == 349
    assert gazetteer.units["110111008"].name == "良乡地区"
    assert gazetteer.units["110111008"].kind is UnitKind.AREA


@pytest.mark.parametrize(
    ("address", "district", "unit_code"),
    [
        ("房山区良乡镇云景台小区二期", None, "110111008"),
        ("良乡地区拱辰大街", None, "110111008"),
        ("良乡", None, "110111008"),
        ("八里庄街道甘家口小区", "海淀区", "110108005"),
        ("八里庄街道红庙北里", "110105", "110105015"),
        ("海淀区八里庄街道", None, "110108005"),
        # 朝阳门 contains the name of another district (朝阳); the unit still wins.
        ("朝阳门街道南小街", None, "110101007"),
    ],
)
def test_place_name_variants_resolve_to_the_unit(address, district, unit_code):
    place = beijing().resolve(address, district)
    assert place.unit_code == unit_code
    assert place.district_code == unit_code[:6]
    assert not place.ambiguous


def test_a_name_in_two_districts_without_district_is_ambiguous():
    place = beijing().resolve("八里庄街道某小区3号楼")
    assert place.ambiguous
    assert place.unit_code is None


def test_district_only_gives_the_district_without_a_unit():
    place = beijing().resolve("朝阳区某路口")
    assert (place.district_code, place.unit_code) == ("110105", None)


def test_unknown_place_resolves_to_nothing():
    place = beijing().resolve("somewhere far away")
    assert (place.district_code, place.unit_code, place.ambiguous) == (None, None, False)
