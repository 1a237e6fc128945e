"""The pages only an Alibaba instance has: its search box (every option of SearchImageByPic, the
subject box drawn on the query), "search with this picture" (SearchImageByName), "is this
picture here?" (CheckImageExists) and the comparison of two pictures (CompareSimilarByImage).

A search is a POST that keeps the query picture for a few minutes and redirects to a GET page of
results, as a Baidu library's search does (gallery/views/search.py), so a results page can be
reloaded, paged and searched again with another box without sending the picture again.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from PIL import Image as PILImage

from gallery.access import can, get_image, get_library
from gallery.explain import explained
from gallery.forms import CompareForm, PictureCheckForm, PictureSearchForm
from gallery.images import ImageInvalid
from gallery.models import Image, Library, Role
from gallery.services import search
from gallery.views.helpers import (
    AuthedRequest,
    add_errors,
    read_upload,
    search_key,
    upload_limit,
)
from searchapi.errors import ApiError
from wire.aliyun import MAX_RESULTS
from wire.urlfetch import FetchError

SEARCH_TTL = 15 * 60  # seconds a query picture is kept for paging and searching again


def _picture_of(request: AuthedRequest, library: Library, form: PictureSearchForm) -> bytes | None:
    """The bytes of an uploaded file or a URL, kept under a token; errors beside the fields."""
    upload = form.cleaned_data.get("image")
    url = (form.cleaned_data.get("url") or "").strip()
    if upload:
        data = read_upload(upload, upload_limit(library))
        if data is None:
            form.add_error("image", _("The file is larger than 4 MiB."))
        return data
    if url:
        try:
            return search.query_image_fetch(url)
        except FetchError as exc:
            form.add_error("url", f"{exc.code} {exc.error_msg}: {exc.detail}")
            return None
    form.add_error("image", _("Choose a picture, paste one, take a photo or give a URL."))
    return None


def _cached(request: AuthedRequest, library: Library, token: str) -> bytes | None:
    data = cache.get(search_key(request, library, token)) if token else None
    return data if isinstance(data, bytes) else None


def _query_params(form: PictureSearchForm, source: dict[str, str]) -> dict[str, Any]:
    """The results page's query string: where the picture is, then every option given."""
    params: dict[str, Any] = dict(source)
    for name, value in form.cleaned_data.items():
        if name in ("image", "url", "q", "image_id", "region") or value in (None, "", False):
            continue
        params[name] = "1" if value is True else value
    region = form.cleaned_data.get("region")
    if region:
        params["region"] = ",".join(str(v) for v in region)
    return params


def instance_search(request: AuthedRequest, library: Library, role: Role) -> HttpResponse:
    if request.method != "POST":
        form = PictureSearchForm(request.GET or None, library=library)
        return _results_page(request, library, role, form)
    form = PictureSearchForm(request.POST, request.FILES, library=library)
    if form.is_valid():
        source = _source(request, library, form)
        if source is not None:
            search.library_search_record(actor=request.user, library=library)
            url = reverse("gallery:search", args=[library.pk])
            return HttpResponseRedirect(f"{url}?{urlencode(_query_params(form, source))}")
    return _results_page(request, library, role, form, status=400)


def _source(
    request: AuthedRequest, library: Library, form: PictureSearchForm
) -> dict[str, str] | None:
    """A stored picture of the instance (searched by name), the picture of an earlier search
    (searched again, with another box say), or a new file or URL."""
    data = form.cleaned_data
    new = data.get("image") or (data.get("url") or "").strip()
    if data.get("image_id") and not new:
        image, _role = get_image(request.user, data["image_id"])
        return {"image_id": str(image.pk)}
    if data.get("q") and not new and _cached(request, library, data["q"]) is not None:
        return {"q": data["q"]}
    picture = _picture_of(request, library, form)
    if picture is None:
        return None
    token = hashlib.sha256(picture).hexdigest()[:32]
    cache.set(search_key(request, library, token), picture, SEARCH_TTL)
    return {"q": token}


def _results_page(
    request: AuthedRequest,
    library: Library,
    role: Role,
    form: PictureSearchForm,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        "library": library,
        "application": library.application,
        "form": form,
        "search_form": form,
        "outcome": None,
        "can_edit": can(role, Role.EDITOR),
    }
    token, image_id = request.GET.get("q", ""), request.GET.get("image_id", "")
    if request.method == "GET" and (token or image_id) and form.is_valid():
        status = _run(request, library, form, token, image_id, context)
    return render(request, "gallery/instance_search.html", context, status=status)


