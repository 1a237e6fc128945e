"""The search test bench against the real built-in engine: a set built from stored photos with
three transforms, run through the library's backend, its scorecard and failing queries, two
libraries compared, roles, and the management command."""

from __future__ import annotations

import importlib
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from engine import index
from gallery.models import Activity, Expected, Image, TestQuery, TestResult, TestRun, TestSet
from gallery.selectors.testbench import run_scorecard
from gallery.services import testbench as bench
from gallery.services.libraries import library_create
from gallery.services.uploads import image_upload
from gallery.transforms import encode, load_rgb
from tests.unit.gallery.kit import builtin, files_under, login

pytestmark = pytest.mark.django_db
TRANSFORMS = ["jpeg_q30", "flip", "text_overlay"]


@pytest.fixture(autouse=True)
def fresh_index():
    index.forget()
    yield
    index.forget()


@pytest.fixture(scope="module")
def photos() -> list[bytes]:
    """Five real photographs (bench/corpus.py's packages), 640 px, as JPEGs."""
    corpus: Any = importlib.import_module("bench.corpus")
    found = corpus.photos()
    if len(found) < 5:
        pytest.skip("needs the photos of bench/corpus.py (.venv/bin/python bench/corpus.py ensure)")
    return [encode(load_rgb(Path(p), max_side=640), "JPEG", 90) for p in found[:5]]


@pytest.fixture
def stored(personas, photos, commit, baidu_engine):
    """A built-in same_hq library holding the first four photos."""
    _app, library = builtin(personas)
    rows = []
    with commit():
        for n, data in enumerate(photos[:4]):
            rows.append(
                image_upload(
                    actor=personas["editor"], library=library, data=data, filename=f"photo{n}.jpg"
                )
            )
    rows = [Image.objects.get(pk=r.pk) for r in rows]
    assert all(r.status == "indexed" for r in rows)
    for role in ("editor", "viewer"):
        library.application.memberships.create(user=personas[role], role=role)
    return library, rows


@pytest.fixture
def test_set(stored, personas, photos):
    """Three photos by three transforms, a query of photo 0 that names photo 1 (it must fail),
    and a photo that is not in the library, expecting nothing."""
    library, rows = stored
    made = bench.testset_create(actor=personas["editor"], library=library, name="Launch")
    outcome = bench.testset_build(
        actor=personas["editor"], test_set=made, source_images=rows[:3], transform_names=TRANSFORMS
    )
    assert len(outcome.made) == 9 and not outcome.refused
    bench.testquery_add(
        actor=personas["editor"],
        test_set=made,
        data=photos[0],
        filename="mislabelled.jpg",
        expected=Expected.FIRST,
        expected_images=[rows[1]],
    )
    bench.testquery_add(
        actor=personas["editor"],
        test_set=made,
        data=photos[4],
        filename="stranger.jpg",
        expected=Expected.NOTHING,
    )
    return made


def cells(html: str, transform: str) -> dict[str, str]:
    row = html.split(f'data-transform="{transform}"')[1].split("</tr>")[0]
    return {
        name: re.findall(rf"data-{name}>([^<]*)<", row)[0]
        for name in ("r1", "r10", "mrr", "nothing")
    }


def test_an_editor_builds_a_set_from_stored_images_with_three_transforms(client, stored, personas):
    library, rows = stored
    login(client, personas, "editor")
    response = client.post(reverse("gallery:testsets", args=[library.pk]), {"name": "Launch"})
    test_set = TestSet.objects.get(library=library)
    assert response.status_code == 302 and response["Location"] == reverse(
        "gallery:testset", args=[test_set.pk]
    )
    page = client.post(
        reverse("gallery:testset-build", args=[test_set.pk]),
        {"images": [rows[0].pk, rows[1].pk], "transforms": TRANSFORMS},
        follow=True,
    )
    assert "6 queries added." in page.content.decode()
    queries = list(test_set.queries.order_by("pk"))
    assert [(q.source_image_id, q.transform) for q in queries] == [
        (row.pk, t) for row in rows[:2] for t in TRANSFORMS
    ]
    assert all(q.expected == "first" and q.seed == q.source_image_id for q in queries)
    assert all(list(q.expected_images.all()) == [q.source_image] for q in queries)
    # Stored like originals, each different from its source, and the same when built again.
    assert len({q.sha256 for q in queries}) == 6
    assert all(q.source_image and q.sha256 != q.source_image.sha256 for q in queries)
    client.post(
        reverse("gallery:testset-build", args=[test_set.pk]),
        {"images": [rows[0].pk], "transforms": ["flip"]},
    )
    again = test_set.queries.order_by("-pk")[0]
    assert again.sha256 == queries[1].sha256
    image = client.get(reverse("gallery:testquery-file", args=[queries[0].pk]))
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert Activity.objects.filter(verb="testset.edit", object_id=test_set.pk).count() == 2


def test_a_run_goes_through_the_engine_and_its_scorecard_shows_a_failing_query(
    client, test_set, personas, commit
):
    login(client, personas, "viewer")
    with commit():
        response = client.post(
            reverse("gallery:testset-run", args=[test_set.pk]),
            {"library": test_set.library_id},
        )
    run = TestRun.objects.get()
    assert response["Location"] == reverse("gallery:testrun", args=[run.pk])
    assert run.status == "done" and run.total == 11 and run.results.count() == 11
    assert run.backend == "builtin" and run.library_size == 4
    assert run.features_version and run.features_version != "test"
    results = {r.query.name: r for r in TestResult.objects.select_related("query")}
    mislabelled = results.pop("mislabelled.jpg")
    stranger = results.pop("stranger.jpg")
    assert all(r.rank == 1 and r.passed and (r.latency_ms or 0) > 0 for r in results.values())
    assert mislabelled.rank is None and not mislabelled.passed
    assert mislabelled.returned[0]["brief"] == "photo0.jpg"
    assert stranger.hits == 0 and stranger.passed
    html = client.get(response["Location"]).content.decode()
    # 10 queries expect an image, 9 got it first; the one expecting nothing got nothing.
    assert cells(html, "all") == {"r1": "0.900", "r10": "0.900", "mrr": "0.900", "nothing": "1.000"}
    assert cells(html, "flip") == {"r1": "1.000", "r10": "1.000", "mrr": "1.000", "nothing": "—"}
    assert cells(html, "uploaded") == {
        "r1": "0.000",
        "r10": "0.000",
        "mrr": "0.000",
        "nothing": "1.000",
    }
    failing = html.split("data-failing")[1]
    assert "1 failing query" in html and failing.count("data-query-id") == 1
    assert "mislabelled.jpg" in failing and "photo1.jpg" in failing and "photo0.jpg" in failing
    assert reverse("gallery:testquery-file", args=[mislabelled.query_id]) in failing
    assert "<svg" in html.split("data-score-chart")[1]
    assert Activity.objects.filter(verb="testrun.start", actor=personas["viewer"]).exists()


def test_two_libraries_side_by_side_show_where_they_disagree(client, test_set, personas, commit):
    library = test_set.library
    # A second built-in library of the same service, holding only photos 0 and 2: a copy that
    # lost photo 1. Its queries miss there; the first library finds them.
    other_app, other = builtin(personas)
    other_app.memberships.create(user=personas["viewer"], role="viewer")
    with commit():
        for row in library.images.order_by("pk")[:3:2]:
            image_upload(
                actor=personas["owner"],
                library=other,
                data=row.original.open("rb").read(),
                filename=row.brief,
            )
    login(client, personas, "viewer")
    with commit():
        client.post(reverse("gallery:testset-run", args=[test_set.pk]), {"library": library.pk})
        client.post(reverse("gallery:testset-run", args=[test_set.pk]), {"library": other.pk})
    first, second = TestRun.objects.order_by("pk")
    assert second.library == other and second.library_size == 2 and second.status == "done"
    run_page = client.get(reverse("gallery:testrun", args=[first.pk])).content.decode()
    compare = reverse("gallery:testrun-compare", args=[first.pk, second.pk])
    assert compare in run_page
    html = client.get(compare).content.decode()
    assert html.count("data-scorecard") == 2
    disagree = html.split("data-disagree")[1]
    # The three queries of photo 1 are right on the first library only.
    shown = {int(n) for n in re.findall(r'<li data-query-id="(\d+)"', disagree)}
    assert shown == set(
        test_set.queries.filter(source_image__brief="photo1.jpg").values_list("pk", flat=True)
    )


def test_viewers_run_and_read_but_do_not_edit_outsiders_get_404(
    client, test_set, personas, commit, photos
):
    login(client, personas, "viewer")
    assert client.get(reverse("gallery:testset", args=[test_set.pk])).status_code == 200
    assert (
        "Add these queries"
        not in client.get(reverse("gallery:testset", args=[test_set.pk])).content.decode()
    )
    for name, data in (
        ("gallery:testset-build", {"images": [1], "transforms": ["flip"]}),
        ("gallery:testquery-add", {"expected": "nothing"}),
        ("gallery:testset-delete", {}),
    ):
        assert client.post(reverse(name, args=[test_set.pk]), data).status_code == 403
    assert (
        client.post(reverse("gallery:testsets", args=[test_set.library_id]), {"name": "x"})
    ).status_code == 403
    query = test_set.queries.first()
    assert client.post(reverse("gallery:testquery-delete", args=[query.pk])).status_code == 403
    with commit():
        ran = client.post(
            reverse("gallery:testset-run", args=[test_set.pk]), {"library": test_set.library_id}
        )
    assert ran.status_code == 302
    run = TestRun.objects.get()
    assert client.get(reverse("gallery:testrun", args=[run.pk])).status_code == 200
    login(client, personas, "outsider")
    for url in (
        reverse("gallery:testsets", args=[test_set.library_id]),
        reverse("gallery:testset", args=[test_set.pk]),
        reverse("gallery:testrun", args=[run.pk]),
        reverse("gallery:testquery-file", args=[query.pk]),
        reverse("gallery:testset-export", args=[test_set.pk]),
    ):
        assert client.get(url).status_code == 404
    assert client.post(reverse("gallery:testset-run", args=[test_set.pk])).status_code == 404


def test_an_uploaded_query_with_its_expected_answer(client, stored, personas, photos):
    library, rows = stored
    test_set = bench.testset_create(actor=personas["owner"], library=library, name="Uploads")
    login(client, personas, "editor")
    url = reverse("gallery:testquery-add", args=[test_set.pk])
    upload = SimpleUploadedFile("crop.jpg", photos[2], content_type="image/jpeg")
    page = client.post(url, {"image": upload, "expected": "any", "expected_images": []})
    assert page.status_code == 400
    assert "Choose at least one expected image." in page.content.decode()
    upload = SimpleUploadedFile("crop.jpg", photos[2], content_type="image/jpeg")
    client.post(
        url, {"image": upload, "expected": "any", "expected_images": [rows[2].pk, rows[3].pk]}
    )
    query = TestQuery.objects.get(test_set=test_set)
    assert query.name == "crop.jpg" and query.transform == "" and query.expected == "any"
    assert set(query.expected_sha256) == {rows[2].sha256, rows[3].sha256}
    text = SimpleUploadedFile("notes.jpg", b"not an image", content_type="image/jpeg")
    refused = client.post(url, {"image": text, "expected": "nothing"})
    assert refused.status_code == 400 and "216201" in refused.content.decode()


def test_deleting_a_set_removes_its_query_files(client, test_set, personas, media, commit):
    before = [p for p in files_under(media) if "testsets" in p.parts]
    assert len(before) == 11
    login(client, personas, "editor")
    query = test_set.queries.first()
    with commit():
        client.post(reverse("gallery:testquery-delete", args=[query.pk]))
    assert len([p for p in files_under(media) if "testsets" in p.parts]) == 10
    with commit():
        client.post(reverse("gallery:testset-delete", args=[test_set.pk]))
    assert not TestSet.objects.exists() and not TestQuery.objects.exists()
    assert [p for p in files_under(media) if "testsets" in p.parts] == []


def test_the_command_prints_the_scorecard_and_fails_below_thresholds(test_set):
    out = io.StringIO()
    call_command("testset_run", str(test_set.pk), "--min-recall1", "0.85", stdout=out)
    text = out.getvalue()
    all_line = next(line for line in text.splitlines() if line.startswith("ALL"))
    assert all_line.split()[1:6] == ["11", "0.900", "0.900", "0.900", "1.000"]
    assert "flip" in text and "uploaded" in text and text.rstrip().endswith("ok")
    with pytest.raises(CommandError, match=r"R@1 0\.900 < 0\.95") as raised:
        call_command("testset_run", str(test_set.pk), "--min-recall1", "0.95", stdout=io.StringIO())
    assert raised.value.returncode == 1
    assert TestRun.objects.filter(status="done").count() == 2


