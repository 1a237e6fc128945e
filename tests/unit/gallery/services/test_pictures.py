"""Editing and deleting the pictures of an Alibaba instance (gallery/services/images.py and
`image_update_run`), through the real task pipeline to the real engine's Alibaba wire,
in-process (tests/engine_wsgi.py): an edit reaches the engine before the row claims it; a
product or a filter's pictures leave the engine, other clients' included, and then our rows."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from engine.models import AliyunImage
from gallery.backends import backend_for
from gallery.backends.aliyun import AliyunBackend
from gallery.models import Image, ImageStatus, Picture
from gallery.pictures import PictureFields
from gallery.services.applications import application_create
from gallery.services.images import (
    PictureSelection,
    image_update,
    pictures_delete,
    pictures_delete_preview,
)
from gallery.services.libraries import library_create
from gallery.services.sync import image_update_run
from gallery.services.uploads import image_upload
from searchapi.aliyun import Attributes, Condition
from tests.conftest import make_image
from wire.aliyun import picture_ref

pytestmark = pytest.mark.django_db


@pytest.fixture
def instance(aliyun_engine, personas):
    app = application_create(
        actor=personas["owner"], name="Shop", backend="builtin_aliyun", services=["similar"]
    )
    return library_create(
        actor=personas["owner"], application=app, service="product", instance_name="shoes"
    )


def upload(library, personas, seed, commit, filename, **fields):
    with commit():
        row = image_upload(
            actor=personas["editor"],
            library=library,
            data=make_image(seed),
            filename=filename,
            picture=PictureFields(**fields),
        )
    row.refresh_from_db()
    assert row.status == ImageStatus.INDEXED, (row.error_code, row.error_msg)
    return row


def stored(pic_name):
    return AliyunImage.objects.get(pic_name=pic_name)


def edit(**fields):
    return PictureFields(
        int_attrs=fields.get("int_attrs", (None,) * 4),
        str_attrs=fields.get("str_attrs", ("",) * 4),
        custom_content=fields.get("custom_content", ""),
    )


def aliyun(library) -> AliyunBackend:
    backend = backend_for(library.application)
    assert isinstance(backend, AliyunBackend)
    return backend


def other_client_adds(library, product_id, pic_name, seed, **attributes):
    """A picture another client of the instance stores: no row of ours."""
    aliyun(library).client.add_image(
        library.instance_name,
        product_id=product_id,
        pic_name=pic_name,
        image=make_image(seed),
        attributes=Attributes(**attributes),
    )


def test_an_edit_reaches_the_engine_and_only_then_the_row(instance, personas, commit):
    row = upload(instance, personas, 1, commit, "sku-1_1.jpg", int_attrs=(3, None, None, None))
    new = edit(int_attrs=(5, 7, None, None), str_attrs=("blue", "", "", "x"), custom_content="hi")
    image_update(actor=personas["editor"], image=row, picture=new)  # not committed: task waits
    row.refresh_from_db()
    picture = Picture.objects.get(image=row)
    assert row.pending_update == {
        "picture": {
            "int_attrs": [5, 7, None, None],
            "str_attrs": ["blue", "", "", "x"],
            "custom_content": "hi",
        }
    }
    # The row still says what the engine holds.
    assert (picture.int_attr1, picture.str_attr1, picture.custom_content) == (3, "", "")
    assert (stored("sku-1_1.jpg").int_attr, stored("sku-1_1.jpg").str_attr) == (3, "")
    image_update_run(image_id=row.pk)
    engine = stored("sku-1_1.jpg")
    assert (engine.int_attr, engine.int_attr2, engine.str_attr, engine.str_attr4) == (
        5,
        7,
        "blue",
        "x",
    )
    assert engine.custom_content == "hi" and engine.product_id == "sku-1"
    row.refresh_from_db()
    picture.refresh_from_db()
    assert row.pending_update is None and row.status == ImageStatus.INDEXED
    assert (picture.int_attr1, picture.int_attr2, picture.str_attr1, picture.str_attr4) == (
        5,
        7,
        "blue",
        "x",
    )
    assert (picture.custom_content, picture.product_id, picture.pic_name) == (
        "hi",
        "sku-1",
        "sku-1_1.jpg",
    )


def test_an_edit_runs_through_the_task_once_committed(instance, personas, commit):
    row = upload(instance, personas, 1, commit, "a.jpg")
    with commit():
        image_update(actor=personas["editor"], image=row, picture=edit(str_attrs=("red",) * 4))
    assert stored("a.jpg").str_attr3 == "red"
    assert Picture.objects.get(image=row).str_attr3 == "red"


def test_an_edit_the_engine_refuses_is_dropped_and_the_row_keeps_its_values(
    instance, personas, commit
):
    row = upload(instance, personas, 1, commit, "a.jpg", str_attrs=("red", "", "", ""))
    AliyunImage.objects.all().delete()  # another client deleted it: UpdateImage is BadRequest
    image_update(actor=personas["editor"], image=row, picture=edit(str_attrs=("blue", "", "", "")))
    image_update_run(image_id=row.pk)
    row.refresh_from_db()
    assert row.pending_update is None and row.error_code == "BadRequest"
    assert Picture.objects.get(image=row).str_attr1 == "red"


def test_clearing_a_stored_value_is_refused_beside_its_field(instance, personas, commit):
    row = upload(
        instance,
        personas,
        1,
        commit,
        "a.jpg",
        int_attrs=(1, None, None, None),
        str_attrs=("", "red", "", ""),
        custom_content="keep",
    )
    with pytest.raises(ValidationError) as caught:
        image_update(actor=personas["editor"], image=row, picture=edit(int_attrs=(2, 1, 1, 1)))
    assert set(caught.value.message_dict) == {"str_attr2", "custom_content"}
    assert "cannot clear" in caught.value.message_dict["str_attr2"][0]
    row.refresh_from_db()
    assert row.pending_update is None


def test_a_bad_character_is_refused_beside_its_field(instance, personas, commit):
    row = upload(instance, personas, 1, commit, "a.jpg")
    with pytest.raises(ValidationError) as caught:
        image_update(actor=personas["editor"], image=row, picture=edit(str_attrs=("a&b",) * 4))
    assert set(caught.value.message_dict) == {f"str_attr{n}" for n in range(1, 5)}
    assert "not allowed: &" in caught.value.message_dict["str_attr1"][0]


def test_a_picture_not_sent_yet_takes_the_edit_at_once(instance, personas):
    row = image_upload(  # not committed: its add has not run
        actor=personas["editor"],
        library=instance,
        data=make_image(1),
        filename="a.jpg",
        picture=PictureFields(str_attrs=("red", "", "", "")),
    )
    image_update(actor=personas["editor"], image=row, picture=edit(int_attrs=(9, None, None, None)))
    picture = Picture.objects.get(image=row)
    assert (picture.int_attr1, picture.str_attr1) == (9, "")  # cleared: nothing was sent yet
    assert Image.objects.get(pk=row.pk).pending_update is None


def test_deleting_a_product_takes_its_pictures_from_the_engine_and_the_rows(
    instance, personas, commit
):
    first = upload(instance, personas, 1, commit, "sku-1_1.jpg")
    second = upload(instance, personas, 2, commit, "sku-1_2.jpg")
    kept = upload(instance, personas, 3, commit, "sku-2.jpg", product_id="sku-2")
    other_client_adds(instance, "sku-1", "theirs.jpg", 4)
    selection = PictureSelection(product_id="sku-1")
    assert pictures_delete_preview(library=instance, selection=selection).rows == 2
    with pytest.raises(ValidationError) as caught:
        pictures_delete(
            actor=personas["editor"], library=instance, selection=selection, confirm="SKU-1"
        )
    assert "confirm" in caught.value.message_dict
    assert AliyunImage.objects.count() == 4
    with commit():
        pictures_delete(
            actor=personas["editor"], library=instance, selection=selection, confirm=" sku-1 "
        )
    for row in (first, second, kept):
        row.refresh_from_db()
    assert first.status == second.status == ImageStatus.DELETED
    assert kept.status == ImageStatus.INDEXED
    assert list(AliyunImage.objects.values_list("product_id", "pic_name")) == [
        ("sku-2", "sku-2.jpg")
    ]


@pytest.fixture
def attributed(instance, personas, commit):
    """Three of our pictures and one another client added, with attributes to filter on."""
    rows = {
        "a": upload(instance, personas, 1, commit, "a.jpg", int_attrs=(5, None, None, None)),
        "b": upload(
            instance,
            personas,
            2,
            commit,
            "b.jpg",
            int_attrs=(9, None, None, None),
            str_attrs=("red", "", "", ""),
        ),
        "c": upload(instance, personas, 3, commit, "c.jpg", str_attrs=("blue", "", "", "")),
    }
    other_client_adds(instance, "x", "theirs.jpg", 4, int_attrs=(7, None, None, None))
    return rows


@pytest.mark.parametrize(
    ("conditions", "any_of"),
    [
        ((Condition("int_attr", ">=", 6),), False),
        ((Condition("int_attr", "<", 6),), False),
        ((Condition("int_attr", "=", 9),), False),
        ((Condition("str_attr", "!=", "red"),), False),  # the empty StrAttr matches
        ((Condition("str_attr", "=", "blue"), Condition("int_attr", ">", 8)), True),
        ((Condition("str_attr", "!=", "blue"), Condition("int_attr", ">", 4)), False),
    ],
)
def test_our_rows_match_a_filter_as_the_engine_does(instance, attributed, conditions, any_of):
    selection = PictureSelection(conditions=conditions, any_of=any_of)
    found, more = aliyun(instance).pictures_by_filter(instance, filter=selection.clause())
    theirs = picture_ref("x", "theirs.jpg")
    engine = {picture_ref(a.product_id, a.pic_name) for a in found} - {theirs}
    assert not more
    assert set(selection.rows(instance).values_list("cont_sign", flat=True)) == engine


def test_the_engine_is_counted_in_pages_up_to_a_limit(instance, attributed):
    clause = PictureSelection(conditions=(Condition("int_attr", ">", 0),)).clause()
    found, more = aliyun(instance).pictures_by_filter(instance, filter=clause, limit=2)
    assert [a.pic_name for a in found] == ["a.jpg", "b.jpg"] and more
    found, more = aliyun(instance).pictures_by_filter(instance, filter=clause)
    assert len(found) == 3 and not more


def test_deleting_by_filter_asks_for_the_count_and_takes_other_clients_pictures_too(
    instance, attributed, personas, commit
):
    selection = PictureSelection(conditions=(Condition("int_attr", ">", 4),))
    preview = pictures_delete_preview(library=instance, selection=selection)
    assert (preview.rows, preview.held, preview.others, preview.more) == (2, 3, 1, False)
    assert preview.confirm == "delete 3"
    for wrong in ("delete", "delete 2", "yes"):
        with pytest.raises(ValidationError) as caught:
            pictures_delete(
                actor=personas["editor"], library=instance, selection=selection, confirm=wrong
            )
        assert "Type “delete 3”" in caught.value.message_dict["confirm"][0]
    assert AliyunImage.objects.count() == 4
    assert not Image.objects.filter(status=ImageStatus.DELETING).exists()
    with commit():
        pictures_delete(
            actor=personas["editor"], library=instance, selection=selection, confirm="Delete  3"
        )
    statuses = {key: Image.objects.get(pk=row.pk).status for key, row in attributed.items()}
    assert statuses == {
        "a": ImageStatus.DELETED,
        "b": ImageStatus.DELETED,
        "c": ImageStatus.INDEXED,
    }
    assert list(AliyunImage.objects.values_list("pic_name", flat=True)) == ["c.jpg"]


def test_a_filter_nothing_matches_deletes_nothing(instance, attributed, personas):
    selection = PictureSelection(conditions=(Condition("int_attr", ">", 100),))
    with pytest.raises(ValidationError) as caught:
        pictures_delete(
            actor=personas["editor"], library=instance, selection=selection, confirm="delete 0"
        )
    assert "nothing to delete" in caught.value.messages[0]


def test_a_filter_that_cannot_be_said_is_refused(instance):
    selection = PictureSelection(conditions=(Condition("str_attr", ">", "a"),))
    with pytest.raises(ValidationError) as caught:
        pictures_delete_preview(library=instance, selection=selection)
    assert "str_attr takes one of = !=" in caught.value.messages[0]
