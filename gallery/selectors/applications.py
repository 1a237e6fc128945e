"""The applications a user sees, with the library of each enabled service."""

from __future__ import annotations

from django.db.models import QuerySet

from gallery.models import Application, Library, Service

ServiceCards = list[tuple[Service, Library | None]]


def application_list(applications: QuerySet[Application]) -> list[tuple[Application, ServiceCards]]:
    """Each application with its enabled services, in the order it lists them, and the
    library of each (None where none was created yet); libraries in one extra read."""
    rows = []
    for application in applications.prefetch_related("libraries"):
        libraries = {lib.service: lib for lib in application.libraries.all()}
        enabled = [(Service(s), libraries.get(s)) for s in application.services if s in Service]
        rows.append((application, enabled))
    return rows
