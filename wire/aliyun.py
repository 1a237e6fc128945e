"""The Alibaba Cloud Image Search wire contract (API 2020-12-14), defined once
(docs/aliyun-wire.md, from ../shared/spec/aliyun-image-search-api.md).

Names and values only: how the engine reacts to a limit is its own business.
"""

from __future__ import annotations

import hashlib
import re

VERSION = "2020-12-14"  # aliyun-wire §1

# The hosted service's regions in the SDK's endpoint map (spec §1); any other host is given as
# an explicit endpoint, as the built-in engine's is.
HOSTED_REGIONS: tuple[str, ...] = (
    "cn-shanghai",
    "cn-hangzhou",
    "cn-beijing",
    "cn-shenzhen",
    "cn-hongkong",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ap-south-1",
    "eu-central-1",
)


def hosted_endpoint(region: str) -> str:
    return f"https://imagesearch.{region}.aliyuncs.com"


# -- errors (aliyun-wire §3): code -> (HTTP status, exact Message) ------------------------------

ERRORS: dict[str, tuple[int, str]] = {
    "BadRequest": (400, "The request has invalid parameters."),
    "InvalidInstance": (400, "The specified instance name is invalid."),
    "NoCaretSeperator": (400, "The body content is missing the ^ separator."),
    "EmptyMeta": (400, "The body content has an empty meta field."),
    "InvalidMetaItem": (400, "The meta field is invalid."),
    "NoPicList": (400, "The body content is missing the pic_list parameter."),
    "InvalidPicList": (400, "The specified pic_list parameter is invalid."),
    "InvalidCategory": (400, "The specified category is invalid."),
    "OverflowMaxResultNum": (
        400,
        "The specified number of total results exceeds the maximum of 500.",
    ),
    "OverflowMaxReturnNum": (
        400,
        "The specified number of results for each request exceeds the maximum of 100.",
    ),
    "InvalidNumParameter": (400, "The specified parameter num is invalid."),
    "InvalidIntAttr": (400, "The specified int_attr field is invalid."),
    "UnsupportedPicFormat": (400, "The specified image format is invalid."),
    "InvalidFilterClause": (400, "The specified filtering condition is invalid."),
    "InstanceOverQuota": (400, "The number of items exceeds the limit."),
    "IncorrectOrientation": (
        400,
        "The image contains incorrect rotation flags in the meta data.",
    ),
    "UnsupportedPicPixels": (400, "The specified pixels is not supported."),
    "NoPermission": (403, "You are not authorized to perform this operation."),
    "DeniedRequest": (403, "Your request was denied due to instance flow control."),
    "UnknownException": (500, "An internal server error occurred."),
    "NetworkException": (500, "A network error occurred."),
    "UnsupportedInstanceType": (500, "The instance type is not supported."),
    "UnsupportedOperationType": (500, "The specified action is not supported."),
    "AccessEngineFailed": (500, "An error occurred while accessing the search engine."),
    "InternalOssError": (500, "An internal OAS error occurred."),
    "InternalSwiftError": (500, "An internal SWIFT error occurred."),
    "InternalTableStoreError": (500, "An internal Table Store error occurred."),
}

# Where repeating the identical call can succeed: flow control (once a client's own backoff has
# run out) and the service's internal failures. UnsupportedOperationType and
# UnsupportedInstanceType are 500s too, but permanent.
THROTTLED = "DeniedRequest"
RETRYABLE_CODES = frozenset(
    {
        THROTTLED,
        "UnknownException",
        "NetworkException",
        "AccessEngineFailed",
        "InternalOssError",
        "InternalSwiftError",
        "InternalTableStoreError",
    }
)

# -- operations (aliyun-wire §6) -----------------------------------------------------------------

ACTIONS: tuple[str, ...] = (
    "AddImage",
    "SearchImageByPic",
    "SearchImageByName",
    "SearchImageByText",
    "SearchImageByFilter",
    "DeleteImage",
    "UpdateImage",
    "CheckImageExists",
    "CompareSimilarByImage",
    "Detail",
    "DumpMeta",
    "DumpMetaList",
    "IncreaseInstance",
    "IncreaseList",
)

# The parameters each action sends in the query string, where the SDK puts them (spec §6, and
# alibabacloud_imagesearch20201214 4.4.0 `client.py`); every other parameter goes in the form
# body. An action not listed sends everything in the body.
QUERY_PARAMS: dict[str, frozenset[str]] = {
    "SearchImageByPic": frozenset({"ScoreThreshold"}),
    "SearchImageByName": frozenset({"ScoreThreshold"}),
    "SearchImageByText": frozenset({"ScoreThreshold"}),
    "UpdateImage": frozenset({"IntAttr3", "IntAttr4", "StrAttr3", "StrAttr4"}),
    "Detail": frozenset({"InstanceName"}),
    "DumpMeta": frozenset({"InstanceName"}),
    "DumpMetaList": frozenset({"Id", "InstanceName", "PageNumber", "PageSize"}),
    "IncreaseInstance": frozenset({"BucketName", "CallbackAddress", "InstanceName", "Path"}),
    "IncreaseList": frozenset(
        {"BucketName", "Id", "InstanceName", "PageNumber", "PageSize", "Path"}
    ),
}

