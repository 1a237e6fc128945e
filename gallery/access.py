"""The one place where Membership roles are enforced.

A user who is not a member gets 404 for an application and everything under it, so nothing
leaks about its existence; a member whose role is too low for the action gets 403. Each
`get_*` helper returns the object *and* the caller's role, so a page reads the membership once
and decides what else to show from the role it got back.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from gallery.models import (
    ROLE_RANK,
    Application,
    Batch,
    Image,
    ImageStatus,
    Library,
    Membership,
    Role,
    TestQuery,
    TestRun,
    TestSet,
)


def can(role: Role, needed: Role) -> bool:
    """Whether `role` may do what `needed` may."""
    return ROLE_RANK[role] >= ROLE_RANK[needed]


def role_of(user: User, application: Application) -> Role | None:
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


def _require(user: User, application: Application, needed: Role) -> Role:
    actual = role_of(user, application)
    if actual is None:
        raise Http404
    if not can(actual, needed):
        raise PermissionDenied
    return actual


def applications_for(user: User) -> QuerySet[Application]:
    if user.is_superuser:
        return Application.objects.all()
    return Application.objects.filter(memberships__user=user)


def get_application(
    user: User, application_id: int, needed: Role = Role.VIEWER
) -> tuple[Application, Role]:
    application = Application.objects.filter(pk=application_id).first()
    if application is None:
        raise Http404
    return application, _require(user, application, needed)


def get_library(user: User, library_id: int, needed: Role = Role.VIEWER) -> tuple[Library, Role]:
    library = Library.objects.select_related("application").filter(pk=library_id).first()
    if library is None:
        raise Http404
    return library, _require(user, library.application, needed)


def get_image(user: User, image_id: int, needed: Role = Role.VIEWER) -> tuple[Image, Role]:
    """A tombstone is gone for the user: its page, files and edits are 404."""
    image = (
        Image.objects.listed().select_related("library__application").filter(pk=image_id).first()
    )
    if image is None:
        raise Http404
    return image, _require(user, image.library.application, needed)


def get_tombstone(user: User, image_id: int) -> Image | None:
    """The tombstone of a deleted image, for a member of its application; None otherwise."""
    image = (
        Image.objects.select_related("library__application")
        .filter(pk=image_id, status=ImageStatus.DELETED)
        .first()
    )
    if image is None or role_of(user, image.library.application) is None:
        return None
    return image


def get_batch(user: User, batch_id: int, needed: Role = Role.VIEWER) -> tuple[Batch, Role]:
    batch = (
        Batch.objects.select_related("library__application", "source_library__application")
        .filter(pk=batch_id)
        .first()
    )
    if batch is None:
        raise Http404
    return batch, _require(user, batch.library.application, needed)


def get_test_set(user: User, set_id: int, needed: Role = Role.VIEWER) -> tuple[TestSet, Role]:
    """A test set, for a member of its library's application: viewers read and run sets,
    editors make and change them."""
    test_set = TestSet.objects.select_related("library__application").filter(pk=set_id).first()
    if test_set is None:
        raise Http404
    return test_set, _require(user, test_set.library.application, needed)


def get_test_query(user: User, query_id: int, needed: Role = Role.VIEWER) -> tuple[TestQuery, Role]:
    query = (
        TestQuery.objects.select_related("test_set__library__application")
        .filter(pk=query_id)
        .first()
    )
    if query is None:
        raise Http404
    return query, _require(user, query.test_set.library.application, needed)


def get_test_run(user: User, run_id: int) -> tuple[TestRun, Role]:
    """A run, for a member of both the set's application and the library it ran against."""
    run = (
        TestRun.objects.select_related(
            "test_set__library__application", "library__application", "created_by"
        )
        .filter(pk=run_id)
        .first()
    )
    if run is None:
        raise Http404
    _require(user, run.library.application, Role.VIEWER)
    return run, _require(user, run.test_set.library.application, Role.VIEWER)


def viewable_libraries(user: User, service: str) -> QuerySet[Library]:
    """Baidu-wire libraries of a service on applications the user is a member of."""
    libraries = Library.objects.select_related("application").filter(
        service=service, instance_name=""
    )
    if user.is_superuser:
        return libraries
    return libraries.filter(application__memberships__user=user)


def editable_libraries(
    user: User, service: str | None = None, *, excluding: Library | None = None
) -> QuerySet[Library]:
    """Libraries (of one service, if given) on applications where the user may upload."""
    libraries = Library.objects.select_related("application").filter(deleting_since__isnull=True)
    if service is not None:
        libraries = libraries.filter(service=service)
    if excluding is not None:
        libraries = libraries.exclude(pk=excluding.pk)
    if user.is_superuser:
        return libraries
    return libraries.filter(
        application__memberships__user=user,
        application__memberships__role__in=[Role.EDITOR, Role.OWNER],
    )


def manageable_account_ids(actor: User, user_ids: list[int]) -> set[int]:
    """Of `user_ids`, the accounts `actor` may give a set-password link, deactivate and
    reactivate. The rule (docs/console.md, *People*): never the actor's own account, never a
    superuser or staff account (those are the admin's), and only an account that is a member
    of some application and whose every membership is in an application the actor owns (a
    superuser owns them all). So an owner can never reach, through someone else's account,
    anything they could not already do themselves."""
    if not actor.is_authenticated or not user_ids:
        return set()
    candidates = set(
        get_user_model()
        .objects.filter(pk__in=user_ids, is_superuser=False, is_staff=False)
        .exclude(pk=actor.pk)
        .values_list("pk", flat=True)
    )
    member_of = set(
        Membership.objects.filter(user_id__in=candidates).values_list("user_id", flat=True)
    )
    if actor.is_superuser:
        return member_of
    owned = Membership.objects.filter(user=actor, role=Role.OWNER).values("application_id")
    outside = set(
        Membership.objects.filter(user_id__in=member_of)
        .exclude(application_id__in=owned)
        .values_list("user_id", flat=True)
    )
    return member_of - outside


def get_member_account(
    user: User, application_id: int, member_id: int
) -> tuple[Application, Membership]:
    """A member's account, for an owner of the application who may manage it: 404 when
    either is not a member, 403 when the caller is not an owner or the account is beyond the
    rule of `manageable_account_ids`."""
    application, _role = get_application(user, application_id, Role.OWNER)
    membership = (
        Membership.objects.filter(application=application, user_id=member_id)
        .select_related("user")
        .first()
    )
    if membership is None:
        raise Http404
    if member_id not in manageable_account_ids(user, [member_id]):
        raise PermissionDenied
    return application, membership
