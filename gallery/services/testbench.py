"""The search test bench: sets of query images per library, each with the answer it expects,
and runs of a set through a library's real backend (docs/console.md, "Search test bench").

Query images are stored like originals (files first, then the row; files removed once the row
that named them is gone). A run is a `TestRun` with one `TestResult` per query, made by
`testrun_task` through the same search as the console's search page (`search.library_search`),
so a run measures exactly what a user's search gets. The task resumes where it stopped: a
query that has its result is not asked again.
"""

from __future__ import annotations

import io
import json
import logging
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from celery import shared_task
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gallery import images, transforms
from gallery.backends import backend_for
from gallery.images import ImageInvalid
from gallery.models import (
    ActivityVerb,
    Expected,
    Image,
    Library,
    Service,
    TestQuery,
    TestResult,
    TestRun,
    TestSet,
)
from gallery.services.activity import Actor, acting_user, activity_record
from gallery.services.rows import read_original, remove_files
from gallery.services.search import library_search
from gallery.services.task_base import ConsoleTask
from searchapi.errors import ApiError

log = logging.getLogger(__name__)

# Services whose search answers nothing for an image that is not in the library: only there is
# "nothing" an answer a query can expect (the others always rank the whole library).
NOTHING_SERVICES = (Service.SAME_HQ, Service.PICTUREBOOK)
MAX_QUERIES = 1000  # per set
MAX_BUILD = 400  # queries made by one build
RETURNED_KEPT = 5  # hits kept per result, for the failing queries' side-by-side view
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "tuku-testset-1"
MAX_ZIP_BYTES = 200 * 2**20


