"""The search test bench's pages: a library's test sets, a set (its queries, building queries
from stored images, adding uploaded ones, running it), a run's scorecard, and two runs side by
side. Viewers read and run sets; editors make and change them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from gallery.access import (
    can,
    get_library,
    get_test_query,
    get_test_run,
    get_test_set,
    viewable_libraries,
)
from gallery.explain import explained
from gallery.forms import (
    TestBuildForm,
    TestImportForm,
    TestQueryForm,
    TestRunForm,
    TestSetForm,
    transform_label,
)
from gallery.images import ImageInvalid
from gallery.models import Library, Role, TestSet
from gallery.selectors import testbench as reads
from gallery.services import search, testbench
from gallery.views.helpers import AuthedRequest, add_errors, read_upload
from wire.urlfetch import FetchError

PICKABLE = 120  # stored images offered on the build form


def _set_forms(request: AuthedRequest, test_set: TestSet, **bound: Any) -> dict[str, Any]:
    library = test_set.library
    pickable = reads.pickable_images(library, PICKABLE)
    return {
        "build_form": bound.get("build_form") or TestBuildForm(choices=pickable),
        "query_form": bound.get("query_form")
        or TestQueryForm(choices=pickable, nothing=_nothing(library)),
        "run_form": bound.get("run_form")
        or TestRunForm(
            choices=viewable_libraries(request.user, library.service),
            initial={"library": library.pk},
        ),
        "pickable": pickable,
    }


def _nothing(library: Library) -> bool:
    return library.service in testbench.NOTHING_SERVICES


@login_required
def library_testsets(request: AuthedRequest, library_id: int) -> HttpResponse:
    """GET: the library's sets. POST (editor): a new set."""
    needed = Role.EDITOR if request.method == "POST" else Role.VIEWER
    library, role = get_library(request.user, library_id, needed)
    form = TestSetForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            test_set = testbench.testset_create(
                actor=request.user, library=library, name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            return redirect("gallery:testset", test_set.pk)
    if request.method == "POST":
        status = 400
    context = {
        "library": library,
        "application": library.application,
        "can_edit": can(role, Role.EDITOR),
        "form": form,
        "import_form": TestImportForm(),
        "sets": reads.library_test_sets(library),
        "tab": "testbench",
    }
    return render(request, "gallery/testsets.html", context, status=status)


@login_required
@require_POST
def testset_import(request: AuthedRequest, library_id: int) -> HttpResponse:
    library, _role = get_library(request.user, library_id, Role.EDITOR)
    form = TestImportForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            test_set = testbench.testset_import(
                actor=request.user,
                library=library,
                data=upload.read(testbench.MAX_ZIP_BYTES + 1),
                name=form.cleaned_data.get("name") or "",
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Test set imported."))
            return redirect("gallery:testset", test_set.pk)
    else:
        messages.error(request, _("Choose the exported zip file."))
    return redirect("gallery:testsets", library.pk)


def _set_page(
    request: AuthedRequest, test_set: TestSet, role: Role, status: int = 200, **bound: Any
) -> HttpResponse:
    library = test_set.library
    context = {
        "test_set": test_set,
        "library": library,
        "application": library.application,
        "can_edit": can(role, Role.EDITOR),
        "queries": reads.set_queries(test_set),
        "runs": reads.set_runs(test_set)[:30],
        "nothing_allowed": _nothing(library),
        "tab": "testbench",
        **_set_forms(request, test_set, **bound),
    }
    return render(request, "gallery/testset.html", context, status=status)


@login_required
@require_GET
def testset_detail(request: AuthedRequest, set_id: int) -> HttpResponse:
    test_set, role = get_test_set(request.user, set_id)
    return _set_page(request, test_set, role)


@login_required
@require_POST
def testset_build(request: AuthedRequest, set_id: int) -> HttpResponse:
    test_set, role = get_test_set(request.user, set_id, Role.EDITOR)
    form = TestBuildForm(request.POST, choices=reads.pickable_images(test_set.library, None))
    if form.is_valid():
        try:
            outcome = testbench.testset_build(
                actor=request.user,
                test_set=test_set,
                source_images=list(form.cleaned_data["images"]),
                transform_names=form.cleaned_data["transforms"],
                seed=form.cleaned_data.get("seed"),
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            n = len(outcome.made)
            messages.success(
                request, ngettext("%(n)d query added.", "%(n)d queries added.", n) % {"n": n}
            )
            for name, why in outcome.refused:
                messages.warning(
                    request,
                    _("%(name)s was not added: the library would refuse it (%(why)s).")
                    % {"name": name, "why": why},
                )
            return redirect("gallery:testset", test_set.pk)
    return _set_page(request, test_set, role, status=400, build_form=form)


@login_required
@require_POST
def testquery_add(request: AuthedRequest, set_id: int) -> HttpResponse:
    test_set, role = get_test_set(request.user, set_id, Role.EDITOR)
    library = test_set.library
    form = TestQueryForm(
        request.POST,
        request.FILES,
        choices=reads.pickable_images(library, None),
        nothing=_nothing(library),
    )
    if form.is_valid():
        data, filename = _query_file(library, form)
        if data is not None:
            try:
                testbench.testquery_add(
                    actor=request.user,
                    test_set=test_set,
                    data=data,
                    filename=filename,
                    expected=form.cleaned_data["expected"],
                    expected_images=list(form.cleaned_data["expected_images"]),
                )
            except ImageInvalid as exc:
                form.add_error("image", f"{exc.code} {exc.message}")
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("Query added."))
                return redirect("gallery:testset", test_set.pk)
    return _set_page(request, test_set, role, status=400, query_form=form)


def _query_file(library: Library, form: TestQueryForm) -> tuple[bytes | None, str]:
    upload = form.cleaned_data.get("image")
    url = (form.cleaned_data.get("url") or "").strip()
    if upload:
        data = read_upload(upload)
        if data is None:
            form.add_error("image", _("The file is larger than 3 MiB."))
        return data, upload.name or "query"
    if url:
        try:
            return search.query_image_fetch(url), url.rsplit("/", 1)[-1] or "query"
        except FetchError as exc:
            form.add_error(
                "url",
                f"{exc.code} {exc.error_msg}: {exc.detail} "
                + explained(exc.code, "", library.service).explanation,
            )
            return None, ""
    form.add_error("image", _("Choose an image, paste one or give a URL."))
    return None, ""


@login_required
@require_POST
def testquery_delete(request: AuthedRequest, query_id: int) -> HttpResponse:
    query, _role = get_test_query(request.user, query_id, Role.EDITOR)
    set_id = query.test_set_id
    testbench.testquery_delete(actor=request.user, query=query)
    messages.info(request, _("Query removed."))
    return redirect("gallery:testset", set_id)


@login_required
@require_POST
def testset_delete(request: AuthedRequest, set_id: int) -> HttpResponse:
    test_set, _role = get_test_set(request.user, set_id, Role.EDITOR)
    library_id = test_set.library_id
    testbench.testset_delete(actor=request.user, test_set=test_set)
    messages.info(request, _("Test set deleted."))
    return redirect("gallery:testsets", library_id)


@login_required
@require_POST
def testset_run(request: AuthedRequest, set_id: int) -> HttpResponse:
    """Start a run (viewers may): against the set's library or another of the same service."""
    test_set, role = get_test_set(request.user, set_id)
    form = TestRunForm(
        request.POST, choices=viewable_libraries(request.user, test_set.library.service)
    )
    if form.is_valid():
        try:
            run = testbench.testrun_start(
                actor=request.user, test_set=test_set, library=form.cleaned_data["library"]
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            return redirect("gallery:testrun", run.pk)
    return _set_page(request, test_set, role, status=400, run_form=form)


@login_required
@require_GET
def testset_export(request: AuthedRequest, set_id: int) -> HttpResponse:
    test_set, _role = get_test_set(request.user, set_id)
    response = HttpResponse(testbench.testset_export(test_set=test_set), "application/zip")
    response["Content-Disposition"] = f'attachment; filename="testset-{test_set.pk}.zip"'
    return response


@login_required
@require_GET
def testquery_file(request: AuthedRequest, query_id: int) -> HttpResponseBase:
    query, _role = get_test_query(request.user, query_id)
    if settings.STORAGE_BACKEND == "s3":
        return HttpResponseRedirect(default_storage.url(query.file.name, expire=300))  # type: ignore[call-arg]
    try:
        handle = default_storage.open(str(query.file.name), "rb")
    except FileNotFoundError:
        raise Http404 from None
    content_type = {"PNG": "image/png", "BMP": "image/bmp"}.get(query.format, "image/jpeg")
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = "private, max-age=86400"
    return response


def _threshold(request: AuthedRequest, library: Library) -> float:
    try:
        value = float(request.GET.get("threshold", ""))
    except ValueError:
        return library.match_threshold
    return min(1.0, max(0.0, value))


@login_required
@require_GET
def testrun_detail(request: AuthedRequest, run_id: int) -> HttpResponse:
    run, _role = get_test_run(request.user, run_id)
    scorecard = reads.run_scorecard(run)
    threshold = _threshold(request, run.library)
    context = {
        "run": run,
        "test_set": run.test_set,
        "library": run.test_set.library,
        "application": run.test_set.library.application,
        "scorecard": scorecard,
        "percent": round(100 * scorecard.done / run.total) if run.total else 100,
        "tab": "testbench",
    }
    if request.GET.get("fragment"):
        return render(request, "gallery/_testrun_progress.html", context)
    failing = scorecard.failing
    context.update(
        failing=failing,
        returned=reads.returned_images(failing),
        histogram=reads.score_histogram(scorecard),
        threshold=threshold,
        threshold_effect=reads.threshold_effect(scorecard, threshold),
        others=reads.comparable_runs(run)[:20],
        labels={f.key: transform_label(f.key) for f in scorecard.by_transform},
    )
    return render(request, "gallery/testrun.html", context)


@login_required
@require_GET
def testrun_compare(request: AuthedRequest, run_id: int, other_id: int) -> HttpResponse:
    run, _role = get_test_run(request.user, run_id)
    other, _other_role = get_test_run(request.user, other_id)
    if other.test_set_id != run.test_set_id:
        raise Http404
    first, second = reads.run_scorecard(run), reads.run_scorecard(other)
    disagree = reads.disagreements(first, second)
    context = {
        "run": run,
        "other": other,
        "test_set": run.test_set,
        "library": run.test_set.library,
        "application": run.test_set.library.application,
        "cards": [first, second],
        "disagree": disagree,
        "returned": reads.returned_images([line for pair in disagree for line in pair]),
        "labels": {
            f.key: transform_label(f.key) for card in (first, second) for f in card.by_transform
        },
        "tab": "testbench",
    }
    return render(request, "gallery/testrun_compare.html", context)
