"""The activity log in words: what a page shows for one entry of `Activity`.

An entry's `detail` is what its service recorded (`gallery.services.activity.activity_record`):
plain JSON values, and for a change the values before (`previous`). `narrate` turns it into the
verb's label, a list of facts ("Capacity: 500,000") and a list of changes with their value
before and after ("Role: Viewer → Editor"), each field named and each value in the viewer's
language (numbers formatted for the locale, roles, services and backends by their labels). An
edit that waits for the backend, or that the backend refused later, says so (`outcome`).

Entries written before a field was recorded stay readable: a change without its earlier value
is shown as a fact, a key nobody knows is shown as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from gallery.explain import error_text, explain
from gallery.models import Activity, ActivityVerb, Application, Role, Service

# What an edit waiting for the backend became (`Activity.detail["outcome"]`).
EDIT_WAITING, EDIT_DONE, EDIT_FAILED = "waiting", "done", "failed"

FIELD_LABELS: dict[str, Any] = {
    "brief": gettext_lazy("Brief"),
    "tags": gettext_lazy("Tags"),
    "class_id1": gettext_lazy("Class id 1"),
    "class_id2": gettext_lazy("Class id 2"),
    "capacity": gettext_lazy("Capacity"),
    "threshold": gettext_lazy("Threshold"),
    "role": gettext_lazy("Role"),
    "user": gettext_lazy("User"),
    "services": gettext_lazy("Services"),
    "qps": gettext_lazy("QPS limit"),
    "backend": gettext_lazy("Backend"),
    "library": gettext_lazy("Library"),
    "images": gettext_lazy("Images"),
    "urls": gettext_lazy("URLs"),
    "added": pgettext_lazy("images counted in the history", "Added"),
    "removed": pgettext_lazy("images counted in the history", "Removed"),
    "not_sent": gettext_lazy("Not sent"),
    "source": gettext_lazy("Source"),
    "product_id": gettext_lazy("Product id"),
    "filter": gettext_lazy("Filter"),
    "expires": gettext_lazy("Expires"),
    "custom_content": gettext_lazy("Custom content"),
    "kept": gettext_lazy("Original kept"),
    "error": gettext_lazy("Error"),
    **{f"int_attr{n}": f"IntAttr{'' if n == 1 else n}" for n in range(1, 5)},
    **{f"str_attr{n}": f"StrAttr{'' if n == 1 else n}" for n in range(1, 5)},
}

# The order fields are shown in; the rest follow in the order they were recorded.
_ORDER = list(FIELD_LABELS)

# Keys that say how an entry went rather than what it changed.
_META = {"previous", "outcome", "error_code", "error_msg", "labels", "picture"}

NOTHING = pgettext_lazy("a value in the history", "none")


@dataclass(frozen=True)
class Change:
    """One field of an entry: its value, and its value before where it changed."""

    name: str
    label: str
    after: str
    before: str | None = None

    @property
    def changed(self) -> bool:
        return self.before is not None


@dataclass(frozen=True)
class Entry:
    verb: str
    label: str
    fields: list[Change] = field(default_factory=list)
    outcome: str = ""
    error_code: str = ""
    error_msg: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome == EDIT_FAILED

    @property
    def waiting(self) -> bool:
        return self.outcome == EDIT_WAITING

    @property
    def explanation(self) -> str:
        return explain(self.error_code) if self.error_code else ""


def verb_label(verb: str) -> str:
    """An activity verb in words ('image.upload' → 'uploaded'); an unknown one as it is."""
    try:
        return str(ActivityVerb(verb).label)
    except ValueError:
        return verb


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return number_format(value, use_l10n=True, force_grouping=True)


def _choice(choices: Any) -> Callable[[Any], str]:
    def show(value: Any) -> str:
        try:
            return str(choices(value).label)
        except ValueError:
            return str(value)

    return show


def _services(value: Any) -> str:
    return ", ".join(_choice(Service)(v) for v in value or []) or str(NOTHING)


def _qps(value: Any) -> str:
    if value == 0:
        return _("Unlimited")
    if value == 10:
        return _("Paid tier (10 QPS)")
    if value == 2:
        return _("Free tier (2 QPS)")
    return _("%(qps)s QPS") % {"qps": _number(value)}


def _threshold(value: Any) -> str:
    if not isinstance(value, int | float):
        return str(value)
    return number_format(value, decimal_pos=2, use_l10n=True)


def _labels(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value if v is not None) or str(NOTHING)
    return str(value)


def _text(value: Any) -> str:
    return f"“{value}”" if value else str(NOTHING)


def _kept(value: Any) -> str:
    return _("yes") if value else _("no")


_FORMAT: dict[str, Callable[[Any], str]] = {
    "role": _choice(Role),
    "backend": _choice(Application.Backend),
    "library": _choice(Service),
    "services": _services,
    "qps": _qps,
    "threshold": _threshold,
    "tags": _labels,
    "brief": _text,
    "custom_content": _text,
    "kept": _kept,
}


def _show(name: str, value: Any) -> str:
    if value is None or value == "":
        return str(NOTHING)
    formatter = _FORMAT.get(name)
    if formatter is not None:
        return formatter(value)
    if isinstance(value, list | tuple):
        return ", ".join(_show(name, v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_show(k, v)}" for k, v in value.items())
    return _number(value)


def _label(name: str) -> str:
    return str(FIELD_LABELS.get(name, name))


def _flatten(detail: dict[str, Any]) -> dict[str, Any]:
    """The fields an entry recorded, nested groups (`labels`, `picture`) spread out."""
    flat = {k: v for k, v in detail.items() if k not in _META}
    labels = detail.get("labels")
    if isinstance(labels, dict):
        flat.update(labels)
    picture = detail.get("picture")
    if isinstance(picture, dict):
        flat.update(_picture_fields(picture))
    return flat


def _picture_fields(picture: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for n, value in enumerate(picture.get("int_attrs") or [], 1):
        flat[f"int_attr{n}"] = value
    for n, value in enumerate(picture.get("str_attrs") or [], 1):
        flat[f"str_attr{n}"] = value
    if "custom_content" in picture:
        flat["custom_content"] = picture["custom_content"]
    return flat


# Verbs whose `previous` is the earlier value of one field.
_SCALAR_PREVIOUS = {
    ActivityVerb.LIBRARY_CAPACITY.value: "capacity",
    ActivityVerb.LIBRARY_THRESHOLD.value: "threshold",
}


def _previous(verb: str, detail: dict[str, Any]) -> dict[str, Any] | None:
    previous = detail.get("previous")
    if previous is None:
        return None
    if not isinstance(previous, dict):
        name = _SCALAR_PREVIOUS.get(verb)
        return {name: previous} if name else None
    flat = dict(previous)
    if isinstance(previous.get("picture"), dict):
        flat.update(_picture_fields(flat.pop("picture")))
    return flat


def _blank(value: Any) -> bool:
    return value in (None, "", [], {})


def narrate(activity: Activity) -> Entry:
    """What a page shows for one activity entry."""
    verb, detail = activity.verb, activity.detail if isinstance(activity.detail, dict) else {}
    after = _flatten(detail)
    before = _previous(verb, detail)
    # An edit records every field the form sent; the ones it left as they were say nothing.
    edit = verb == ActivityVerb.IMAGE_EDIT
    names = sorted(after, key=lambda k: _ORDER.index(k) if k in _ORDER else len(_ORDER))
    changes: list[Change] = []
    for name in names:
        value = after[name]
        if before is not None and name in before:
            if before[name] == value or (_blank(before[name]) and _blank(value)):
                if edit:
                    continue
                changes.append(Change(name, _label(name), _show(name, value)))
                continue
            changes.append(
                Change(name, _label(name), _show(name, value), _show(name, before[name]))
            )
        elif _blank(value):
            continue
        else:
            changes.append(Change(name, _label(name), _show(name, value)))
    return Entry(
        verb=verb,
        label=verb_label(verb),
        fields=changes,
        outcome=str(detail.get("outcome") or ""),
        error_code=str(detail.get("error_code") or ""),
        error_msg=error_text(str(detail.get("error_msg") or "")),
    )
