"""Writes data/beijing/romanized.csv: the pinyin and English forms of the gazetteer's names.

    python -m hotline.romanize          # rewrite the table after districts.csv or streets.csv change
    python -m hotline.romanize --check  # exit 1 if the shipped table is not what it would write

Needs pypinyin (the dev extra); the services only read the table. Forms are folded (lower case, no
spaces): the bare name (wangjing), with its own suffix in pinyin (wangjingjiedao) and with the
English words for its kind (wangjingsubdistrict, wangjingstreet). Area offices (地区) are merged
with a town or township, so they take those words too ("Liangxiang Town").
"""

import csv
import io
import sys
from importlib import resources

from hotline.gazetteer import District, Unit, UnitKind, read_divisions

# Readings pypinyin gets wrong for these place names (朝 is cháo in 朝阳门, 堡 is pù in 马家堡), and
# spellings in common use besides the standard one (大栅栏 is said Dashilan'r).
READINGS: dict[str, tuple[str, ...]] = {
    "朝阳": ("chao yang",),
    "朝阳门": ("chao yang men",),
    "什刹海": ("shi cha hai",),
    "大栅栏": ("da zha lan", "da shi lan", "da shi lar"),
    "长辛店": ("chang xin dian",),
    "马家堡": ("ma jia pu", "ma jia bao"),
    "长阳": ("chang yang",),
    "长沟": ("chang gou",),
    "长子营": ("zhang zi ying", "chang zi ying"),
    "长哨营": ("chang shao ying",),
    "刘斌堡": ("liu bin pu", "liu bin bao"),
    "佛子庄": ("fo zi zhuang",),
}

WORDS: dict[UnitKind, tuple[str, ...]] = {
    UnitKind.STREET: ("jiedao", "subdistrict", "street"),
    UnitKind.AREA: ("diqu", "area", "zhen", "town", "xiang", "township"),
    UnitKind.TOWN: ("zhen", "town"),
    UnitKind.TOWNSHIP: ("xiang", "township"),
    UnitKind.SPECIAL_ZONE: (),
}
DISTRICT_WORDS = ("qu", "district")
# Names ending in a road or street word also take the English word: "Xueyuan Road" (学院路).
ENDINGS = {"路": ("lu", "road"), "街": ("jie", "street")}
COLUMNS = ("code", "name", "pinyin", "forms")


def readings(name: str) -> tuple[str, ...]:
    """Toneless pinyin readings of a name, syllables separated by spaces."""
    from pypinyin import lazy_pinyin  # the generator's only dependency

    return READINGS.get(name) or (" ".join(lazy_pinyin(name)),)


def _unit_forms(unit: Unit) -> tuple[tuple[str, ...], set[str]]:
    short = unit.short_name
    if short == unit.name and unit.kind in (UnitKind.TOWN, UnitKind.TOWNSHIP):
        # Too short to lose its suffix (张镇): "Zhangzhen" or "Zhang Town".
        stems = readings(short[:-1])
        return readings(short), {"".join(r.split()) for r in readings(short)} | {
            "".join(s.split()) + w for s in stems for w in WORDS[unit.kind]}
    own = "".join(readings(unit.name[len(short):])[0].split()) if short != unit.name else ""
    forms: set[str] = set()
    for reading in readings(short):
        syllables = reading.split()
        bare = "".join(syllables)
        forms |= {bare, bare + own, *(bare + w for w in WORDS[unit.kind])}
        ending = ENDINGS.get(short[-1])
        if ending and syllables[-1] == ending[0] and len(syllables) > 2:
            forms.add("".join(syllables[:-1]) + ending[1])
    return readings(short), forms


def _district_forms(district: District) -> tuple[tuple[str, ...], set[str]]:
    bare = "".join(readings(district.short_name)[0].split())
    return readings(district.short_name), {bare, *(bare + w for w in DISTRICT_WORDS)}


def table() -> str:
    """The romanized table as CSV text: districts, then units, in code order."""
    districts, units = read_divisions()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for place, (names, forms) in [(d, _district_forms(d)) for d in districts] + [
            (u, _unit_forms(u)) for u in units]:
        writer.writerow((place.code, place.name, names[0], "|".join(sorted(forms))))
    return out.getvalue()


def main(argv: list[str]) -> int:
    target = resources.files("hotline") / "data" / "beijing" / "romanized.csv"
    text = table()
    if "--check" in argv:
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        if current != text:
            print(f"{target} is stale: run python -m hotline.romanize", file=sys.stderr)
            return 1
        return 0
    with open(str(target), "w", encoding="utf-8", newline="") as f:
        f.write(text)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
