"""Who may use an application, and with which role; an application always keeps an owner."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from gallery.models import ActivityVerb, Application, Membership, Role
from gallery.services.activity import Actor, activity_record


def _require_owner(application: Application) -> None:
    if not Membership.objects.filter(application=application, role=Role.OWNER).exists():
        raise ValidationError(_("An application needs at least one owner."))


def membership_set(*, actor: Actor, application: Application, user: User, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    with transaction.atomic():
        held = (
            Membership.objects.select_for_update()
            .filter(user=user, application=application)
            .values_list("role", flat=True)
            .first()
        )
        membership, _created = Membership.objects.update_or_create(
            user=user, application=application, defaults={"role": role}
        )
        _require_owner(application)
        activity_record(
            actor=actor,
            application=application,
            verb=ActivityVerb.MEMBER_SET,
            obj=membership,
            user=user.get_username(),
            role=role,
            **({"previous": {"role": held}} if held else {}),
        )
    return membership


def membership_remove(*, actor: Actor, application: Application, user: User) -> None:
    with transaction.atomic():
        Membership.objects.filter(user=user, application=application).delete()
        _require_owner(application)
        activity_record(
            actor=actor,
            application=application,
            verb=ActivityVerb.MEMBER_REMOVE,
            obj=application,
            user=user.get_username(),
        )
