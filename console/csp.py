"""The console's Content-Security-Policy, in django-csp 4's settings format.

Every script and style of the pages is a file under /static/: no inline script, style element,
style attribute, on* handler nor javascript: URL (tests/unit/console/test_csp.py scans every
template, Django's admin included), so the policy allows nothing inline and nothing from
elsewhere. The one exception is images kept in S3: the console answers a thumbnail with a
redirect to a presigned URL, and the browser checks that redirect against img-src.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from csp.constants import NONE, SELF

from wire.baidu import API_ROOT, OAUTH_ROOT


def content_security_policy(image_origins: Sequence[str] = ()) -> dict[str, Any]:
    return {
        # The wire answers SDKs in JSON, never a document a browser renders: a policy there
        # would protect nothing and add bytes to every call.
        "EXCLUDE_URL_PREFIXES": [API_ROOT, OAUTH_ROOT],
        "DIRECTIVES": {
            "default-src": [SELF],
            "script-src": [SELF],
            "style-src": [SELF],
            # The webcam's stream reaches its <video> through srcObject, which no directive
            # governs; pasted and captured images go into the form's file input, never into a
            # blob: or data: URL.
            "img-src": [SELF, *image_origins],
            "connect-src": [SELF],
            "object-src": [NONE],
            "base-uri": [NONE],
            "form-action": [SELF],
            "frame-ancestors": [NONE],
        },
    }


def s3_origins(bucket: str, region: str = "", endpoint_url: str = "") -> list[str]:
    """Every origin a presigned URL of the bucket may point at, as botocore builds them.

    A custom endpoint (MinIO, another cloud) is addressed path-style: the endpoint itself. On
    AWS the bucket is a sub-domain of the global or the regional endpoint, or, when its name
    holds a dot (no certificate covers it), a path on that endpoint; S3 may also redirect from
    the global endpoint to the regional one while a new bucket's name spreads.
    """
    if endpoint_url:
        parts = urlsplit(endpoint_url)
        return [f"{parts.scheme}://{parts.netloc}"]
    hosts = ["s3.amazonaws.com"]
    if region:
        suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        hosts.append(f"s3.{region}.{suffix}")
    return [f"https://{prefix}{host}" for host in hosts for prefix in (f"{bucket}.", "")]
