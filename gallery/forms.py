"""Forms of the console pages. They validate input and say what is wrong beside each field;
writes happen in `services`, which validate again (a form is a courtesy, not the guard)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from gallery.labels import Labels, brief_problem, label_number
from gallery.models import (
    DEFAULT_CAPACITY,
    TAG_MAX,
    TAG_MIN,
    Application,
    ImageStatus,
    Library,
    Role,
    Service,
)
from wire.baidu import MAX_BRIEF_BYTES

QPS_TIERS = [
    ("paid", _("Paid tier (10 QPS)")),
    ("free", _("Free tier (2 QPS)")),
    ("custom", _("Custom")),
    ("unlimited", _("Unlimited")),
]
_TIER_QPS = {"paid": 10, "free": 2, "unlimited": 0}
# A new application's tier when none is picked: Baidu's billing tiers mean nothing to the
# built-in engine, whose limit is its CPU (gallery.backends: `default_qps`).
DEFAULT_TIER = ("default", _("The backend's default (built-in: unlimited; Baidu: paid tier)"))
_SEPARATORS = re.compile(r"[\s,，;]+")


def parse_tags(text: str) -> tuple[int, ...]:
    """'7, 9' → (7, 9); raises ValidationError with the reason in words."""
    parts = [p for p in _SEPARATORS.split(text.strip()) if p]
    if len(parts) > 2:
        raise ValidationError(_("At most two tags."), code="too_many")
    values = []
    for part in parts:
        value = label_number(part)
        if value is None:
            raise ValidationError(
                _("“%(value)s” is not a tag: tags are whole numbers from 1 to 65535."),
                params={"value": part[:20]},
                code="range",
            )
        values.append(value)
    return tuple(values)


class TagsField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault(
            "help_text", _("Up to two whole numbers from 1 to 65535, separated by a comma.")
        )
        super().__init__(**kwargs)

    def clean(self, value: Any) -> tuple[int, ...]:
        text = super().clean(value)
        return parse_tags(text) if text else ()


class ClassIdField(forms.CharField):
    """A class id by the tags' rule (`label_number`), so that both take the same digits; an
    IntegerField would also take ``+3``, ``3.0`` and ``1_0``."""

    widget = forms.NumberInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        return {**super().widget_attrs(widget), "min": TAG_MIN, "max": TAG_MAX}

    def clean(self, value: Any) -> int | None:
        text = super().clean(value)
        if not text:
            return None
        number = label_number(text)
        if number is None:
            raise ValidationError(_("Class ids are whole numbers from 1 to 65535."), code="range")
        return number


def class_id_field(label: Any) -> ClassIdField:
    return ClassIdField(label=label)


def check_brief(value: str) -> None:
    problem = brief_problem(value)
    if problem is not None:
        raise ValidationError(problem, code="brief")


class LabelsForm(forms.Form):
    """Tags, or for a product library the two class ids; the other fields are removed."""

    tags = TagsField(label=_("Tags"))
    class_id1 = class_id_field(_("Class id 1"))
    class_id2 = class_id_field(_("Class id 2"))

    def __init__(self, *args: Any, library: Library, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.library = library
        if library.uses_class_ids:
            del self.fields["tags"]
        else:
            del self.fields["class_id1"]
            del self.fields["class_id2"]

    @property
    def labels(self) -> Labels:
        data = self.cleaned_data
        return Labels(tuple(data.get("tags") or ()), data.get("class_id1"), data.get("class_id2"))

    @property
    def labels_given(self) -> bool:
        data = self.cleaned_data
        return bool(data.get("tags") or data.get("class_id1") or data.get("class_id2"))


# --- applications -----------------------------------------------------------------------------


class QpsTierForm(forms.Form):
    """The QPS tier choice shared by creating and editing an application."""

    qps_tier = forms.ChoiceField(label=_("QPS tier"), choices=QPS_TIERS, initial="paid")
    qps_custom = forms.IntegerField(
        label=_("Custom QPS"), required=False, min_value=1, max_value=10_000
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("qps_tier") == "custom" and not data.get("qps_custom"):
            self.add_error("qps_custom", _("Enter the custom QPS limit."))
        return data

    @property
    def qps(self) -> int:
        tier = self.cleaned_data["qps_tier"]
        if tier == "custom":
            return int(self.cleaned_data.get("qps_custom") or 10)
        return _TIER_QPS[tier]


class ApplicationForm(QpsTierForm):
    qps_tier = forms.ChoiceField(
        label=_("QPS tier"), choices=[DEFAULT_TIER, *QPS_TIERS], initial=DEFAULT_TIER[0]
    )
    name = forms.CharField(label=_("Name"), max_length=100)
    backend = forms.ChoiceField(
        label=_("Backend"),
        choices=Application.Backend.choices,
        initial=Application.Backend.BUILTIN,
        widget=forms.RadioSelect,
    )
    services = forms.MultipleChoiceField(
        label=_("Services"),
        choices=Service.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[Service.SAME_HQ, Service.SIMILAR],
        error_messages={"required": _("Tick at least one service.")},
    )
    base_url = forms.URLField(
        label=_("Base URL"),
        required=False,
        assume_scheme="https",
        help_text=_("Baidu only; https://aip.baidubce.com when empty."),
    )
    app_id = forms.CharField(label=_("AppID"), required=False, max_length=32)
    api_key = forms.CharField(label=_("API Key"), required=False, max_length=64)
    secret_key = forms.CharField(
        label=_("Secret Key"),
        required=False,
        max_length=128,
        widget=forms.PasswordInput(render_value=True, attrs={"autocomplete": "off"}),
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError(_("A name is required."))
        return name

    @property
    def qps_chosen(self) -> int | None:
        """The limit picked, or None for the backend's default."""
        return None if self.cleaned_data["qps_tier"] == DEFAULT_TIER[0] else self.qps

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("backend") == Application.Backend.BAIDU:
            for name in ("app_id", "api_key", "secret_key"):
                if not (data.get(name) or "").strip():
                    self.add_error(name, _("Copy this value from Baidu's application list."))
        return data


