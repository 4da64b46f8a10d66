"""`scrub`: personal data out of published text, ordinary text left as written."""

import re
import unicodedata
from datetime import date

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hotline.privacy import EMAIL, ID_NUMBER, NAME, NUMBER, PHONE, WECHAT, scrub


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def digits_of(text: str) -> str:
    return re.sub(r"\D", "", unicodedata.normalize("NFKC", text))


@pytest.mark.parametrize(("text", "scrubbed"), [
    ("请回电13812345678谢谢", f"请回电{PHONE}谢谢"),
    ("电话138-1234-5678", f"电话{PHONE}"),
    ("电话 138 1234 5678。", f"电话 {PHONE}。"),
    ("138.1234.5678", PHONE),
    ("+86 138 1234 5678", PHONE),
    ("+86-13812345678", PHONE),
    ("(+86)13812345678", PHONE),
    ("008613812345678", PHONE),
    ("8613812345678", PHONE),
    ("１３８１２３４５６７８", PHONE),
    ("١٣٨١٢٣٤٥٦٧٨", PHONE),
    ("电话：１３８－１２３４－５６７８", f"电话：{PHONE}"),
    ("138\u200b1234\u200b5678", PHONE),
    ("1381\u200b2345678。", f"{PHONE}。"),
    ("(010) 6512 3456", PHONE),
    ("（010）6512 3456", PHONE),
    ("010-65123456", PHONE),
    ("01065123456", PHONE),
    ("0755-8345123", PHONE),
    ("+86 10 6512 3456", PHONE),
    ("座机6512 3456", f"座机{PHONE}"),
    ("座机65123456", f"座机{PHONE}"),
    ("身份证110101199003071234", f"身份证{ID_NUMBER}"),
    ("11010119900307123X号", f"{ID_NUMBER}号"),
    ("110101 19900307 123x", ID_NUMBER),
    ("老身份证110101900307123", f"老身份证{ID_NUMBER}"),
    ("卡号6222021234567890123", f"卡号{NUMBER}"),
    ("卡号6222 0212 3456 7890 123", f"卡号{NUMBER}"),
    ("邮箱wang.li@example.com，谢谢", f"邮箱{EMAIL}，谢谢"),
    ("ｗａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", EMAIL),
    ("微信号：wang_li88", f"微信号：{WECHAT}"),
    ("微信是 wxid_abcdefg，", f"微信是 {WECHAT}，"),
    ("加我vx: abc-12345", f"加我vx: {WECHAT}"),
    ("WeChat: Li_Ming2026", f"WeChat: {WECHAT}"),
    ("wx号 lm123456", f"wx号 {WECHAT}"),
    ("联系人：李四，电话0755-83451234", f"联系人：{NAME}，电话{PHONE}"),
    ("姓名: 欧阳娜娜", f"姓名: {NAME}"),
])
def test_each_form_of_personal_data_is_masked(text, scrubbed):
    assert scrub(text) == scrubbed


@pytest.mark.parametrize("text", [
    "家里停水两天了，请尽快处理。",
    "2026-03-02 14:30 拱辰大街12号 3号楼2单元1201室",
    "2026年3月2日下午14:30开始施工，持续到22:00。",
    "20260302起停水",
    "2020-2026年一直如此",
    "拨打12345热线、110、120都没人管",
    "工资8000元，已经欠了3个月；面积120.5平米；邮编102488",
    "房山区良乡镇云景台小区二期3号楼",
    "我加了物业微信之后也没人回复",
    "Road No. 12, Building 3, Room 1201",
    "",
])
def test_ordinary_text_is_left_as_written(text):
    assert scrub(text) == text