def _name_clean(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": _("A name is required.")})
    return name[:100]


def testset_create(*, actor: Actor, library: Library, name: str) -> TestSet:
    if library.is_instance:
        raise ValidationError(_("Test sets are for Baidu-wire libraries so far."))
    name = _name_clean(name)
    try:
        with transaction.atomic():
            test_set = TestSet.objects.create(
                library=library, name=name, created_by=acting_user(actor)
            )
            activity_record(
                actor=actor,
                application=library.application,
                verb=ActivityVerb.TESTSET_CREATE,
                obj=test_set,
            )
    except IntegrityError:
        raise ValidationError(
            {"name": _("This library already has a test set of that name.")}
        ) from None
    return test_set


def _check_expected(library: Library, expected: str, chosen: Sequence[Image]) -> None:
    if expected == Expected.FIRST and len(chosen) != 1:
        raise ValidationError({"expected_images": _("Choose exactly one expected image.")})
    if expected == Expected.ANY and not chosen:
        raise ValidationError({"expected_images": _("Choose at least one expected image.")})
    if expected == Expected.NOTHING:
        if chosen:
            raise ValidationError(
                {"expected_images": _("A query that expects nothing has no expected image.")}
            )
        if library.service not in NOTHING_SERVICES:
            raise ValidationError(
                {
                    "expected": _(
                        "Only same-image and picture-book search answer nothing; this "
                        "library's search always ranks its images."
                    )
                }
            )
    if any(image.library_id != library.pk for image in chosen):
        raise ValidationError({"expected_images": _("Expected images are the library's own.")})


def _room(test_set: TestSet, adding: int) -> None:
    if test_set.queries.count() + adding > MAX_QUERIES:
        raise ValidationError(_("A test set holds at most %(n)d queries.") % {"n": MAX_QUERIES})


@dataclass(frozen=True)
class QueryDraft:
    data: bytes
    facts: images.ImageFacts
    name: str
    expected: str
    expected_images: Sequence[Image]
    source_image: Image | None = None
    transform: str = ""
    seed: int | None = None
    expected_sha256: Sequence[str] | None = None


def _queries_save(test_set: TestSet, drafts: Sequence[QueryDraft]) -> list[TestQuery]:
    """Store the files, then the rows in one transaction; on failure the files go again."""
    stored: list[str] = []
    try:
        made = []
        with transaction.atomic():
            for draft in drafts:
                query = TestQuery(
                    test_set=test_set,
                    sha256=draft.facts.sha256,
                    format=draft.facts.format,
                    width=draft.facts.width,
                    height=draft.facts.height,
                    bytes=draft.facts.bytes,
                    name=draft.name[:255],
                    source_image=draft.source_image,
                    transform=draft.transform,
                    seed=draft.seed,
                    expected=draft.expected,
                    expected_sha256=list(
                        draft.expected_sha256
                        if draft.expected_sha256 is not None
                        else sorted({image.sha256 for image in draft.expected_images})
                    ),
                )
                query.file.save("query", ContentFile(draft.data), save=False)
                stored.append(str(query.file.name))
                query.save()
                if draft.expected_images:
                    query.expected_images.set(draft.expected_images)
                made.append(query)
            TestSet.objects.filter(pk=test_set.pk).update(updated_at=timezone.now())
    except BaseException:
        remove_files(*stored)
        raise
    return made


@dataclass(frozen=True)
class BuildOutcome:
    made: list[TestQuery]
    refused: list[tuple[str, str]]  # (query name, why) of queries the library would refuse


def testset_build(
    *,
    actor: Actor,
    test_set: TestSet,
    source_images: Sequence[Image],
    transform_names: Sequence[str],
    seed: int | None = None,
) -> BuildOutcome:
    """One query per (stored image, transform), each expecting its image first. The transform
    is drawn with the seed `seed`, else the image's id, so that building again gives the same
    bytes. A query the library's limits refuse (a crop too small) is reported, not stored."""
    library = test_set.library
    if not source_images:
        raise ValidationError({"images": _("Choose at least one image.")})
    if not transform_names:
        raise ValidationError({"transforms": _("Choose at least one transform.")})
    unknown = [n for n in transform_names if n not in transforms.TRANSFORM_NAMES]
    if unknown:
        raise ValidationError({"transforms": _("Unknown transform: %s") % ", ".join(unknown)})
    if len(source_images) * len(transform_names) > MAX_BUILD:
        raise ValidationError(
            _("One build makes at most %(n)d queries: choose fewer images or transforms.")
            % {"n": MAX_BUILD}
        )
    for image in source_images:
        if image.library_id != library.pk or not image.original:
            raise ValidationError(
                {"images": _("Choose images of this library that have a stored original.")}
            )
    _room(test_set, len(source_images) * len(transform_names))
    drafts: list[QueryDraft] = []
    refused: list[tuple[str, str]] = []
    for image in sorted(source_images, key=lambda row: row.pk):
        original = read_original(image)
        for name in transform_names:
            used = image.pk if seed is None else seed
            data = transforms.transformed_bytes(original, name, used)
            label = f"{image.brief} · {name}"
            try:
                facts = images.inspect(data, library.service)
            except ImageInvalid as exc:
                refused.append((label, f"{exc.code} {exc.message}"))
                continue
            drafts.append(
                QueryDraft(
                    data=data,
                    facts=facts,
                    name=label,
                    expected=Expected.FIRST,
                    expected_images=[image],
                    source_image=image,
                    transform=name,
                    seed=used,
                )
            )
    made = _queries_save(test_set, drafts)
    activity_record(
        actor=actor,
        application=library.application,
        verb=ActivityVerb.TESTSET_EDIT,
        obj=test_set,
        added=len(made),
        transforms=list(transform_names),
    )
    return BuildOutcome(made, refused)


def testquery_add(
    *,
    actor: Actor,
    test_set: TestSet,
    data: bytes,
    filename: str,
    expected: str,
    expected_images: Sequence[Image] = (),
) -> TestQuery:
    """An uploaded (or pasted, or downloaded) query with its expected answer. Raises
    ImageInvalid when the library would refuse the file, ValidationError for the answer."""
    library = test_set.library
    if expected not in Expected.values:
        raise ValidationError({"expected": _("Choose the expected answer.")})
    _check_expected(library, expected, expected_images)
    facts = images.inspect(data, library.service)
    _room(test_set, 1)
    name = PurePosixPath(filename or "query").name or "query"
    (query,) = _queries_save(
        test_set,
        [
            QueryDraft(
                data=data,
                facts=facts,
                name=name,
                expected=expected,
                expected_images=list(expected_images),
            )
        ],
    )
    activity_record(
        actor=actor,
        application=library.application,
        verb=ActivityVerb.TESTSET_EDIT,
        obj=test_set,
        added=1,
    )
    return query


def testquery_delete(*, actor: Actor, query: TestQuery) -> None:
    test_set = query.test_set
    name = query.file.name
    with transaction.atomic():
        query.delete()
        activity_record(
            actor=actor,
            application=test_set.library.application,
            verb=ActivityVerb.TESTSET_EDIT,
            obj=test_set,
            removed=1,
        )
        transaction.on_commit(lambda: remove_files(name))


def testset_delete(*, actor: Actor, test_set: TestSet) -> None:
    """The set, its queries' files and its runs."""
    with transaction.atomic():
        names = list(test_set.queries.values_list("file", flat=True))
        activity_record(
            actor=actor,
            application=test_set.library.application,
            verb=ActivityVerb.TESTSET_DELETE,
            obj=test_set,
            queries=len(names),
        )
        test_set.delete()
        transaction.on_commit(lambda: remove_files(*names))


# --- export and import ------------------------------------------------------------------------


def testset_export(*, test_set: TestSet) -> bytes:
    """A zip of the query images and a manifest: each query's file, name, transform, seed, and
    expected answer by the expected images' SHA-256 (and briefs, for people reading it)."""
    buffer = io.BytesIO()
    entries: list[dict[str, Any]] = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for n, query in enumerate(
            test_set.queries.prefetch_related("expected_images").order_by("pk"), 1
        ):
            suffix = PurePosixPath(str(query.file.name)).suffix
            member = f"queries/{n:04d}{suffix}"
            with default_storage.open(str(query.file.name), "rb") as handle:
                archive.writestr(member, handle.read())
            entries.append(
                {
                    "file": member,
                    "name": query.name,
                    "transform": query.transform,
                    "seed": query.seed,
                    "expected": query.expected,
                    "expected_sha256": query.expected_sha256,
                    "expected_briefs": [i.brief for i in query.expected_images.all()],
                }
            )
        manifest = {
            "format": MANIFEST_FORMAT,
            "name": test_set.name,
            "service": test_set.library.service,
            "queries": entries,
        }
        archive.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
    return buffer.getvalue()


def testset_import(*, actor: Actor, library: Library, data: bytes, name: str = "") -> TestSet:
    """A set from an exported zip. Expected images are found in this library by their bytes
    (SHA-256); a query whose expected image is not here is imported all the same (a run then
    counts it missed) and counted in the activity log."""
    if len(data) > MAX_ZIP_BYTES:
        raise ValidationError({"file": _("The file is larger than 200 MiB.")})
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        manifest = json.loads(archive.read(MANIFEST))
    except (zipfile.BadZipFile, KeyError, ValueError):
        raise ValidationError(
            {"file": _("This is not a test set exported by Tuku (a zip with a manifest).")}
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ValidationError({"file": _("This is not a test set exported by Tuku.")})
    entries = manifest.get("queries") or []
    if not isinstance(entries, list) or len(entries) > MAX_QUERIES:
        raise ValidationError({"file": _("The manifest's queries cannot be read.")})
    test_set = testset_create(
        actor=actor, library=library, name=name or str(manifest.get("name") or "imported")
    )
    by_sha: dict[str, Image] = {}
    wanted = {s for e in entries if isinstance(e, dict) for s in e.get("expected_sha256") or []}
    for image in library.images.live().filter(sha256__in=wanted).order_by("pk"):
        by_sha.setdefault(image.sha256, image)
    drafts: list[QueryDraft] = []
    missing = 0
    for entry in entries:
        try:
            content = archive.read(str(entry["file"]))
            expected = str(entry["expected"])
            shas = [str(s) for s in entry.get("expected_sha256") or []]
        except (KeyError, TypeError, AttributeError):
            raise ValidationError({"file": _("The manifest's queries cannot be read.")}) from None
        if expected not in Expected.values:
            raise ValidationError({"file": _("The manifest's queries cannot be read.")})
        try:
            facts = images.inspect(content, library.service)
        except ImageInvalid as exc:
            raise ValidationError(
                {"file": f"{entry.get('name') or entry['file']}: {exc.code} {exc.message}"}
            ) from None
        found = [by_sha[s] for s in shas if s in by_sha]
        missing += len(shas) - len(found)
        seed = entry.get("seed")
        drafts.append(
            QueryDraft(
                data=content,
                facts=facts,
                name=str(entry.get("name") or entry["file"]),
                expected=expected,
                expected_images=found,
                transform=str(entry.get("transform") or "")[:40],
                seed=seed if isinstance(seed, int) else None,
                expected_sha256=shas,
            )
        )
    _queries_save(test_set, drafts)
    activity_record(
        actor=actor,
        application=library.application,
        verb=ActivityVerb.TESTSET_IMPORT,
        obj=test_set,
        queries=len(drafts),
        expected_not_here=missing,
    )
    return test_set


# --- runs --------------------------------------------------------------------------------------


def testrun_start(
    *,
    actor: Actor,
    test_set: TestSet,
    library: Library | None = None,
    rn: int = 50,
    dispatch: bool = True,
) -> TestRun:
    """A run of the set against `library` (its own by default, or another library of the same
    service: a copy on another backend), queued after commit. `dispatch=False` leaves running
    it to the caller (`testrun_run`, the management command)."""
    target = library or test_set.library
    if target.is_instance or target.service != test_set.library.service:
        raise ValidationError(
            {"library": _("Choose a library of the same service as the test set's.")}
        )
    total = test_set.queries.count()
    if not total:
        raise ValidationError(_("The test set has no query yet."))
    backend = backend_for(target.application)
    size = backend.library_size(target)
    if size is None:
        size = target.images.held().count()
    with transaction.atomic():
        run = TestRun.objects.create(
            test_set=test_set,
            library=target,
            backend=target.application.backend,
            library_size=size,
            features_version=backend.features_version(),
            total=total,
            rn=rn,
            created_by=acting_user(actor),
        )
        activity_record(
            actor=actor,
            application=target.application,
            verb=ActivityVerb.TESTRUN_START,
            obj=run,
            test_set=test_set.pk,
            queries=total,
        )
        if dispatch:
            testrun_task.enqueue(run.pk)
    return run


def _hits_of(outcome: Any, wanted: set[str]) -> tuple[int | None, float | None, list[dict]]:
    rank = None
    expected_score = None
    returned = []
    for n, match in enumerate(outcome.matches, 1):
        row = match.image
        if rank is None and row is not None and row.sha256 in wanted:
            rank, expected_score = n, match.hit.score
        if n <= RETURNED_KEPT:
            returned.append(
                {
                    "ref": match.hit.ref,
                    "score": match.hit.score,
                    "brief": match.hit.brief,
                    "image": row.pk if row is not None else None,
                }
            )
    return rank, expected_score, returned


def testresult_record(*, run: TestRun, query: TestQuery) -> TestResult:
    """Ask the backend one query and keep what it answered. A transient error is raised (the
    task retries); a permanent one is the result."""
    with default_storage.open(str(query.file.name), "rb") as handle:
        data = handle.read()
    fields: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        outcome = library_search(library=run.library, data=data, rn=run.rn, interactive=False)
    except ImageInvalid as exc:
        fields.update(error_code=str(exc.code), error_msg=exc.message[:255])
    except ApiError as exc:
        if exc.retryable:
            raise
        fields.update(error_code=str(exc.error_code), error_msg=exc.error_msg[:255])
    else:
        wanted = set(query.expected_sha256)
        rank, expected_score, returned = _hits_of(outcome, wanted)
        hits = len(outcome.matches)
        # "Nothing" is right when nothing came back; an expected image, when it came first.
        passed = hits == 0 if query.expected == Expected.NOTHING else rank == 1
        fields.update(
            rank=rank,
            hits=hits,
            top_score=outcome.matches[0].hit.score if hits else None,
            expected_score=expected_score,
            returned=returned,
            passed=passed,
        )
    fields["latency_ms"] = (time.perf_counter() - started) * 1000
    result, _created = TestResult.objects.get_or_create(run=run, query=query, defaults=fields)
    return result


def testrun_run(*, run_id: int, progress: Callable[[int, int], None] | None = None) -> None:
    """Ask every query that has no result yet, in order; then the run is done."""
    run = TestRun.objects.select_related("library__application", "test_set").get(pk=run_id)
    if run.status != TestRun.Status.RUNNING:
        return
    done = set(run.results.values_list("query_id", flat=True))
    queries = [q for q in run.test_set.queries.order_by("pk") if q.pk not in done]
    for n, query in enumerate(queries, len(done) + 1):
        testresult_record(run=run, query=query)
        if progress is not None:
            progress(n, run.total)
    TestRun.objects.filter(pk=run.pk, status=TestRun.Status.RUNNING).update(
        status=TestRun.Status.DONE, finished_at=timezone.now(), message=""
    )


def testrun_give_up(run_id: int) -> Callable[[ApiError], None]:
    """The backend did not answer through the task's retries: the run fails with the error; the
    results it has are kept (a new run asks everything again)."""

    def give_up(exc: ApiError) -> None:
        log.warning("test run %s failed: %s %s", run_id, exc.error_code, exc.error_msg)
        TestRun.objects.filter(pk=run_id, status=TestRun.Status.RUNNING).update(
            status=TestRun.Status.FAILED,
            finished_at=timezone.now(),
            message=f"{exc.error_code} {exc.error_msg}"[:300],
        )

    return give_up


@shared_task(
    base=ConsoleTask, bind=True, name="gallery.tasks.testrun", holds=TestRun, exclusive=True
)
def testrun_task(self: ConsoleTask, run_id: int) -> None:
    self.run_retrying(lambda: testrun_run(run_id=run_id), testrun_give_up(run_id))
