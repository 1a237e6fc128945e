"""The activity log: who did what to which object. Written by services, never by signals."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User

from gallery.models import Activity, ActivityVerb, Application
from gallery.narrate import EDIT_DONE, EDIT_FAILED, EDIT_WAITING

__all__ = ["EDIT_DONE", "EDIT_FAILED", "EDIT_WAITING", "Actor", "activity_record"]

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


def _waiting_edits(image_id: int) -> Any:
    return Activity.objects.filter(
        object_type="image",
        object_id=image_id,
        verb=ActivityVerb.IMAGE_EDIT,
        detail__outcome=EDIT_WAITING,
    )


def activity_edits_last_waiting(*, image_id: int) -> int:
    """The newest entry of an edit of the image still waiting for the backend (0: none). A
    task reads it before it reads the edit it sends, so that an edit made while its call is
    out is not settled by that call's answer."""
    return _waiting_edits(image_id).order_by("-pk").values_list("pk", flat=True).first() or 0


def activity_edits_settle(
    *,
    image_id: int,
    outcome: str,
    upto: int | None = None,
    error_code: object = "",
    error_msg: str = "",
) -> int:
    """Say in the history how the edits of an image that waited for the backend went: done,
    or failed with the backend's error (refused, or the image gone). `upto`: only entries up
    to that one (the others wait for a later call). Returns how many entries were settled."""
    rows = _waiting_edits(image_id)
    if upto is not None:
        rows = rows.filter(pk__lte=upto)
    settled = 0
    for row in rows.select_for_update():
        row.detail = {**row.detail, "outcome": outcome}
        if outcome == EDIT_FAILED and error_code not in ("", None):
            row.detail.update(error_code=str(error_code), error_msg=error_msg[:255])
        row.save(update_fields=["detail"])
        settled += 1
    return settled