# -- signatures (aliyun-wire §2) -----------------------------------------------------------------

ACS3 = "ACS3-HMAC-SHA256"
V2_METHOD = "HMAC-SHA1"
V2_VERSION = "1.0"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_CLOCK_SKEW = 15 * 60  # seconds either way
V2_FORMAT = "json"
# What the SDK sends (and signs) as `x-acs-credentials-provider` for a plain AccessKey pair.
CREDENTIALS_PROVIDER = "static_ak"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

# -- instances and images (aliyun-wire §4) -------------------------------------------------------

MAX_INSTANCE_NAME = 20
MAX_ID = 256  # ProductId and PicName
MAX_STR_ATTR = 128
STR_ATTR_FORBIDDEN = frozenset("\\¥$&%")
MAX_CUSTOM_CONTENT = 4096
MAX_FILTER = 4096
QPS_TIERS: tuple[int, ...] = (1, 5, 10)
CAPACITY_UNIT = 10_000  # Detail's Capacity counts in units of this many images
INT_ATTRS: tuple[str, ...] = ("IntAttr", "IntAttr2", "IntAttr3", "IntAttr4")
STR_ATTRS: tuple[str, ...] = ("StrAttr", "StrAttr2", "StrAttr3", "StrAttr4")
INT_ATTR_MIN, INT_ATTR_MAX = -(2**31), 2**31 - 1  # IntAttr* are 32-bit signed

SERVICE_TYPES: dict[int, str] = {
    0: "product",
    1: "generic",
    2: "fabric",
    3: "trademark",
    4: "copyright",
    5: "furniture",
    6: "hardware",
    7: "trademark",
}
# ServiceType -> (shortest side allowed, longest side allowed, whether the longest is allowed
# itself); copyright search (4) has no established limits.
PIXEL_LIMITS: dict[int, tuple[int, int, bool]] = {
    0: (100, 4096, True),
    1: (100, 4096, True),
    2: (448, 4096, True),
    3: (200, 4096, False),
    5: (100, 4096, True),
    6: (100, 4096, True),
    7: (200, 4096, False),
}
PRODUCT, GENERIC, FABRIC = 0, 1, 2

OTHER_CATEGORY = 88888888
CATEGORIES: dict[int, str] = {
    0: "Tops",
    1: "Dress",
    2: "Bottoms",
    3: "Bag",
    4: "Shoes",
    5: "Accessories",
    6: "Snack",
    7: "Makeup",
    8: "Bottle",
    9: "Furniture",
    20: "Toy",
    21: "Underwear",
    22: "Digital device",
    OTHER_CATEGORY: "Other",
}

# -- SearchImageByPic (aliyun-wire §5) -----------------------------------------------------------

MAX_PIC_BYTES = 4 * 1024 * 1024
PIC_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF", "PPM")
DEFAULT_NUM = 10
MAX_NUM = 100
MAX_RESULTS = 500  # Start + Num
SCORE_THRESHOLD = re.compile(r"(?:0(?:\.[0-9]{1,2})?|1(?:\.0{1,2})?|\.[0-9]{1,2})\Z")
# SortExprValues' relevance of an identical image (aliyun-wire §5.4)
MAX_RELEVANCE_APPAREL = 7.33136443711219e24  # categories 0-2
MAX_RELEVANCE_OTHER = 5.37633353624177e24
# The Filter grammar (aliyun-wire §5.3): its two fields and the operators each takes.
FILTER_OPS: dict[str, tuple[str, ...]] = {
    "int_attr": (">", ">=", "<", "<=", "="),
    "str_attr": ("=", "!="),
}


def fits(service_type: int, width: int, height: int) -> bool:
    """Whether an image of these pixel dimensions is legal for the service type."""
    limits = PIXEL_LIMITS.get(service_type)
    if limits is None:
        return False
    shortest, longest, inclusive = limits
    short, long = sorted((width, height))
    return short >= shortest and (long <= longest if inclusive else long < longest)


def str_attr_valid(value: str) -> bool:
    return len(value) <= MAX_STR_ATTR and not STR_ATTR_FORBIDDEN.intersection(value)


def picture_ref(product_id: str, pic_name: str) -> str:
    """The key of a picture in an instance: its identity is the pair, not its bytes
    (aliyun-wire §4.2). The engine keys its entry by it and the console its row."""
    return hashlib.sha256(f"{product_id}\0{pic_name}".encode()).hexdigest()[:20]
