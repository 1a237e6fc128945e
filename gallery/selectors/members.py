"""Who belongs to an application."""

from __future__ import annotations

from gallery.models import Application, Membership


def application_members(application: Application) -> list[Membership]:
    return list(
        Membership.objects.filter(application=application)
        .select_related("user", "user__password_link")
        .order_by("user__username")
    )


def membership_get(application: Application, user_id: int) -> Membership | None:
    return (
        Membership.objects.filter(application=application, user_id=user_id)
        .select_related("user")
        .first()
    )
