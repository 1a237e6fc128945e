"""Applications and libraries over their life (owners): rename, new hosted keys after a
rotation in the cloud's console, and deletion confirmed by typing the name."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from gallery.access import get_application, get_library
from gallery.backends import backend_class
from gallery.explain import explained
from gallery.forms import DeleteForm, KeysForm, RenameForm
from gallery.models import Role
from gallery.selectors import counts
from gallery.services.applications import KeysRefused, application_change_keys, application_rename
from gallery.services.libraries import library_rename
from gallery.services.removal import application_delete, library_delete
from gallery.views.helpers import AuthedRequest, add_errors


@login_required
def application_rename_view(request: AuthedRequest, application_id: int) -> HttpResponse:
    application, _role = get_application(request.user, application_id, Role.OWNER)
    posted = request.method == "POST"
    form = RenameForm(request.POST if posted else None, initial={"name": application.name})
    if posted and form.is_valid():
        try:
            application_rename(
                actor=request.user, application=application, name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("Renamed “%s”.") % application.name)
            return redirect("gallery:application", application.pk)
    application.refresh_from_db(fields=["name"])
    context = {"application": application, "form": form}
    return render(
        request, "gallery/application_rename.html", context, status=400 if posted else 200
    )


@login_required
def application_keys(request: AuthedRequest, application_id: int) -> HttpResponse:
    """A hosted application's new keys: tested against the backend, then saved (console §3.1).
    A refusal shows the backend's code and message; the typed secret never comes back."""
    application, _role = get_application(request.user, application_id, Role.OWNER)
    if backend_class(application.backend).issues_keys:
        raise Http404  # the engine's keys are rotated (application_rotate)
    posted = request.method == "POST"
    form = KeysForm(
        request.POST if posted else None,
        aliyun=application.aliyun,
        initial={"api_key": application.api_key},
    )
    refused = None
    if posted and form.is_valid():
        try:
            application_change_keys(
                actor=request.user,
                application=application,
                api_key=form.cleaned_data["api_key"],
                secret_key=form.cleaned_data["secret_key"],
            )
        except KeysRefused as exc:
            refused = explained(exc.error.error_code, exc.error.error_msg)
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("New keys saved; they were tested first."))
            return redirect("gallery:application", application.pk)
        application.refresh_from_db()
    context = {"application": application, "form": form, "refused": refused}
    return render(request, "gallery/application_keys.html", context, status=400 if posted else 200)


@login_required
def application_delete_view(request: AuthedRequest, application_id: int) -> HttpResponse:
    application, _role = get_application(request.user, application_id, Role.OWNER)
    posted = request.method == "POST"
    form = DeleteForm(request.POST if posted else None)
    if posted and form.is_valid():
        name = application.name
        try:
            jobs = application_delete(
                actor=request.user, application=application, confirm=form.cleaned_data["confirm"]
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            if jobs:
                messages.info(
                    request,
                    _(
                        "“%s” is being deleted: its images are being deleted from the backend, "
                        "then it disappears from this list."
                    )
                    % name,
                )
            else:
                messages.success(request, _("Application “%s” deleted.") % name)
            return redirect("gallery:home")
    libraries = counts.application_library_counts(application)
    context = {
        "application": application,
        "form": form,
        "libraries": libraries,
        "images": sum(n for _lib, n in libraries),
        "builtin": application.builtin,
    }
    return render(
        request, "gallery/application_delete.html", context, status=400 if posted else 200
    )


@login_required
def library_rename_view(request: AuthedRequest, library_id: int) -> HttpResponse:
    library, _role = get_library(request.user, library_id, Role.OWNER)
    posted = request.method == "POST"
    form = RenameForm(request.POST if posted else None, initial={"name": library.name})
    if posted and form.is_valid():
        try:
            library_rename(actor=request.user, library=library, name=form.cleaned_data["name"])
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("The library is now named “%s”.") % library.display_name)
            return redirect("gallery:library", library.pk)
    library.refresh_from_db(fields=["name"])
    context = {"library": library, "application": library.application, "form": form}
    return render(request, "gallery/library_rename.html", context, status=400 if posted else 200)


@login_required
def library_delete_view(request: AuthedRequest, library_id: int) -> HttpResponse:
    library, _role = get_library(request.user, library_id, Role.OWNER)
    posted = request.method == "POST"
    form = DeleteForm(request.POST if posted else None)
    application = library.application
    if posted and form.is_valid():
        name = library.display_name
        try:
            batch = library_delete(
                actor=request.user, library=library, confirm=form.cleaned_data["confirm"]
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            if batch is not None:
                messages.info(
                    request,
                    _(
                        "“%s” is being deleted: its images are being deleted from the backend, "
                        "then it disappears from this page."
                    )
                    % name,
                )
            else:
                messages.success(request, _("Library “%s” deleted.") % name)
            return redirect("gallery:application", application.pk)
    by_status = counts.library_counts(library)
    context = {
        "library": library,
        "application": application,
        "form": form,
        "count": by_status.total,
        "originals": library.images.listed().exclude(original="").count(),
        "builtin": application.builtin,
    }
    return render(request, "gallery/library_delete.html", context, status=400 if posted else 200)
