"""Libraries: one per service of an application. A backend that provisions libraries (the
built-in engine) creates them; on Baidu they are applied for in Baidu's console and recorded
here once a probe search shows that they exist."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from gallery.backends import backend_for
from gallery.models import DEFAULT_CAPACITY, ActivityVerb, Application, Library, Service
from gallery.services.activity import Actor, activity_record
from searchapi.errors import ApiError

CAPACITY_STEP = 500_000


def library_create(
    *,
    actor: Actor,
    application: Application,
    service: str = "",
    capacity: int = DEFAULT_CAPACITY,
    instance_name: str = "",
) -> Library:
    """A library of a Baidu service, or an Alibaba instance by its name: the engine creates
    one of the `service`'s type; a hosted one is probed (`Detail`) for its type and capacity."""
    instance_name = instance_name.strip()
    if application.aliyun:
        if not instance_name:
            raise ValidationError({"instance_name": _("An instance name is required.")})
        if Library.objects.filter(application=application, instance_name=instance_name).exists():
            raise ValidationError(
                {"instance_name": _("This application already has that instance.")}
            )
    else:
        if service not in Service.values:
            raise ValidationError({"service": _("Unknown service.")})
        if Library.objects.filter(application=application, service=service).exists():
            raise ValidationError({"service": _("This application already has that library.")})
    if capacity < 1:
        raise ValidationError({"capacity": _("Capacity must be at least 1.")})
    library = Library(
        application=application,
        service=service,
        capacity=capacity,
        registered=True,
        instance_name=instance_name if application.aliyun else "",
    )
    backend = backend_for(application, interactive=True)
    try:
        backend.library_verify(library)
    except ApiError as exc:
        if application.aliyun and exc.error_code == backend.codes.not_created:
            raise ValidationError(
                {
                    "instance_name": _(
                        "%(code)s: there is no instance of this name for these keys. Buy it in "
                        "Alibaba's console (the name, not the instance id), then register it here."
                    )
                    % {"code": exc.error_code}
                }
            ) from None
        if exc.error_code == backend.codes.not_created:
            raise ValidationError(
                _(
                    "216017 not initialized: the library has not been created on Baidu yet. "
                    "Apply for it on the application's page in Baidu's console (real-name "
                    "verification is required), then register it here."
                )
            ) from None
        raise ValidationError(
            _("Could not probe the library: %(code)s %(msg)s")
            % {"code": exc.error_code, "msg": exc.error_msg}
        ) from None
    with transaction.atomic():
        backend.library_provision(library)
        library.save()
        activity_record(
            actor=actor,
            application=application,
            verb=ActivityVerb.LIBRARY_CREATE
            if backend.provisions_libraries
            else ActivityVerb.LIBRARY_REGISTER,
            obj=library,
            capacity=capacity,
        )
    return library


def library_set_capacity(*, actor: Actor, library: Library, capacity: int) -> Library:
    """Raise the capacity by at most 500,000 at a time (built-in: at once; Baidu: recorded)."""
    if capacity <= library.capacity:
        raise ValidationError(
            {"capacity": _("The new capacity must be more than %(n)d.") % {"n": library.capacity}}
        )
    if capacity - library.capacity > CAPACITY_STEP:
        raise ValidationError(
            {
                "capacity": _("Capacity grows by at most 500,000 per step (up to %(n)d now).")
                % {"n": library.capacity + CAPACITY_STEP}
            }
        )
    application = library.application
    with transaction.atomic():
        backend_for(application).library_capacity_provision(library, capacity)
        previous = library.capacity
        library.capacity = capacity
        library.save(update_fields=["capacity"])
        activity_record(
            actor=actor,
            application=application,
            verb=ActivityVerb.LIBRARY_CAPACITY,
            obj=library,
            previous=previous,
            capacity=capacity,
        )
    return library


def library_set_match_threshold(*, actor: Actor, library: Library, threshold: float) -> Library:
    """Set the score from which "Is this image already here?" answers "likely in library"."""
    if not 0 < threshold <= 1:
        raise ValidationError({"threshold": _("The threshold is a score above 0, at most 1.")})
    with transaction.atomic():
        previous = library.match_threshold
        library.match_threshold = threshold
        library.save(update_fields=["match_threshold"])
        activity_record(
            actor=actor,
            application=library.application,
            verb=ActivityVerb.LIBRARY_THRESHOLD,
            obj=library,
            previous=previous,
            threshold=threshold,
        )
    return library


def library_rename(*, actor: Actor, library: Library, name: str) -> Library:
    """Give the library the name the console shows; empty: back to its service's (Baidu) or
    instance's (Alibaba) name. The backend still addresses it by service or instance name,
    so only the console's name changes. Two libraries of an application never share one."""
    name = name.strip()
    if len(name) > 100:
        raise ValidationError({"name": _("At most %(n)d characters.") % {"n": 100}})
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValidationError({"name": _("A name cannot hold control characters.")})
    if name == library.name:
        return library
    shown = name or library.instance_name or str(library.get_service_display())
    for other in library.application.libraries.exclude(pk=library.pk):
        if other.display_name.casefold() == shown.casefold():
            raise ValidationError({"name": _("Another library of this application has that name.")})
    with transaction.atomic():
        previous = library.display_name
        library.name = name
        library.save(update_fields=["name"])
        activity_record(
            actor=actor,
            application=library.application,
            verb=ActivityVerb.LIBRARY_RENAME,
            obj=library,
            previous=previous,
            name=library.display_name,
        )
    return library
