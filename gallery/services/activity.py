"""The activity log: who did what to which object. Written by services, never by signals."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User

from gallery.models import Activity, ActivityVerb, Application

# The user a request or a job acts for; None for the system (the sweeper, a task).
Actor = User | AnonymousUser | None


def acting_user(actor: Actor) -> User | None:
    """The user to store on a row; None for anonymous or system actions."""
    return actor if isinstance(actor, User) else None


def activity_record(
    *,
    actor: Actor,
    application: Application | None,
    verb: ActivityVerb,
    obj: Any,
    **detail: Any,
) -> None:
    Activity.objects.create(
        actor=acting_user(actor),
        application=application,
        verb=verb,
        object_type=type(obj).__name__.lower(),
        object_id=getattr(obj, "pk", None),
        object_repr=str(obj)[:300],
        detail=detail,
    )
