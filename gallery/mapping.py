"""What an image's metadata becomes when a library moves between the two wires: a Baidu image's
brief, tags and class ids on an Alibaba picture, a picture's names, attributes and custom content
on a Baidu image, and between two libraries of one wire (docs/console.md, "Moving a library
between backends").

A module of its own rather than part of `gallery.pictures` or `gallery.labels`: it is the one
place that knows both wires' fields, and each of those modules knows only its own. Everything
here is a pure function of a row's fields (`SourceRow`), so the copy page's preview and the copy
job map a row by the same code and the preview's counts are what the job will do.

Nothing is lost silently: every value that cannot be carried, or only cut, is a `Loss` of the
mapped row, which the preview counts and the documentation lists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import count
from pathlib import PurePath, PurePosixPath
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from gallery.labels import Labels, brief_from_filename
from gallery.models import (
    INT_ATTR_FIELDS,
    STR_ATTR_FIELDS,
    TAG_MAX,
    TAG_MIN,
    TYPE_OF_SERVICE,
    Image,
    Library,
    Service,
)
from gallery.pictures import PictureFields, names_from_filename
from wire import aliyun, baidu

# Loss reasons, as the preview shows them.
CUT = "cut"
OUT_OF_RANGE = "range"
NO_PLACE = "no_place"
REASONS: dict[str, Promise] = {
    CUT: _("cut to fit"),
    OUT_OF_RANGE: _("dropped: outside 1–65535"),
    NO_PLACE: _("dropped: the target has no field for it"),
}


@dataclass(frozen=True)
class Side:
    """What a library is, as far as its fields go: a Baidu library of a service (a product one
    has class ids instead of tags) or an Alibaba instance of a type (a product one has
    categories)."""

    instance: bool
    service: str

    @classmethod
    def of(cls, library: Library) -> Side:
        return cls(library.is_instance, library.service)

    @property
    def class_ids(self) -> bool:
        return not self.instance and self.service == Service.PRODUCT

    @property
    def categories(self) -> bool:
        return self.instance and self.service == Service.PRODUCT

    def accepts(self, *, format: str, size: int, width: int, height: int) -> bool:
        """Whether the stored original passes this library's file rules (formats, bytes,
        pixels), as far as they can be told without decoding it again."""
        if self.instance:
            return (
                format in aliyun.PIC_FORMATS
                and size <= aliyun.MAX_PIC_BYTES
                and aliyun.fits(TYPE_OF_SERVICE[self.service], width, height)
            )
        return (
            format in ("PNG", "JPEG", "BMP")
            and size <= baidu.MAX_IMAGE_BYTES
            and baidu.fits(self.service, width, height)
        )


@dataclass(frozen=True)
class SourceRow:
    """The fields of one source row the mapping reads."""

    brief: str
    source: str = ""  # the file name it was uploaded as, or its URL
    labels: Labels = Labels()
    picture: PictureFields | None = None  # an instance's row
    has_original: bool = True
    format: str = "JPEG"
    size: int = 0
    width: int = 0
    height: int = 0

    # The fields of an Image row and of its picture that make a SourceRow, in `from_values`'
    # order: a pass over a whole library reads these with `values_list`, not model instances
    # (a seventh of the time).
    FIELDS: ClassVar[tuple[str, ...]] = (
        "brief",
        "source",
        "tag1",
        "tag2",
        "class_id1",
        "class_id2",
        "original",
        "format",
        "bytes",
        "width",
        "height",
        "picture__product_id",
        "picture__pic_name",
        "picture__category_id",
        *(f"picture__{name}" for name in INT_ATTR_FIELDS),
        *(f"picture__{name}" for name in STR_ATTR_FIELDS),
        "picture__custom_content",
    )

    @classmethod
    def from_values(cls, values: tuple[Any, ...]) -> SourceRow:
        """A row from `values_list(*SourceRow.FIELDS)`."""
        brief, source, tag1, tag2, class_id1, class_id2, original, fmt, size, w, h = values[:11]
        product_id, pic_name, category_id = values[11:14]
        picture = None
        if product_id is not None:  # a Picture's product id is never NULL: the row has one
            picture = PictureFields(
                product_id=product_id,
                pic_name=pic_name,
                category_id=category_id,
                int_attrs=tuple(values[14:18]),
                str_attrs=tuple(values[18:22]),
                custom_content=values[22],
            )
        return cls(
            brief=brief,
            source=source,
            labels=Labels(tuple(t for t in (tag1, tag2) if t is not None), class_id1, class_id2),
            picture=picture,
            has_original=bool(original),
            format=fmt,
            size=size,
            width=w,
            height=h,
        )

    @classmethod
    def of(cls, image: Image) -> SourceRow:
        """The row's fields, with its picture where it has one (query the rows with
        `select_related("picture")`: a Baidu image has none)."""
        stored = getattr(image, "picture", None)
        picture = None
        if stored is not None:
            picture = PictureFields(
                product_id=stored.product_id,
                pic_name=stored.pic_name,
                category_id=stored.category_id,
                int_attrs=stored.int_attrs,
                str_attrs=stored.str_attrs,
                custom_content=stored.custom_content,
            )
        return cls(
            brief=image.brief,
            source=image.source,
            labels=Labels.of(image),
            picture=picture,
            has_original=bool(image.original),
            format=image.format,
            size=image.bytes,
            width=image.width,
            height=image.height,
        )


@dataclass(frozen=True)
class Loss:
    """One value of a source row that the target does not get whole: the source field, by the
    name its wire gives it, and why (`REASONS`)."""

    field: str
    reason: str

    @property
    def reason_text(self) -> str:
        return str(REASONS[self.reason])


@dataclass(frozen=True)
class Mapped:
    """A source row as the target library takes it: a brief and labels for a Baidu library, a
    picture's fields for an instance; and what did not make it."""

    brief: str = ""
    labels: Labels = Labels()
    picture: PictureFields | None = None
    losses: tuple[Loss, ...] = ()


