"""gallery.mapping: what a row's metadata becomes between a Baidu library and an Alibaba
instance, either way and within one wire; nothing lost without a Loss saying so."""

from __future__ import annotations

import pytest

from gallery.labels import Labels
from gallery.mapping import (
    CUT,
    NO_PLACE,
    OUT_OF_RANGE,
    Loss,
    Side,
    SourceRow,
    baidu_names,
    cut_utf8,
    file_name_of,
    map_row,
    mapping_rules,
    unique_pic_name,
)
from gallery.pictures import PictureFields

BAIDU = Side(instance=False, service="same_hq")
BAIDU_PRODUCT = Side(instance=False, service="product")
GENERIC = Side(instance=True, service="similar")
PRODUCT = Side(instance=True, service="product")


def picture(**fields) -> SourceRow:
    return SourceRow(brief=fields.get("pic_name", "p.jpg"), picture=PictureFields(**fields))


def test_a_default_brief_gives_the_names_by_the_file_name_rule():
    assert baidu_names("sku-1_2.jpg", "sku-1_2.jpg") == ("sku-1", "sku-1_2.jpg")
    assert baidu_names("   ", "shots/sku-9-back.png") == ("sku-9", "sku-9-back.png")
    # A URL's default brief is the file name in its path.
    assert baidu_names("cat.jpg", "https://x.test/img/cat.jpg?s=1") == ("cat", "cat.jpg")


def test_any_other_brief_is_the_product_and_the_file_the_picture():
    assert baidu_names(' {"sku": 7} ', "IMG_1.jpg") == ('{"sku": 7}', "IMG_1.jpg")
    # No file name at all: the brief is both.
    assert baidu_names("Red shoe", "") == ("Red shoe", "Red shoe")
    assert file_name_of("https://x.test/a/b%20c.png") == "b c.png"


def test_baidu_to_an_instance_carries_tags_and_the_whole_brief():
    row = SourceRow(brief="Red shoe 红", source="r.jpg", labels=Labels((7, 65535)))
    mapped = map_row(row, BAIDU, PRODUCT)
    assert mapped.picture == PictureFields(
        product_id="Red shoe 红",
        pic_name="r.jpg",
        int_attrs=(7, 65535, None, None),
        custom_content="Red shoe 红",
    )
    assert mapped.losses == ()


def test_class_ids_go_to_int_attr3_and_4_never_to_a_category():
    row = SourceRow(brief="b", source="b.jpg", labels=Labels((), 3, 40))
    mapped = map_row(row, BAIDU_PRODUCT, PRODUCT)
    assert mapped.picture is not None
    assert mapped.picture.int_attrs == (None, None, 3, 40)
    assert mapped.picture.category_id is None  # the instance predicts it


def test_a_file_name_longer_than_a_picname_is_cut_and_said():
    name = "x" * 300 + ".jpg"
    mapped = map_row(SourceRow(brief="b", source=name), BAIDU, GENERIC)
    assert mapped.picture is not None and len(mapped.picture.pic_name) == 256
    assert mapped.losses == (Loss("file name", CUT),)


def test_custom_content_becomes_the_brief_cut_at_a_character_boundary():
    content = "商" * 100  # 300 bytes in UTF-8
    mapped = map_row(picture(product_id="p", pic_name="n", custom_content=content), GENERIC, BAIDU)
    assert mapped.brief == "商" * 85 and len(mapped.brief.encode()) == 255
    assert Loss("CustomContent", CUT) in mapped.losses
    assert {Loss("ProductId", NO_PLACE), Loss("PicName", NO_PLACE)} <= set(mapped.losses)
    assert cut_utf8("aé", 2) == "a"


def test_without_custom_content_the_brief_is_product_slash_picture():
    mapped = map_row(picture(product_id="sku-1", pic_name="sku-1_1.jpg"), GENERIC, BAIDU)
    assert mapped.brief == "sku-1/sku-1_1.jpg" and mapped.losses == ()
    long = map_row(picture(product_id="p" * 256, pic_name="n"), GENERIC, BAIDU)
    assert len(long.brief.encode()) == 256 and long.losses == (Loss("ProductId/PicName", CUT),)


