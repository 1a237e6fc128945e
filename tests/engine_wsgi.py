"""The built-in engine reached over `requests` without a socket: a transport adapter that hands
each request to this process's Django application, engine and all, inside the test's database
transaction. Nothing is stubbed: it is the engine's own code answering, only the network is
left out, so console unit tests can run the Alibaba wire end to end in milliseconds."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import requests
from django.test import Client
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


class EngineAdapter(BaseAdapter):
    def __init__(self) -> None:
        super().__init__()
        self._client = Client()

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in ("content-type", "content-length", "host")
        }
        body = request.body or b""
        answer = self._client.generic(
            str(request.method),
            parts.path + (f"?{parts.query}" if parts.query else ""),
            data=body.encode() if isinstance(body, str) else body,
            content_type=request.headers.get("Content-Type", ""),
            headers={**headers, "Host": parts.netloc},
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(dict(answer.items()))
        response._content = answer.content
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass
