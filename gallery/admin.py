"""The site admin's read-only view of the activity log, where the deletion of an application
is recorded once the application and its own log are gone (an entry with no application)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from gallery.models import Activity


class DeletedApplicationFilter(admin.SimpleListFilter):
    title = "application"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("1", "deleted applications")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Activity]) -> QuerySet[Activity]:
        if self.value() == "1":
            return queryset.filter(application__isnull=True, verb="application.delete")
        return queryset


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor", "verb", "object_repr", "application")
    list_filter = (DeletedApplicationFilter, "verb")
    search_fields = ("object_repr",)
    readonly_fields = (
        "created_at",
        "actor",
        "application",
        "verb",
        "object_type",
        "object_id",
        "object_repr",
        "detail",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # written by services only

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
