"""A stand-in for the hosted Alibaba Cloud Image Search endpoint, mounted as a `requests`
transport adapter.

It is the only thing the tests stub: the hosted service cannot be reached from here. Answers
are shaped exactly as the contract shows them (../shared/spec/aliyun-image-search-api.md §3, §5,
§6): error statuses with `{RequestId, Code, Message}`, `Auctions` an array in searches and one
object in CheckImageExists, `Message` in add/delete/update bodies and `Msg` in the others. It
verifies both signatures and refuses a bad one with 403 NoPermission, as the service does.

It is no image-search engine: a picture matches itself (same bytes) with score 1.0 and any other
with 0.31; it decodes nothing, so `PicInfo.Region` is the `Region` sent, else a fixed box, and
the category is the `CategoryId` sent, else 88888888. Filters support `int_attr` / `str_attr`
comparisons joined by AND or OR, without parentheses. Never used in place of the real engine.

    fake = FakeAliyun()
    session = requests.Session()
    session.mount("https://imagesearch.cn-shanghai.aliyuncs.com", fake)
    fake.fail("AddImage", "DeniedRequest")   # the next AddImage answers 403 DeniedRequest
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter

from wire.acs import (
    acs3_canonical_request,
    acs3_signature,
    body_sha256,
    query_pairs,
    v2_signature,
)
from wire.aliyun import CATEGORIES, ERRORS, INT_ATTRS, OTHER_CATEGORY, STR_ATTRS

FIXED_REGION = "0,100,0,100"
_V2_SYSTEM = frozenset(
    {"Action", "Format", "Version", "Timestamp", "SignatureNonce", "SignatureMethod"}
    | {"SignatureVersion", "AccessKeyId", "Signature"}
)
_CONDITION = re.compile(r'\s*(int_attr|str_attr)\s*(>=|<=|!=|=|>|<)\s*(-?[0-9]+|"[^"]*")\s*\Z')
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    "!=": operator.ne,
}


class Refusal(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Picture:
    sha256: str
    category_id: int
    int_attrs: list[int | None]
    str_attrs: list[str]
    custom_content: str


@dataclass
class FakeInstance:
    service_type: int = 1
    capacity: int = 10_000  # images
    qps: int = 10
    pictures: dict[tuple[str, str], Picture] = field(default_factory=dict)


@dataclass
class Call:
    """One request as received: the action, where each parameter travelled, the headers."""

    action: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    url: str
    body: bytes


# A queued reply: a wire Code, an Exception to raise, or (status, body, headers) verbatim.
Reply = str | Exception | tuple[int, Any, dict[str, str]]


@dataclass
class FakeAliyun(BaseAdapter):
    access_key_id: str = "LTAI5tFakeAccessKeyId"
    access_key_secret: str = "fake-access-key-secret"
    instances: dict[str, FakeInstance] = field(default_factory=lambda: {"demo": FakeInstance()})
    failures: dict[str, list[Reply]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    request_ids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        super().__init__()

    def close(self) -> None:
        pass

    def fail(self, action: str, *replies: Reply) -> None:
        self.failures.setdefault(action, []).extend(replies)

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        raw = request.body or b""
        body = raw.encode() if isinstance(raw, str) else bytes(raw)
        query = query_pairs(url.query)
        form = parse_qsl(body.decode(), keep_blank_values=True) if body else []
        headers = {name.lower(): value for name, value in request.headers.items()}
        action = headers.get("x-acs-action") or dict(query).get("Action", "")
        call = Call(action, dict(query), dict(form), headers, request.url or "", body)
        self.calls.append(call)
        request_id = f"FAKE-{next(self.request_ids):04d}"
        queued = self.failures.get(action)
        if queued:
            reply = queued.pop(0)
            if isinstance(reply, Exception):
                raise reply
            if isinstance(reply, tuple):
                status, answer, extra = reply
                return self._respond(request, status, answer, extra)
            return self._refuse(request, request_id, reply)
        try:
            if not self._signed(request, url.path, query, form, headers, body):
                raise Refusal("NoPermission")
            if url.path != "/" or request.method != "POST":
                raise Refusal("UnsupportedOperationType")
            params = {k: v for k, v in [*query, *form] if k not in _V2_SYSTEM and v != ""}
            answer = self._operate(action, params)
        except Refusal as refusal:
            return self._refuse(request, request_id, refusal.code)
        return self._respond(request, 200, {"RequestId": request_id, **answer})

    # -- signatures ------------------------------------------------------------------------

    def _signed(
        self,
        request: requests.PreparedRequest,
        path: str,
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
        headers: dict[str, str],
        body: bytes,
    ) -> bool:
        authorization = headers.get("authorization", "")
        if authorization.startswith("ACS3-HMAC-SHA256 "):
            fields = dict(
                part.strip().partition("=")[::2]
                for part in authorization.removeprefix("ACS3-HMAC-SHA256 ").split(",")
            )
            names = fields.get("SignedHeaders", "").split(";")
            if fields.get("Credential") != self.access_key_id or "host" not in names:
                return False
            if headers.get("x-acs-content-sha256") != body_sha256(body):
                return False
            signed = {name: headers.get(name, "") for name in names}
            canonical = acs3_canonical_request(
                method=request.method or "",
                path=path,
                query=query,
                headers=signed,
                body_sha256=body_sha256(body),
            )
            expected = acs3_signature(self.access_key_secret, canonical)
            return hmac.compare_digest(expected, fields.get("Signature", ""))
        values = dict(query)
        if "Signature" in values and values.get("AccessKeyId") == self.access_key_id:
            params = [(k, v) for k, v in query if k != "Signature"] + form
            expected = v2_signature(self.access_key_secret, params)
            return hmac.compare_digest(expected, values["Signature"])
        return False

    # -- operations ------------------------------------------------------------------------

    def _operate(self, action: str, p: dict[str, str]) -> dict[str, Any]:
        handler = {
            "Detail": self._detail,
            "AddImage": self._add,
            "SearchImageByPic": self._search_by_pic,
            "SearchImageByName": self._search_by_name,
            "SearchImageByFilter": self._search_by_filter,
            "DeleteImage": self._delete,
            "UpdateImage": self._update,
            "CheckImageExists": self._check,
            "CompareSimilarByImage": self._compare,
        }.get(action)
        if handler is None:
            raise Refusal("UnsupportedOperationType")
        name = _required(p, "InstanceName")
        instance = self.instances.get(name)
        if instance is None:
            raise Refusal("InvalidInstance")
        return handler(name, instance, p)

    def _detail(self, name: str, instance: FakeInstance, p: dict[str, str]) -> dict[str, Any]:
        return {
            "Success": True,
            "Instance": {
                "Capacity": -(-instance.capacity // 10_000),
                "Name": name,
                "Qps": instance.qps,
                "Region": "cn-shanghai",
                "ServiceType": instance.service_type,
                "TotalCount": len(instance.pictures),
                "UtcCreate": 1_700_000_000_000,
                "UtcExpireTime": 1_900_000_000_000,
            },
        }

    def _add(self, name: str, instance: FakeInstance, p: dict[str, str]) -> dict[str, Any]:
        key = (_required(p, "ProductId"), _required(p, "PicName"))
        data = _picture(p, "PicContent")
        if key not in instance.pictures and len(instance.pictures) >= instance.capacity:
            raise Refusal("InstanceOverQuota")
        category = _category(p)
        instance.pictures[key] = Picture(
            sha256=hashlib.sha256(data).hexdigest(),
            category_id=OTHER_CATEGORY if category is None else category,
            int_attrs=[int(p[n]) if n in p else None for n in INT_ATTRS],
            str_attrs=[p.get(n, "") for n in STR_ATTRS],
            custom_content=p.get("CustomContent", ""),
        )
        return {"Code": 0, "Message": "success", "Success": True, "PicInfo": _pic_info(p)}

    def _search_by_pic(
        self, name: str, instance: FakeInstance, p: dict[str, str]
    ) -> dict[str, Any]:
        sha = hashlib.sha256(_picture(p, "PicContent")).hexdigest()
        return self._search(instance, p, sha) | {"PicInfo": _pic_info(p)}

    def _search_by_name(
        self, name: str, instance: FakeInstance, p: dict[str, str]
    ) -> dict[str, Any]:
        key = (_required(p, "ProductId"), _required(p, "PicName"))
        if key not in instance.pictures:
            raise Refusal("BadRequest")
        return self._search(instance, p, instance.pictures[key].sha256) | {"PicInfo": _pic_info(p)}

    def _search(self, instance: FakeInstance, p: dict[str, str], sha: str) -> dict[str, Any]:
        start, num = _window(p)
        threshold = float(p.get("ScoreThreshold", "0"))
        matching = _matching(instance, p.get("Filter"))
        category = _category(p)
        hits = []
        for key, picture in matching:
            score = 1.0 if picture.sha256 == sha else 0.31
            if score >= threshold and category in (None, picture.category_id):
                hits.append((key, picture, score))
        hits.sort(key=lambda hit: -hit[2])
        if p.get("DistinctProductId", "").lower() == "true":
            best: dict[str, tuple[tuple[str, str], Picture, float]] = {}
            for hit in hits:
                best.setdefault(hit[0][0], hit)
            hits = list(best.values())
        window = hits[start : start + num]
        return {
            "Success": True,
            "Code": 0,
            "Msg": "success",
            "Head": {"DocsFound": len(window), "DocsReturn": len(hits), "SearchTime": 3},
            "Auctions": [
                _auction(key, picture) | {"Score": score, "SortExprValues": f"{score};0"}
                for key, picture, score in window
            ],
        }

    def _search_by_filter(
        self, name: str, instance: FakeInstance, p: dict[str, str]
    ) -> dict[str, Any]:
        start, num = _window(p)
        matching = _matching(instance, _required(p, "Filter"))
        auctions = [_auction(key, picture) for key, picture in matching[start : start + num]]
        return {"Code": 0, "Msg": "success", "Success": True, "Auctions": auctions}

    def _delete(self, name: str, instance: FakeInstance, p: dict[str, str]) -> dict[str, Any]:
        if p.get("IsDeleteByFilter", "").lower() == "true":
            keys = [key for key, _ in _matching(instance, _required(p, "Filter"))]
        else:
            product = _required(p, "ProductId")
            keys = [
                key
                for key in instance.pictures
                if key[0] == product and p.get("PicName") in (None, key[1])
            ]
        for key in keys:
            del instance.pictures[key]
        names = [key[1] for key in keys]
        return {"Code": 0, "Message": "success", "Success": True, "Data": {"PicNames": names}}

    def _update(self, name: str, instance: FakeInstance, p: dict[str, str]) -> dict[str, Any]:
        picture = instance.pictures.get((_required(p, "ProductId"), p.get("PicName", "")))
        if picture is None:
            raise Refusal("BadRequest")
        for i, attr in enumerate(INT_ATTRS):
            if attr in p:
                picture.int_attrs[i] = int(p[attr])
        for i, attr in enumerate(STR_ATTRS):
            if attr in p:
                picture.str_attrs[i] = p[attr]
        picture.custom_content = p.get("CustomContent", picture.custom_content)
        return {"Code": 0, "Message": "success", "Success": True}

    def _check(self, name: str, instance: FakeInstance, p: dict[str, str]) -> dict[str, Any]:
        key = (_required(p, "ProductId"), _required(p, "PicName"))
        picture = instance.pictures.get(key)
        answer: dict[str, Any] = {"Code": 0, "Msg": "success", "Success": True}
        if picture is None:
            return answer | {"Exists": False, "Auctions": {}}
        return answer | {"Exists": True, "Auctions": _auction(key, picture)}

    def _compare(self, name: str, instance: FakeInstance, p: dict[str, str]) -> dict[str, Any]:
        same = _picture(p, "PrimaryPicContent") == _picture(p, "SecondaryPicContent")
        return {"Code": 0, "Msg": "success", "Success": True, "Score": 1.0 if same else 0.31}

    # -- answers ---------------------------------------------------------------------------

    def _refuse(
        self, request: requests.PreparedRequest, request_id: str, code: str
    ) -> requests.Response:
        status, message = ERRORS[code]
        body = {"RequestId": request_id, "Code": code, "Message": message}
        return self._respond(request, status, body)

    @staticmethod
    def _respond(
        request: requests.PreparedRequest,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json;charset=utf-8"
        response.headers.update(headers or {})
        response.url = request.url or ""
        response.request = request
        return response


def _required(p: dict[str, str], name: str) -> str:
    if name not in p:
        raise Refusal("BadRequest")
    return p[name]


def _picture(p: dict[str, str], name: str) -> bytes:
    try:
        return base64.b64decode(_required(p, name), validate=True)
    except ValueError:
        raise Refusal("BadRequest") from None


def _category(p: dict[str, str]) -> int | None:
    if "CategoryId" not in p:
        return None
    if not p["CategoryId"].isdecimal() or int(p["CategoryId"]) not in CATEGORIES:
        raise Refusal("InvalidCategory")
    return int(p["CategoryId"])


def _window(p: dict[str, str]) -> tuple[int, int]:
    num, start = int(p.get("Num", "10")), int(p.get("Start", "0"))
    if num > 100:
        raise Refusal("OverflowMaxReturnNum")
    if num < 1:
        raise Refusal("InvalidNumParameter")
    if start + num > 500:
        raise Refusal("OverflowMaxResultNum")
    return start, num


def _pic_info(p: dict[str, str]) -> dict[str, Any]:
    category = _category(p)
    region = p.get("Region", FIXED_REGION)
    return {
        "CategoryId": OTHER_CATEGORY if category is None else category,
        "Region": region,
        "MultiRegion": [{"Region": region}],
        "AllCategories": [{"Id": cid, "Name": name} for cid, name in CATEGORIES.items()],
    }


def _auction(key: tuple[str, str], picture: Picture) -> dict[str, Any]:
    auction: dict[str, Any] = {
        "ProductId": key[0],
        "PicName": key[1],
        "CategoryId": picture.category_id,
    }
    if picture.custom_content:
        auction["CustomContent"] = picture.custom_content
    for attr, number in zip(INT_ATTRS, picture.int_attrs, strict=True):
        if number is not None:
            auction[attr] = number
    for attr, text in zip(STR_ATTRS, picture.str_attrs, strict=True):
        if text:
            auction[attr] = text
    return auction


def _matching(instance: FakeInstance, text: str | None) -> list[tuple[tuple[str, str], Picture]]:
    pictures = list(instance.pictures.items())
    if text is None:
        return pictures
    alternatives = [
        [_condition(part) for part in re.split(r"\s+AND\s+", branch)]
        for branch in re.split(r"\s+OR\s+", text)
    ]
    return [
        (key, picture)
        for key, picture in pictures
        if any(all(test(picture) for test in branch) for branch in alternatives)
    ]


def _condition(text: str) -> Callable[[Picture], bool]:
    match = _CONDITION.match(text)
    if match is None:
        raise Refusal("InvalidFilterClause")
    name, op, literal = match.groups()
    compare = _OPS[op]
    if name == "int_attr":
        if literal.startswith('"') or op == "!=":
            raise Refusal("InvalidIntAttr" if literal.startswith('"') else "InvalidFilterClause")
        number = int(literal)
        return lambda picture: (
            picture.int_attrs[0] is not None and compare(picture.int_attrs[0], number)
        )
    if op not in ("=", "!=") or not literal.startswith('"'):
        raise Refusal("InvalidFilterClause")
    return lambda picture: compare(picture.str_attrs[0], literal[1:-1])
