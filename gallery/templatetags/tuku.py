"""Presentation helpers: error explanations, labels, and the geometry of the usage charts.

The usage page's calls per day are drawn by the vendored Chart.js from data built here, each
chart over a table of the same numbers; the errors by code are plain SVG drawn by a template.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django import template
from django.utils import dateformat, timezone
from django.utils.formats import number_format
from django.utils.html import format_html, json_script
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from gallery.explain import error_text as explain_error_text
from gallery.explain import explain as explain_code
from gallery.explain import picture_limits, service_limits
from gallery.forms import transform_label
from gallery.models import (
    TYPE_OF_SERVICE,
    Activity,
    Image,
    ImageStatus,
    Library,
    Service,
)
from gallery.narrate import narrate, verb_label
from gallery.selectors.usage import OUTCOMES, Usage
from wire.aliyun import CATEGORIES

register = template.Library()

# Colour per service, distinguishable in grey scale too (lightness steps).
SERVICE_COLOURS = {
    "same_hq": "#2357d9",
    "similar": "#1f7a3d",
    "product": "#b25c00",
    "picturebook": "#7b3fb3",
    "materiel": "#8a8f98",
}


@register.filter
def explain(code: object, service: str = "") -> str:
    return explain_code(code, service) if code not in (None, "") else ""


@register.filter
def error_text(message: str) -> str:
    """A stored error message in the viewer's language where it is one of Tuku's own."""
    return explain_error_text(message or "")


@register.filter
def limits(service: str) -> str:
    return service_limits(service)


@register.filter
def library_limits(library: Library) -> str:
    """The upload rules of a library in a sentence, by its wire."""
    if library.is_instance:
        return picture_limits(TYPE_OF_SERVICE[library.service])
    return service_limits(library.service)


@register.filter
def labels(image: Image, library: Any = None) -> str:
    """'7, 9' for tags; '3 / 5' for product class ids; '' when unlabelled."""
    if library is not None and library.uses_class_ids:
        if image.class_id1 is None and image.class_id2 is None:
            return ""
        return " / ".join(
            str(v) if v is not None else "–" for v in (image.class_id1, image.class_id2)
        )
    return ", ".join(str(t) for t in image.tags)


# How much of a time `when` shows: to the minute, to the second, or the time of day only.
_WHEN_FORMATS = {"minutes": "Y-m-d H:i", "seconds": "Y-m-d H:i:s", "time": "H:i:s"}


@register.filter
def when(value: datetime | None, precision: str = "minutes") -> SafeString | str:
    """A moment as every page shows one: in the console's time zone (`TIME_ZONE`), always
    with the zone's name ("2026-12-01 22:15 UTC"), as a <time> element whose title is the
    full ISO 8601 time with its offset. '' for None, so `|default` still works."""
    if value is None or value == "":
        return ""
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    shown = dateformat.format(local, _WHEN_FORMATS.get(precision, _WHEN_FORMATS["minutes"]))
    zone = dateformat.format(local, "T") if timezone.is_aware(local) else ""
    iso = local.isoformat(timespec="seconds")
    return format_html('<time datetime="{}" title="{}">{} {}</time>', iso, iso, shown, zone)


@register.simple_tag
def time_zone_name() -> str:
    """The zone every time on the pages is shown in."""
    return timezone.get_current_timezone_name()


@register.filter
def percent(part: int | float | None, whole: int | float | None) -> float:
    if not whole:
        return 0.0
    return round(min(100.0, 100.0 * float(part or 0) / float(whole)), 1)


@register.filter
def score(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


@register.filter
def category(category_id: int | None) -> str:
    """An Alibaba category's name ("Shoes"), or the id itself if it is not one of them."""
    if category_id is None:
        return ""
    return CATEGORIES.get(category_id, str(category_id))


@register.filter
def score_percent(value: float) -> int:
    return max(0, min(100, round(value * 100)))


# The usage page's charts are drawn by Chart.js (static/vendor/chartjs/) from the JSON built
# here; the same numbers are the table under each chart, which is what shows without scripts.
OUTCOME_COLOURS = {"succeeded": "#1f7a3d", "retried": "#e0a400", "failed": "#c62828"}
OPERATION_COLOURS = {
    "add": "#2357d9",
    "search": "#7b3fb3",
    "update": "#b25c00",
    "delete": "#8a8f98",
    "other": "#3b3f46",
}
PALETTE = ("#0f766e", "#be185d", "#4d7c0f", "#9333ea", "#a16207", "#475569")


