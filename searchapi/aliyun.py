"""Client for Alibaba Cloud Image Search, API 2020-12-14, spoken identically to the hosted
service and to the Tuku engine (the contract: docs/aliyun-wire.md; its values: ``wire.aliyun``;
its signatures: ``wire.acs``).

It sends what the official SDK sends (``alibabacloud-imagesearch20201214`` 4.4.0): every
parameter in the place the SDK puts it (query or form body), the same signed headers and the
same ACS3 or v2 signature (``tests/unit/searchapi/test_searchapi_aliyun.py`` compares them with
the SDK's). Why it is not the SDK: docs/aliyun-wire.md, "The console's client".

Every failure surfaces as one exception type, :class:`AliyunError`, whose ``retryable`` says
whether repeating the same call can succeed. Nothing from ``requests`` escapes, and the
AccessKey Secret goes nowhere but into the HMAC.
"""

from __future__ import annotations

import base64
import json
import logging
import platform
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import requests

from searchapi.errors import ApiError
from searchapi.throttle import MemoryRateLimiter, RateLimiter
from searchapi.transport import failure_text
from wire.acs import acs3_authorization, body_sha256, form_encode, v2_signature
from wire.aliyun import (
    CAPACITY_UNIT,
    CATEGORIES,
    CREDENTIALS_PROVIDER,
    DATE_FORMAT,
    DEFAULT_NUM,
    ERRORS,
    FILTER_OPS,
    FORM_CONTENT_TYPE,
    INT_ATTR_MAX,
    INT_ATTR_MIN,
    INT_ATTRS,
    MAX_CUSTOM_CONTENT,
    MAX_FILTER,
    MAX_ID,
    MAX_INSTANCE_NAME,
    MAX_NUM,
    MAX_PIC_BYTES,
    MAX_RESULTS,
    MAX_STR_ATTR,
    QUERY_PARAMS,
    RETRYABLE_CODES,
    STR_ATTR_FORBIDDEN,
    STR_ATTRS,
    THROTTLED,
    V2_FORMAT,
    V2_METHOD,
    V2_VERSION,
    VERSION,
    str_attr_valid,
)

log = logging.getLogger(__name__)

QPS_TRIES = 5  # attempts in total while the server answers DeniedRequest
USER_AGENT = f"Tuku ({platform.system()}; {platform.machine()}) Python/{platform.python_version()}"
# Client-side codes a retry can cure; "tls" and "redirect" it cannot.
_RETRYABLE = RETRYABLE_CODES | {"timeout", "connection", "bad_response"}
_MAX_REGION = 99_999  # the engine reads box coordinates of up to five digits


@dataclass(frozen=True)
class Credentials:
    """One AccessKey pair. The secret never appears in the repr."""

    access_key_id: str
    access_key_secret: str = field(repr=False)


class AliyunError(ApiError):
    """A failed call of the Alibaba wire.

    ``error_code`` is the wire's ``Code`` string, or a client code: ``"timeout"``,
    ``"connection"``, ``"tls"``, ``"bad_response"``, ``"redirect"``. ``retryable`` defaults
    to what the code documents; ``log_id`` is the answer's ``RequestId``.
    """

    def __init__(
        self,
        error_code: str,
        error_msg: str,
        *,
        retryable: bool | None = None,
        log_id: str | None = None,
    ) -> None:
        if retryable is None:
            retryable = error_code in _RETRYABLE
        super().__init__(error_code, error_msg, retryable=retryable, log_id=log_id)


class _Throttled(AliyunError):
    """Flow control: the one answer this client retries itself, after a pause."""


@dataclass(frozen=True)
class Attributes:
    """What a picture carries besides its bytes. None / "" is absent: the wire stores no empty
    attribute, and an update leaves an absent one unchanged."""

    int_attrs: tuple[int | None, int | None, int | None, int | None] = (None, None, None, None)
    str_attrs: tuple[str, str, str, str] = ("", "", "", "")
    custom_content: str = ""