def test_the_callers_own_name_and_phone_are_masked_wherever_they_appear():
    assert scrub("王先生说楼下很吵，王 先生家在3层", names=["王先生"]) == f"{NAME}说楼下很吵，{NAME}家在3层"
    assert scrub("I am John  Smith", names=["John Smith"]) == f"I am {NAME}"
    assert scrub("call 555 0100 99 now", phones=["+1 555-0100-99"]) == f"call {PHONE} now"
    # A one-character name is a word too often (王府井): it is not matched alone.
    assert scrub("王府井", names=["王", None, ""]) == "王府井"
    # A caller named like a placeholder does not eat the placeholders.
    assert scrub(f"电话{PHONE}", names=["电话"]) == f"{NAME}{PHONE}"


# -- properties ------------------------------------------------------------------------------

WORDS = ["家里", "停水", "两天了", "请尽快处理", "楼下", "噪音", "扰民", "物业", "不管", "小区", "门口",
         "道路", "破损", "雨天", "积水", "严重", "垃圾", "没人清运", "谢谢", "拱辰大街", "云景台", "二期"]
PUNCTUATION = ["，", "。", "！", "？", "、", "；", "：", "（", "）", " ", "\n"]
ordinary_piece = st.one_of(
    st.sampled_from(WORDS), st.sampled_from(PUNCTUATION),
    st.dates().map(lambda d: d.isoformat()),  # 2026-03-02
    st.dates().map(lambda d: f"{d.year}年{d.month}月{d.day}日"),
    st.times().map(lambda t: t.strftime("%H:%M")),  # 14:30
    st.integers(1, 9999).map(lambda n: f"{n}号"),  # house numbers
    st.tuples(st.integers(1, 30), st.integers(1, 9), st.integers(101, 3020)).map(
        lambda t: f"{t[0]}号楼{t[1]}单元{t[2]}室"),
    st.integers(0, 999_999).map(lambda n: f"{n}元"),
)
# Each piece followed by a word or a mark, as in a sentence (20100000 glued from 20 and 100000 is
# a number, whatever it was meant to be).
ordinary = st.lists(st.tuples(ordinary_piece, st.sampled_from(WORDS + PUNCTUATION)).map("".join),
                    max_size=12).map("".join)
# Ordinary text that ends and starts with a word, so that what goes between stands alone.
around = st.tuples(ordinary, st.sampled_from(WORDS)).map("".join)
after = st.tuples(st.sampled_from(WORDS), ordinary).map("".join)

mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
MOBILE_FORMS = [
    lambda m: m, lambda m: f"{m[:3]}-{m[3:7]}-{m[7:]}", lambda m: f"{m[:3]} {m[3:7]} {m[7:]}",
    lambda m: f"+86 {m}", lambda m: f"+86-{m}", lambda m: f"0086{m}", lambda m: f"+86 {m[:3]} {m[3:7]} {m[7:]}",
    lambda m: full_width(m), lambda m: full_width(f"{m[:3]}-{m[3:7]}-{m[7:]}"),
]
landlines = st.one_of(
    st.tuples(st.sampled_from(["010", "021", "022"]), st.from_regex(r"[2-9][0-9]{7}", fullmatch=True)),
    st.tuples(st.sampled_from(["0755", "0571", "0898"]), st.from_regex(r"[2-9][0-9]{6,7}", fullmatch=True)),
)
LANDLINE_FORMS = [
    lambda a, n: f"({a}) {n[:-4]} {n[-4:]}", lambda a, n: f"{a}-{n}", lambda a, n: f"{a}{n}",
    lambda a, n: f"+86 {a[1:]} {n[:-4]} {n[-4:]}", lambda a, n: f"（{a}）{n}", lambda a, n: full_width(f"{a}-{n}"),
]
# Without an area code: an 8-digit number that does not read as a date (Beijing's start 5-8).
locals_ = st.from_regex(r"[5-8][0-9]{7}", fullmatch=True)
births = st.dates(date(1900, 1, 1), date(2030, 12, 31))
ids = st.tuples(
    st.from_regex(r"[1-9][0-9]{5}", fullmatch=True), births, st.from_regex(r"[0-9]{3}", fullmatch=True),
    st.sampled_from("0123456789Xx"),
).map(lambda t: f"{t[0]}{t[1]:%Y%m%d}{t[2]}{t[3]}")
old_ids = st.tuples(st.from_regex(r"[1-9][0-9]{5}", fullmatch=True), births,
                    st.from_regex(r"[0-9]{3}", fullmatch=True)).map(lambda t: f"{t[0]}{t[1]:%y%m%d}{t[2]}")
