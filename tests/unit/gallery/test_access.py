"""gallery.access: roles enforced in one place."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from gallery import access
from gallery.models import Role

pytestmark = pytest.mark.django_db


def test_roles_are_enforced_in_one_place(application, personas, django_user_model):
    assert access.get_application(personas["viewer"], application.pk) == (application, Role.VIEWER)
    assert access.get_application(personas["editor"], application.pk, Role.EDITOR) == (
        application,
        Role.EDITOR,
    )
    with pytest.raises(PermissionDenied):
        access.get_application(personas["viewer"], application.pk, Role.EDITOR)
    with pytest.raises(PermissionDenied):
        access.get_application(personas["editor"], application.pk, Role.OWNER)
    with pytest.raises(Http404):
        access.get_application(personas["outsider"], application.pk)
    with pytest.raises(Http404):
        access.get_application(personas["owner"], 424242)
    admin = django_user_model.objects.create_superuser("root", "", "pw")
    assert access.get_application(admin, application.pk, Role.OWNER) == (application, Role.OWNER)
    assert list(access.applications_for(personas["outsider"])) == []
