"""The category tree (data/taxonomy/tree.yaml) and the functions intake uses with the classifier."""

import copy

import pytest
import yaml

from hotline import category_tree
from hotline.category_tree import category_within, default_tree, first_level_of
from hotline.classifier.data import CLASSES
from hotline.taxonomy import default_taxonomy


def spec() -> dict:
    with open(category_tree._folder() / "tree.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_every_category_sits_under_one_class_and_the_seven_are_first():
    tree = default_tree()
    assert set(list(tree.classes)[:7]) == set(CLASSES)
    assert list(tree.classes)[7:] == ["公共安全", "其他"]
    assert set(tree.first_level) == set(default_taxonomy().categories)
    assert len(default_taxonomy().categories) == 22  # the taxonomy has 22 categories (other included)
    counts = {}
    for cls in tree.classes.values():
        for code in cls.categories:
            counts[code] = counts.get(code, 0) + 1
    assert set(counts.values()) == {1}


@pytest.mark.parametrize("code, first", [
    ("water_supply", "城乡建设"), ("heating", "城乡建设"), ("roads_traffic", "城乡建设"),
    ("wages_social_security", "劳动和社会保障"), ("elderly_care", "劳动和社会保障"),
    ("education", "教育文体"), ("market_consumer", "商贸旅游"), ("environment_pollution", "环境保护"),
    ("noise", "环境保护"), ("medical_health", "卫生计生"), ("public_transport", "交通运输"),
    ("public_order", "公共安全"), ("other", "其他"),
])
def test_first_level_of(code, first):
    assert first_level_of(code) == first


def test_first_level_of_an_unknown_code_is_a_key_error():
    with pytest.raises(KeyError):
        first_level_of("no_such_category")


def test_government_levels_are_attached_where_they_correspond():
    tree = default_tree()
    assert "城市建设和市政管理/自来水供应" in tree.classes["城乡建设"].categories["water_supply"]
    assert "环境污染/噪音污染" in tree.classes["环境保护"].categories["noise"]
    assert ("城乡建设", "城市建设和市政管理", "冬季采暖") in category_tree.government_levels()


def test_category_within_uses_only_the_keywords_of_the_class():
    # 停水 is water_supply's keyword; the classifier said 城乡建设: water_supply.
    assert category_within("城乡建设", "小区停水三天了") == "water_supply"
    # Under 环境保护 the same words cannot give water_supply; 噪音 gives noise.
    assert category_within("环境保护", "小区停水三天了") == "environment_pollution"
    assert category_within("环境保护", "楼下工地噪音扰民") == "noise"
    # The unrestricted keywords would say construction (施工, 工地) for this one.
    assert default_taxonomy().categorize("工地施工噪音") == "construction"
    assert category_within("环境保护", "工地施工噪音") == "noise"


def test_category_within_falls_back_to_the_class_default():
    tree = default_tree()
    for name, cls in tree.classes.items():
        assert category_within(name, "没有任何关键词的一句话") == cls.default
    assert tree.classes["城乡建设"].default == "construction"


def test_a_hint_wins_only_within_the_class():
    assert category_within("城乡建设", "随便说说", hint="供暖") == "heating"
    # A hint naming a category of another class is left to the caller.
    assert category_within("城乡建设", "随便说说", hint="教育") == "construction"


@pytest.mark.parametrize("change, message", [
    (lambda s: s["classes"][0]["categories"].update({"bogus": []}), "'bogus', which is not a taxonomy category"),
    (lambda s: s["classes"][1]["categories"].update({"water_supply": []}), "under both 城乡建设 and 劳动和社会保障"),
    (lambda s: s["classes"][0]["categories"].update({"heating": ["城市建设和市政管理/暖气费"]}),
     "城乡建设/城市建设和市政管理/暖气费 is not in the government's tree"),
    (lambda s: s["classes"][0].update({"default": "education"}), "the default of 城乡建设, 'education'"),
    (lambda s: s["classes"].pop(), "categories under no class: other"),
])
def test_a_broken_tree_is_refused_with_the_reason(change, message):
    broken = copy.deepcopy(spec())
    change(broken)
    with pytest.raises(ValueError, match=message):
        category_tree.build(broken, default_taxonomy(), category_tree.government_levels())


def test_also_lets_a_class_reach_the_categories_its_messages_are_also_about():
    # The classifier puts most pothole messages in 交通运输 (as the labelled data does): still roads.
    assert category_within("交通运输", "路面坑洼严重") == "roads_traffic"
    assert category_within("城乡建设", "公交车班次太少") == "public_transport"
    assert category_within("商贸旅游", "物业不作为，电梯坏了") == "property_management"
    assert category_within("交通运输", "没有任何关键词的一句话") == "public_transport"  # the default is its own


def test_also_lists_what_the_labelled_data_files_under_the_class():
    """A category of the seven classes is in another class's `also` when at least 30% of the
    labelled messages whose best keyword match it is carry that class (the rule stated in
    tree.yaml), and only then. (公共安全 and 其他 need none: their keywords overrule the model.)"""
    from collections import Counter

    from hotline.classifier import data

    taxonomy, tree = default_taxonomy(), default_tree()
    shipped = data.segmented_examples()
    labels_of: dict[str, Counter] = {}
    for text, label in zip(shipped.texts, shipped.labels):
        best = taxonomy.best_keyword_match(text.replace(" ", ""))
        if best is not None:
            labels_of.setdefault(best, Counter())[label] += 1
    expected = {name: set() for name in tree.classes}
    for code, counts in labels_of.items():
        if first_level_of(code) not in data.CLASSES:
            continue
        for label, n in counts.items():
            if label != first_level_of(code) and n >= 0.3 * sum(counts.values()):
                expected[label].add(code)
    assert {name: set(cls.also) for name, cls in tree.classes.items()} == expected
    assert expected["交通运输"] == {"roads_traffic"} and expected["城乡建设"] == {"public_transport"}


@pytest.mark.parametrize("also", [["bogus"], ["construction"]])
def test_also_names_categories_of_other_classes_only(also):
    broken = copy.deepcopy(spec())
    broken["classes"][0]["also"] = also  # 城乡建设, whose own category construction is
    with pytest.raises(ValueError, match=f"城乡建设 also names '{also[0]}'"):
        category_tree.build(broken, default_taxonomy(), category_tree.government_levels())
