"""What the page modules share: the typed request, content negotiation, errors beside fields,
the `next` target, and the JSON lines the polling pages read."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.forms import Form
from django.http import HttpRequest
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.http import url_has_allowed_host_and_scheme

from gallery.explain import explained
from gallery.models import Image, ImageStatus, Library
from gallery.texts import render_stored
from wire.aliyun import MAX_PIC_BYTES
from wire.baidu import MAX_IMAGE_BYTES

SETTLED = {ImageStatus.INDEXED, ImageStatus.FAILED, ImageStatus.DELETED}


class AuthedRequest(HttpRequest):
    """A request behind `login_required`: its user is a real account."""

    user: User


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def is_fragment(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def add_errors(form: Form, exc: ValidationError) -> None:
    """Put a service's ValidationError beside the field it names, or above the form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
    else:
        form.add_error(None, exc)


def next_url(request: HttpRequest, fallback: str) -> str:
    """The `next` the page was given, if it stays on this site; else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return target
    return fallback


def search_key(request: AuthedRequest, library: Library, token: str) -> str:
    """Where a search keeps its query image for paging: per user, library and image."""
    return f"tuku-search:{request.user.pk}:{library.pk}:{token}"


def upload_limit(library: Library) -> int:
    """The largest file the library's wire takes: Baidu's 3 MiB, Alibaba's 4 MiB."""
    return MAX_PIC_BYTES if library.is_instance else MAX_IMAGE_BYTES


def read_upload(upload: UploadedFile, limit: int = MAX_IMAGE_BYTES) -> bytes | None:
    """The file's bytes, or None when it is larger than `limit` (not read in full)."""
    if upload.size is not None and upload.size > limit:
        return None
    data = upload.read(limit + 1)
    return None if len(data) > limit else data


def image_json(image: Image, service: str) -> dict[str, Any]:
    """One row as the upload, batch and preview pages poll it."""
    out: dict[str, Any] = {
        "id": image.pk,
        "status": image.status,
        "status_label": image.status_label,
        "waiting": image.waiting,
        "done": image.status in SETTLED and not image.pending_update,
        "pending_update": bool(image.pending_update),
        "url": reverse("gallery:image", args=[image.pk]),
        "thumbnail": reverse("gallery:image-thumbnail", args=[image.pk]),
        "brief": image.brief,
        "cont_sign": image.cont_sign or "",
    }
    if image.error_code:
        out["error"] = explained(image.error_code, image.error_msg, service).as_json()
    if image.duplicate_of_id:
        out["duplicate"] = {
            "id": image.duplicate_of_id,
            "url": reverse("gallery:image", args=[image.duplicate_of_id]),
        }
    return out


def refusal_json(
    name: str,
    code: object,
    message: str,
    service: str,
    duplicate: tuple[int, str] | None,
    proposal: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The result line of an input that did not become a row (`duplicate`: id and brief of
    the row that already holds the same bytes; `proposal`: the brief and labels the input
    would have had, offered on that row's edit form by `update_url`)."""
    line: dict[str, Any] = {
        "name": name,
        "ok": False,
        "error": explained(code if code is not None else "", message, service).as_json(),
    }
    if duplicate is not None:
        pk, brief = duplicate
        url = reverse("gallery:image", args=[pk])
        line["duplicate"] = {"id": pk, "url": url, "brief": brief}
        if proposal:
            line["duplicate"]["update_url"] = f"{url}?{urlencode(proposal)}#edit"
    return line


def counted(n: int) -> str:
    """A count as the viewer's locale writes it (grouped where the locale groups digits)."""
    return number_format(n, use_l10n=True, force_grouping=True)


def problem_json(problem: dict[str, Any], service: str) -> dict[str, Any]:
    """A refused input of a batch, as stored on the batch (`duplicate` is a row id there)."""
    name = problem.get("name", "")
    duplicate = problem.get("duplicate")
    # Problems stored before the brief was kept name only the file.
    brief = problem.get("duplicate_brief") or name
    return refusal_json(
        name,
        problem.get("code") or "",
        render_stored(problem.get("message", ""), problem.get("text")),
        service,
        (duplicate, brief) if duplicate else None,
        problem.get("proposal"),
    )
