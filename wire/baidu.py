"""The Baidu Image Search wire contract, defined once (docs/baidu-wire.md).

The client (``searchapi.baidu``) validates against these values before it sends, and the engine
(``engine``) refuses with them, so that code developed offline against the engine fails the
same way against the hosted service. Names only: how a side reacts to a limit is its own.
"""

from __future__ import annotations

import re

# -- services and paths (baidu-wire §1, §2) --------------------------------------------------

SERVICES: tuple[str, ...] = ("same_hq", "similar", "product", "picturebook", "materiel")
OPERATIONS: tuple[str, ...] = ("add", "search", "update", "delete")

API_ROOT = "/rest/2.0/"  # every path below it answers in the wire's JSON
# The path of each service, to which the operation is appended. Three prefixes are in use.
API_PATHS: dict[str, str] = {
    "same_hq": "/rest/2.0/realtime_search/same_hq/",
    "similar": "/rest/2.0/image-classify/v1/realtime_search/similar/",
    "product": "/rest/2.0/image-classify/v1/realtime_search/product/",
    "picturebook": "/rest/2.0/imagesearch/v1/realtime_search/picturebook/",
    "materiel": "/rest/2.0/image-classify/v1/realtime_search/materiel/",
}
# Further paths a server accepts for a service; a client always sends the one in API_PATHS.
ALTERNATE_PATHS: dict[str, str] = {
    "same_hq": "/rest/2.0/image-classify/v1/realtime_search/same_hq/",
}

OAUTH_ROOT = "/oauth/2.0/"
TOKEN_PATH = "/oauth/2.0/token"  # noqa: S105 (a path, not a password)
# A token whose scope lacks this makes the official SDK sign its calls instead (baidu-wire §4.1).
API_SCOPE = "brain_all_scope"

# -- images (baidu-wire §5.1, §5.3) ----------------------------------------------------------

MAX_IMAGE_BYTES = 3 * 1024 * 1024  # raw file; its base64 is exactly MAX_IMAGE_BASE64
MAX_IMAGE_BASE64 = 4 * 1024 * 1024  # the `image` value after form-decoding
MAX_SIDE = 4096  # longest side in pixels, every service
# Per service: shortest side at least, long/short aspect ratio at most (None: any). Inclusive.
PIXEL_LIMITS: dict[str, tuple[int, float | None]] = {
    "same_hq": (50, None),
    "similar": (50, None),
    "product": (300, None),
    "picturebook": (150, 10.0),
    "materiel": (1, 20.0),
}


def fits(service: str, width: int, height: int) -> bool:
    """Whether an image of these pixel dimensions is legal for the service (else 216202)."""
    shortest, ratio = PIXEL_LIMITS[service]
    short, long = sorted((width, height))
    return short >= shortest and long <= MAX_SIDE and (ratio is None or long <= ratio * short)


# -- other fields (baidu-wire §5.2, §5.5 to §5.9) --------------------------------------------

MAX_URL_BYTES = 1024
MAX_BRIEF_BYTES = 256  # UTF-8
MAX_TAGS = 2
MAX_LABEL = 65535  # tags, class_id1 and class_id2 are each 1..MAX_LABEL
MAX_DELETE_BATCH = 100  # cont_signs in one delete; more is 282006
PAGE_WINDOW = 1000  # pn is 0..PAGE_WINDOW - 1, rn 1..PAGE_WINDOW, pn + rn capped at it
DEFAULT_RN = 300

# Two unsigned 32-bit decimals joined by a comma; each part must also be <= MAX_CONT_SIGN_PART.
CONT_SIGN = re.compile(r"([0-9]{1,10}),([0-9]{1,10})")
MAX_CONT_SIGN_PART = 0xFFFFFFFF


def cont_sign_parts(text: str) -> tuple[int, int] | None:
    """The two numbers of a well-formed cont_sign, None for anything else."""
    match = CONT_SIGN.fullmatch(text)
    if match is None:
        return None
    first, second = int(match[1]), int(match[2])
    if max(first, second) > MAX_CONT_SIGN_PART:
        return None
    return first, second


# -- errors (baidu-wire §8.1) ----------------------------------------------------------------

# The exact message of every code the engine sends and the client raises itself.
MESSAGES: dict[int, str] = {
    2: "Service temporarily unavailable",
    3: "Unsupported openapi method",
    6: "No permission to access data",
    14: "IAM Certification failed",
    18: "Open api qps request limit reached",
    19: "Open api total request limit reached",
    100: "Invalid parameter",
    110: "Access token invalid or no longer valid",
    111: "Access token expired",
    216017: "not initialized",
    216100: "invalid param",
    216101: "not enough param",
    216200: "empty image",
    216201: "image format error",
    216202: "image size error",
    216203: "input image cannot handle",
    216680: "item not exist",
    216681: "item exist",
    282000: "internal error",
    282006: "batch task limit reached",
    282111: "url format illegal",
    282112: "url download timeout",
    282113: "url response invalid",
    282114: "url size error",
}
BRIEF_TOO_LONG = "brief too long"  # 216100 with its own message (baidu-wire §5.5)

# Codes where the server says, or the nature of the failure implies, that the same call may
# succeed later. A client treats transport failures as retryable as well.
RETRYABLE_CODES = frozenset({1, 2, 4, 18, 216630, 216634, 282000})
