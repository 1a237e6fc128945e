"""What copying one library into another will do, before it starts: the mapping of the fields
for this pair of libraries, the first rows mapped, and counts of what will be skipped, refused,
dropped or cut (docs/console.md, "Moving a library between backends").

The rows are mapped by the job's own functions (`gallery.mapping`), so the counts are what the
copy will do, not a second account of its rules. Every live row is read once (its fields, never
its file).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from django.utils.translation import gettext as _

from gallery.mapping import (
    Loss,
    Mapped,
    Rule,
    Side,
    SourceRow,
    fields_shown,
    map_row,
    mapping_rules,
    unique_pic_name,
)
from gallery.models import Image, Library, Picture

PREVIEW_ROWS = 10


@dataclass(frozen=True)
class PreviewRow:
    image: Image
    source_fields: list[tuple[str, str]]
    target_fields: list[tuple[str, str]]
    losses: tuple[Loss, ...]
    note: str = ""  # why the row is not copied, or how its name was changed


@dataclass(frozen=True)
class LossCount:
    field: str
    reason: str
    images: int


@dataclass(frozen=True)
class CopyPreview:
    rules: list[Rule]
    rows: list[PreviewRow]
    total: int  # live rows of the source
    without_original: int  # skipped: nothing to upload
    refused: int  # originals the target's file rules refuse (format, bytes, pixels)
    already_there: int | None  # a Baidu target's rows with the same bytes (not copied twice)
    losses: list[LossCount]

    @property
    def copied(self) -> int:
        """Rows the job will upload, at most (a target may refuse more on decoding)."""
        return self.total - self.without_original - self.refused - (self.already_there or 0)


def copy_preview(*, source: Library, target: Library, limit: int = PREVIEW_ROWS) -> CopyPreview:
    src, dst = Side.of(source), Side.of(target)
    losses: Counter[Loss] = Counter()
    total = without = refused = 0
    first: list[tuple[int, SourceRow, Mapped | None, str]] = []
    rows = source.images.live().order_by("pk").values_list("pk", *SourceRow.FIELDS)
    for pk, *values in rows.iterator(chunk_size=2000):
        total += 1
        row = SourceRow.from_values(tuple(values))
        mapped: Mapped | None = None
        note = ""
        if not row.has_original:
            without += 1
            note = _("Skipped: no original is kept (it was added through the API).")
        elif not dst.accepts(format=row.format, size=row.size, width=row.width, height=row.height):
            refused += 1
            note = _("Refused by the target: %(f)s, %(w)d×%(h)d px, %(b)d bytes.") % {
                "f": row.format,
                "w": row.width,
                "h": row.height,
                "b": row.size,
            }
        else:
            mapped = map_row(row, src, dst)
            losses.update(mapped.losses)
        if len(first) < limit:
            first.append((pk, row, mapped, note))
    # The first rows as images too, for the page's thumbnails (one deleted meanwhile is left out).
    images = Image.objects.in_bulk([entry[0] for entry in first])
    already_there = None
    if not target.is_instance:
        already_there = (
            source.images.live()
            .exclude(original="")
            .filter(sha256__in=target.images.live().values("sha256"))
            .count()
        )
    return CopyPreview(
        rules=mapping_rules(src, dst),
        rows=_preview_rows(
            target,
            [(images[pk], row, mapped, note) for pk, row, mapped, note in first if pk in images],
        ),
        total=total,
        without_original=without,
        refused=refused,
        already_there=already_there,
        losses=[
            LossCount(loss.field, loss.reason_text, n)
            for loss, n in sorted(losses.items(), key=lambda item: (-item[1], item[0].field))
        ],
    )


def _preview_rows(
    target: Library, first: list[tuple[Image, SourceRow, Mapped | None, str]]
) -> list[PreviewRow]:
    """The first rows with the names the job would give them against what the target holds
    now (and what the rows before them take)."""
    held: dict[tuple[str, str], str] = {}
    shas: set[str] = set()
    if target.is_instance:
        products = [m.picture.product_id for _i, _r, m, _n in first if m and m.picture]
        held = {
            (p.product_id, p.pic_name): p.image.sha256
            for p in Picture.objects.filter(image__in=target.images.live(), product_id__in=products)
            .select_related("image")
            .only("product_id", "pic_name", "image__sha256")
        }
    else:
        shas = set(
            target.images.live()
            .filter(sha256__in=[image.sha256 for image, *_rest in first])
            .values_list("sha256", flat=True)
        )
    out: list[PreviewRow] = []
    for image, row, mapped, note in first:
        shown = fields_shown(brief=row.brief, labels=row.labels, picture=row.picture)
        if mapped is None:
            out.append(PreviewRow(image, shown, [], (), note))
            continue
        picture = mapped.picture
        if picture is not None:
            name, already = _free_name(held, picture.product_id, picture.pic_name, image.sha256)
            if already:
                note = _("Already there: reported, not copied twice.")
            elif name != picture.pic_name:
                note = _("PicName taken in this product: renamed.")
                picture = replace(picture, pic_name=name)
            held[(picture.product_id, name)] = image.sha256
        elif image.sha256 in shas:
            note = _("Already there: reported, not copied twice.")
        target_fields = fields_shown(brief=mapped.brief, labels=mapped.labels, picture=picture)
        out.append(PreviewRow(image, shown, target_fields, mapped.losses, note))
    return out


def _free_name(
    held: dict[tuple[str, str], str], product_id: str, pic_name: str, sha256: str
) -> tuple[str, bool]:
    """The name the job gives the picture, and whether it is already there under it (the job's
    own rule, `jobs._copy_row`, against what the target holds now)."""
    there = False

    def taken(name: str) -> bool:
        nonlocal there
        holder = held.get((product_id, name))
        if holder == sha256:
            there = True
            return False
        return holder is not None

    return unique_pic_name(pic_name, taken), there
