"""A corpus of bad and unusual inputs, with what the wire and the console must do with each.

Everything is made here in code with Pillow and numpy (nothing is downloaded, no binary is
committed) and built on first use, so collecting the tests costs nothing. The engine's wire
tests (`tests/unit/engine/test_engine_badinput.py`) and the console's upload tests
(`tests/unit/gallery/test_badinput.py`) read the same cases, which keeps the two agreeing: for
every service the console refuses a file with the very code the wire answers (baidu-wire
§5.1, §5.3, §8.1), in words of its own (docs/console.md, "Uploads").
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from wire.baidu import MAX_IMAGE_BYTES, MESSAGES, SERVICES

# Legal for every service: product wants a shortest side of 300 px, picturebook 150 px.
SIZE = (400, 320)

Codes = dict[str, int | None]  # per service: the wire's error code, None when accepted


def everywhere(code: int | None) -> Codes:
    return dict.fromkeys(SERVICES, code)


def except_on(code: int, *services: str) -> Codes:
    """Accepted, except on these services, which answer `code`."""
    return {service: code if service in services else None for service in SERVICES}


@dataclass(frozen=True)
class FileCase:
    """One file as a user or a client sends it."""

    name: str  # the test id
    filename: str  # what the console is told the file is called
    make: Callable[[], bytes] = field(repr=False)
    wire: Codes  # add and search alike; the console refuses with the same code
    words: str = ""  # what the console's refusal says on same_hq (empty when accepted there)
    format: str = ""  # what the console and the engine record once accepted
    why: str = ""  # the reason for the expectation, for the report and for readers
    # False where one service tells all and each call is costly (4 MiB of form).
    every_service: bool = True

    @property
    def data(self) -> bytes:
        if self.name not in _BUILT:
            _BUILT[self.name] = self.make()
        return _BUILT[self.name]

    def code(self, service: str) -> int | None:
        return self.wire[service]

    def message(self, service: str) -> str:
        code = self.wire[service]
        assert code is not None, f"{self.name} is accepted on {service}"
        return MESSAGES[code]


_BUILT: dict[str, bytes] = {}


# ------------------------------------------------------------------------------ makers


def texture(seed: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """(height, width, 3) uint8: smooth coloured blobs, different for every seed. Never flat,
    so the engine's feature step (216203) never decides a case meant for the decoder."""
    rng = np.random.default_rng(seed)
    width, height = size
    small = rng.integers(0, 256, (max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    picture = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(picture)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def picture(seed: int, fmt: str = "JPEG", size: tuple[int, int] = SIZE, **options: object) -> bytes:
    return encode(Image.fromarray(texture(seed, size)), fmt, **options)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# PNG colour type by channel count: grey 0, grey + alpha 4, RGB 2, RGBA 6.
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}


def png16(samples: np.ndarray) -> bytes:
    """A 16-bit PNG of (h, w) grey or (h, w, c) samples 0..65535, written by hand: Pillow
    writes 16-bit greyscale but no 16-bit colour."""
    planes = samples if samples.ndim == 3 else samples[..., None]
    height, width, channels = planes.shape
    rows = planes.astype(">u2").reshape(height, width * channels)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)  # filter 0 on every row
    header = struct.pack(">IIBBBBB", width, height, 16, _COLOUR_TYPE[channels], 0, 0, 0)
    return (
        PNG_MAGIC
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def wide(seed: int, size: tuple[int, int] = SIZE, channels: int = 1) -> np.ndarray:
    """16-bit samples spread over the whole range, as a 16-bit camera or scanner writes them:
    clipped to 8 bits instead of scaled, nearly every one of them would be white."""
    rgb = texture(seed, size).astype(np.uint16) * 257
    if channels == 1:
        return rgb[..., 0]
    if channels == 4:
        alpha = np.full((*rgb.shape[:2], 1), 0xFFFF, np.uint16)
        return np.concatenate([rgb, alpha], axis=2)
    return rgb


def png_declaring(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header declares width x height: a decompression bomb
    (the few rows it carries would inflate to gigabytes if it were decoded)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 4, 9)
    return PNG_MAGIC + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) is rewritten to declare width x height."""
    data = bytearray(picture(11, size=(16, 16)))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def bmp_declaring(width: int, height: int) -> bytes:
    """A BMP header (BITMAPINFOHEADER, 24 bits) declaring width x height over 64 bytes."""
    pixels = b"\x80" * 64
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    head = b"BM" + struct.pack("<IHHI", 14 + len(info) + len(pixels), 0, 0, 14 + len(info))
    return head + info + pixels


def smooth_png(width: int, height: int) -> bytes:
    """A PNG of width x height that compresses to a few kilobytes (a gradient with a texture
    in one corner): large on the pixel side, small on the byte side."""
    gradient = np.linspace(0, 255, width, dtype=np.float32).astype(np.uint8)
    grey = np.broadcast_to(gradient, (height, width)).copy()
    corner = texture(12, (min(width, 64), min(height, 64)))[..., 0]
    grey[: corner.shape[0], : corner.shape[1]] = corner
    return encode(Image.fromarray(grey), "PNG", optimize=True)


def two_frames(fmt: str) -> bytes:
    first, second = (Image.fromarray(texture(seed)) for seed in (21, 22))
    return encode(first, fmt, save_all=True, append_images=[second], duration=100, loop=0)


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        archive.writestr("Payload.class", b"\xca\xfe\xba\xbe" + b"\0" * 32)
    return out.getvalue()


HTML = b"<html><body><script>alert(document.cookie)</script></body></html>\n"
SVG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="400" height="320">'
    b'<rect width="400" height="320" fill="#c33"/><circle cx="200" cy="160" r="90"/></svg>\n'
)


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def garbage(seed: int, size: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


# ------------------------------------------------------------------------------ the files

FILES: tuple[FileCase, ...] = (
    # Accepted: unusual, but a PNG, JPEG or BMP within the limits.
    FileCase(
        "cmyk-jpeg",
        "print.jpg",
        lambda: encode(Image.fromarray(texture(1)).convert("CMYK"), "JPEG"),
        everywhere(None),
        format="JPEG",
        why="a JPEG in CMYK (print workflows) is a JPEG; decoded to RGB",
    ),
    FileCase(
        "grey-16-bit-png",
        "scan.png",
        lambda: png16(wide(2)),
        everywhere(None),
        format="PNG",
        why="16-bit greyscale is scaled to 8 bits (Pillow alone clips it to white)",
    ),
    FileCase(
        "grey-16-bit-png-large",
        "scan-large.png",
        lambda: png16(wide(3, (1280, 960))),
        everywhere(None),
        format="PNG",
        why="large enough that Pillow shrinks it in steps, which 16-bit greyscale cannot take",
    ),
    FileCase(
        "rgb-16-bit-png",
        "hdr.png",
        lambda: png16(wide(4, channels=3)),
        everywhere(None),
        format="PNG",
        why="16-bit RGB: Pillow keeps the top byte of each sample",
    ),
    FileCase(
        "rgba-16-bit-png",
        "hdr-alpha.png",
        lambda: png16(wide(5, channels=4)),
        everywhere(None),
        format="PNG",
        why="16-bit RGBA, as 16-bit RGB",
    ),
    FileCase(
        "animated-png",
        "moving.png",
        lambda: two_frames("PNG"),
        everywhere(None),
        format="PNG",
        why="an APNG is a PNG; its first frame is the picture, as in viewers that don't animate",
    ),
    FileCase(
        "mpo-jpeg",
        "camera.jpg",
        lambda: two_frames("MPO"),
        everywhere(None),
        format="JPEG",
        why="a JPEG carrying a second picture (MPO, as some cameras write) is a JPEG",
    ),
    FileCase(
        "png-named-jpg",
        "photo.jpg",
        lambda: picture(6, "PNG"),
        everywhere(None),
        format="PNG",
        why="judged by its content, never by its name",
    ),
    FileCase(
        "jpeg-named-png",
        "photo.png",
        lambda: picture(7, "JPEG"),
        everywhere(None),
        format="JPEG",
        why="judged by its content, never by its name",
    ),
    FileCase(
        "jpeg-then-zip",
        "polyglot.jpg",
        lambda: picture(8, "JPEG") + zip_archive(),
        everywhere(None),
        format="JPEG",
        why="bytes after the end of the picture are ignored, as every decoder does (phones "
        "append data there); the original is served as image/jpeg with nosniff",
    ),
    FileCase(
        "png-then-html",
        "polyglot.png",
        lambda: picture(9, "PNG") + HTML,
        everywhere(None),
        format="PNG",
        why="as jpeg-then-zip; served as image/png with nosniff, never as HTML",
    ),
    FileCase(
        "strip-1000x120",
        "banner.jpg",
        lambda: picture(10, size=(1000, 120)),
        except_on(216202, "product", "picturebook"),
        format="JPEG",
        why="limits differ by service: product wants a shortest side of 300 px, picturebook "
        "150 px (§5.3)",
    ),
    # Refused: not an image, not one of the three formats, damaged, or out of bounds.
    FileCase(
        "empty",
        "empty.jpg",
        lambda: b"",
        everywhere(216200),
        words="The file is empty.",
        why="0 bytes",
    ),
    FileCase(
        "truncated-jpeg",
        "cut.jpg",
        lambda: truncated(picture(13, "JPEG")),
        everywhere(216201),
        words="damaged",
        why="half a JPEG",
    ),
    FileCase(
        "truncated-png",
        "cut.png",
        lambda: truncated(picture(14, "PNG")),
        everywhere(216201),
        words="damaged",
        why="half a PNG",
    ),
    FileCase(
        "jpeg-magic-then-garbage",
        "liar.jpg",
        lambda: b"\xff\xd8\xff\xe0" + garbage(15, 4000),
        everywhere(216201),
        words="damaged",
        why="a liar header: JPEG's first bytes, then noise",
    ),
    FileCase(
        "png-magic-then-jpeg",
        "liar.png",
        lambda: PNG_MAGIC + picture(16, "JPEG"),
        everywhere(216201),
        words="damaged",
        why="a liar header: PNG's signature in front of a JPEG",
    ),
    FileCase(
        "text-named-jpg",
        "notes.jpg",
        lambda: b"hello, this is not a picture\n",
        everywhere(216201),
        words="not a readable image",
        why="not an image at all",
    ),
    FileCase(
        "svg",
        "logo.svg",
        lambda: SVG,
        everywhere(216201),
        words="SVG images are not accepted",
        why="vector XML, not one of the three formats",
    ),
    FileCase(
        "animated-gif",
        "moving.gif",
        lambda: two_frames("GIF"),
        everywhere(216201),
        words="GIF images are not accepted",
        why="GIF is not among the hosted service's formats (baidu-wire §5.1)",
    ),
    FileCase(
        "gifar",
        "gifar.gif",
        lambda: picture(17, "GIF") + zip_archive(),
        everywhere(216201),
        words="GIF images are not accepted",
        why="a GIF with a Java archive appended: a GIF first of all",
    ),
    FileCase(
        "webp",
        "photo.webp",
        lambda: picture(18, "WEBP"),
        everywhere(216201),
        words="WEBP images are not accepted",
        why="WebP is not among the hosted service's formats (baidu-wire §5.1)",
    ),
    FileCase(
        "tiff",
        "scan.tif",
        lambda: picture(19, "TIFF"),
        everywhere(216201),
        words="TIFF images are not accepted",
        why="TIFF is not among the hosted service's formats",
    ),
    FileCase(
        "bomb-png-30000",
        "bomb.png",
        lambda: png_declaring(30000, 30000),
        everywhere(216202),
        words="4096 px",
        why="a few hundred bytes declaring 900 Mpx: refused from the header, never inflated",
    ),
    FileCase(
        "bomb-png-12000",
        "bomb12k.png",
        lambda: png_declaring(12000, 12000),
        everywhere(216202),
        words="12000×12000 px",
        why="144 Mpx: past Pillow's warning, short of its own refusal; refused by our limit",
    ),
    FileCase(
        "bomb-jpeg",
        "bomb.jpg",
        lambda: jpeg_declaring(50000, 50000),
        everywhere(216202),
        words="4096 px",
        why="a JPEG frame header declaring 50000 x 50000",
    ),
    FileCase(
        "bomb-bmp",
        "bomb.bmp",
        lambda: bmp_declaring(30000, 30000),
        everywhere(216202),
        words="4096 px",
        why="a BMP header declaring 30000 x 30000",
    ),
    FileCase(
        "side-5000",
        "huge.png",
        lambda: smooth_png(5000, 5000),
        everywhere(216202),
        words="5000×5000 px",
        why="5000 px sides in a small file: over the longest side of every service",
    ),
    FileCase(
        "side-5000-strip",
        "panorama.png",
        lambda: smooth_png(5000, 100),
        everywhere(216202),
        words="5000×100 px",
        why="one 5000 px side",
    ),
    FileCase(
        "side-5000-truncated",
        "panorama-cut.png",
        lambda: truncated(smooth_png(5000, 120)),
        everywhere(216202),
        words="5000×120 px",
        why="damaged and too large: the longest side is read from the header first, in the "
        "engine and the console alike",
    ),
    FileCase(
        "over-3-mib",
        "big.bmp",
        lambda: b"BM" + b"\0" * (MAX_IMAGE_BYTES - 1),
        everywhere(216202),
        words="3 MiB",
        why="one byte over 3 MiB (base64 over 4 MiB on the wire)",
        every_service=False,
    ),
)

ACCEPTED = tuple(case for case in FILES if case.code("same_hq") is None)
REFUSED = tuple(case for case in FILES if case.code("same_hq") is not None)


def file_case(name: str) -> FileCase:
    return next(case for case in FILES if case.name == name)


def on_services() -> list[tuple[FileCase, str]]:
    """(case, service) pairs: every service where the answer differs by service or is a
    refusal (cheap), and for a file every service accepts, one service of each way the engine
    builds features (same_hq verifies keypoints, similar does not): the decoding that the
    corpus is about happens before the service matters, and each accepted call costs a model
    run."""
    pairs = []
    for case in FILES:
        if not case.every_service:
            services: tuple[str, ...] = SERVICES[:1]
        elif set(case.wire.values()) == {None}:
            services = ("same_hq", "similar")
        else:
            services = SERVICES
        pairs += [(case, service) for service in services]
    return pairs


# ------------------------------------------------------------------------------ fields


@dataclass(frozen=True)
class NumberCase:
    """A tag or class id as typed. The wire takes plain ASCII decimal only (baidu-wire §5.6,
    §5.7); the console also reads the decimal digits of other scripts, and sends ASCII."""

    text: str
    wire: int | None  # the value the engine stores, None: 216100
    console: int | None  # the value the console keeps, None: refused beside the field


NUMBERS: tuple[NumberCase, ...] = (
    NumberCase("7", 7, 7),
    NumberCase(" 7 ", 7, 7),  # spaces around a value are ignored on the wire
    NumberCase("007", 7, 7),
    NumberCase("\uff11\uff12", None, 12),  # full-width digits, as a CJK keyboard types them
    NumberCase("\u0661\u0662", None, 12),  # Arabic-Indic digits
    NumberCase("\u00b2", None, None),  # superscript two: a digit to Python, not a number
    NumberCase("+1", None, None),
    NumberCase("-1", None, None),
    NumberCase("1e3", None, None),
    NumberCase("0x10", None, None),
    NumberCase("1_0", None, None),  # Python's int() reads 10
    NumberCase("3.0", None, None),
    NumberCase("0", None, None),
    NumberCase("65536", None, None),
    NumberCase("9" * 5000, None, None),  # int() refuses this many digits
)

# Briefs as bytes on the wire's form body, percent-encoded: invalid UTF-8 is 216100 (§3.1).
INVALID_UTF8 = (
    "%FF%FE",  # never UTF-8
    "caf%E9",  # Latin-1
    "%C3",  # a sequence cut short
    "%C0%AF",  # an overlong encoding of "/"
    "%ED%A0%80",  # a UTF-16 surrogate encoded as UTF-8
)
# The same as raw bytes, for a multipart form field or file name.
INVALID_UTF8_RAW = (b"\xff\xfe", b"caf\xe9", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80")
