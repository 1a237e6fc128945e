"""Read-mostly admin views of the engine's store (secrets and vectors are never shown)."""

from django.contrib import admin
from django.http import HttpRequest

from engine.models import EngineApp, EngineLibrary


@admin.register(EngineApp)
class EngineAppAdmin(admin.ModelAdmin):
    list_display = ("app_id", "name", "api_key", "qps", "signing_only", "created_at")
    search_fields = ("app_id", "name", "api_key")
    fields = ("app_id", "name", "api_key", "services", "qps", "signing_only")
    readonly_fields = ("app_id", "api_key")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # applications are created through the console or engine_app

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # deleting must go through services (bulk deletes, index and snapshot)


@admin.register(EngineLibrary)
class EngineLibraryAdmin(admin.ModelAdmin):
    list_display = ("app", "service", "entry_count", "capacity", "seq", "created_at")
    list_filter = ("service",)
    fields = ("app", "service", "capacity", "entry_count", "seq")
    readonly_fields = ("app", "service", "entry_count", "seq")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # libraries are created through the console or engine_library

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # deleting must go through services (bulk deletes, index and snapshot)
