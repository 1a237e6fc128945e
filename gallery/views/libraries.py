"""Library pages: creating one and expanding it (on the application page), the listing with its
filters, and the bulk actions on selected images."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from gallery.access import can, get_application, get_library
from gallery.forms import (
    BulkForm,
    CapacityForm,
    InstanceForm,
    LabelsForm,
    LibraryForm,
    ListingForm,
    PictureSearchForm,
    SearchForm,
)
from gallery.models import DEFAULT_CAPACITY, ImageStatus, Library, Role
from gallery.selectors import batches, counts, images, listing
from gallery.services.images import BulkAction, images_bulk
from gallery.services.libraries import library_create, library_set_capacity
from gallery.services.mirror import library_mirror_request
from gallery.views.applications import detail_context
from gallery.views.helpers import AuthedRequest, add_errors, counted, next_url


@login_required
@require_POST
def library_new(request: AuthedRequest, application_id: int) -> HttpResponse:
    application, role = get_application(request.user, application_id, Role.OWNER)
    form: LibraryForm | InstanceForm = (
        InstanceForm(request.POST) if application.aliyun else LibraryForm(request.POST)
    )
    if form.is_valid():
        data = form.cleaned_data
        try:
            library = library_create(
                actor=request.user,
                application=application,
                service=data.get("service") or "",
                capacity=data.get("capacity") or DEFAULT_CAPACITY,
                instance_name=data.get("instance_name", ""),
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("Library “%s” is ready.") % library)
            return redirect("gallery:library", library.pk)
    context = detail_context(request, application, role, library_form=form)
    return render(request, "gallery/application_detail.html", context, status=400)


@login_required
@require_POST
def library_capacity(request: AuthedRequest, library_id: int) -> HttpResponse:
    library, role = get_library(request.user, library_id, Role.OWNER)
    form = CapacityForm(request.POST)
    if form.is_valid():
        try:
            library_set_capacity(
                actor=request.user, library=library, capacity=form.cleaned_data["capacity"]
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("Capacity is now %(n)s.") % {"n": f"{library.capacity:,}"})
            fallback = reverse("gallery:application", args=[library.application_id])
            return redirect(next_url(request, fallback))
    context = detail_context(
        request, library.application, role, capacity_form=form, capacity_for=library.pk
    )
    return render(request, "gallery/application_detail.html", context, status=400)


def _listing_filters(form: ListingForm) -> listing.ListingFilter:
    form.is_valid()  # an invalid field is reported beside itself and left out of the filter
    data = form.cleaned_data
    return listing.ListingFilter(
        tags=tuple(data.get("tags") or ()),
        tag_logic=data.get("tag_logic") or 0,
        class_id1=data.get("class_id1"),
        class_id2=data.get("class_id2"),
        status=data.get("status") or "",
        q=(data.get("q") or "").strip(),
        sort=data.get("sort") or "new",
        product_id=(data.get("product_id") or "").strip(),
    )


def _library_header(library: Library) -> dict[str, Any]:
    """Counts by status from our rows; the total from the backend where it knows it cheaply
    (the built-in engine also holds images other clients added through the API)."""
    by_status = counts.library_counts(library)
    size = counts.library_backend_size(library)
    if size is not None:  # the backend still holds the rows being deleted, not for long
        size = max(0, size - by_status.get(ImageStatus.DELETING))
    return {"counts": by_status, "count": by_status.total if size is None else size}


@login_required
@require_GET
def library_detail(request: AuthedRequest, library_id: int) -> HttpResponse:
    library, role = get_library(request.user, library_id)
    # Images other clients added through the API are mirrored by a task, not by this GET.
    library_mirror_request(library=library)
    form = ListingForm(request.GET or None, library=library)
    filters = _listing_filters(form) if request.GET else listing.ListingFilter()
    data = form.cleaned_data if request.GET else {}
    page = listing.library_page(
        library=library,
        filters=filters,
        after=data.get("after") or "",
        before=data.get("before") or "",
    )
    several = bool(page.next_cursor or page.prev_cursor)
    matches = (
        listing.library_matches(library=library, filters=filters)
        if filters.active or (several and can(role, Role.EDITOR))
        else None
    )
    context = {
        "library": library,
        "application": library.application,
        "form": form,
        "filters": filters,
        "page": page,
        "can_edit": can(role, Role.EDITOR),
        "is_owner": can(role, Role.OWNER),
        "search_form": PictureSearchForm(library=library)
        if library.is_instance
        else SearchForm(library=library),
        "retag_form": LabelsForm(library=library),
        "statuses": [s for s in ImageStatus if s != ImageStatus.DELETED],
        "batches": batches.library_batches(library, 5),
        "matches": matches if filters.active else None,
        # "Select all N matching" is offered when the set is more than this page.
        "selectable": matches if several else None,
        "match_fields": _match_fields(form),
        **_library_header(library),
    }
    return render(request, "gallery/library.html", context)


# Filter fields a bulk action on "all matching" carries, prefixed (the bulk bar has its own
# `tags` field, the new tags of a re-tag).
MATCH_PREFIX = "match"
_MATCH_FIELDS = ("tags", "tag_logic", "class_id1", "class_id2", "status", "q", "product_id")


def _match_fields(form: ListingForm) -> list[tuple[str, str]]:
    """The filters `form` was given, as the hidden fields of a bulk form: (name, value)."""
    return [
        (f"{MATCH_PREFIX}-{name}", str(form.data[form.add_prefix(name)]))
        for name in _MATCH_FIELDS
        if name in form.fields and form.data.get(form.add_prefix(name))
    ]


@login_required
@require_POST
def library_bulk(request: AuthedRequest, library_id: int) -> HttpResponse:
    library, _role = get_library(request.user, library_id, Role.EDITOR)
    back = next_url(request, reverse("gallery:library", args=[library.pk]))
    form = BulkForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Select at least one image."))
        return redirect(back)
    action = BulkAction(form.cleaned_data["action"])
    match_form = ListingForm(request.POST, library=library, prefix=MATCH_PREFIX)
    if form.matching:
        if not match_form.is_valid():
            # Left out, a bad filter would widen the set: refuse instead.
            messages.error(request, _("The filters changed; apply them again."))
            return redirect(back)
        # Never the page's ids: the set is read again from the filters, now.
        ids = listing.library_matching_ids(library=library, filters=_listing_filters(match_form))
    else:
        ids = [row.pk for row in images.images_selected(library, form.cleaned_data["ids"])]
    if not ids:
        messages.error(request, _("None of the selected images is in this library any more."))
        return redirect(back)
    labels = None
    if action == BulkAction.RETAG:
        labels_form = LabelsForm(request.POST, library=library)
        if not labels_form.is_valid() or not labels_form.labels_given:
            errors = [e for errs in labels_form.errors.values() for e in errs]
            messages.error(
                request,
                " ".join(str(e) for e in errors)
                or _("Enter the tags (or class ids) to give them."),
            )
            return redirect(back)
        labels = labels_form.labels
    if action in (BulkAction.DELETE, BulkAction.UNTAG):
        expected = form.cleaned_data.get("expected")
        changed = expected is not None and expected != len(ids)
        if not form.cleaned_data["confirmed"] or changed:
            shown = images.images_selected(library, ids[-60:])
            context = {
                "library": library,
                "action": action.value,
                "count": len(ids),
                "rows": shown,
                "more": len(ids) - len(shown),
                "ids": [] if form.matching else ids,
                "matching": form.matching,
                "match_fields": _match_fields(match_form) if form.matching else [],
                "changed": changed,
                "next": back,
            }
            return render(request, "gallery/confirm_bulk_delete.html", context)
    outcome = images_bulk(
        actor=request.user, library=library, action=action, ids=ids, labels=labels
    )
    if outcome.queued:
        messages.success(
            request,
            _(
                "%(n)s images are being done in the background; reload the page to see "
                "how far it got."
            )
            % {"n": f"{outcome.queued:,}"},
        )
        return redirect(back)
    result = outcome.result
    assert result is not None
    if action == BulkAction.DELETE:
        messages.success(
            request,
            ngettext("%(n)s image deleted.", "%(n)s images deleted.", result.changed)
            % {"n": counted(result.changed)},
        )
    elif action == BulkAction.REPUSH:
        if result.changed:
            messages.success(
                request,
                ngettext(
                    "%(n)s image queued to be pushed again.",
                    "%(n)s images queued to be pushed again.",
                    result.changed,
                )
                % {"n": counted(result.changed)},
            )
        else:
            messages.error(request, _("None of the selected images has failed."))
    elif action == BulkAction.UNTAG:
        if result.changed:
            messages.success(
                request,
                ngettext(
                    "The labels of %(n)s image are cleared.",
                    "The labels of %(n)s images are cleared.",
                    result.changed,
                )
                % {"n": counted(result.changed)},
            )
        elif not result.errors:
            messages.error(request, _("None of the selected images has tags or class ids."))
    elif result.changed:
        messages.success(
            request,
            ngettext("%(n)s image re-tagged.", "%(n)s images re-tagged.", result.changed)
            % {"n": counted(result.changed)},
        )
    for image, error in result.errors[:10]:
        messages.error(request, f"{image.brief}: {error}")
    return redirect(back)


@login_required
@require_GET
def library_products(request: AuthedRequest, library_id: int) -> HttpResponse:
    """An instance's pictures grouped by product, each linked to its pictures in the listing."""
    library, role = get_library(request.user, library_id)
    if not library.is_instance:
        raise Http404
    page = listing.library_products(library=library, after=request.GET.get("after", "")[:256])
    context = {
        "library": library,
        "application": library.application,
        "page": page,
        "can_edit": can(role, Role.EDITOR),
    }
    return render(request, "gallery/library_products.html", context)
