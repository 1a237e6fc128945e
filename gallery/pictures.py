"""What a user may write on a picture of an Alibaba instance: its product and picture name, its
category, four integer and four string attributes and the custom content (aliyun-wire §4).

The limits are the wire's, checked here so that a form shows the reason beside the field instead
of a backend error code. `ProductId` is required by the wire; when the user gives none it comes
from the file name (`names_from_filename`), which they can override.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from gallery.labels import REPLACEMENT
from gallery.models import INT_ATTR_FIELDS, STR_ATTR_FIELDS, Picture
from wire.aliyun import (
    CATEGORIES,
    MAX_CUSTOM_CONTENT,
    MAX_ID,
    MAX_STR_ATTR,
    STR_ATTR_FORBIDDEN,
)

INT32 = (-(2**31), 2**31 - 1)
# "sku-123_2.jpg", "sku-123 (2).jpg", "sku-123-back.png": the pictures of one product share the
# stem before "_" or a space and a picture number, or before a view word. A hyphen and digits
# are left alone: "AB-123" is more often an id than picture 123 of product "AB".
_VIEWS = "front|back|side|top|bottom|left|right|detail|main"
_PICTURE_SUFFIX = re.compile(rf"(?:[ _]+\d{{1,2}}|\s*\(\d{{1,2}}\)|[ _.-]+(?:{_VIEWS}))$", re.I)


def names_from_filename(filename: str) -> tuple[str, str]:
    """(ProductId, PicName) by the default rule: the picture is the file's name, the product
    its stem less a trailing picture number after "_" or a space, or a view word
    ("sku-123_2.jpg" → "sku-123")."""
    readable = "".join(
        ch for ch in PurePath(filename).name if ch != REPLACEMENT and ch.isprintable()
    )
    pic_name = readable.strip()[:MAX_ID] or "image"
    stem = PurePath(pic_name).stem.strip() or pic_name
    product_id = _PICTURE_SUFFIX.sub("", stem).strip() or stem
    return product_id[:MAX_ID], pic_name


@dataclass(frozen=True)
class PictureFields:
    """The picture's metadata as the user gave it; empty strings and None are absent."""

    product_id: str = ""
    pic_name: str = ""
    category_id: int | None = None
    int_attrs: tuple[int | None, ...] = (None, None, None, None)
    str_attrs: tuple[str, ...] = ("", "", "", "")
    custom_content: str = ""

    def clean(self, *, filename: str, product_instance: bool) -> PictureFields:
        """These fields with the defaults filled in; ValidationError names each bad field."""
        default_product, default_pic = names_from_filename(filename)
        product_id = self.product_id.strip() or default_product
        pic_name = self.pic_name.strip() or default_pic
        errors: dict[str, str] = {}
        for name, value in (("product_id", product_id), ("pic_name", pic_name)):
            if len(value) > MAX_ID:
                errors[name] = _("At most %(n)d characters.") % {"n": MAX_ID}
            elif REPLACEMENT in value:
                errors[name] = _("This was not sent as UTF-8 text: some of it could not be read.")
        if self.category_id is not None:
            if not product_instance:
                errors["category_id"] = _("Only product instances have categories.")
            elif self.category_id not in CATEGORIES:
                errors["category_id"] = _("Not one of Alibaba's categories.")
        for n, number in enumerate(self.int_attrs, start=1):
            if number is not None and not INT32[0] <= number <= INT32[1]:
                errors[f"int_attr{n}"] = _("A whole number from -2147483648 to 2147483647.")
        for n, text in enumerate(self.str_attrs, start=1):
            bad = "".join(sorted(STR_ATTR_FORBIDDEN.intersection(text)))
            if len(text) > MAX_STR_ATTR:
                errors[f"str_attr{n}"] = _("At most %(n)d characters.") % {"n": MAX_STR_ATTR}
            elif bad:
                errors[f"str_attr{n}"] = _("These characters are not allowed: %(c)s") % {"c": bad}
        if len(self.custom_content) > MAX_CUSTOM_CONTENT:
            errors["custom_content"] = _("At most %(n)d characters.") % {"n": MAX_CUSTOM_CONTENT}
        if errors:
            raise ValidationError(errors)
        return PictureFields(
            product_id=product_id,
            pic_name=pic_name,
            category_id=self.category_id,
            int_attrs=tuple(self.int_attrs),
            str_attrs=tuple(s.strip() for s in self.str_attrs),
            custom_content=self.custom_content,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "pic_name": self.pic_name,
            "category_id": self.category_id,
            "int_attrs": list(self.int_attrs),
            "str_attrs": list(self.str_attrs),
            "custom_content": self.custom_content,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> PictureFields:
        data = data or {}
        return cls(
            product_id=data.get("product_id", ""),
            pic_name=data.get("pic_name", ""),
            category_id=data.get("category_id"),
            int_attrs=tuple(data.get("int_attrs") or (None,) * 4),
            str_attrs=tuple(data.get("str_attrs") or ("",) * 4),
            custom_content=data.get("custom_content", ""),
        )

    def picture(self) -> Picture:
        """An unsaved Picture with these fields (the caller sets its image)."""
        picture = Picture(
            product_id=self.product_id,
            pic_name=self.pic_name,
            category_id=self.category_id,
            custom_content=self.custom_content,
        )
        for name, value in zip(INT_ATTR_FIELDS, self.int_attrs, strict=True):
            setattr(picture, name, value)
        for name, text in zip(STR_ATTR_FIELDS, self.str_attrs, strict=True):
            setattr(picture, name, text)
        return picture