Box = tuple[int, int, int, int]  # (x1, x2, y1, y2), the wire's order


@dataclass(frozen=True)
class PicInfo:
    """The category and subject boxes the service used for a picture."""

    category_id: int | None
    region: Box | None
    multi_region: list[Box]


@dataclass(frozen=True)
class Auction:
    """One stored picture; ``score`` (0..1) only where the answer ranks by similarity."""

    product_id: str
    pic_name: str
    category_id: int | None
    score: float | None
    attributes: Attributes


@dataclass(frozen=True)
class SearchResult:
    """``docs_return``: the pictures matching in the instance (``Head.DocsReturn``), of which
    ``auctions`` is the window asked for."""

    auctions: list[Auction]
    docs_return: int
    pic_info: PicInfo | None


@dataclass(frozen=True)
class Instance:
    """Detail's answer; ``capacity`` in images (the wire counts in units of 10,000)."""

    name: str
    service_type: int
    capacity: int
    qps: int
    total_count: int
    region: str
    created_ms: int | None
    expires_ms: int | None


@dataclass(frozen=True)
class CallRecord:
    """One HTTP exchange; error_code None = success. ``instance``: the InstanceName called."""

    operation: str
    error_code: str | None
    error_msg: str
    latency_ms: float
    request_id: str | None
    instance: str = ""
    # The client sent the operation again after this answer (flow control it backed off
    # from), so the answer was not the operation's outcome.
    retried: bool = False
    qps_retries: int = 0  # flow-control answers the operation had before this exchange


@dataclass(frozen=True)
class Condition:
    """One comparison of a ``Filter`` (aliyun-wire §5.3): ``Condition("int_attr", ">=", 3)``,
    ``Condition("str_attr", "=", "red")``."""

    field: str
    op: str
    value: int | str


def filter_clause(conditions: Sequence[Condition], *, any_of: bool = False) -> str:
    """The ``Filter`` text stating every condition (``AND``), or any of them (``OR``).

    Raises ValueError with a message fit to show beside a form field when a condition cannot
    be stated: an unknown field or operator, a number outside 32 bits, a text with a double
    quote (the grammar has no escapes) or one of ``\\ ¥ $ & %``, or over 128 characters.
    """
    if not conditions:
        raise ValueError("Give at least one condition.")
    parts = []
    for condition in conditions:
        ops = FILTER_OPS.get(condition.field)
        if ops is None:
            raise ValueError(f"Filter on {' or '.join(FILTER_OPS)}, not {condition.field!r}.")
        if condition.op not in ops:
            raise ValueError(f"{condition.field} takes one of {' '.join(ops)}.")
        value = condition.value
        if condition.field == "int_attr":
            if not _is_int(value) or not INT_ATTR_MIN <= int(value) <= INT_ATTR_MAX:
                raise ValueError(
                    f"A number here is a whole number from {INT_ATTR_MIN} to {INT_ATTR_MAX}."
                )
            parts.append(f"{condition.field} {condition.op} {value}")
        else:
            if not isinstance(value, str):
                raise ValueError("A text condition compares with a text.")
            if '"' in value or STR_ATTR_FORBIDDEN.intersection(value):
                raise ValueError('A text here may not contain " or any of \\ ¥ $ & %.')
            if len(value) > MAX_STR_ATTR:
                raise ValueError(f"A text here is at most {MAX_STR_ATTR} characters.")
            parts.append(f'{condition.field} {condition.op} "{value}"')
    clause = (" OR " if any_of else " AND ").join(parts)
    if len(clause) > MAX_FILTER:
        raise ValueError(f"The conditions together are over {MAX_FILTER} characters.")
    return clause


_default_limiter = MemoryRateLimiter()