wechat_ids = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{5,19}", fullmatch=True)
names = st.text(alphabet="明华伟芳娜秀英建国淑芬志强欧阳司马", min_size=2, max_size=4)


@settings(max_examples=300)
@given(text=ordinary)
def test_ordinary_text_with_dates_times_and_house_numbers_is_never_changed(text):
    assert scrub(text) == text


@given(before=around, mobile=mobiles, form=st.sampled_from(MOBILE_FORMS), rest=after)
@example(before="电话", mobile="13812345678", form=MOBILE_FORMS[-1], rest="谢谢")
def test_a_mobile_number_in_any_form_is_masked(before, mobile, form, rest):
    out = scrub(f"{before}{form(mobile)}{rest}")
    assert mobile not in digits_of(out) and PHONE in out
    assert out.startswith(before) and out.endswith(rest)


@given(before=around, number=landlines, form=st.sampled_from(LANDLINE_FORMS), rest=after)
def test_a_landline_in_any_form_is_masked(before, number, form, rest):
    area, local = number
    out = scrub(f"{before}{form(area, local)}{rest}")
    assert local not in digits_of(out) and PHONE in out
    assert out.startswith(before) and out.endswith(rest)


@given(before=around, number=locals_, spaced=st.booleans(), rest=after)
def test_a_local_number_without_its_area_code_is_masked(before, number, spaced, rest):
    written = f"{number[:4]} {number[4:]}" if spaced else number
    assert scrub(f"{before}{written}{rest}") == f"{before}{PHONE}{rest}"


@given(before=around, number=st.one_of(ids, old_ids), rest=after)
def test_an_id_number_is_masked(before, number, rest):
    assert scrub(f"{before}{number}{rest}") == f"{before}{ID_NUMBER}{rest}"


@given(before=around, email=st.emails(), rest=after)
def test_an_email_address_is_masked(before, email, rest):
    out = scrub(f"{before} {email} {rest}")
    assert email not in out and EMAIL in out


@given(before=around, keyword=st.sampled_from(["微信", "微信号", "wechat", "WeChat", "vx", "VX", "wx"]),
       filler=st.sampled_from(["", ":", "：", " ", "是", "号是 ", ": "]), wechat=wechat_ids,
       rest=st.tuples(st.sampled_from(["，", "。", " "]), after).map("".join))
def test_a_wechat_id_after_its_keyword_is_masked(before, keyword, filler, wechat, rest):
    out = scrub(f"{before}{keyword}{filler}{wechat}{rest}")
    assert wechat not in out and WECHAT in out


@given(before=around, name=names, rest=after)
def test_the_callers_name_is_masked(before, name, rest):
    assert name not in scrub(f"{before}{name}{rest}", names=[name])


pii = st.one_of(mobiles, ids, st.emails(), wechat_ids.map(lambda w: f"微信{w}"),
                landlines.map(lambda t: f"{t[0]}-{t[1]}"), locals_)


@settings(max_examples=300)
@given(parts=st.lists(st.one_of(ordinary_piece, pii, st.text(max_size=8)), max_size=10), name=names)
def test_scrubbing_is_idempotent(parts, name):
    once = scrub("".join(parts), names=[name])
    assert scrub(once, names=[name]) == once


@settings(max_examples=500)
@given(text=st.text())
def test_any_text_scrubs_without_error_and_stays_scrubbed(text):
    once = scrub(text)
    assert isinstance(once, str) and scrub(once) == once
