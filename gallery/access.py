"""The one place where Membership roles are enforced.

A user who is not a member gets 404 for an application and everything under it, so nothing
leaks about its existence; a member whose role is too low for the action gets 403.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from gallery.models import ROLE_RANK, Application, Batch, Image, Library, Membership, Role

User = AbstractBaseUser | AnonymousUser


def role_of(user: Any, application: Application) -> Role | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.OWNER
    role = (
        Membership.objects.filter(user=user, application=application)
        .values_list("role", flat=True)
        .first()
    )
    return Role(role) if role else None


def require_role(user: Any, application: Application, role: Role) -> Role:
    actual = role_of(user, application)
    if actual is None:
        raise Http404
    if ROLE_RANK[actual] < ROLE_RANK[role]:
        raise PermissionDenied
    return actual


def applications_for(user: Any) -> QuerySet[Application]:
    if user.is_superuser:
        return Application.objects.all()
    return Application.objects.filter(memberships__user=user)


def get_application(user: Any, application_id: int, role: Role = Role.VIEWER) -> Application:
    application = Application.objects.filter(pk=application_id).first()
    if application is None:
        raise Http404
    require_role(user, application, role)
    return application


def get_library(user: Any, library_id: int, role: Role = Role.VIEWER) -> Library:
    library = Library.objects.select_related("application").filter(pk=library_id).first()
    if library is None:
        raise Http404
    require_role(user, library.application, role)
    return library


def get_image(user: Any, image_id: int, role: Role = Role.VIEWER) -> Image:
    image = (
        Image.objects.select_related("library__application")
        .exclude(status="deleted")
        .filter(pk=image_id)
        .first()
    )
    if image is None:
        raise Http404
    require_role(user, image.library.application, role)
    return image


def get_batch(user: Any, batch_id: int, role: Role = Role.VIEWER) -> Batch:
    batch = Batch.objects.select_related("library__application").filter(pk=batch_id).first()
    if batch is None:
        raise Http404
    require_role(user, batch.library.application, role)
    return batch


def editable_libraries(user: Any, service: str) -> QuerySet[Library]:
    """Libraries of one service on applications where the user may upload."""
    libraries = Library.objects.filter(service=service).select_related("application")
    if user.is_superuser:
        return libraries
    return libraries.filter(
        application__memberships__user=user,
        application__memberships__role__in=[Role.EDITOR, Role.OWNER],
    )