class AliyunClient:
    """Speaks the operations of Alibaba Cloud Image Search for one AccessKey pair.

    ``endpoint`` is a URL without a path: ``https://imagesearch.cn-shanghai.aliyuncs.com``,
    or the engine's ``http://127.0.0.1:8000``. ``region_id`` is the region the instances live
    in, as Detail reports it; like the SDK, which uses it only to pick an endpoint from its map,
    this client sends it nowhere (the endpoint is always explicit here).

    Every call first takes a slot from ``limiter`` under ``limiter_key`` (default: the
    AccessKey ID) plus ``/`` and the instance name, since the QPS tier is per instance; ``qps``
    0 = unlimited. Safe to share between threads.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        credentials: Credentials,
        region_id: str,
        signature: Literal["acs3", "v2"] = "acs3",
        qps: int = 0,
        limiter: RateLimiter | None = None,
        limiter_key: str = "",
        timeout: tuple[float, float] = (5.0, 30.0),
        session: requests.Session | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(endpoint)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or "@" in parts.netloc
        ):
            raise ValueError(
                "endpoint must be an http(s) URL of a host, without a path: "
                "https://imagesearch.<region>.aliyuncs.com or http://host:port"
            )
        if signature not in ("acs3", "v2"):
            raise ValueError(f"unknown signature {signature!r}; expected 'acs3' or 'v2'")
        if qps < 0:
            raise ValueError(f"qps must be >= 0, got {qps}")
        if not region_id:
            raise ValueError("region_id is required")
        if not credentials.access_key_id or not credentials.access_key_secret:
            raise ValueError("the AccessKey ID and Secret are required")
        self._url = f"{parts.scheme}://{parts.netloc}/"
        self._host = parts.netloc  # signed as `host`, with its port, as the SDK does
        self._credentials = credentials
        self.region_id = region_id
        self._signature = signature
        self._qps = qps
        self._limiter = limiter or _default_limiter
        self._limiter_key = limiter_key or credentials.access_key_id
        self._timeout = timeout
        self._session = session or requests.Session()
        self._on_call = on_call
        self._sleep = sleep
        self._clock = clock

    def __repr__(self) -> str:
        return (
            f"AliyunClient(endpoint={self._url!r}, "
            f"access_key_id={self._credentials.access_key_id!r}, signature={self._signature!r})"
        )

    # -- operations ----------------------------------------------------------------------

    def detail(self, instance: str) -> Instance:
        """The instance's service type, capacity, QPS tier and picture count."""
        body = self._call("Detail", {"InstanceName": _instance(instance)})
        try:
            info = body["Instance"]
            return Instance(
                name=_text(info["Name"]),
                service_type=_integer(info["ServiceType"]),
                capacity=_integer(info["Capacity"]) * CAPACITY_UNIT,
                qps=_integer(info["Qps"]),
                total_count=_integer(info["TotalCount"]),
                region=_text(info.get("Region") or ""),
                created_ms=_optional_integer(info.get("UtcCreate")),
                expires_ms=_optional_integer(info.get("UtcExpireTime")),
            )
        except (KeyError, TypeError, ValueError):
            raise _malformed("Detail") from None

    def add_image(
        self,
        instance: str,
        *,
        product_id: str,
        pic_name: str,
        image: bytes,
        category_id: int | None = None,
        crop: bool = True,
        region: Box | None = None,
        attributes: Attributes = Attributes(),
    ) -> PicInfo:
        """Store a picture under (``product_id``, ``pic_name``), replacing one stored there.

        ``region`` is the subject box (overrides ``crop``); without it, ``crop`` asks the
        service to find the subject. Answers the category and boxes the service used.
        """
        params = {
            "InstanceName": _instance(instance),
            "ProductId": _identifier(product_id),
            "PicName": _identifier(pic_name),
            **_attributes(attributes),
            "CategoryId": _category(category_id),
            "Crop": _boolean(crop),
            "Region": _region(region),
            "PicContent": _picture(image),
        }
        body = self._call("AddImage", params)
        try:
            return _pic_info(body["PicInfo"])
        except (KeyError, TypeError, ValueError):
            raise _malformed("AddImage") from None

    def search_image_by_pic(
        self,
        instance: str,
        *,
        image: bytes,
        category_id: int | None = None,
        crop: bool = True,
        region: Box | None = None,
        filter: str | None = None,
        distinct_product_id: bool = False,
        score_threshold: float | None = None,
        start: int = 0,
        num: int = DEFAULT_NUM,
    ) -> SearchResult:
        """The stored pictures most similar to ``image``, best first (aliyun-wire §5)."""
        start_text, num_text = _window(start, num)
        params = {
            "ScoreThreshold": _threshold(score_threshold),
            "InstanceName": _instance(instance),
            "Filter": _filter(filter),
            "Num": num_text,
            "Start": start_text,
            "DistinctProductId": _distinct(distinct_product_id),
            "CategoryId": _category(category_id),
            "Crop": _boolean(crop),
            "Region": _region(region),
            "PicContent": _picture(image),
        }
        return _search_result("SearchImageByPic", self._call("SearchImageByPic", params))

    def search_image_by_name(
        self,
        instance: str,
        *,
        product_id: str,
        pic_name: str,
        category_id: int | None = None,
        filter: str | None = None,
        distinct_product_id: bool = False,
        score_threshold: float | None = None,
        start: int = 0,
        num: int = DEFAULT_NUM,
    ) -> SearchResult:
        """The stored pictures most similar to the stored picture (``product_id``,
        ``pic_name``), best first."""
        start_text, num_text = _window(start, num)
        params = {
            "ScoreThreshold": _threshold(score_threshold),
            "InstanceName": _instance(instance),
            "ProductId": _identifier(product_id),
            "PicName": _identifier(pic_name),
            "Filter": _filter(filter),
            "Num": num_text,
            "Start": start_text,
            "DistinctProductId": _distinct(distinct_product_id),
            "CategoryId": _category(category_id),
        }
        return _search_result("SearchImageByName", self._call("SearchImageByName", params))

    def search_image_by_filter(
        self, instance: str, *, filter: str, start: int = 0, num: int = DEFAULT_NUM
    ) -> list[Auction]:
        """The stored pictures matching ``filter`` (aliyun-wire §5.3), unscored."""
        condition = _filter(filter)
        if condition is None:
            raise _refused("BadRequest")  # Filter is required here
        start_text, num_text = _window(start, num)
        params = {
            "InstanceName": _instance(instance),
            "Filter": condition,
            "Num": num_text,
            "Start": start_text,
        }
        body = self._call("SearchImageByFilter", params)
        try:
            return [_auction(item, scored=False) for item in _list(body["Auctions"])]
        except (KeyError, TypeError, ValueError):
            raise _malformed("SearchImageByFilter") from None

    def delete_image(
        self,
        instance: str,
        *,
        product_id: str | None = None,
        pic_name: str | None = None,
        filter: str | None = None,
    ) -> list[str]:
        """Delete one picture (``product_id`` and ``pic_name``), every picture of a product
        (``product_id`` alone), or every picture matching ``filter``; answers the PicNames
        deleted, empty when nothing was there (deleting is idempotent)."""
        params: dict[str, str | None] = {"InstanceName": _instance(instance)}
        if filter is not None:
            if product_id is not None or pic_name is not None:
                raise ValueError("delete by filter, or by product_id/pic_name, not both")
            condition = _filter(filter)
            if condition is None:
                raise _refused("BadRequest")  # IsDeleteByFilter needs a Filter
            params |= {"IsDeleteByFilter": _boolean(True), "Filter": condition}
        else:
            params["ProductId"] = _identifier(product_id)
            if pic_name is not None:
                params["PicName"] = _identifier(pic_name)
        body = self._call("DeleteImage", params)
        try:
            names = _list(body["Data"]["PicNames"])
            return [_text(name) for name in names]
        except (KeyError, TypeError, ValueError):
            raise _malformed("DeleteImage") from None

    def update_image(
        self, instance: str, *, product_id: str, pic_name: str, attributes: Attributes
    ) -> None:
        """Set the attributes given of a stored picture; absent ones (None, "") stay as
        they are."""
        fields = _attributes(attributes)
        params = {
            # The SDK's order, which puts these four in the query (spec §6).
            "IntAttr3": fields["IntAttr3"],
            "IntAttr4": fields["IntAttr4"],
            "StrAttr3": fields["StrAttr3"],
            "StrAttr4": fields["StrAttr4"],
            "InstanceName": _instance(instance),
            "ProductId": _identifier(product_id),
            "PicName": _identifier(pic_name),
            **fields,
        }
        self._call("UpdateImage", params)

    def check_image_exists(
        self, instance: str, *, product_id: str, pic_name: str
    ) -> Auction | None:
        """The stored picture (``product_id``, ``pic_name``), or None if there is none."""
        params = {
            "InstanceName": _instance(instance),
            "ProductId": _identifier(product_id),
            "PicName": _identifier(pic_name),
        }
        body = self._call("CheckImageExists", params)
        try:
            if body["Exists"] is not True:
                if body["Exists"] is not False:
                    raise TypeError
                return None
            # An object here, not the array of the searches (spec §6).
            return _auction(body["Auctions"], scored=False)
        except (KeyError, TypeError, ValueError):
            raise _malformed("CheckImageExists") from None

    def compare_similar_by_image(self, instance: str, *, primary: bytes, secondary: bytes) -> float:
        """How similar two pictures are, 0..1, by the instance's service."""
        params = {
            "InstanceName": _instance(instance),
            "PrimaryPicContent": _picture(primary),
            "SecondaryPicContent": _picture(secondary),
        }
        body = self._call("CompareSimilarByImage", params)
        try:
            return _number(body["Score"])
        except (KeyError, TypeError, ValueError):
            raise _malformed("CompareSimilarByImage") from None

    # -- transport -----------------------------------------------------------------------

    def _call(self, action: str, params: Mapping[str, str | None]) -> dict[str, Any]:
        """Send one operation, backing off and retrying while flow control refuses it."""
        values = {name: value for name, value in params.items() if value is not None}
        in_query = QUERY_PARAMS.get(action, frozenset())
        query = [(name, value) for name, value in values.items() if name in in_query]
        # The SDK sorts the form body by key; the body's digest is signed, so match it.
        form = sorted((name, value) for name, value in values.items() if name not in in_query)
        instance = values["InstanceName"]
        key = f"{self._limiter_key}/{instance}"
        tries, delay = 0, 1.0
        while True:
            tries += 1
            self._limiter.acquire(key, self._qps)
            try:
                return self._send(action, instance, query, form, tries=tries)
            except _Throttled as exc:
                if tries >= QPS_TRIES:
                    raise AliyunError(
                        str(exc.error_code),
                        exc.error_msg,
                        retryable=True,
                        log_id=_str_id(exc.log_id),
                    ) from None
                self._sleep(delay)
                delay *= 2

    def _send(
        self,
        action: str,
        instance: str,
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
        *,
        tries: int = 1,
    ) -> dict[str, Any]:
        """Sign and send one request; its answer's body, or the AliyunError it means.

        ``tries``: this is the operation's how-manieth attempt, all earlier ones refused by
        flow control; a refusal now is retried while tries remain (see ``_call``)."""
        body = form_encode(form).encode() if form else b""
        now = _utc_now().strftime(DATE_FORMAT)
        nonce = _nonce()
        # The SDK's headers, in its order; with ACS3 every one of them is signed.
        headers = {
            "host": self._host,
            "x-acs-version": VERSION,
            "x-acs-action": action,
            "user-agent": USER_AGENT,
        }
        if self._signature == "v2":
            query = [
                ("Action", action),
                ("Format", V2_FORMAT),
                ("Version", VERSION),
                ("Timestamp", now),
                ("SignatureNonce", nonce),
                *query,
                ("SignatureMethod", V2_METHOD),
                ("SignatureVersion", V2_VERSION),
                ("AccessKeyId", self._credentials.access_key_id),
            ]
            if form:
                headers["content-type"] = FORM_CONTENT_TYPE
            headers["x-acs-credentials-provider"] = CREDENTIALS_PROVIDER
            signature = v2_signature(self._credentials.access_key_secret, [*query, *form])
            query = [*query, ("Signature", signature)]
        else:
            headers |= {"x-acs-date": now, "x-acs-signature-nonce": nonce}
            headers["accept"] = "application/json"
            if form:
                headers["content-type"] = FORM_CONTENT_TYPE
            digest = body_sha256(body)
            headers["x-acs-content-sha256"] = digest
            headers["x-acs-credentials-provider"] = CREDENTIALS_PROVIDER
            headers["Authorization"] = acs3_authorization(
                access_key_id=self._credentials.access_key_id,
                secret=self._credentials.access_key_secret,
                method="POST",
                path="/",
                query=query,
                headers=headers,
                body_sha256=digest,
            )
        url = self._url + ("?" + form_encode(query) if query else "")
        started = self._clock()
        try:
            answer = self._exchange(url, headers, body)
        except AliyunError as exc:
            retried = isinstance(exc, _Throttled) and tries < QPS_TRIES
            call = CallRecord(
                action, str(exc.error_code), exc.error_msg, 0.0, _str_id(exc.log_id), instance
            )
            self._record(replace(call, retried=retried, qps_retries=tries - 1), started)
            raise
        call = CallRecord(action, None, "", 0.0, _request_id(answer), instance)
        self._record(replace(call, qps_retries=tries - 1), started)
        return answer

    def _exchange(self, url: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        """One HTTP exchange whose answer is a success body; everything else an AliyunError."""
        try:
            # Never follow a redirect: it could lead the call into the server's own network,
            # and the service never redirects an API call.
            response = self._session.post(
                url,
                data=body or None,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        # `from None`: the request's exception chain is not the caller's business; its text
        # names the URL, which carries no secret (the secret only keys the HMAC).
        except requests.Timeout as exc:
            raise AliyunError("timeout", _describe(exc)) from None
        except requests.exceptions.SSLError as exc:
            # A certificate that does not verify will not verify on the next try either.
            raise AliyunError("tls", _describe(exc)) from None
        except requests.RequestException as exc:
            raise AliyunError("connection", _describe(exc)) from None
        status = response.status_code
        if 300 <= status < 400:
            msg = f"HTTP {status}: the endpoint redirected the call; not followed"
            raise AliyunError("redirect", msg)
        try:
            answer = json.loads(response.content)
        except ValueError:
            answer = None
        if status >= 400:
            raise _error_of(status, answer, response.headers)
        if not isinstance(answer, dict):
            # A proxy or load balancer answering in HTML; the service itself sends JSON.
            raise AliyunError("bad_response", f"HTTP {status}: body is not a JSON object")
        code = answer.get("Code")
        if answer.get("Success") is False or code not in (None, 0, "0"):
            # The SDK hands such a body back without raising (spec §3); it is a failure.
            text = str(code) if code not in (None, 0, "0", "") else "bad_response"
            msg = str(answer.get("Message") or answer.get("Msg") or "Success is false")
            raise AliyunError(text, msg, log_id=_request_id(answer))
        return answer

    def _record(self, call: CallRecord, started: float) -> None:
        """Log one exchange and hand it to ``on_call``, its latency measured from ``started``."""
        call = replace(call, latency_ms=(self._clock() - started) * 1000)
        log.debug(
            "aliyun %s %s code=%s %.0f ms request_id=%s retried=%s",
            call.instance,
            call.operation,
            call.error_code,
            call.latency_ms,
            call.request_id,
            call.retried,
        )
        if self._on_call:
            self._on_call(call)


# -- the wire's values: checked before sending, so nothing goes out the server would refuse ----


def _refused(code: str) -> AliyunError:
    """What the server would answer, raised without spending a call."""
    return AliyunError(code, ERRORS[code][1], retryable=False)


def _instance(name: str) -> str:
    if not name:
        raise _refused("BadRequest")
    if len(name) > MAX_INSTANCE_NAME:
        raise _refused("InvalidInstance")
    return name


def _identifier(value: str | None) -> str:
    """ProductId or PicName: required (an empty value is absent on the wire), <= 256."""
    if not value or len(value) > MAX_ID:
        raise _refused("BadRequest")
    return value


def _attributes(attributes: Attributes) -> dict[str, str | None]:
    fields: dict[str, str | None] = {}
    for name, number in zip(INT_ATTRS, attributes.int_attrs, strict=True):
        if number is not None and not (_is_int(number) and INT_ATTR_MIN <= number <= INT_ATTR_MAX):
            raise _refused("BadRequest")
        fields[name] = None if number is None else str(number)
    for name, text in zip(STR_ATTRS, attributes.str_attrs, strict=True):
        if not str_attr_valid(text):
            raise _refused("BadRequest")
        fields[name] = text or None
    if len(attributes.custom_content) > MAX_CUSTOM_CONTENT:
        raise _refused("BadRequest")
    fields["CustomContent"] = attributes.custom_content or None
    return fields


def _category(category_id: int | None) -> str | None:
    if category_id is None:
        return None
    if not _is_int(category_id) or category_id not in CATEGORIES:
        raise _refused("InvalidCategory")
    return str(category_id)


def _boolean(value: bool) -> str:
    return "True" if value else "False"  # as the SDK writes Python booleans (spec §1)


def _distinct(value: bool) -> str | None:
    # Sent only when true, the server's default being false: so a default search's body is
    # byte for byte the SDK's (the spec's test vector, §2.3, is one).
    return _boolean(True) if value else None


def _region(box: Box | None) -> str | None:
    if box is None:
        return None
    if len(box) != 4 or not all(_is_int(v) and 0 <= v <= _MAX_REGION for v in box):
        raise _refused("BadRequest")
    x1, x2, y1, y2 = box
    if x1 >= x2 or y1 >= y2:
        raise _refused("BadRequest")
    return f"{x1},{x2},{y1},{y2}"


def _window(start: int, num: int) -> tuple[str, str]:
    """(Start, Num) as text, checked in the server's order: Num first (aliyun-wire §5.1)."""
    if not _is_int(num) or num < 1:
        raise _refused("InvalidNumParameter")
    if num > MAX_NUM:
        raise _refused("OverflowMaxReturnNum")
    if not _is_int(start) or not 0 <= start < MAX_RESULTS:
        raise _refused("BadRequest")
    if start + num > MAX_RESULTS:
        raise _refused("OverflowMaxResultNum")
    return str(start), str(num)


def _threshold(value: float | None) -> str | None:
    """0..1 with at most two decimals, written as the shortest such text ("0.5")."""
    if value is None:
        return None
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not 0 <= value <= 1
        or abs(round(value, 2) - value) > 1e-9
    ):
        raise _refused("BadRequest")
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _filter(text: str | None) -> str | None:
    """A Filter as given (the server parses it; ``filter_clause`` builds one); "" is absent."""
    if not text:
        return None
    if len(text) > MAX_FILTER:
        raise _refused("InvalidFilterClause")
    return text


def _picture(data: bytes) -> str:
    if not data or len(data) > MAX_PIC_BYTES:
        raise _refused("BadRequest")  # the engine's answer to a missing or oversized picture
    return base64.b64encode(data).decode("ascii")


# -- answers ---------------------------------------------------------------------------------


def _error_of(status: int, answer: object, headers: Mapping[str, str]) -> AliyunError:
    """The AliyunError a 4xx/5xx answer means (spec §3)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("Code"), str):
        msg = f"HTTP {status}: error body is not a JSON object with a Code"
        return AliyunError("bad_response", msg)
    code: str = answer["Code"]
    msg = str(answer.get("Message") or answer.get("Msg") or "")
    request_id = _request_id(answer)
    # The SDK raises ThrottlingException for any error carrying x-acs-retry-after.
    if code == THROTTLED or headers.get("x-acs-retry-after"):
        return _Throttled(code, msg, retryable=True, log_id=request_id)
    # A code outside the table on a 5xx is the gateway's own (ServiceUnavailable, say).
    retryable = code in _RETRYABLE or (status >= 500 and code not in ERRORS)
    return AliyunError(code, msg, retryable=retryable, log_id=request_id)


def _search_result(action: str, body: Mapping[str, Any]) -> SearchResult:
    try:
        head = body["Head"]
        pic_info = body.get("PicInfo")
        return SearchResult(
            auctions=[_auction(item, scored=True) for item in _list(body["Auctions"])],
            docs_return=_integer(head["DocsReturn"]),
            pic_info=None if pic_info is None else _pic_info(pic_info),
        )
    except (KeyError, TypeError, ValueError):
        raise _malformed(action) from None


def _auction(item: Any, *, scored: bool) -> Auction:
    if not isinstance(item, dict):
        raise TypeError
    int_attrs = tuple(_optional_integer(item.get(name)) for name in INT_ATTRS)
    str_attrs = tuple(_text(item.get(name) or "") for name in STR_ATTRS)
    return Auction(
        product_id=_text(item["ProductId"]),
        pic_name=_text(item["PicName"]),
        category_id=_optional_integer(item.get("CategoryId")),
        score=_number(item["Score"]) if scored else None,
        attributes=Attributes(
            int_attrs=(int_attrs[0], int_attrs[1], int_attrs[2], int_attrs[3]),
            str_attrs=(str_attrs[0], str_attrs[1], str_attrs[2], str_attrs[3]),
            custom_content=_text(item.get("CustomContent") or ""),
        ),
    )


def _pic_info(info: Any) -> PicInfo:
    if not isinstance(info, dict):
        raise TypeError
    region = info.get("Region")
    return PicInfo(
        category_id=_optional_integer(info.get("CategoryId")),
        region=_box(region) if region else None,
        multi_region=[_box(item["Region"]) for item in _list(info.get("MultiRegion") or [])],
    )


def _box(text: Any) -> Box:
    x1, x2, y1, y2 = (int(part) for part in _text(text).split(","))
    return x1, x2, y1, y2


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _integer(value: Any) -> int:
    """An integer, also as decimal text: the SDK checks no types, so neither may we more."""
    if _is_int(value):
        return int(value)
    if isinstance(value, str) and value.lstrip("-").isdecimal():
        return int(value)
    raise TypeError


def _optional_integer(value: Any) -> int | None:
    return None if value is None or value == "" else _integer(value)


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise TypeError


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _request_id(body: Mapping[str, Any]) -> str | None:
    value = body.get("RequestId")
    return value if isinstance(value, str) and value else None


def _str_id(value: int | str | None) -> str | None:
    return None if value is None else str(value)


def _malformed(action: str) -> AliyunError:
    return AliyunError("bad_response", f"{action}: the answer is not shaped as the wire says")


def _describe(exc: requests.RequestException) -> str:
    """The words a failed exchange gets (`transport.failure_text`: no URL query, which carries
    the AccessKeyId and the signature)."""
    return failure_text(exc)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _nonce() -> str:
    """``x-acs-signature-nonce`` / ``SignatureNonce``: 32 hex digits, like the SDK's md5."""
    return secrets.token_hex(16)
