"""Checking uploaded image files and making their thumbnails.

A file is judged by decoding it, never by its name or the client's content type. The limits are
the wire contract's (baidu-wire §5.1, §5.3), checked before anything is stored or sent, so the user
reads the reason in plain words instead of a backend error code.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import struct
import uuid
from dataclasses import dataclass

from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from gallery.texts import Text
from wire import aliyun
from wire.baidu import MAX_IMAGE_BYTES, MAX_SIDE, PIXEL_LIMITS

# The accepted formats, recognised by their first bytes as the engine does (baidu-wire §5.1),
# so that a file is accepted or refused alike here and there: a JPEG that carries a second
# picture (MPO, as some cameras write) is a JPEG, and no other format's decoder sees pixels.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"BM", "BMP"),
)
# Modes whose samples go past 255: PNG's 16-bit greyscale (older Pillow opened it as "I").
_WIDE_GREY = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
# The one thumbnail spec: JPEG, at most this many pixels on the longest side.
THUMBNAIL_SIDE = 320
THUMBNAIL_QUALITY = 82


class ImageInvalid(ValueError):
    """The file cannot be pushed. `code` is the wire error the backend would have given."""

    def __init__(self, code: int | str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ImageFacts:
    format: str
    width: int
    height: int
    bytes: int
    sha256: str
    thumbnail: builtins.bytes | None = None  # JPEG, only when asked for (`bytes` is a field)


def inspect(data: bytes, service: str, *, thumbnail: bool = False) -> ImageFacts:
    """Decode `data` fully and check it against `service`'s limits; raise ImageInvalid.

    With `thumbnail`, the thumbnail is made from the same decode (uploads need both).
    """
    if not data:
        raise ImageInvalid(216200, Text("The file is empty."))
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageInvalid(
            216202,
            Text("The file is %(size).1f MiB; the limit is 3 MiB.", size=len(data) / 2**20),
        )
    fmt = next((name for magic, name in _SIGNATURES if data.startswith(magic)), None)
    if fmt is None:
        raise _not_accepted(data)
    try:
        with PILImage.open(io.BytesIO(data), formats=[fmt]) as probe:
            width, height = probe.size
            # The longest side is checked from the header, before the pixels are decompressed
            # (a decompression bomb costs memory the moment it is decoded); the service's
            # other limits after, in the engine's order, so both give the same code.
            _check_longest_side(width, height)
            _decode(probe)
            _check_dimensions(width, height, service)
            small = _thumbnail(probe) if thumbnail else None
    except ImageInvalid:
        raise
    except PILImage.DecompressionBombError:
        # Pillow refuses the header before we see its size: far beyond any service's limit.
        raise ImageInvalid(
            216202,
            Text(
                "The image claims more pixels than any service accepts; the longest side may "
                "be at most %(max)d px.",
                max=MAX_SIDE,
            ),
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error, EOFError):
        raise ImageInvalid(216201, _damaged()) from None
    return ImageFacts(fmt, width, height, len(data), hashlib.sha256(data).hexdigest(), small)


_ORIENTATION_TAG = 0x0112


def inspect_picture(data: bytes, service_type: int, *, thumbnail: bool = False) -> ImageFacts:
    """`inspect` for an Alibaba instance: the formats, size, rotation flag and pixels of
    aliyun-wire §5.2, in the engine's order, with the wire's codes."""
    if not data:
        raise ImageInvalid("BadRequest", Text("The file is empty."))
    if len(data) > aliyun.MAX_PIC_BYTES:
        raise ImageInvalid(
            "BadRequest",
            Text("The file is %(size).1f MiB; the limit is 4 MiB.", size=len(data) / 2**20),
        )
    formats = ", ".join(aliyun.PIC_FORMATS)
    try:
        with PILImage.open(io.BytesIO(data), formats=list(aliyun.PIC_FORMATS)) as probe:
            if probe.getexif().get(_ORIENTATION_TAG, 1) not in (0, 1):
                raise ImageInvalid(
                    "IncorrectOrientation",
                    Text(
                        "The image carries an EXIF rotation flag, which Alibaba refuses. Save "
                        "it rotated (most editors do on export) and upload it again."
                    ),
                )
            width, height = probe.size
            if not aliyun.fits(service_type, width, height):
                low, high, _inclusive = aliyun.PIXEL_LIMITS[service_type]
                raise ImageInvalid(
                    "UnsupportedPicPixels",
                    Text(
                        "The image is %(w)d×%(h)d px; each side must be %(lo)d–%(hi)d px here.",
                        w=width,
                        h=height,
                        lo=low,
                        hi=high,
                    ),
                )
            probe.seek(0)
            _decode(probe)
            fmt = str(probe.format)
            small = _thumbnail(probe) if thumbnail else None
    except ImageInvalid:
        raise
    except (
        PILImage.DecompressionBombError,
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        struct.error,
        EOFError,
    ):
        raise ImageInvalid(
            "UnsupportedPicFormat",
            Text(
                "The file is not a readable image (%(formats)s), or it is damaged.",
                formats=formats,
            ),
        ) from None
    return ImageFacts(fmt, width, height, len(data), hashlib.sha256(data).hexdigest(), small)


def _damaged() -> str:
    return Text("The file is not a readable image (PNG, JPEG or BMP), or it is damaged.")


def _not_accepted(data: bytes) -> ImageInvalid:
    """216201 for a file that is not PNG, JPEG or BMP, naming its format where Pillow knows it."""
    try:
        with PILImage.open(io.BytesIO(data)) as other:
            name = other.format or ""
    except Exception:  # the header parser of a format we refuse anyway: any failure is "unknown"
        name = ""
    if not name and b"<svg" in data[:4096].lower():
        name = "SVG"  # text, unknown to Pillow, and what people most often drop by mistake
    if not name:
        return ImageInvalid(216201, _damaged())
    return ImageInvalid(
        216201, Text("%(format)s images are not accepted: use PNG, JPEG or BMP.", format=name)
    )


def _check_longest_side(width: int, height: int) -> None:
    if max(width, height) > MAX_SIDE:
        raise ImageInvalid(
            216202,
            Text(
                "The image is %(w)d×%(h)d px; the longest side may be at most %(max)d px.",
                w=width,
                h=height,
                max=MAX_SIDE,
            ),
        )


def _check_dimensions(width: int, height: int, service: str) -> None:
    min_side, max_ratio = PIXEL_LIMITS[service]
    short, long = sorted((width, height))
    _check_longest_side(width, height)
    if short < min_side:
        raise ImageInvalid(
            216202,
            Text(
                "The image is %(w)d×%(h)d px; this service needs the shortest side ≥ %(min)d px.",
                w=width,
                h=height,
                min=min_side,
            ),
        )
    if max_ratio is not None and long / short > max_ratio:
        raise ImageInvalid(
            216202,
            Text(
                "The image is %(w)d×%(h)d px; this service accepts aspect ratios up to %(r)d:1.",
                w=width,
                h=height,
                r=int(max_ratio),
            ),
        )


def _decode(probe: PILImage.Image) -> None:
    """Decode every pixel (a damaged file fails here). A JPEG is decoded at the smallest of
    1/2, 1/4 or 1/8 of its size that still covers the thumbnail: its whole data is read and
    checked all the same, for a third of the CPU. The size checks use the header's size."""
    if probe.format == "JPEG":
        probe.draft(None, (THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    probe.load()


def _thumbnail(source: PILImage.Image, side: int = THUMBNAIL_SIDE) -> bytes:
    """A JPEG no larger than `side` on its longest edge, EXIF orientation applied."""
    picture = _eight_bit(ImageOps.exif_transpose(source))
    # Halving by box averaging first while the picture is over 1.5 x the side, then the
    # triangle filter: every upload pays for it, and at 320 px it looks as LANCZOS does, for
    # under half its CPU.
    picture.thumbnail((side, side), PILImage.Resampling.BILINEAR, reducing_gap=1.5)
    if picture.mode not in ("RGB", "L"):
        background = PILImage.new("RGB", picture.size, (255, 255, 255))
        rgba = picture.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        picture = background
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return out.getvalue()


def _eight_bit(picture: PILImage.Image) -> PILImage.Image:
    """16-bit greyscale scaled to 8 bits: Pillow's own conversion clips at 255 (a white
    thumbnail), and its resampling cannot shrink such an image by much at all."""
    if picture.mode not in _WIDE_GREY:
        return picture
    return picture.convert("I").point(lambda v: v / 256).convert("L")


def thumbnail_name() -> str:
    """Thumbnail storage names never repeat, so that browsers may cache them for a day."""
    return f"{uuid.uuid4().hex}.jpg"
