"""Pictures of the Alibaba wire: decoding under aliyun-wire §5.2 and the main subject (§5.5).

The subject comes from the embedding network itself: EfficientNet-Lite0's last feature map
(engine/features/embedder.py) is strongest where the object the embedding describes is, so
the box around its strong cells is the region the search should look at.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from engine.aliyun.errors import AliyunError
from engine.features import embedder as emb
from engine.features.decode import Decoded
from wire.aliyun import PIC_FORMATS, fits

_ORIENTATION_TAG = 0x0112
# The feature map is 1/32 of the input: 448 px gives 14x14 cells, fine enough for a box and
# about 4x the cost of one 224 px embedding (measured ~40 ms on 2 cores).
SUBJECT_INPUT = 448
# A cell belongs to a subject if its activation is at least this share of the way from the
# map's median to its maximum.
SUBJECT_LEVEL = 0.5
MAX_SUBJECTS = 5
# A box smaller than this share of either side is a speck of texture, not a subject.
MIN_SUBJECT_SIDE = 0.1

Box = tuple[int, int, int, int]  # x1, x2, y1, y2 as the wire writes it


def decode_picture(data: bytes, service_type: int) -> Decoded:
    """Decode one picture or raise the §5.2 error: format, rotation flag, then pixels."""
    try:
        with Image.open(io.BytesIO(data), formats=list(PIC_FORMATS)) as im:
            if im.format not in PIC_FORMATS:
                raise AliyunError("UnsupportedPicFormat")
            if im.getexif().get(_ORIENTATION_TAG, 1) not in (0, 1):
                raise AliyunError("IncorrectOrientation")
            if not fits(service_type, im.width, im.height):
                raise AliyunError("UnsupportedPicPixels")
            im.seek(0)  # the first frame of a GIF or multi-page TIFF
            im.load()
            rgb = _rgb(im)
    except AliyunError:
        raise
    except Image.DecompressionBombError:
        raise AliyunError("UnsupportedPicPixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error, EOFError):
        raise AliyunError("UnsupportedPicFormat") from None
    return Decoded(format=str(im.format), width=rgb.shape[1], height=rgb.shape[0], rgb=rgb)


def _rgb(im: Image.Image) -> np.ndarray:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        im = canvas
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        im = Image.fromarray((np.clip(np.asarray(im, np.float64), 0, 65535) / 257).astype(np.uint8))
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


@dataclass(frozen=True)
class Subjects:
    main: Box  # the whole picture when nothing stands out
    all: list[Box]  # every detected subject, the main one first


def activation(rgb: np.ndarray) -> np.ndarray:
    """(fh, fw) channel energy of the embedding network's last feature map."""
    x = emb.resize_square(rgb, SUBJECT_INPUT)[None]
    fmap = emb.get_embedder().feature_maps(x)[0]
    return np.sqrt(np.square(fmap).sum(axis=0))


def subjects(rgb: np.ndarray) -> Subjects:
    height, width = rgb.shape[:2]
    whole: Box = (0, width, 0, height)
    energy = activation(rgb)
    return boxes_of(energy, width, height) or Subjects(main=whole, all=[whole])


def boxes_of(energy: np.ndarray, width: int, height: int) -> Subjects | None:
    """Boxes around the connected strong cells of an activation map, strongest first."""
    low, high = float(np.median(energy)), float(energy.max())
    if high <= low:
        return None
    strong = (energy >= low + SUBJECT_LEVEL * (high - low)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(strong, connectivity=8)
    fh, fw = energy.shape
    found: list[tuple[float, Box]] = []
    for label in range(1, count):
        x, y, w, h = (int(v) for v in stats[label, :4])
        box = (
            x * width // fw,
            min(width, (x + w) * width // fw),
            y * height // fh,
            min(height, (y + h) * height // fh),
        )
        if (
            box[1] - box[0] < MIN_SUBJECT_SIDE * width
            or box[3] - box[2] < MIN_SUBJECT_SIDE * height
        ):
            continue
        found.append((float(energy[labels == label].sum()), box))
    if not found:
        return None
    ordered = [box for _, box in sorted(found, key=lambda item: -item[0])][:MAX_SUBJECTS]
    return Subjects(main=ordered[0], all=ordered)


def crop(image: Decoded, box: Box) -> Decoded:
    x1, x2, y1, y2 = box
    rgb = np.ascontiguousarray(image.rgb[y1:y2, x1:x2])
    return Decoded(format=image.format, width=rgb.shape[1], height=rgb.shape[0], rgb=rgb)


def clip_region(box: Box, image: Decoded) -> Box:
    """A caller's Region inside the picture, or BadRequest if nothing of it is."""
    x1, x2, y1, y2 = box
    x2, y2 = min(x2, image.width), min(y2, image.height)
    if x1 >= x2 or y1 >= y2:
        raise AliyunError("BadRequest")
    return x1, x2, y1, y2


def region_text(box: Box) -> str:
    return ",".join(str(v) for v in box)