def test_int_attrs_become_tags_when_in_range_and_every_other_value_is_counted():
    row = picture(
        product_id="p",
        pic_name="n",
        category_id=4,
        int_attrs=(0, 12, 5, None),
        str_attrs=("red", "", "", "xl"),
        custom_content="c",
    )
    mapped = map_row(row, PRODUCT, BAIDU)
    assert mapped.labels == Labels((12,))
    assert set(mapped.losses) == {
        Loss("IntAttr", OUT_OF_RANGE),
        Loss("IntAttr3", NO_PLACE),
        Loss("StrAttr", NO_PLACE),
        Loss("StrAttr4", NO_PLACE),
        Loss("CategoryId", NO_PLACE),
        Loss("ProductId", NO_PLACE),
        Loss("PicName", NO_PLACE),
    }


def test_a_baidu_product_library_gets_class_ids_from_int_attr3_and_4():
    row = picture(product_id="p", pic_name="n", int_attrs=(1, None, 70000, 9))
    mapped = map_row(row, GENERIC, BAIDU_PRODUCT)
    assert mapped.labels == Labels((), None, 9)
    assert set(mapped.losses) == {Loss("IntAttr", NO_PLACE), Loss("IntAttr3", OUT_OF_RANGE)}


@pytest.mark.parametrize(("source", "target"), [(BAIDU, GENERIC), (BAIDU_PRODUCT, PRODUCT)])
def test_baidu_to_an_instance_and_back_gives_the_same_brief_and_labels(source, target):
    labels = Labels((), 3, 4) if source.class_ids else Labels((3, 4))
    row = SourceRow(brief="A brief, not a file name", source="a.jpg", labels=labels)
    there = map_row(row, source, target)
    assert there.picture is not None
    back = map_row(SourceRow(brief=there.picture.pic_name, picture=there.picture), target, source)
    assert (back.brief, back.labels) == (row.brief, row.labels)


def test_between_instances_everything_moves_but_a_category_without_a_place():
    fields = PictureFields(
        product_id="p",
        pic_name="n",
        category_id=4,
        int_attrs=(1, 2, 3, 4),
        str_attrs=("a", "b", "c", "d"),
        custom_content="x",
    )
    row = SourceRow(brief="n", picture=fields)
    assert map_row(row, PRODUCT, PRODUCT).picture == fields
    generic = map_row(row, PRODUCT, GENERIC)
    assert generic.picture is not None and generic.picture.category_id is None
    assert generic.losses == (Loss("CategoryId", NO_PLACE),)


def test_between_baidu_libraries_tags_and_class_ids_carry_over_in_order():
    assert map_row(SourceRow("b", labels=Labels((5, 6))), BAIDU, BAIDU_PRODUCT).labels == Labels(
        (), 5, 6
    )
    assert map_row(SourceRow("b", labels=Labels((), None, 6)), BAIDU_PRODUCT, BAIDU).labels == (
        Labels((6,))
    )
    assert map_row(SourceRow("b", labels=Labels((5,))), BAIDU, BAIDU).labels == Labels((5,))


def test_a_taken_pic_name_gets_the_next_free_number_within_the_limit():
    taken = {"a.jpg", "a (2).jpg"}
    assert unique_pic_name("b.jpg", taken.__contains__) == "b.jpg"
    assert unique_pic_name("a.jpg", taken.__contains__) == "a (3).jpg"
    long = "y" * 256
    renamed = unique_pic_name(long, {long}.__contains__)
    assert renamed.endswith(" (2)") and len(renamed) == 256


def test_every_pair_of_wires_has_a_mapping_table():
    for source in (BAIDU, BAIDU_PRODUCT, GENERIC, PRODUCT):
        for target in (BAIDU, BAIDU_PRODUCT, GENERIC, PRODUCT):
            rules = mapping_rules(source, target)
            assert rules and all(r.source and r.target and r.how for r in rules)
    baidu_to_ali = {(r.source, r.target) for r in mapping_rules(BAIDU, PRODUCT)}
    assert ("tag1, tag2", "IntAttr, IntAttr2") in baidu_to_ali


def test_the_target_file_rules_are_each_wires_own():
    big = 3 * 1024 * 1024 + 1
    assert not BAIDU.accepts(format="JPEG", size=big, width=500, height=500)
    assert GENERIC.accepts(format="JPEG", size=big, width=500, height=500)
    assert not BAIDU.accepts(format="GIF", size=10, width=500, height=500)
    assert GENERIC.accepts(format="GIF", size=10, width=500, height=500)
    assert not GENERIC.accepts(format="JPEG", size=10, width=60, height=500)  # < 100 px
    assert BAIDU.accepts(format="JPEG", size=10, width=60, height=500)