def file_name_of(source: str) -> str:
    """The file name in a row's source: the name it was uploaded as, or a URL's last part."""
    if "://" in source:
        return PurePosixPath(unquote(urlsplit(source).path)).name
    return PurePath(source).name


def cut_utf8(text: str, limit: int = baidu.MAX_BRIEF_BYTES) -> str:
    """`text` cut to at most `limit` UTF-8 bytes without splitting a character."""
    return text.encode()[:limit].decode(errors="ignore")


def baidu_names(brief: str, source: str) -> tuple[str, str]:
    """(ProductId, PicName) for a Baidu image. A brief that is only the default one (the file
    name, or spaces) gives both by the file-name rule of uploads (`names_from_filename`: the
    pictures of `sku-1_1.jpg` and `sku-1_2.jpg` are one product), exactly as uploading the same
    files into the instance would; any other brief is the product, and the file name the
    picture."""
    file = file_name_of(source)
    if not brief.strip() or (file and brief == brief_from_filename(file)):
        return names_from_filename(file or brief or "image")
    pic_name = names_from_filename(file)[1] if file else brief.strip()[: aliyun.MAX_ID]
    return brief.strip()[: aliyun.MAX_ID], pic_name


def map_row(row: SourceRow, source: Side, target: Side) -> Mapped:
    """What `row` of a `source` library becomes in a `target` library."""
    if target.instance:
        if row.picture is not None:
            return _picture_to_picture(row.picture, target)
        return _baidu_to_picture(row, source)
    if row.picture is not None:
        return _picture_to_baidu(row.picture, target)
    return Mapped(brief=row.brief, labels=_baidu_labels(row.labels, target))


