"""Searching a library with an image, and "is this image already here?".

A search is a POST that keeps the query image for a few minutes and redirects to a GET page of
results, so the page can be reloaded and paged through; only the POST records the search.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from gallery.access import can, get_image, get_library
from gallery.explain import explained
from gallery.forms import CheckForm, SearchForm
from gallery.images import ImageInvalid
from gallery.models import Library, Role
from gallery.services import search
from gallery.views import pictures
from gallery.views.helpers import AuthedRequest, add_errors, is_fragment, read_upload, search_key
from searchapi.errors import ApiError
from wire.urlfetch import FetchError

SEARCH_TTL = 15 * 60  # seconds a query image is kept for paging through its results
MAX_POSITION = 1000  # the API pages through the first 1,000 results only (pn + rn)


def _query_image(library: Library, form: SearchForm | CheckForm) -> bytes | None:
    """The bytes of an uploaded query file or of the URL; errors go beside the fields."""
    upload = form.cleaned_data.get("image")
    url = (form.cleaned_data.get("url") or "").strip()
    if upload:
        data = read_upload(upload)
        if data is None:
            form.add_error("image", _("The file is larger than 3 MiB."))
        return data
    if url:
        try:
            data = search.query_image_fetch(url)
        except FetchError as exc:
            form.add_error(
                "url",
                f"{exc.code} {exc.error_msg}: {exc.detail} "
                + explained(exc.code, "", library.service).explanation,
            )
            return None
        return data
    form.add_error("image", _("Choose an image, paste one, take a photo or give a URL."))
    return None


def _search_params(form: SearchForm, query: dict[str, str]) -> dict[str, Any]:
    data = form.cleaned_data
    params: dict[str, Any] = dict(query)
    if data.get("tags"):
        params["tags"] = ",".join(str(t) for t in data["tags"])
        params["tag_logic"] = data.get("tag_logic") or 0
    for name in ("class_id1", "class_id2", "rn", "min_score"):
        if data.get(name) is not None:
            params[name] = data[name]
    return params


@login_required
def library_search(request: AuthedRequest, library_id: int) -> HttpResponse:
    library, role = get_library(request.user, library_id)
    if library.is_instance:
        return pictures.instance_search(request, library, role)
    if request.method != "POST":
        form = SearchForm(request.GET or None, library=library)
        return _search_page(request, library, role, form)
    form = SearchForm(request.POST, request.FILES, library=library)
    if form.is_valid():
        query = _submitted_query(request, library, form)
        if query is not None:
            search.library_search_record(actor=request.user, library=library)
            url = reverse("gallery:search", args=[library.pk])
            return HttpResponseRedirect(f"{url}?{urlencode(_search_params(form, query))}")
    return _search_page(request, library, role, form, status=400)


def _submitted_query(
    request: AuthedRequest, library: Library, form: SearchForm
) -> dict[str, str] | None:
    """Where the results page finds the query image: a stored image of the library (the image
    page's "search with this image"), or a file or URL kept in the cache under a token."""
    image_id = request.POST.get("image_id", "")
    if (
        image_id.isdigit()
        and not form.cleaned_data.get("image")
        and not form.cleaned_data.get("url")
    ):
        image, _role = get_image(request.user, int(image_id))
        return {"image_id": str(image.pk)}
    data = _query_image(library, form)
    if data is None:
        return None
    token = hashlib.sha256(data).hexdigest()[:32]
    cache.set(search_key(request, library, token), data, SEARCH_TTL)
    return {"q": token}


def _search_page(
    request: AuthedRequest, library: Library, role: Role, form: SearchForm, status: int = 200
) -> HttpResponse:
    context: dict[str, Any] = {
        "library": library,
        "application": library.application,
        "form": form,
        "outcome": None,
        "can_edit": can(role, Role.EDITOR),
    }
    token = request.GET.get("q", "")
    image_id = request.GET.get("image_id", "")
    if request.method == "GET" and (token or image_id) and form.is_valid():
        data = _stored_query(request, library, token, image_id)
        if data is None:
            form.add_error("image", _("The query image has expired; choose it again."))
            status = 400
        else:
            status = _run_search(request, library, form, data, context)
            context.update(query_token=token, query_image_id=image_id)
    return render(request, "gallery/search.html", context, status=status)


def _run_search(
    request: AuthedRequest,
    library: Library,
    form: SearchForm,
    data: bytes,
    context: dict[str, Any],
) -> int:
    """Search and put the outcome (or what went wrong) into `context`; the page's status."""
    options = form.cleaned_data
    rn = options.get("rn") or 50
    pn = options.get("pn") or 0
    try:
        outcome = search.library_search(
            library=library,
            data=data,
            labels=form.labels,
            tag_logic=options.get("tag_logic") or 0,
            pn=pn,
            rn=min(rn, MAX_POSITION - pn),
        )
    except ImageInvalid as exc:
        form.add_error("image", exc.message)
        return 400
    except ValidationError as exc:
        add_errors(form, exc)
        return 400
    except ApiError as exc:
        context["error"] = explained(exc.error_code, exc.error_msg, library.service)
        return 502
    query = request.GET.copy()
    nxt = prev = None
    if outcome.has_more and pn + rn < MAX_POSITION:
        query["pn"] = str(pn + rn)
        nxt = query.urlencode()
    if pn > 0:
        query["pn"] = str(max(0, pn - rn))
        prev = query.urlencode()
    context.update(
        outcome=outcome,
        pn=pn,
        rn=rn,
        next_query=nxt,
        prev_query=prev,
        deleted_count=sum(1 for m in outcome.matches if m.deleted),
        min_score=options.get("min_score") or 0,
        show_deleted=request.GET.get("show_deleted") == "1",
    )
    return 200


def _stored_query(
    request: AuthedRequest, library: Library, token: str, image_id: str
) -> bytes | None:
    if image_id.isdigit():
        image, _role = get_image(request.user, int(image_id))
        return search.query_image_of(image)
    data = cache.get(search_key(request, library, token))
    return data if isinstance(data, bytes) else None


@login_required
@require_GET
def search_query_image(request: AuthedRequest, library_id: int) -> HttpResponse:
    """The query image of a search page (kept for a few minutes, per user)."""
    library, _role = get_library(request.user, library_id)
    data = cache.get(search_key(request, library, request.GET.get("q", "")))
    if not isinstance(data, bytes):
        raise Http404
    response = HttpResponse(data, content_type=_content_type(data))
    response["Cache-Control"] = "private, max-age=600"
    return response


_CONTENT_TYPES = (
    (b"\x89PNG", "image/png"),
    (b"BM", "image/bmp"),
    (b"GIF8", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"P6", "image/x-portable-pixmap"),
)


def _content_type(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _CONTENT_TYPES if data.startswith(magic)), "image/jpeg")


@login_required
@require_POST
def library_check(request: AuthedRequest, library_id: int) -> HttpResponse:
    """ "Is this image already here?" (console §3.10)."""
    library, _role = get_library(request.user, library_id)
    form = CheckForm(request.POST, request.FILES)
    outcome = None
    error = None
    if form.is_valid():
        data = _query_image(library, form)
        if data is not None:
            try:
                outcome = search.library_check(actor=request.user, library=library, data=data)
            except ImageInvalid as exc:
                form.add_error("image", exc.message)
            except ApiError as exc:
                error = explained(exc.error_code, exc.error_msg, library.service)
    context = {"library": library, "form": form, "outcome": outcome, "error": error}
    template = "gallery/_check_result.html" if is_fragment(request) else "gallery/check.html"
    status = 200 if outcome is not None else 400
    return render(request, template, context, status=status)
