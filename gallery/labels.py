"""What a user may write on an image besides the file: the brief, and tags or class ids.

The limits are the wire's (baidu-wire §5.5, §5.6), checked here so that a form shows the reason
beside the field instead of a backend error code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from gallery.models import TAG_MAX, TAG_MIN, Image, Library
from wire.baidu import MAX_BRIEF_BYTES

# Django decodes form fields and file names that are not UTF-8 with errors="replace": this
# character is all that is left of such bytes by the time a view sees them.
REPLACEMENT = "\ufffd"
# More digits than any label has even with leading zeros; int() of thousands of digits is slow
# (and refused by Python itself past 4300).
_MAX_DIGITS = 16


def brief_bytes(brief: str) -> int:
    return len(brief.encode())


def brief_from_filename(name: str) -> str:
    """The file name, less what could not be read, cut at a character boundary to fit the
    256-byte brief. A file name is only a default, so it never makes an upload fail."""
    readable = "".join(ch for ch in name if ch != REPLACEMENT and ch.isprintable())
    cut = readable.encode()[:MAX_BRIEF_BYTES].decode(errors="ignore")
    return cut.strip() or "image"


def brief_problem(brief: str) -> str | None:
    """Why a brief a user gave cannot be pushed, in words; None when it can.

    The wire takes a brief of spaces (baidu-wire §5.5), but nobody can find an image by it: it
    is as good as none. Text that arrived as bytes that were not UTF-8 is refused rather than
    stored with the replacement characters Django put in (the wire refuses it too, 216100).
    """
    if not brief.strip():
        return _("A brief is required.")
    size = brief_bytes(brief)
    if size > MAX_BRIEF_BYTES:
        return _("The brief is %(n)d bytes in UTF-8; at most 256 are allowed.") % {"n": size}
    if REPLACEMENT in brief:
        return _("The brief was not sent as UTF-8 text: some of it could not be read.")
    return None


def clean_brief(brief: str) -> str:
    problem = brief_problem(brief)
    if problem is not None:
        raise ValidationError({"brief": problem})
    return brief


def label_number(text: str) -> int | None:
    """A tag or class id as typed, or None if it is not one.

    Decimal digits of any script are the number they spell: the full-width digits of a CJK
    keyboard (U+FF11 U+FF12) are 12, and what goes on the wire is always plain ASCII decimal.
    Nothing else is a number here: no sign, exponent, base prefix, decimal point, digit
    separator or superscript.
    """
    text = text.strip()
    if not text.isdecimal() or len(text) > _MAX_DIGITS:
        return None
    number = int(text)
    return number if TAG_MIN <= number <= TAG_MAX else None


def clean_tags(tags: Sequence[int] | None, field: str = "tags") -> list[int]:
    values = list(tags or [])
    if len(values) > 2:
        raise ValidationError({field: _("At most two tags.")})
    for value in values:
        if not TAG_MIN <= value <= TAG_MAX:
            raise ValidationError({field: _("Tags are whole numbers from 1 to 65535.")})
    return values


def clean_class_id(value: int | None, field: str) -> int | None:
    if value is not None and not TAG_MIN <= value <= TAG_MAX:
        raise ValidationError({field: _("Class ids are whole numbers from 1 to 65535.")})
    return value


@dataclass(frozen=True)
class Labels:
    """Tags, or for product libraries the two class ids."""

    tags: tuple[int, ...] = ()
    class_id1: int | None = None
    class_id2: int | None = None

    @classmethod
    def of(cls, image: Image) -> Labels:
        return cls(tuple(image.tags), image.class_id1, image.class_id2)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Labels:
        data = data or {}
        return cls(tuple(data.get("tags") or ()), data.get("class_id1"), data.get("class_id2"))

    def clean(self, library: Library) -> Labels:
        if library.uses_class_ids:
            if self.tags:
                raise ValidationError({"tags": _("Product libraries use class ids, not tags.")})
            return Labels(
                (),
                clean_class_id(self.class_id1, "class_id1"),
                clean_class_id(self.class_id2, "class_id2"),
            )
        if self.class_id1 is not None or self.class_id2 is not None:
            raise ValidationError({"tags": _("Only product libraries use class ids.")})
        return Labels(tuple(clean_tags(self.tags)))

    def drops_any_of(self, current: Labels) -> bool:
        """Whether replacing `current` by these labels would remove one."""
        return (bool(current.tags) and not self.tags) or any(
            old is not None and value is None
            for old, value in (
                (current.class_id1, self.class_id1),
                (current.class_id2, self.class_id2),
            )
        )

    def apply(self, image: Image) -> None:
        tags = [*self.tags, None, None]
        image.tag1, image.tag2 = tags[0], tags[1]
        image.class_id1, image.class_id2 = self.class_id1, self.class_id2

    def as_json(self) -> dict[str, Any]:
        return {"tags": list(self.tags), "class_id1": self.class_id1, "class_id2": self.class_id2}