def _baidu_labels(labels: Labels, target: Side) -> Labels:
    """Between Baidu libraries, tags and class ids are two numbers of the same range: they
    carry over in order when one side is a product library and the other is not."""
    numbers = (
        tuple(n for n in (labels.class_id1, labels.class_id2) if n is not None)
        if labels.class_id1 is not None or labels.class_id2 is not None
        else labels.tags
    )
    if target.class_ids:
        padded = (*numbers, None, None)
        return Labels((), padded[0], padded[1])
    return Labels(numbers)


def _baidu_to_picture(row: SourceRow, source: Side) -> Mapped:
    product_id, pic_name = baidu_names(row.brief, row.source)
    losses: tuple[Loss, ...] = ()
    if len(file_name_of(row.source)) > aliyun.MAX_ID:
        losses = (Loss("file name", CUT),)
    labels = row.labels
    if source.class_ids:
        ints: tuple[int | None, ...] = (None, None, labels.class_id1, labels.class_id2)
    else:
        tags = (*labels.tags, None, None)
        ints = (tags[0], tags[1], None, None)
    picture = PictureFields(
        product_id=product_id,
        pic_name=pic_name,
        int_attrs=ints,
        # The whole brief, whatever the names took of it: a search hit carries it back.
        custom_content=row.brief,
    )
    return Mapped(picture=picture, losses=losses)


def _picture_to_picture(picture: PictureFields, target: Side) -> Mapped:
    # Only an explicit category moves: a predicted one is the source backend's guess, and a
    # product instance predicts its own.
    if picture.category_id is not None and not target.categories:
        return Mapped(
            picture=replace(picture, category_id=None), losses=(Loss("CategoryId", NO_PLACE),)
        )
    return Mapped(picture=picture)


def _picture_to_baidu(picture: PictureFields, target: Side) -> Mapped:
    losses: list[Loss] = []
    if picture.custom_content.strip():
        brief = cut_utf8(picture.custom_content)
        if brief != picture.custom_content:
            losses.append(Loss("CustomContent", CUT))
        losses += [Loss("ProductId", NO_PLACE), Loss("PicName", NO_PLACE)]
    else:
        names = f"{picture.product_id}/{picture.pic_name}"
        brief = cut_utf8(names)
        if brief != names:
            losses.append(Loss("ProductId/PicName", CUT))
    # Tags are IntAttr and IntAttr2, class ids IntAttr3 and IntAttr4, as the other way round.
    slots = (2, 3) if target.class_ids else (0, 1)
    carried: list[int | None] = [None, None]
    for n, value in enumerate(picture.int_attrs):
        if value is None:
            continue
        if n not in slots:
            losses.append(Loss(aliyun.INT_ATTRS[n], NO_PLACE))
        elif not TAG_MIN <= value <= TAG_MAX:
            losses.append(Loss(aliyun.INT_ATTRS[n], OUT_OF_RANGE))
        else:
            carried[slots.index(n)] = value
    if target.class_ids:
        labels = Labels((), carried[0], carried[1])
    else:
        labels = Labels(tuple(v for v in carried if v is not None))
    losses += [
        Loss(aliyun.STR_ATTRS[n], NO_PLACE) for n, text in enumerate(picture.str_attrs) if text
    ]
    if picture.category_id is not None:
        losses.append(Loss("CategoryId", NO_PLACE))
    return Mapped(brief=brief, labels=labels, losses=tuple(losses))


def unique_pic_name(pic_name: str, taken: Callable[[str], bool]) -> str:
    """`pic_name`, or the first of `name (2).jpg`, `name (3).jpg`, … that is not `taken` in its
    product: adding a stored pair would replace that picture, and a copy never removes one."""
    if not taken(pic_name):
        return pic_name
    suffix = PurePath(pic_name).suffix
    stem = pic_name[: len(pic_name) - len(suffix)] if suffix else pic_name
    for n in count(2):
        tail = f" ({n}){suffix}"
        candidate = stem[: aliyun.MAX_ID - len(tail)] + tail
        if not taken(candidate):
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


