"""The Content-Security-Policy (console/csp.py): its header on every page, none on the wire, and
no template that the policy would break."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import django
import pytest
from django.conf import settings
from django.contrib import admin
from django.template.utils import get_app_template_dirs
from django.test import Client
from django.urls import reverse
from storages.backends.s3 import S3Storage

from console.csp import s3_origins

pytestmark = pytest.mark.django_db

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def directives(header: str) -> dict[str, list[str]]:
    """The policy as directive → sources; django-csp's order of directives varies by process."""
    parsed: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        assert name not in parsed, f"{name} given twice"
        parsed[name] = sources
    return parsed


def test_a_console_page_carries_exactly_the_policy(client: Client, personas: Any) -> None:
    client.force_login(personas["owner"])
    response = client.get(reverse("gallery:home"))
    assert response.status_code == 200
    assert directives(response["Content-Security-Policy"]) == directives(POLICY)
    assert "Content-Security-Policy-Report-Only" not in response


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/", "/no-such-page/"])
def test_login_admin_and_error_pages_carry_it_too(client: Client, path: str) -> None:
    assert directives(client.get(path)["Content-Security-Policy"]) == directives(POLICY)


def test_a_csrf_failure_page_needs_no_inline_style(personas: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "owner", "password": "x"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "CSRF verification failed" in html and "<style" not in html
    assert "Content-Security-Policy" in response


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/oauth/2.0/token"),
        ("get", "/oauth/2.0/token?grant_type=client_credentials"),
        ("post", "/rest/2.0/image-classify/v1/realtime_search/same_hq/add"),
        ("post", "/rest/2.0/no/such/path"),
    ],
)
def test_wire_answers_are_json_without_a_policy(client: Client, method: str, path: str) -> None:
    response = getattr(client, method)(path)
    assert response["Content-Type"].startswith("application/json")
    assert "error_code" in response.json() or "error" in response.json()
    assert "Content-Security-Policy" not in response


@pytest.mark.parametrize(
    ("bucket", "options"),
    [
        ("tuku", {}),
        ("tuku", {"region_name": "eu-central-1"}),
        ("tuku", {"region_name": "eu-central-1", "signature_version": "s3v4"}),
        ("tuku.images", {}),
        ("tuku.images", {"region_name": "eu-central-1"}),
        ("tuku", {"region_name": "cn-north-1"}),
        ("tuku", {"endpoint_url": "http://127.0.0.1:9000"}),
        ("tuku", {"endpoint_url": "https://s3.example.com:8443/", "region_name": "us-east-1"}),
    ],
)
def test_img_src_admits_where_a_presigned_url_points(bucket: str, options: Any) -> None:
    storage = S3Storage(
        bucket_name=bucket, access_key="a", secret_key="b", querystring_auth=True, **options
    )
    url = storage.url("thumbs/x.jpg", expire=300)
    origin = re.match(r"[a-z]+://[^/]+", url)
    assert origin is not None
    admitted = s3_origins(bucket, options.get("region_name", ""), options.get("endpoint_url", ""))
    assert origin.group() in admitted


# --- Templates: what the policy would refuse ---------------------------------------------------

DJANGO = Path(django.__file__).parent
TEMPLATE_DIRS = [
    *(Path(d) for d in cast(list[str], settings.TEMPLATES[0]["DIRS"])),
    *(Path(d) for d in get_app_template_dirs("templates")),  # Django's admin among them
    DJANGO / "forms" / "templates",  # the widgets our forms render
]
STATIC_DIRS = [Path(d) for d in settings.STATICFILES_DIRS]

_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.I | re.S)
_TAG = re.compile(r"<[a-z][a-z0-9-]*\b[^>]*>", re.I)
_TEMPLATE_PROBLEMS = {
    "a <style> element": re.compile(r"<style\b", re.I),
    "a style attribute": re.compile(r"\sstyle\s*=", re.I),
    "an on* handler": re.compile(r"\son[a-z]+\s*=", re.I),
    "a javascript: URL": re.compile(r"javascript\s*:", re.I),
}
_SCRIPT_PROBLEMS = {
    "eval": re.compile(r"\beval\s*\("),
    "new Function": re.compile(r"\bnew\s+Function\s*\("),
    "a string timer": re.compile(r"\bset(?:Timeout|Interval)\s*\(\s*[\"'`]"),
    "a style or on* attribute": re.compile(r"setAttribute\(\s*[\"'](?:style|on[a-z]+)[\"']", re.I),
    "a javascript: URL": re.compile(r"javascript\s*:", re.I),
}


