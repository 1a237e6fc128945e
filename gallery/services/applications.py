"""Applications: create (with keys issued by the backend or brought by the user), change the
services and the QPS tier, reveal and rotate the Secret Key."""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from gallery.backends import backend_class, backend_for
from gallery.backends.aliyun import DEFAULT_REGION
from gallery.backends.base import Keys
from gallery.models import ActivityVerb, Application, Membership, Role, Service
from gallery.services.activity import Actor, activity_record
from searchapi.errors import ApiError
from wire import urlfetch


def _check_services(services: Sequence[str]) -> list[str]:
    chosen = sorted(set(services))
    unknown = set(chosen) - set(Service.values)
    if unknown:
        raise ValidationError({"services": _("Unknown services: %s") % ", ".join(sorted(unknown))})
    return chosen


def application_create(
    *,
    actor: User,
    name: str,
    backend: str,
    services: Sequence[str],
    qps: int | None = None,
    base_url: str = "",
    app_id: str = "",
    api_key: str = "",
    secret_key: str = "",
    region: str = "",
) -> Application:
    """Create an application; a backend that issues keys (the built-in engine) makes them.
    `qps` None: the backend's default (Baidu's paid tier; unlimited for the built-in engine).
    An Alibaba application has no services (its instances have types) and no AppID; `api_key`
    and `secret_key` are its AccessKey ID and Secret, `region` where its instances are."""
    kind = backend_class(backend)
    qps = kind.default_qps if qps is None else qps
    if qps < 0:
        raise ValidationError({"qps_custom": _("The QPS limit must be a positive number.")})
    application = Application(
        name=name.strip(),
        backend=backend,
        services=_check_services(services),
        qps=qps,
        created_by=actor,
    )
    if application.aliyun:
        application.services = []
        application.region = region.strip() or DEFAULT_REGION
        if not re.fullmatch(r"[a-z]{2}(?:-[a-z0-9]+)+", application.region):
            raise ValidationError({"region": _("A region id such as cn-shanghai.")})
    if not application.name:
        raise ValidationError({"name": _("A name is required.")})
    if kind.issues_keys:
        with transaction.atomic():
            keys = kind.keys_issue(name=application.name, services=services, qps=qps)
            application.app_id, application.api_key = keys.app_id, keys.api_key
            application.secret_key = keys.secret_key
            application.auth_mode = Application.AuthMode.TOKEN
            _save_new_application(application, actor)
        return application
    if application.aliyun:
        if not (api_key and secret_key):
            raise ValidationError(_("The AccessKey ID and Secret are both required."))
        app_id = ""
    elif not (app_id and api_key and secret_key):
        raise ValidationError(_("AppID, API Key and Secret Key are all required."))
    application.base_url = base_url or kind.default_base_url
    application.app_id, application.api_key, application.secret_key = app_id, api_key, secret_key
    try:
        application.auth_mode = application_check_credentials(
            backend=backend,
            base_url=application.base_url,
            app_id=app_id,
            api_key=api_key,
            secret_key=secret_key,
            region=application.region,
        )
    except ApiError as exc:
        if exc.error_code == kind.codes.bad_keys:
            raise ValidationError(
                _("The API Key or Secret Key is wrong (%(code)s %(msg)s).")
                % {"code": exc.error_code, "msg": exc.error_msg}
            ) from None
        raise ValidationError(
            _("Could not reach the backend: %(code)s %(msg)s")
            % {"code": exc.error_code, "msg": exc.error_msg}
        ) from None
    with transaction.atomic():
        _save_new_application(application, actor)
    return application


def _save_new_application(application: Application, actor: User) -> None:
    application.save()
    Membership.objects.create(user=actor, application=application, role=Role.OWNER)
    activity_record(
        actor=actor,
        application=application,
        verb=ActivityVerb.APPLICATION_CREATE,
        obj=application,
        backend=application.backend,
    )


def application_check_credentials(
    *,
    backend: str = Application.Backend.BAIDU,
    base_url: str,
    app_id: str,
    api_key: str,
    secret_key: str,
    region: str = "",
) -> str:
    """Ask the backend how these keys authenticate: "token" or "sign".

    Raises ApiError with the backend's own code and message when they do not work.
    """
    kind = backend_class(backend)
    if not kind.issues_keys:
        _vet_base_url(base_url, default=kind.default_base_url)
    keys = Keys(app_id=app_id, api_key=api_key, secret_key=secret_key, region=region)
    return kind.keys_verify(base_url=base_url, keys=keys)


def _vet_base_url(base_url: str, *, default: str) -> None:
    """Refuse a base URL on a private address before anything is sent there: otherwise "test
    connection" would let any user probe the server's own network. The calls themselves are
    checked again when they connect (gallery.backends.baidu.http_session)."""
    if base_url in ("", default) or settings.BACKEND_ALLOW_PRIVATE:
        return
    try:
        addresses = urlfetch.resolve(base_url)
    except urlfetch.FetchError as exc:
        raise ValidationError({"base_url": exc.detail}) from None
    private = [str(a) for a in addresses if not urlfetch.is_public(a)]
    if private:
        raise ValidationError(
            {
                "base_url": _(
                    "%(address)s is a private, loopback or link-local address. A backend must "
                    "be on a public address unless the operator allows private ones "
                    "(TUKU_BACKEND_ALLOW_PRIVATE)."
                )
                % {"address": ", ".join(private)}
            }
        )