# --- how the preview shows a mapping ---------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One line of the mapping table: source field → target field, and how."""

    source: str
    target: str
    how: str


def mapping_rules(source: Side, target: Side) -> list[Rule]:
    """The mapping table for a pair of libraries, as `map_row` applies it."""
    if target.instance and source.instance:
        rules = [
            Rule("ProductId, PicName", "ProductId, PicName", str(_("as they are"))),
            Rule("IntAttr…IntAttr4, StrAttr…StrAttr4", "the same", str(_("as they are"))),
            Rule("CustomContent", "CustomContent", str(_("as it is"))),
        ]
        rules.append(
            Rule("CategoryId", "CategoryId", str(_("as it is; a predicted one is predicted again")))
            if target.categories
            else Rule("CategoryId", "—", str(_("dropped: this instance type has no categories")))
        )
        return rules
    if target.instance:
        labels = (
            [Rule("class_id1, class_id2", "IntAttr3, IntAttr4", str(_("as they are")))]
            if source.class_ids
            else [Rule("tag1, tag2", "IntAttr, IntAttr2", str(_("as they are")))]
        )
        return [
            Rule(
                "brief",
                "ProductId",
                str(
                    _(
                        "the brief; a brief that is only the file name (the default) gives the "
                        "product by the file-name rule (sku-1_2.jpg → sku-1)"
                    )
                ),
            ),
            Rule("file name", "PicName", str(_("made unique in its product: name (2).jpg"))),
            *labels,
            Rule("brief", "CustomContent", str(_("the whole brief"))),
            Rule(
                "—",
                "CategoryId",
                str(_("predicted by the instance") if target.categories else _("none")),
            ),
        ]
    if source.instance:
        slots = (
            Rule("IntAttr3, IntAttr4", "class_id1, class_id2", str(_("when 1–65535")))
            if target.class_ids
            else Rule("IntAttr, IntAttr2", "tags", str(_("when 1–65535")))
        )
        return [
            Rule(
                "CustomContent",
                "brief",
                str(_("cut to 256 UTF-8 bytes; when empty, “ProductId/PicName”")),
            ),
            slots,
            Rule(
                str(_("other IntAttrs, StrAttrs, CategoryId")),
                "—",
                str(_("dropped (counted below)")),
            ),
        ]
    labels_how = str(_("as they are"))
    if source.class_ids != target.class_ids:
        labels_how = str(_("in order: tag1 ↔ class_id1, tag2 ↔ class_id2"))
    return [
        Rule("brief", "brief", str(_("as it is"))),
        Rule(
            "class ids" if source.class_ids else "tags",
            "class ids" if target.class_ids else "tags",
            labels_how,
        ),
    ]


def fields_shown(
    *, brief: str = "", labels: Labels = Labels(), picture: PictureFields | None = None
) -> list[tuple[str, str]]:
    """A row's fields by their wire names, as the preview lists them (absent ones left out)."""
    if picture is None:
        shown = [("brief", brief)]
        shown += [(f"tag{n}", str(t)) for n, t in enumerate(labels.tags, start=1)]
        shown += [
            (name, str(value))
            for name, value in (("class_id1", labels.class_id1), ("class_id2", labels.class_id2))
            if value is not None
        ]
        return shown
    shown = [("ProductId", picture.product_id), ("PicName", picture.pic_name)]
    if picture.category_id is not None:
        shown.append(("CategoryId", str(picture.category_id)))
    shown += [
        (name, str(v))
        for name, v in zip(aliyun.INT_ATTRS, picture.int_attrs, strict=True)
        if v is not None
    ]
    shown += [(name, s) for name, s in zip(aliyun.STR_ATTRS, picture.str_attrs, strict=True) if s]
    if picture.custom_content:
        shown.append(("CustomContent", picture.custom_content))
    return shown