def template_problems(html: str) -> list[str]:
    found = []
    for attrs, body in _SCRIPT.findall(html):
        if not re.search(r"\ssrc\s*=", attrs):
            found.append("an inline <script>")
        elif body.strip():
            found.append("a <script> with a body")
    for tag in _TAG.findall(_SCRIPT.sub("", html)):
        found += [what for what, pattern in _TEMPLATE_PROBLEMS.items() if pattern.search(tag)]
    if _TEMPLATE_PROBLEMS["a <style> element"].search(html):
        found.append("a <style> element")
    if _TEMPLATE_PROBLEMS["a javascript: URL"].search(html):
        found.append("a javascript: URL")
    return sorted(set(found))


def script_problems(source: str) -> list[str]:
    return sorted(what for what, pattern in _SCRIPT_PROBLEMS.items() if pattern.search(source))


@pytest.mark.parametrize(
    ("html", "problem"),
    [
        ("<script>alert(1)</script>", "an inline <script>"),
        ('<script src="/static/a.js">alert(1)</script>', "a <script> with a body"),
        ('<script type="application/json">{}</script>', "an inline <script>"),
        ("<style>p { color: red }</style>", "a <style> element"),
        ('<span class="x" style="width: 5%">', "a style attribute"),
        ('<i\n  style="background: {{ colour }}"></i>', "a style attribute"),
        ('<button type="button" onclick="go()">', "an on* handler"),
        ("<body onload=start()>", "an on* handler"),
        ('<a href="JavaScript:void(0)">', "a javascript: URL"),
    ],
)
def test_the_template_scan_finds_what_the_policy_refuses(html: str, problem: str) -> None:
    assert problem in template_problems(html)


@pytest.mark.parametrize(
    "html",
    [
        "<script src=\"{% static 'gallery/js/a.js' %}\" defer></script>",
        '<script id="x" src="{% static "admin/js/a.js" %}"\n data-model="{{ m }}">\n</script>',
        '<svg viewBox="0 0 1 1"><rect width="1" height="1" fill="{{ colour }}"/></svg>',
        '<p class="hint">Turn the style of the page on = off</p>',
        '<input data-onboarding="1" name="once">',
    ],
)
def test_the_template_scan_lets_what_the_policy_allows(html: str) -> None:
    assert template_problems(html) == []


# Django's change list styles its first column inline, but only for a ModelAdmin that shows
# no action bar at all; the test below keeps ours from being one.
ADMIN_ONLY_WITHOUT_ACTION_BARS = {"admin/change_list.html": ["a <style> element"]}


def test_no_template_holds_what_the_policy_refuses() -> None:
    found: dict[str, list[str]] = {}
    for folder in TEMPLATE_DIRS:
        for path in sorted(folder.rglob("*.html")):
            if problems := template_problems(path.read_text("utf-8")):
                found[path.relative_to(folder).as_posix()] = problems
    assert len(list(TEMPLATE_DIRS[0].rglob("*.html"))) > 5
    assert found == ADMIN_ONLY_WITHOUT_ACTION_BARS


def test_every_admin_page_shows_an_action_bar() -> None:
    assert admin.site._registry
    for model, model_admin in admin.site._registry.items():
        assert model_admin.actions_on_top or model_admin.actions_on_bottom, model


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("eval(text)", "eval"),
        ("var f = new Function('a', 'return a');", "new Function"),
        ('setTimeout("reload()", 10)', "a string timer"),
        ("node.setAttribute('style', 'width: 5%')", "a style or on* attribute"),
        ('node.setAttribute("onclick", "go()")', "a style or on* attribute"),
        ('a.href = "javascript:void(0)"', "a javascript: URL"),
    ],
)
def test_the_script_scan_finds_what_the_policy_refuses(source: str, problem: str) -> None:
    assert problem in script_problems(source)


def test_no_static_script_does_what_the_policy_refuses() -> None:
    scripts = [p for d in STATIC_DIRS for p in sorted(d.rglob("*.js"))]
    assert scripts
    found = {str(p): script_problems(p.read_text("utf-8")) for p in scripts}
    assert {path: problems for path, problems in found.items() if problems} == {}