def application_update(
    *, actor: Actor, application: Application, services: Sequence[str], qps: int
) -> Application:
    """Change the enabled services and the QPS tier. Built-in: the engine follows at once;
    Baidu: recorded here (the services must also be ticked in Baidu's console)."""
    chosen = _check_services(services)
    if not chosen:
        raise ValidationError({"services": _("Tick at least one service.")})
    if qps < 0:
        raise ValidationError({"qps_custom": _("The QPS limit must be a positive number.")})
    with transaction.atomic():
        backend_for(application).application_provision(services=chosen, qps=qps)
        previous = {"services": application.services, "qps": application.qps}
        application.services = chosen
        application.qps = qps
        application.save(update_fields=["services", "qps", "updated_at"])
        activity_record(
            actor=actor,
            application=application,
            verb=ActivityVerb.APPLICATION_UPDATE,
            obj=application,
            previous=previous,
            services=chosen,
            qps=qps,
        )
    return application


def application_reveal_secret(*, actor: Actor, application: Application) -> str:
    """The Secret Key in clear text, for an owner who asked; the reveal is logged."""
    activity_record(
        actor=actor,
        application=application,
        verb=ActivityVerb.APPLICATION_REVEAL_SECRET,
        obj=application,
    )
    return str(application.secret_key)


def application_rotate_secret(*, actor: Actor, application: Application) -> str:
    """A new Secret Key from a backend that issues keys; tokens issued before stop working."""
    if not backend_class(application.backend).issues_keys:
        raise ValidationError(
            _("The Secret Key of a Baidu application is rotated in Baidu's console.")
        )
    with transaction.atomic():
        secret = backend_for(application).secret_rotate()
        application.secret_key = secret
        application.save(update_fields=["secret_key", "updated_at"])
        activity_record(
            actor=actor,
            application=application,
            verb=ActivityVerb.APPLICATION_ROTATE_SECRET,
            obj=application,
        )
    return secret


MAX_NAME = 100


def clean_name(name: str, *, field: str = "name") -> str:
    """A name as the console stores it: stripped, 1..100 characters, no control characters."""
    name = name.strip()
    if not name:
        raise ValidationError({field: _("A name is required.")})
    if len(name) > MAX_NAME:
        raise ValidationError({field: _("At most %(n)d characters.") % {"n": MAX_NAME}})
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValidationError({field: _("A name cannot hold control characters.")})
    return name


def application_rename(*, actor: User, application: Application, name: str) -> Application:
    """Give the application another name (the built-in engine's twin follows). A name another
    of the owner's applications has is refused: typed confirmations go by name."""
    name = clean_name(name)
    if name == application.name:
        return application
    taken = (
        Application.objects.filter(memberships__user=actor, name__iexact=name)
        .exclude(pk=application.pk)
        .exists()
    )
    if taken:
        raise ValidationError({"name": _("You already have an application of that name.")})
    with transaction.atomic():
        previous = application.name
        application.name = name
        application.save(update_fields=["name", "updated_at"])
        backend_for(application).application_rename(name=name)
        activity_record(
            actor=actor,
            application=application,
            verb=ActivityVerb.APPLICATION_RENAME,
            obj=application,
            previous=previous,
            name=name,
        )
    return application


def application_change_keys(
    *, actor: Actor, application: Application, api_key: str, secret_key: str
) -> Application:
    """New keys of a hosted application after a rotation in the cloud's console (Baidu: API
    Key and Secret Key; Alibaba: the AccessKey pair), tested as "test connection" does before
    anything is saved. Raises ValidationError with the backend's code and message when they
    do not work. Logged with the API Key (AccessKey ID), never the secret."""
    kind = backend_class(application.backend)
    if kind.issues_keys:
        raise ValidationError(_("The built-in engine's keys are rotated on the application page."))
    api_key, secret_key = api_key.strip(), secret_key.strip()
    if not (api_key and secret_key):
        raise ValidationError(_("Both keys are required."))
    try:
        mode = application_check_credentials(
            backend=application.backend,
            base_url=application.base_url,
            app_id=application.app_id,
            api_key=api_key,
            secret_key=secret_key,
            region=application.region,
        )
    except ApiError as exc:
        raise KeysRefused(exc) from None
    with transaction.atomic():
        previous = application.api_key
        application.api_key, application.secret_key = api_key, secret_key
        application.auth_mode = mode
        application.save(update_fields=["api_key", "secret_key", "auth_mode", "updated_at"])
        activity_record(
            actor=actor,
            application=application,
            verb=ActivityVerb.APPLICATION_KEYS,
            obj=application,
            previous_api_key=previous,
            api_key=api_key,
            auth_mode=mode,
        )
    return application


class KeysRefused(ValidationError):
    """The backend refused the new keys: its own code and message (`error`)."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(
            _("The backend refused these keys: %(code)s %(msg)s. Nothing was saved.")
            % {"code": error.error_code, "msg": error.error_msg}
        )
        self.error = error
