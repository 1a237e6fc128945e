import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

app = Celery("tuku")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each task lives beside the service it runs; these are the modules that hold tasks.
app.conf.imports = (
    "gallery.services.sync",
    "gallery.services.uploads",
    "gallery.services.jobs",
    "gallery.services.images",
    "gallery.services.sweep",
    "gallery.services.mirror",
    "gallery.services.orphans",
    "gallery.services.testbench",
)