def _run(
    request: AuthedRequest,
    library: Library,
    form: PictureSearchForm,
    token: str,
    image_id: str,
    context: dict[str, Any],
) -> int:
    named: Image | None = None
    data: bytes | None = None
    if image_id.isdigit():
        named, _role = get_image(request.user, int(image_id))
        if named.library_id != library.pk or not hasattr(named, "picture"):
            form.add_error("image", _("That picture is not in this instance."))
            return 400
    else:
        data = _cached(request, library, token)
        if data is None:
            form.add_error("image", _("The query picture has expired; choose it again."))
            return 400
    query = form.query
    try:
        outcome = search.instance_search(library=library, query=query, data=data, of=named)
    except ImageInvalid as exc:
        form.add_error("image", exc.message)
        return 400
    except ValidationError as exc:
        add_errors(form, exc)
        return 400
    except ApiError as exc:
        context["error"] = explained(exc.error_code, exc.error_msg, library.service)
        return 502
    pager = request.GET.copy()
    nxt = prev = None
    end = query.start + query.num
    if end < min(outcome.total, MAX_RESULTS):
        pager["start"] = str(end)
        nxt = pager.urlencode()
    if query.start > 0:
        pager["start"] = str(max(0, query.start - query.num))
        prev = pager.urlencode()
    info = outcome.pic_info
    width, height = (named.width, named.height) if named is not None else _size(data or b"")
    context.update(
        query_width=width,
        query_height=height,
        outcome=outcome,
        query_token=token,
        query_image=named,
        start=query.start,
        next_query=nxt,
        prev_query=prev,
        used_region=",".join(str(v) for v in info.region) if info and info.region else "",
        detected=[",".join(str(v) for v in box) for box in info.multi_region] if info else [],
        used_category=info.category_id if info else None,
    )
    return 200


def _size(data: bytes) -> tuple[int, int]:
    """The query picture's pixels, which the boxes drawn over it are in (it decoded already)."""
    with PILImage.open(io.BytesIO(data)) as picture:
        return picture.size


@login_required
def instance_check(request: AuthedRequest, library_id: int) -> HttpResponse:
    """ "Is this picture already here?": the instance asked by ProductId and PicName."""
    library, _role = get_library(request.user, library_id)
    form = PictureCheckForm(request.POST or None)
    context: dict[str, Any] = {"library": library, "application": library.application, "form": form}
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                context["match"] = search.instance_check(
                    library=library,
                    product_id=form.cleaned_data["product_id"].strip(),
                    pic_name=form.cleaned_data["pic_name"].strip(),
                )
            except ApiError as exc:
                context["error"] = explained(exc.error_code, exc.error_msg, library.service)
                status = 502
            else:
                context["checked"] = True
                status = 200
    return render(request, "gallery/instance_check.html", context, status=status)


@login_required
def instance_compare(request: AuthedRequest, library_id: int) -> HttpResponse:
    """Two pictures scored against each other by the instance's own scoring."""
    library, _role = get_library(request.user, library_id)
    form = CompareForm(request.POST or None, request.FILES or None)
    context: dict[str, Any] = {"library": library, "application": library.application, "form": form}
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            limit = upload_limit(library)
            first = read_upload(form.cleaned_data["first"], limit)
            second = read_upload(form.cleaned_data["second"], limit)
            for name, data in (("first", first), ("second", second)):
                if data is None:
                    form.add_error(name, _("The file is larger than 4 MiB."))
            if first is not None and second is not None:
                try:
                    context["score"] = search.instance_compare(
                        library=library, first=first, second=second
                    )
                    # The file fields come back empty: the result says what it compared.
                    context["compared"] = (
                        form.cleaned_data["first"].name,
                        form.cleaned_data["second"].name,
                    )
                    status = 200
                except ImageInvalid as exc:
                    form.add_error(None, exc.message)
                except ApiError as exc:
                    context["error"] = explained(exc.error_code, exc.error_msg, library.service)
                    status = 502
    return render(request, "gallery/instance_compare.html", context, status=status)
