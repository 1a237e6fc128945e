"""The last step of deleting a library or an application: the engine's twin, the rows and the
kept files go, in one transaction, the files once it has committed.

It runs once nothing is left on a hosted backend (the delete job of `gallery.services.removal`
settled, `gallery.services.batches.batch_settle`), or at once for the built-in engine, whose
library goes in-process with every image in it. What survives: the application's activity log
(a library's deletion), and for an application an entry with no application (the site admin's
Activity list) and a line in the server's log.
"""

from __future__ import annotations

import logging

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from gallery.backends import backend_for
from gallery.models import ActivityVerb, Application, Image, Library, TestQuery, TestSet
from gallery.services.activity import Actor, acting_user, activity_record
from gallery.services.rows import remove_files

log = logging.getLogger(__name__)

FOLDERS = ("originals", "thumbnails")  # where a library's files are (models.original_path)


def _files_under(folder: str) -> list[str]:
    if not default_storage.exists(folder):
        return []
    folders, files = default_storage.listdir(folder)
    found = [f"{folder}/{name}" for name in files]
    for sub in folders:
        found += _files_under(f"{folder}/{sub}")
    return found


def _remove_library_files(library_id: int, named: list[str], test_sets: list[int]) -> None:
    """The rows' files, then anything else left in the library's folders (an upload that
    stored its files and then found the library gone) and its test sets' query images: no
    file outlives its library."""
    remove_files(*named)
    for root in FOLDERS:
        remove_files(*_files_under(f"{root}/{library_id}"))
    for set_id in test_sets:
        remove_files(*_files_under(f"testsets/{set_id}"))  # models.query_path


def library_drop(*, library: Library) -> int:
    """Delete the library's engine twin (built-in), its rows and, once committed, its files.
    Returns how many live images it still had. Call inside or outside a transaction."""
    with transaction.atomic():
        locked = Library.objects.select_for_update().filter(pk=library.pk).first()
        if locked is None:
            return 0  # another settle got there first
        backend_for(library.application).library_drop(locked)
        rows = Image.objects.filter(library=locked)
        live = rows.live().count()
        named = [
            name for pair in rows.values_list("original", "thumbnail") for name in pair if name
        ]
        named += [
            name
            for name in TestQuery.objects.filter(test_set__library=locked).values_list(
                "file", flat=True
            )
            if name
        ]
        test_sets = list(TestSet.objects.filter(library=locked).values_list("pk", flat=True))
        library_id = locked.pk
        log.info(
            "library %s (%s) deleted with %d live image(s) and %d file(s)",
            library_id,
            locked,
            live,
            len(named),
        )
        locked.delete()  # its rows, pictures and jobs with it
        transaction.on_commit(lambda: _remove_library_files(library_id, named, test_sets))
    return live


def application_drop(*, actor: Actor, application: Application) -> None:
    """Delete the application with its libraries (as `library_drop`), memberships, log and
    the keys the engine issued. One entry without an application records it for the site
    admin (Activity in the admin), and the server's log has a line."""
    with transaction.atomic():
        locked = Application.objects.select_for_update().filter(pk=application.pk).first()
        if locked is None:
            return
        # What the owner asked for, recorded when they did (`removal.application_delete`):
        # by now the last library's job may have removed every library.
        asked = locked.activities.filter(verb=ActivityVerb.APPLICATION_DELETE).first()
        if actor is None and asked is not None:
            actor = asked.actor
        libraries = list(locked.libraries.all())
        images = sum(library_drop(library=library) for library in libraries)
        names = [library.display_name for library in libraries]
        if asked is not None:
            names = asked.detail.get("libraries", names)
            images = asked.detail.get("images", images)
        backend_for(locked).application_drop()
        activity_record(
            actor=actor,
            application=None,
            verb=ActivityVerb.APPLICATION_DELETE,
            obj=locked,
            backend=locked.backend,
            app_id=locked.app_id,
            api_key=locked.api_key,
            libraries=names,
            images=images,
            asked_at=(locked.deleting_since or timezone.now()).isoformat(),
        )
        log.warning(
            "application %s (%s, %s) deleted by %s",
            locked.pk,
            locked.name,
            locked.backend,
            getattr(acting_user(actor), "username", "the system"),
        )
        locked.delete()