class ApplicationEditForm(QpsTierForm):
    """Enabled services and QPS tier of an existing application (console §2.1)."""

    services = forms.MultipleChoiceField(
        label=_("Services"),
        choices=Service.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Tick at least one service.")},
    )

    @classmethod
    def for_application(cls, application: Application, data: Any = None) -> ApplicationEditForm:
        tier = application.qps_tier
        initial = {
            "services": application.services,
            "qps_tier": tier,
            "qps_custom": application.qps if tier == "custom" else None,
        }
        return cls(data, initial=initial)


class ClearForm(forms.Form):
    confirm = forms.CharField(label=_("Library name"), max_length=300)


class CopyForm(forms.Form):
    target = forms.ModelChoiceField(label=_("Copy to"), queryset=Library.objects.none())

    def __init__(self, *args: Any, choices: QuerySet[Library], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = choices  # type: ignore[attr-defined]
        self.fields["target"].label_from_instance = str  # type: ignore[attr-defined]


class CredentialsForm(forms.Form):
    """The fields the "test connection" button sends."""

    base_url = forms.URLField(required=False, assume_scheme="https")
    app_id = forms.CharField(required=False, max_length=32)
    api_key = forms.CharField(max_length=64)
    secret_key = forms.CharField(max_length=128)


class MemberForm(forms.Form):
    username = forms.CharField(label=_("User name"), max_length=150)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.VIEWER)

    def clean_username(self) -> Any:
        name = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=name).first()
        if user is None:
            raise ValidationError(_("There is no user with that name."))
        return user


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class LibraryForm(forms.Form):
    service = forms.ChoiceField(label=_("Service"), choices=Service.choices)
    capacity = forms.IntegerField(
        label=_("Capacity"), min_value=1, max_value=2_000_000_000, initial=DEFAULT_CAPACITY
    )


