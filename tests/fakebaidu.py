"""A stand-in for the hosted Baidu endpoint, mounted as a `requests` transport adapter.

It is the only thing the tests stub: the hosted service cannot be reached from here. Answers
are shaped exactly as the wire contract shows them (HTTP 200 JSON with `log_id`; OAuth errors
with their HTTP status). Matching is by exact bytes only; it is no image-search engine and is
never used in place of ours.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter

ERRORS = {
    18: "Open api qps request limit reached",
    19: "Open api total request limit reached",
    110: "Access token invalid or no longer valid",
    216100: "invalid param",
    216201: "image format error",
    216680: "item not exist",
    216681: "item exist",
    282000: "internal error",
}


@dataclass
class Entry:
    sha: str
    brief: str
    tags: str = ""
    class_ids: tuple[str, str] = ("", "")


@dataclass
class FakeBaidu(BaseAdapter):
    api_key: str = "baidu-api-key"
    secret_key: str = "baidu-secret-key"
    libraries: dict[str, dict[str, Entry]] = field(default_factory=lambda: defaultdict(dict))
    # Queued failures: (service, operation) -> [error codes or Exceptions] served first.
    failures: dict[tuple[str, str], list[Any]] = field(default_factory=lambda: defaultdict(list))
    calls: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    # Simulates an add whose answer is lost after the backend stored the image.
    lose_next_add_answer: bool = False
    log_ids: Any = field(default_factory=lambda: itertools.count(1000))

    def __post_init__(self) -> None:
        super().__init__()

    def close(self) -> None:
        pass

    @staticmethod
    def cont_sign_of(data: bytes) -> str:
        # Deliberately not the engine's derivation: hosted cont_signs are undisclosed.
        digest = hashlib.md5(data).digest()
        return f"{int.from_bytes(digest[:4], 'big')},{int.from_bytes(digest[4:8], 'big')}"

    def fail(self, service: str, operation: str, *codes: Any) -> None:
        self.failures[(service, operation)].extend(codes)

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        if url.path == "/oauth/2.0/token":
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if (
                query.get("client_id") != self.api_key
                or query.get("client_secret") != self.secret_key
            ):
                return self._respond(
                    request,
                    {"error": "invalid_client", "error_description": "unknown client id"},
                    401,
                )
            return self._respond(
                request,
                {
                    "access_token": "24.fake.2592000.1.1-1",
                    "expires_in": 2592000,
                    "scope": "public brain_all_scope",
                    "refresh_token": "25.x",
                    "session_key": "s",
                    "session_secret": "s",
                },
            )
        parts = url.path.rstrip("/").split("/")
        service, operation = parts[-2], parts[-1]
        body = request.body or ""
        form = {
            k: v[-1]
            for k, v in parse_qs(
                body if isinstance(body, str) else body.decode(), keep_blank_values=True
            ).items()
        }
        self.calls.append((service, operation, form))
        queued = self.failures[(service, operation)]
        if queued:
            failure = queued.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return self._error(request, failure)
        return self._respond(request, self._operate(service, operation, form, request))

    def _operate(
        self, service: str, operation: str, form: dict[str, str], request: requests.PreparedRequest
    ) -> dict[str, Any]:
        library = self.libraries[service]
        log_id = next(self.log_ids)
        data = base64.b64decode(form["image"]) if "image" in form else None
        if operation == "add":
            assert data is not None
            sign = self.cont_sign_of(data)
            if sign in library:
                return {"log_id": log_id, "error_code": 216681, "error_msg": "item exist"}
            library[sign] = Entry(
                hashlib.sha256(data).hexdigest(),
                form["brief"],
                form.get("tags", ""),
                (form.get("class_id1", ""), form.get("class_id2", "")),
            )
            if self.lose_next_add_answer:
                self.lose_next_add_answer = False
                raise requests.ConnectionError("connection reset after the add was stored")
            return {"log_id": log_id, "cont_sign": sign}
        if operation == "search":
            assert data is not None
            exact = self.cont_sign_of(data)
            hits: list[dict[str, Any]] = [
                {"cont_sign": s, "score": 1.0 if s == exact else 0.31, "brief": e.brief}
                for s, e in library.items()
            ]
            hits.sort(key=lambda h: -float(h["score"]))
            return {"log_id": log_id, "result_num": len(hits), "result": hits, "has_more": False}
        signs = (
            [self.cont_sign_of(data)]
            if data is not None
            else [s.strip() for s in form["cont_sign"].split(";") if s.strip()]
        )
        present = [s for s in signs if s in library]
        if not present:
            return {"log_id": log_id, "error_code": 216680, "error_msg": "item not exist"}
        for sign in present:
            if operation == "delete":
                del library[sign]
            else:
                entry = library[sign]
                entry.brief = form.get("brief") or entry.brief
                entry.tags = form.get("tags") or entry.tags
        return {"log_id": log_id}

    def _error(self, request: requests.PreparedRequest, code: int) -> requests.Response:
        return self._respond(
            request, {"log_id": next(self.log_ids), "error_code": code, "error_msg": ERRORS[code]}
        )

    @staticmethod
    def _respond(
        request: requests.PreparedRequest, body: dict[str, Any], status: int = 200
    ) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json;charset=utf-8"
        response.url = request.url or ""
        response.request = request
        return response