def test_a_set_exported_and_imported_into_a_copy_expects_the_same_images(
    client, test_set, personas, commit
):
    login(client, personas, "editor")
    exported = client.get(reverse("gallery:testset-export", args=[test_set.pk]))
    assert exported["Content-Type"] == "application/zip"
    owner_app, other = builtin(personas)
    owner_app.memberships.create(user=personas["editor"], role="editor")
    with commit():
        for row in test_set.library.images.order_by("pk"):
            image_upload(
                actor=personas["owner"],
                library=other,
                data=row.original.open("rb").read(),
                filename=row.brief,
            )
    upload = SimpleUploadedFile("set.zip", exported.content, content_type="application/zip")
    response = client.post(
        reverse("gallery:testset-import", args=[other.pk]), {"file": upload, "name": "Shared"}
    )
    imported = TestSet.objects.get(library=other)
    assert response["Location"] == reverse("gallery:testset", args=[imported.pk])
    mine = list(test_set.queries.order_by("pk"))
    theirs = list(imported.queries.order_by("pk"))
    assert [(q.sha256, q.transform, q.expected, q.expected_sha256) for q in theirs] == [
        (q.sha256, q.transform, q.expected, q.expected_sha256) for q in mine
    ]
    assert all(i.library_id == other.pk for q in theirs for i in q.expected_images.all())


def test_nothing_is_refused_for_a_library_that_always_ranks(stored, personas):
    library, _rows = stored
    similar = library_create(
        actor=personas["owner"], application=library.application, service="similar"
    )
    test_set = bench.testset_create(actor=personas["owner"], library=similar, name="S")
    with pytest.raises(ValidationError, match="always ranks"):
        bench.testquery_add(
            actor=personas["owner"],
            test_set=test_set,
            data=b"",
            filename="q.jpg",
            expected=Expected.NOTHING,
        )


def test_the_commands_figures_are_bench_qualitys_for_the_same_queries(test_set):
    """bench/quality.py's ranking (engine.features with an exact in-memory index over the
    same stored images) gives every query the same rank-1 answer and empty answer as the
    library's real backend, so the command's R@1, R@10 and "nothing" figures are the bench's."""
    quality: Any = importlib.import_module("bench.quality")
    service = test_set.library.service
    rows = list(test_set.library.images.order_by("pk"))
    stored = [row.original.open("rb").read() for row in rows]
    built, _rate, _size = quality.build(service, stored)
    call_command("testset_run", str(test_set.pk), stdout=io.StringIO())
    run = TestRun.objects.get()
    at1 = at10 = positives = empty = nothing = 0
    for result in run.results.select_related("query"):
        query = result.query
        features = quality.extract(service, quality.decode(query.file.open("rb").read()))
        sims = built.scores(quality.query_vectors(service, features), len(rows))
        top = np.argsort(-sims, kind="stable")[: min(quality.SHORTLIST[service], len(rows))]
        cands = [(int(e), float(sims[e]), built.local.get(int(e))) for e in top]
        ranked = [rows[e].sha256 for e, _score in quality.rank(service, features, cands)]
        if query.expected == Expected.NOTHING:
            nothing += 1
            empty += not ranked
            assert (not ranked) == (result.hits == 0)
            continue
        positives += 1
        first = bool(ranked) and ranked[0] in query.expected_sha256
        at1 += first
        at10 += any(s in query.expected_sha256 for s in ranked[:10])
        assert first == (result.rank == 1), query.name
    card = run_scorecard(run)
    assert card.overall.recall1 == at1 / positives
    assert card.overall.recall10 == at10 / positives
    assert card.overall.nothing_share == empty / nothing


def test_deleting_the_library_removes_its_test_sets_query_files(test_set, media, commit):
    from gallery.services.teardown import library_drop

    assert len([p for p in files_under(media) if "testsets" in p.parts]) == 11
    with commit():
        library_drop(library=test_set.library)
    assert not TestSet.objects.exists() and not TestQuery.objects.exists()
    assert [p for p in files_under(media) if "testsets" in p.parts] == []