class CapacityForm(forms.Form):
    capacity = forms.IntegerField(label=_("New capacity"), min_value=1, max_value=2_000_000_000)


# --- images -----------------------------------------------------------------------------------


class UploadForm(LabelsForm):
    """Labels applied to every file of a batch, and an optional brief for a single file."""

    brief = forms.CharField(
        label=_("Brief"),
        required=False,
        max_length=MAX_BRIEF_BYTES,
        validators=[check_brief],
        help_text=_("Defaults to the file name. At most 256 bytes in UTF-8."),
    )
    urls = forms.CharField(
        label=_("Image URLs"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line. Tuku downloads each file itself (at most 3 MiB)."),
    )

    def clean_urls(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data.get("urls", "").splitlines()]
        urls = [line for line in lines if line]
        if len(urls) > 200:
            raise ValidationError(_("At most 200 URLs at a time."))
        return urls


class ImageEditForm(LabelsForm):
    """Brief and labels of a stored image. The brief as it is (`kept_brief`) passes even where
    the upload rules would refuse it, as one an API client stored may be (only spaces, say):
    changing the tags never means retyping the brief."""

    brief = forms.CharField(
        label=_("Brief"),
        max_length=MAX_BRIEF_BYTES,
        error_messages={"required": _("A brief is required.")},
        strip=False,
    )

    def __init__(self, *args: Any, kept_brief: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kept_brief = kept_brief

    def clean_brief(self) -> str:
        brief: str = self.cleaned_data["brief"]
        if brief != self.kept_brief:
            check_brief(brief)
        return brief


class ListingForm(LabelsForm):
    """The listing's filters (GET). An invalid filter is reported and left out."""

    tag_logic = forms.TypedChoiceField(
        label=_("Match"),
        choices=[(0, _("all tags (AND)")), (1, _("any tag (OR)"))],
        coerce=int,
        required=False,
        empty_value=None,
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status"))]
        + [(s.value, s.label) for s in ImageStatus if s != ImageStatus.DELETED],
    )
    q = forms.CharField(label=_("Brief contains"), required=False, max_length=256)
    sort = forms.ChoiceField(
        label=_("Sort"),
        required=False,
        choices=[("new", _("Newest first")), ("old", _("Oldest first"))],
    )
    after = forms.CharField(required=False, max_length=200)
    before = forms.CharField(required=False, max_length=200)


class SearchForm(LabelsForm):
    image = forms.FileField(label=_("Image"), required=False)
    url = forms.CharField(label=_("or an image URL"), required=False, max_length=1024)
    tag_logic = forms.TypedChoiceField(
        label=_("Match"),
        choices=[(0, _("all tags (AND)")), (1, _("any tag (OR)"))],
        coerce=int,
        required=False,
        empty_value=None,
    )
    rn = forms.IntegerField(
        label=_("Results"), min_value=1, max_value=1000, initial=50, required=False
    )
    pn = forms.IntegerField(min_value=0, max_value=999, required=False)
    min_score = forms.FloatField(
        label=_("Minimum score"), min_value=0, max_value=1, required=False, initial=0
    )


class CheckForm(forms.Form):
    image = forms.FileField(label=_("Image"), required=False)
    url = forms.CharField(label=_("or an image URL"), required=False, max_length=1024)


class BulkForm(forms.Form):
    action = forms.ChoiceField(choices=[("delete", "delete"), ("retag", "retag")])
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=[])
    confirmed = forms.BooleanField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any integer: the view keeps only ids of the library.
        self.fields["ids"].valid_value = lambda value: str(value).isdigit()  # type: ignore[attr-defined]
        self.fields["ids"].error_messages["required"] = _("Select at least one image.")
