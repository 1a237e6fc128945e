"""Accounts of teammates, managed by owners from the console (there may be no mail server):
creating one with a one-time set-password link, issuing a fresh link, setting the password
with it, deactivating and reactivating. Who may do which to whom is `gallery.access`'s
`manageable_account_ids`; these services trust their caller to have asked it."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gallery.models import ActivityVerb, Application, Membership, PasswordLink, Role
from gallery.services.activity import Actor, acting_user, activity_record
from gallery.services.members import membership_set

# How long a set-password link works (docs/console.md, *People*).
LINK_LIFETIME = timedelta(days=3)


def _link_issue(*, actor: Actor, application: Application, user: User) -> tuple[str, PasswordLink]:
    """A fresh link for `user`, replacing any earlier one (which stops working)."""
    token = secrets.token_urlsafe(32)
    PasswordLink.objects.filter(user=user).delete()
    link = PasswordLink.objects.create(
        user=user,
        token_hash=PasswordLink.hash_of(token),
        application=application,
        issued_by=acting_user(actor),
        expires_at=timezone.now() + LINK_LIFETIME,
    )
    return token, link


def account_create(
    *,
    actor: Actor,
    application: Application,
    username: str,
    role: str,
    display_name: str = "",
    email: str = "",
) -> tuple[User, str, PasswordLink]:
    """A new account without a password, a member of `application` with `role`, and the
    token of its set-password link (shown once; only its hash is kept)."""
    username = username.strip()
    users = get_user_model().objects
    taken = ValidationError(
        {
            "username": _(
                "There is already a user with that name. To give them access, add them "
                "by name under “Add an existing user”."
            )
        }
    )
    # Case-insensitively: "Dana" beside "dana" is a mistake waiting to happen at login.
    if users.filter(username__iexact=username).exists():
        raise taken
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    with transaction.atomic():
        try:
            with transaction.atomic():
                # No password given: an unusable one, until the link sets it.
                user = users.create_user(
                    username=username, email=email.strip(), first_name=display_name.strip()
                )
        except IntegrityError:  # the same name created meanwhile
            raise taken from None
        activity_record(
            actor=actor,
            application=application,
            verb=ActivityVerb.ACCOUNT_CREATE,
            obj=user,
            user=username,
            role=role,
        )
        membership_set(actor=actor, application=application, user=user, role=role)
        token, link = _link_issue(actor=actor, application=application, user=user)
    return user, token, link


def _applications_of(user: User) -> list[Application]:
    return list(Application.objects.filter(memberships__user=user).order_by("pk"))


def account_link_issue(
    *, actor: Actor, application: Application, user: User
) -> tuple[str, PasswordLink]:
    """A fresh set-password link (the earlier one stops working). The current password, if
    any, keeps working until the link is used."""
    if not user.is_active:
        raise ValidationError(_("The account is deactivated. Reactivate it first."))
    with transaction.atomic():
        token, link = _link_issue(actor=actor, application=application, user=user)
        for app in _applications_of(user):
            activity_record(
                actor=actor,
                application=app,
                verb=ActivityVerb.ACCOUNT_LINK,
                obj=user,
                user=user.get_username(),
                expires=link.expires_at.isoformat(timespec="minutes"),
            )
    return token, link


def account_password_set(*, link: PasswordLink, password: str) -> User:
    """Set the password and spend the link; a link raced by a second use sets nothing."""
    with transaction.atomic():
        # Deleting first makes the link's single use hold under concurrent requests.
        spent, _count = PasswordLink.objects.filter(pk=link.pk).delete()
        if not spent:
            raise ValidationError(_("This link has already been used."))
        user = link.user
        user.set_password(password)
        user.save(update_fields=["password"])
        for app in _applications_of(user):
            activity_record(
                actor=user,
                application=app,
                verb=ActivityVerb.ACCOUNT_PASSWORD_SET,
                obj=user,
                user=user.get_username(),
            )
    return user


def _require_active_owner_left(user: User) -> None:
    """Deactivating `user` must leave every application they own with an owner who can log in."""
    owned = set(
        Membership.objects.filter(user=user, role=Role.OWNER).values_list(
            "application_id", flat=True
        )
    )
    kept = set(
        Membership.objects.filter(application_id__in=owned, role=Role.OWNER, user__is_active=True)
        .exclude(user=user)
        .values_list("application_id", flat=True)
    )
    if owned - kept:
        raise ValidationError(
            _("This account is the only owner of an application who can log in; keep it active.")
        )


def account_deactivate(*, actor: Actor, user: User) -> None:
    """The account can no longer log in (its sessions end at their next request) and its
    link stops working; its memberships stay, so reactivating it restores its access."""
    if not user.is_active:
        return
    with transaction.atomic():
        _require_active_owner_left(user)
        user.is_active = False
        user.save(update_fields=["is_active"])
        PasswordLink.objects.filter(user=user).delete()
        for app in _applications_of(user):
            activity_record(
                actor=actor,
                application=app,
                verb=ActivityVerb.ACCOUNT_DEACTIVATE,
                obj=user,
                user=user.get_username(),
            )


def account_reactivate(*, actor: Actor, user: User) -> None:
    if user.is_active:
        return
    with transaction.atomic():
        user.is_active = True
        user.save(update_fields=["is_active"])
        for app in _applications_of(user):
            activity_record(
                actor=actor,
                application=app,
                verb=ActivityVerb.ACCOUNT_REACTIVATE,
                obj=user,
                user=user.get_username(),
            )