def outcome_label(name: str) -> str:
    return {
        "succeeded": _("Succeeded"),
        "retried": _("Succeeded after a QPS limit"),
        "failed": _("Failed"),
    }.get(name, name)


def operation_label(kind: str) -> str:
    return {
        "add": _("Add"),
        "search": _("Search"),
        "update": _("Update"),
        "delete": _("Delete"),
        "other": _("Other"),
    }.get(kind, kind)


def service_label(service: str) -> str:
    """A Baidu service by its name ("Same image"); an Alibaba instance by its own name."""
    if service in Service.values:
        return str(Service(service).label)
    return service


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    colour: str


@dataclass(frozen=True)
class DayChart:
    """One stacked bar chart of calls per day, and the rows of its table."""

    key: str
    title: str
    description: str
    series: list[Series]
    rows: list[tuple[date, list[int], int]]


def _day_charts(usage: Usage) -> list[DayChart]:
    outcomes = [Series(k, outcome_label(k), OUTCOME_COLOURS[k]) for k in OUTCOMES]
    operations = [Series(k, operation_label(k), OPERATION_COLOURS[k]) for k in usage.operations]
    services = [
        Series(s, service_label(s), SERVICE_COLOURS.get(s) or PALETTE[i % len(PALETTE)])
        for i, s in enumerate(usage.services)
    ]
    return [
        DayChart(
            "outcome",
            _("Calls per day by outcome"),
            _("Calls per day, stacked: succeeded, succeeded after a QPS limit, failed."),
            outcomes,
            usage.per_day(usage.by_outcome, [s.key for s in outcomes]),
        ),
        DayChart(
            "operation",
            _("Calls per day by operation"),
            _("Calls per day, stacked by operation."),
            operations,
            usage.per_day(usage.by_operation, [s.key for s in operations]),
        ),
        DayChart(
            "service",
            _("Calls per day by service"),
            _("Calls per day, stacked by service."),
            services,
            usage.per_day(usage.by_service, [s.key for s in services]),
        ),
    ]


@register.simple_tag
def usage_charts(usage: Usage) -> list[DayChart]:
    return _day_charts(usage)


@register.simple_tag
def usage_chart_data(usage: Usage) -> str:
    """What usage.js draws, as a JSON script element: the days (ISO dates, formatted in the
    browser by the page's language) and per chart its series, labels already translated."""
    data = {
        "days": [day.isoformat() for day in usage.days],
        "charts": {
            chart.key: [
                {
                    "label": series.label,
                    "colour": series.colour,
                    "data": [values[i] for _day, values, _total in chart.rows],
                }
                for i, series in enumerate(chart.series)
            ]
            for chart in _day_charts(usage)
        },
        "texts": {"total": _("Total"), "calls": _("Calls")},
    }
    return json_script(data, "usage-data")


@register.filter
def count(value: int) -> str:
    """A count with the language's digit grouping ("12,345")."""
    return number_format(value, force_grouping=True)


@register.inclusion_tag("gallery/_chart_errors.html")
def errors_chart(usage: Usage) -> dict[str, Any]:
    """Horizontal bars: failed calls by error code."""
    rows = usage.errors[:12]
    top = max((n for _c, _m, n in rows), default=1)
    height = 26
    label_w, plot_w = 260, 400
    bars = [
        {
            "y": i * height,
            "width": max(2.0, plot_w * n / top),
            "code": code,
            "msg": msg,
            "n": n,
            "explanation": explain_code(code),
        }
        for i, (code, msg, n) in enumerate(rows)
    ]
    return {
        "bars": bars,
        "w": label_w + plot_w + 60,
        "h": max(height, height * len(rows)),
        "label_w": label_w,
        "row_h": height,
    }


@register.filter
def status_name(status: str) -> str:
    """An image status in the viewer's language ("indexed" → "Indexed"); a clear job's count
    of rows still there is "left"."""
    if status == "left":
        return pgettext("images a clear job has still to remove", "Left")
    try:
        return str(ImageStatus(status).label)
    except ValueError:
        return status


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key)


@register.filter
def split(value: str) -> list[str]:
    return value.split()


def _plural(key: str, singular: str, plural: str) -> dict[str, str]:
    """A counted string for a script: `key` for one, `key_plural` for any other count. Both
    languages served (English, Chinese) have at most these two forms."""
    return {key: ngettext(singular, plural, 1), f"{key}_plural": ngettext(singular, plural, 2)}


