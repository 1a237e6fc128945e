"""Helpers for the Alibaba wire's unit tests: AccessKey pairs, instances and signed calls
made the way the official SDK makes them (aliyun-wire §2)."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from django.test import Client

from engine.aliyun import services
from engine.aliyun.auth import acs3_canonical_request, acs3_signature, v2_signature

HOST = "testserver"


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Account:
    access_key_id: str
    secret: str
    client: Client

    def call(
        self,
        action: str,
        body: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
        *,
        v2: bool = False,
        date: str | None = None,
        secret: str | None = None,
        tamper_body: bool = False,
        action_header: bool = True,
    ) -> tuple[int, dict[str, Any]]:
        form = urlencode(sorted((k, str(v)) for k, v in (body or {}).items()))
        query_pairs = [(k, str(v)) for k, v in (query or {}).items()]
        key = secret or self.secret
        headers = {
            "host": HOST,
            "x-acs-version": "2020-12-14",
            "x-acs-action": action,
            "x-acs-date": date or now_stamp(),
            "x-acs-signature-nonce": secrets.token_hex(16),
            "accept": "application/json",
            "content-type": "application/x-www-form-urlencoded",
            "x-acs-content-sha256": hashlib.sha256(form.encode()).hexdigest(),
        }
        extra: dict[str, Any] = {"HTTP_HOST": HOST, "CONTENT_TYPE": headers["content-type"]}
        if v2:
            system = [
                ("Action", action),
                ("Format", "json"),
                ("Version", "2020-12-14"),
                ("Timestamp", date or now_stamp()),
                ("SignatureNonce", secrets.token_hex(16)),
                *query_pairs,
                ("SignatureMethod", "HMAC-SHA1"),
                ("SignatureVersion", "1.0"),
                ("AccessKeyId", self.access_key_id),
            ]
            signed = system + [(k, str(v)) for k, v in (body or {}).items()]
            query_pairs = [*system, ("Signature", v2_signature(key, signed))]
        else:
            canonical = acs3_canonical_request(
                method="POST",
                path="/",
                query=query_pairs,
                headers=headers,
                body_sha256=headers["x-acs-content-sha256"],
            )
            names = ";".join(sorted(headers))
            signature = acs3_signature(key, canonical)
            extra["HTTP_AUTHORIZATION"] = (
                f"ACS3-HMAC-SHA256 Credential={self.access_key_id},"
                f"SignedHeaders={names},Signature={signature}"
            )
        if not action_header:
            del headers["x-acs-action"]
        for name, value in headers.items():
            if name not in ("host", "content-type"):
                extra["HTTP_" + name.upper().replace("-", "_")] = value
        path = "/"
        if query_pairs:
            path += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query_pairs)
        payload = form + ("x" if tamper_body else "")
        response = self.client.post(
            path, data=payload, content_type="application/x-www-form-urlencoded", **extra
        )
        return response.status_code, json.loads(response.content)


def make_account(client: Client) -> Account:
    key = services.access_key_create(name="test")
    return Account(key.access_key_id, key.access_key_secret, client)


def make_instance(
    account: Account, name: str = "demo", service_type: int = 1, **options: Any
) -> None:
    services.instance_create(
        access_key_id=account.access_key_id, name=name, service_type=service_type, **options
    )
