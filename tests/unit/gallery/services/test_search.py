"""gallery.services.search: hits joined to rows."""

from __future__ import annotations

import pytest

from gallery.services.images import images_delete
from gallery.services.search import library_search
from tests.conftest import make_image
from tests.fakebaidu import Entry
from tests.unit.gallery.kit import upload_image

pytestmark = pytest.mark.django_db


def test_search_maps_hits_to_rows_and_flags_tombstones(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        kept = upload_image(library, personas, seed=1)
        gone = upload_image(library, personas, seed=2)
    kept.refresh_from_db()
    gone.refresh_from_db()
    outside = baidu.cont_sign_of(b"added by a script")
    baidu.libraries["same_hq"][outside] = Entry("x", "script-brief")
    with django_capture_on_commit_callbacks(execute=True):
        images_delete(actor=personas["editor"], images=[gone])
    # The hosted delete has not propagated yet (spec §10).
    baidu.libraries["same_hq"][gone.cont_sign] = Entry("x", gone.brief)
    outcome = library_search(library=library, data=make_image(1))
    by_sign = {m.hit.ref: m for m in outcome.matches}
    assert outcome.matches[0].image == kept and outcome.matches[0].hit.score == 1.0
    assert by_sign[gone.cont_sign].deleted is True
    assert by_sign[outside].image is None


def test_a_hit_whose_delete_is_still_under_way_is_flagged_deleted(
    library, personas, baidu, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        going = upload_image(library, personas, seed=3)
    going.refresh_from_db()
    images_delete(actor=personas["editor"], images=[going])  # its task has not run yet
    going.refresh_from_db()
    assert going.status == "deleting"
    outcome = library_search(library=library, data=make_image(3))
    assert [(m.image, m.deleted) for m in outcome.matches] == [(going, True)]