def _js_texts(page: str) -> dict[str, str]:
    if page == "upload":
        return {
            "waiting": _("Waiting"),
            "sending": _("Sending"),
            "refused": _("Refused"),
            "preview": _("preview"),
            "already_here": _("Already here as “%s”"),
            "update_instead": _("Update its brief and tags instead"),
            "batch": _("Batch %s: follow its progress (it goes on if you close this page)"),
            "duplicate": _("the image already in the library"),
            "too_big": _("The file is %s MiB, over the limit of this library."),
            **_plural("queued", "%s file ready; press Upload.", "%s files ready; press Upload."),
            "progress": _("Sending %s"),
            **_plural(
                "indexing", "%s image still being indexed…", "%s images still being indexed…"
            ),
            "all_done": _("All done."),
            "fix_form": _("Not sent: correct the form above."),
            "server_error": _("The server could not handle this file."),
            "network": _("The connection failed."),
            "nothing": _("Choose at least one file or give a URL."),
            "checking": _("Checking…"),
        }
    if page == "copy":
        return {"copy": _("Copy"), "copied": _("Copied"), "failed": _("Press Ctrl+C to copy")}
    if page == "camera":
        return {"searching": _("Searching with %s…"), "no_camera": _("No camera: %s")}
    if page == "search":
        return _plural(
            "hidden", "%n result hidden by the filters.", "%n results hidden by the filters."
        )
    if page == "library":
        return {"selected": _("%n selected"), "all_matching": _("All matching images selected")}
    return {}


@register.simple_tag
def js_texts(page: str) -> str:
    """The translated strings a page's script shows, as a JSON script element."""
    return json_script(_js_texts(page), f"{page}-text")


@register.filter
def verb(value: str) -> str:
    """An activity verb in words ('image.upload' → 'uploaded'); an unknown one as it is."""
    return verb_label(value)


@register.inclusion_tag("gallery/_activity_entry.html")
def activity_entry(activity: Activity) -> dict[str, Any]:
    """An activity's detail in words: its fields, before → after where they changed, and how
    an edit that waited for the backend went (`gallery.narrate`)."""
    return {"entry": narrate(activity)}


# --- the search test bench ---------------------------------------------------------------------


@register.filter
def figure(value: float | None) -> str:
    """A share or a mean reciprocal rank, to three decimals as bench/quality.py prints them."""
    return "—" if value is None else f"{value:.3f}"


@register.filter
def millis(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


@register.filter
def transform_name(name: str) -> str:
    return transform_label(name)


HIST_W, HIST_H, HIST_PAD_L, HIST_PAD_B, HIST_PAD_T = 640, 200, 36, 30, 10


def _nice_max(value: int) -> int:
    """The chart's top: 5, or the first 1, 2, 5 or 10 times a power of ten at or above."""
    if value <= 5:
        return 5
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


@register.inclusion_tag("gallery/_chart_scores.html")
def score_chart(histogram: Any, threshold: float) -> dict[str, Any]:
    """Two bar series per score bin (right answers, wrong answers) and the threshold line."""
    bins = len(histogram.right)
    plot_w = HIST_W - HIST_PAD_L - 8
    plot_h = HIST_H - HIST_PAD_B - HIST_PAD_T
    top = _nice_max(histogram.peak)
    slot = plot_w / bins
    bars = []
    for n in range(bins):
        low = n * histogram.width
        for k, (series, count) in enumerate(
            (("right", histogram.right[n]), ("wrong", histogram.wrong[n]))
        ):
            if not count:
                continue
            height = plot_h * count / top
            bars.append(
                {
                    "x": round(HIST_PAD_L + n * slot + 1 + k * (slot - 2) / 2, 1),
                    "y": round(HIST_PAD_T + plot_h - height, 1),
                    "width": round((slot - 2) / 2, 1),
                    "height": round(height, 1),
                    "series": series,
                    "title": f"{low:.2f}–{low + histogram.width:.2f}: {count}",
                }
            )
    ticks = [
        {"x": round(HIST_PAD_L + plot_w * v / 10, 1), "label": f"{v / 10:.1f}"} for v in range(11)
    ]
    return {
        "w": HIST_W,
        "h": HIST_H,
        "bars": bars,
        "ticks": ticks,
        "base_y": HIST_PAD_T + plot_h,
        "tick_y": HIST_PAD_T + plot_h + 18,
        "top": top,
        "left": HIST_PAD_L,
        "right_edge": HIST_PAD_L + plot_w,
        "threshold_x": round(HIST_PAD_L + plot_w * threshold, 1),
        "threshold": threshold,
        "pad_t": HIST_PAD_T,
    }
