"""Forms of the console pages. They validate input and say what is wrong beside each field;
writes happen in `services`, which validate again (a form is a courtesy, not the guard)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from gallery.backends.aliyun import PictureQuery
from gallery.labels import Labels, brief_problem, label_number
from gallery.models import (
    DEFAULT_CAPACITY,
    INT_ATTR_FIELDS,
    STR_ATTR_FIELDS,
    TAG_MAX,
    TAG_MIN,
    Application,
    Expected,
    ImageStatus,
    Library,
    Role,
    Service,
)
from gallery.pictures import PictureFields
from searchapi.aliyun import Condition, filter_clause
from wire.aliyun import (
    CAPACITY_UNIT,
    CATEGORIES,
    MAX_CUSTOM_CONTENT,
    MAX_ID,
    MAX_INSTANCE_NAME,
    MAX_STR_ATTR,
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


# A secret typed into a form that failed is never sent back into the page (where it would sit
# in the HTML, the browser's cache and any screenshot): the user types it again.
SECRET_INPUT = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})


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
    # Baidu only: an Alibaba application's instances have their own types.
    services = forms.MultipleChoiceField(
        label=_("Services"),
        required=False,
        choices=Service.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[Service.SAME_HQ, Service.SIMILAR],
    )
    access_key_id = forms.CharField(label=_("AccessKey ID"), required=False, max_length=64)
    access_key_secret = forms.CharField(
        label=_("AccessKey Secret"),
        required=False,
        max_length=128,
        widget=SECRET_INPUT,
    )
    region = forms.CharField(
        label=_("Region"),
        required=False,
        max_length=32,
        initial="cn-shanghai",
        help_text=_("Where the instances are, as Alibaba names it: cn-shanghai, ap-southeast-1…"),
    )
    endpoint = forms.URLField(
        label=_("Endpoint"),
        required=False,
        assume_scheme="https",
        help_text=_("Optional; https://imagesearch.<region>.aliyuncs.com when empty."),
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
        widget=SECRET_INPUT,
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
        backend = data.get("backend")
        if backend == Application.Backend.BAIDU:
            for name in ("app_id", "api_key", "secret_key"):
                if not (data.get(name) or "").strip():
                    self.add_error(name, _("Copy this value from Baidu's application list."))
        if backend == Application.Backend.ALIYUN:
            for name in ("access_key_id", "access_key_secret"):
                if not (data.get(name) or "").strip():
                    self.add_error(name, _("Copy this value from Alibaba's AccessKey page."))
        if backend in (Application.Backend.BUILTIN, Application.Backend.BAIDU) and not data.get(
            "services"
        ):
            self.add_error("services", _("Tick at least one service."))
        return data

    @property
    def aliyun(self) -> bool:
        return self.cleaned_data.get("backend") in (
            Application.Backend.ALIYUN,
            Application.Backend.BUILTIN_ALIYUN,
        )


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
    """The library or instance to copy into: any the user may upload to, of either wire."""

    target = forms.ModelChoiceField(label=_("Copy to"), queryset=Library.objects.none())

    def __init__(self, *args: Any, choices: QuerySet[Library], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = choices  # type: ignore[attr-defined]
        self.fields["target"].label_from_instance = _copy_target_label  # type: ignore[attr-defined]


def _copy_target_label(library: Library) -> str:
    """The target with its backend and kind, e.g. `Shop / shoes (Alibaba Cloud, Product
    instance)`: the wire decides the mapping the preview shows."""
    kind = (_("%(service)s instance") if library.is_instance else _("%(service)s library")) % {
        "service": library.get_service_display()
    }
    return f"{library} ({library.application.get_backend_display()}, {kind})"


class CredentialsForm(forms.Form):
    """The fields the "test connection" button sends (Alibaba: the AccessKey pair as API Key
    and Secret Key, with its region)."""

    backend = forms.ChoiceField(
        required=False,
        choices=[(Application.Backend.BAIDU, ""), (Application.Backend.ALIYUN, "")],
    )
    base_url = forms.URLField(required=False, assume_scheme="https")
    app_id = forms.CharField(required=False, max_length=32)
    api_key = forms.CharField(max_length=64)
    secret_key = forms.CharField(max_length=128)
    region = forms.CharField(required=False, max_length=32)


class MemberForm(forms.Form):
    username = forms.CharField(label=_("User name"), max_length=150)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.VIEWER)

    def clean_username(self) -> Any:
        name = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=name).first()
        if user is None:
            raise ValidationError(_("There is no user with that name."))
        return user


class AccountForm(forms.Form):
    """A teammate's new account: its name, how the console shows it, and its first role."""

    username = forms.CharField(
        label=_("User name"),
        max_length=150,
        help_text=_("What they log in with: letters, digits and @ . + - _ only."),
    )
    display_name = forms.CharField(label=_("Display name"), max_length=150, required=False)
    email = forms.EmailField(label=_("Email (optional)"), required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.VIEWER)

    def clean_username(self) -> str:
        name = str(self.cleaned_data["username"]).strip()
        try:
            get_user_model().username_validator(name)
        except ValidationError:
            raise ValidationError(
                _("A user name may hold letters, digits and @ . + - _ only, without spaces."),
                code="invalid",
            ) from None
        return name


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class LibraryForm(forms.Form):
    service = forms.ChoiceField(label=_("Service"), choices=Service.choices)
    capacity = forms.IntegerField(
        label=_("Capacity"), min_value=1, max_value=2_000_000_000, initial=DEFAULT_CAPACITY
    )


class InstanceForm(forms.Form):
    """An Alibaba instance: registered by name (hosted) or created with a type (built-in)."""

    instance_name = forms.CharField(
        label=_("Instance name"),
        max_length=MAX_INSTANCE_NAME,
        help_text=_("The name, not the instance id; at most 20 characters."),
    )
    service = forms.ChoiceField(
        label=_("Service type"),
        required=False,
        choices=[
            (Service.PRODUCT, _("Product image search")),
            (Service.SIMILAR, _("Generic image search")),
            (Service.MATERIEL, _("Fabric image search")),
        ],
    )
    capacity = forms.IntegerField(
        label=_("Capacity (images)"),
        required=False,
        min_value=1,
        max_value=2_000_000_000,
        initial=CAPACITY_UNIT * 10,
    )


class CapacityForm(forms.Form):
    capacity = forms.IntegerField(label=_("New capacity"), min_value=1, max_value=2_000_000_000)


class ThresholdForm(forms.Form):
    """The score from which "Is this image already here?" answers "likely in library"."""

    threshold = forms.DecimalField(
        label=_("“Likely in library” from score"),
        min_value=Decimal("0.01"),
        max_value=Decimal("1"),
        decimal_places=2,
    )


# --- images -----------------------------------------------------------------------------------


class PictureForm(forms.Form):
    """An Alibaba picture's fields (gallery.pictures checks them against the wire's limits)."""

    product_id = forms.CharField(
        label=_("Product id"),
        required=False,
        max_length=MAX_ID,
        help_text=_(
            "Defaults to the file name less a picture number after “_” or a space, or a view "
            "word: sku-1_2.jpg and sku-1_back.jpg are pictures of product sku-1."
        ),
    )
    pic_name = forms.CharField(
        label=_("Picture name"),
        required=False,
        max_length=MAX_ID,
        help_text=_("Defaults to the file name; a single file only."),
    )
    category_id = forms.TypedChoiceField(
        label=_("Category"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("Predicted by the engine")), *CATEGORIES.items()],
    )
    int_attr1 = forms.IntegerField(label="IntAttr", required=False)
    int_attr2 = forms.IntegerField(label="IntAttr2", required=False)
    int_attr3 = forms.IntegerField(label="IntAttr3", required=False)
    int_attr4 = forms.IntegerField(label="IntAttr4", required=False)
    str_attr1 = forms.CharField(label="StrAttr", required=False, max_length=MAX_STR_ATTR)
    str_attr2 = forms.CharField(label="StrAttr2", required=False, max_length=MAX_STR_ATTR)
    str_attr3 = forms.CharField(label="StrAttr3", required=False, max_length=MAX_STR_ATTR)
    str_attr4 = forms.CharField(label="StrAttr4", required=False, max_length=MAX_STR_ATTR)
    custom_content = forms.CharField(
        label=_("Custom content"),
        required=False,
        max_length=MAX_CUSTOM_CONTENT,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Returned with every search result; at most 4096 characters."),
    )

    PICTURE_FIELDS = (
        "product_id",
        "pic_name",
        "category_id",
        *INT_ATTR_FIELDS,
        *STR_ATTR_FIELDS,
        "custom_content",
    )

    def drop_picture_fields(self, library: Library) -> None:
        if not library.is_instance:
            for name in self.PICTURE_FIELDS:
                del self.fields[name]
        elif library.service != Service.PRODUCT:
            del self.fields["category_id"]

    @property
    def picture(self) -> PictureFields:
        data = self.cleaned_data
        return PictureFields(
            product_id=data.get("product_id") or "",
            pic_name=data.get("pic_name") or "",
            category_id=data.get("category_id"),
            int_attrs=tuple(data.get(name) for name in INT_ATTR_FIELDS),
            str_attrs=tuple(data.get(name) or "" for name in STR_ATTR_FIELDS),
            custom_content=data.get("custom_content") or "",
        )


class UploadForm(LabelsForm, PictureForm):
    """Labels applied to every file of a batch, and an optional brief for a single file; for an
    Alibaba instance the picture fields instead (the picture name for a single file)."""

    def __init__(self, *args: Any, library: Library, **kwargs: Any) -> None:
        super().__init__(*args, library=library, **kwargs)
        self.drop_picture_fields(library)
        if library.is_instance:
            for name in ("brief", "tags", "class_id1", "class_id2"):
                self.fields.pop(name, None)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.library.is_instance and not self.errors:
            # The wire's rules beside each field, before any file is stored.
            try:
                self.picture.clean(
                    filename="image", product_instance=self.library.service == Service.PRODUCT
                )
            except ValidationError as exc:
                for name, messages in exc.message_dict.items():
                    for message in messages:
                        self.add_error(name, message)
        return data

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
    product_id = forms.CharField(label=_("Product id"), required=False, max_length=MAX_ID)
    sort = forms.ChoiceField(
        label=_("Sort"),
        required=False,
        choices=[("new", _("Newest first")), ("old", _("Oldest first")), ("brief", _("Brief A–Z"))],
    )
    after = forms.CharField(required=False, max_length=200)
    before = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: Any, library: Library, **kwargs: Any) -> None:
        super().__init__(*args, library=library, **kwargs)
        if library.is_instance:
            # Pictures are found by product and name; attributes by the search's filter.
            for name in ("tags", "tag_logic"):
                self.fields.pop(name, None)
            self.fields["q"].label = _("Picture name contains")
        else:
            del self.fields["product_id"]


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


def _region_box(text: str) -> tuple[int, int, int, int] | None:
    """ "x1,x2,y1,y2" (the wire's order, the query picture's pixels), or None if empty."""
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    if not parts:
        return None
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 5 for p in parts):
        raise ValidationError(_("Four whole numbers: x1,x2,y1,y2."))
    x1, x2, y1, y2 = (int(p) for p in parts)
    if x1 >= x2 or y1 >= y2:
        raise ValidationError(_("The box needs x1 < x2 and y1 < y2."))
    return x1, x2, y1, y2


FILTER_ROWS = 3
_FILTER_FIELDS = [("", _("—")), ("int_attr", "IntAttr"), ("str_attr", "StrAttr")]
_FILTER_OPS = [("=", "="), ("!=", "≠"), (">", ">"), (">=", "≥"), ("<", "<"), ("<=", "≤")]


class AttributeFilterForm(forms.Form):
    """Rows of (attribute, comparison, value) and whether all or any must hold: the §5.3
    filter of a search or a delete, built from fields, never typed as syntax."""

    match = forms.ChoiceField(
        label=_("Match"),
        required=False,
        choices=[("all", _("all conditions (AND)")), ("any", _("any condition (OR)"))],
    )

    def add_filter_rows(self) -> None:
        for n in range(1, FILTER_ROWS + 1):
            self.fields[f"f{n}_field"] = forms.ChoiceField(
                label=_("Attribute"), required=False, choices=_FILTER_FIELDS
            )
            self.fields[f"f{n}_op"] = forms.ChoiceField(
                label=_("Comparison"), required=False, choices=_FILTER_OPS
            )
            self.fields[f"f{n}_value"] = forms.CharField(
                label=_("Value"), required=False, max_length=MAX_STR_ATTR
            )

    def filter_rows(self) -> list[tuple[forms.BoundField, forms.BoundField, forms.BoundField]]:
        return [
            (self[f"f{n}_field"], self[f"f{n}_op"], self[f"f{n}_value"])
            for n in range(1, FILTER_ROWS + 1)
        ]

    @property
    def any_of(self) -> bool:
        return self.cleaned_data.get("match") == "any"

    def filter_conditions(self, data: dict[str, Any]) -> list[Condition]:
        """The rows filled in, each checked by the wire's rules; errors beside the row."""
        conditions = []
        for n in range(1, FILTER_ROWS + 1):
            field, op = data.get(f"f{n}_field"), data.get(f"f{n}_op") or "="
            value = (data.get(f"f{n}_value") or "").strip()
            if not field:
                continue
            if not value:
                self.add_error(f"f{n}_value", _("Give the value to compare with."))
                continue
            if field == "int_attr":
                digits = value.removeprefix("-")
                if not (digits.isascii() and digits.isdecimal() and len(digits) <= 10):
                    self.add_error(f"f{n}_value", _("IntAttr compares with a whole number."))
                    continue
                condition = Condition(field, op, int(value))
            else:
                condition = Condition(field, op, value)
            try:
                filter_clause([condition])
            except ValueError as exc:
                self.add_error(f"f{n}_value", str(exc))
                continue
            conditions.append(condition)
        return conditions


class PictureSearchForm(AttributeFilterForm):
    """The search box of an Alibaba instance: every option of SearchImageByPic from fields, the
    filter built from rows of (attribute, comparison, value), never typed as syntax."""

    image = forms.FileField(label=_("Image"), required=False)
    url = forms.CharField(label=_("or an image URL"), required=False, max_length=1024)
    q = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    image_id = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    category_id = forms.TypedChoiceField(
        label=_("Category"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("Any category")), *CATEGORIES.items()],
    )
    subject = forms.ChoiceField(
        label=_("Search with"),
        required=False,
        initial="detect",
        choices=[
            ("detect", _("the main subject, detected")),
            ("whole", _("the whole picture")),
        ],
    )
    region = forms.CharField(
        label=_("Subject box"),
        required=False,
        max_length=40,
        help_text=_(
            "x1,x2,y1,y2 in the picture's pixels; draw it on the picture. Overrides detection."
        ),
    )
    distinct = forms.BooleanField(label=_("One picture per product"), required=False)
    threshold = forms.DecimalField(
        label=_("Minimum score"),
        required=False,
        min_value=0,
        max_value=1,
        decimal_places=2,
        max_digits=3,
    )
    num = forms.IntegerField(
        label=_("Results"), required=False, min_value=1, max_value=100, initial=20
    )
    start = forms.IntegerField(required=False, min_value=0, max_value=499)

    def __init__(self, *args: Any, library: Library, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.library = library
        if library.service != Service.PRODUCT:
            del self.fields["category_id"]
        self.add_filter_rows()
        self.filter_text = ""

    def clean_region(self) -> tuple[int, int, int, int] | None:
        return _region_box(self.cleaned_data.get("region") or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        conditions = self.filter_conditions(data)
        if conditions and not self.errors:
            try:
                self.filter_text = filter_clause(conditions, any_of=self.any_of)
            except ValueError as exc:  # each row is fine, together they are too long
                self.add_error("f1_value", str(exc))
        return data

    @property
    def query(self) -> PictureQuery:
        data = self.cleaned_data
        threshold = data.get("threshold")
        return PictureQuery(
            category_id=data.get("category_id"),
            crop=data.get("subject") != "whole",
            region=data.get("region"),
            filter=self.filter_text,
            distinct=bool(data.get("distinct")),
            threshold=float(threshold) if threshold is not None else None,
            start=data.get("start") or 0,
            num=data.get("num") or 20,
        )


class PictureCheckForm(forms.Form):
    """ "Is this picture already here?" on an instance: CheckImageExists by the pair."""

    product_id = forms.CharField(label=_("Product id"), max_length=MAX_ID)
    pic_name = forms.CharField(label=_("Picture name"), max_length=MAX_ID)


class CompareForm(forms.Form):
    first = forms.FileField(label=_("First picture"))
    second = forms.FileField(label=_("Second picture"))


class CheckForm(forms.Form):
    image = forms.FileField(label=_("Image"), required=False)
    url = forms.CharField(label=_("or an image URL"), required=False, max_length=1024)


class BulkForm(forms.Form):
    """A bulk action on the ticked images (`ids`), or with `scope=matching` on every image
    matching the listing's filters, which come along prefixed `match-` (a `ListingForm`)."""

    action = forms.ChoiceField(
        choices=[
            ("delete", "delete"),
            ("retag", "retag"),
            ("untag", "untag"),
            ("repush", "repush"),
        ]
    )
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=[], required=False)
    scope = forms.ChoiceField(choices=[("page", "page"), ("matching", "matching")], required=False)
    confirmed = forms.BooleanField(required=False)
    # The count the confirmation showed: a set that changed since is shown again.
    expected = forms.IntegerField(required=False, min_value=0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any integer: the view keeps only ids of the library.
        self.fields["ids"].valid_value = lambda value: str(value).isdigit()  # type: ignore[attr-defined]

    @property
    def matching(self) -> bool:
        return self.cleaned_data.get("scope") == "matching"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("scope") != "matching" and not data.get("ids"):
            raise ValidationError(_("Select at least one image."))
        return data


# --- an Alibaba instance's pictures: edit, and delete by product or by filter -----------------


class PictureEditForm(PictureForm):
    """A stored picture's attributes and custom content (UpdateImage). Its ProductId and
    PicName are its identity on the wire, which UpdateImage changes no more than the category:
    the page shows them, not as fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("product_id", "pic_name", "category_id"):
            del self.fields[name]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            try:
                self.picture.clean(filename="image", product_instance=False)
            except ValidationError as exc:
                for name, messages in exc.message_dict.items():
                    for message in messages:
                        self.add_error(name if name in self.fields else None, message)
        return data


class PictureDeleteForm(AttributeFilterForm):
    """What a delete of many pictures takes: one product (`by="product"`), or the pictures
    matching rows of (attribute, comparison, value), all or any of them (`by="filter"`,
    aliyun-wire §5.3); and what the user typed to confirm."""

    product_id = forms.CharField(label=_("Product id"), required=False, max_length=MAX_ID)
    confirm = forms.CharField(label=_("Confirmation"), required=False, max_length=300)

    def __init__(self, *args: Any, by: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.by = by
        self.conditions: list[Condition] = []
        if by == "product":
            self.fields["product_id"].required = True
            del self.fields["match"]
            return
        del self.fields["product_id"]
        self.add_filter_rows()

    def clean_product_id(self) -> str:
        return str(self.cleaned_data.get("product_id") or "").strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.by == "product":
            return data
        self.conditions = self.filter_conditions(data)
        if not self.conditions and not self.errors:
            self.add_error("f1_value", _("Give at least one condition."))
        return data


class RenameForm(forms.Form):
    """A new name for an application (required) or a library (empty: its default name)."""

    name = forms.CharField(label=_("Name"), max_length=100, required=False, strip=False)


class KeysForm(forms.Form):
    """The new keys of a hosted application after a rotation in the cloud's console. The
    secret is never rendered back into the page."""

    api_key = forms.CharField(label=_("API Key"), max_length=64)
    secret_key = forms.CharField(label=_("Secret Key"), max_length=128, widget=SECRET_INPUT)

    def __init__(self, *args: Any, aliyun: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if aliyun:
            self.fields["api_key"].label = _("AccessKey ID")
            self.fields["secret_key"].label = _("AccessKey Secret")


class DeleteForm(forms.Form):
    """The name typed to confirm a deletion."""

    confirm = forms.CharField(label=_("Name"), max_length=300)


# --- the search test bench --------------------------------------------------------------------

TRANSFORM_LABELS: dict[str, Any] = {
    "copy_png": _("Copy as PNG"),
    "jpeg_q30": _("Re-compressed (JPEG quality 30)"),
    "resize_50": _("Resized to 50 %"),
    "resize_25": _("Resized to 25 %"),
    "bright_contrast": _("Brightness and contrast changed"),
    "text_overlay": _("Text overlaid"),
    "logo_overlay": _("Logo overlaid"),
    "crop_90": _("Cropped to 90 %"),
    "crop_70": _("Cropped to 70 %"),
    "crop_50": _("Cropped to 50 %"),
    "crop_30": _("Cropped to 30 %"),
    "rotate_5": _("Rotated 5°"),
    "rotate_10": _("Rotated 10°"),
    "flip": _("Mirrored"),
    "screenshot": _("In a screenshot"),
    "perspective": _("Photographed at an angle"),
    "combo_crop60_bc_resize": _("Cropped, brightened and resized"),
}


def transform_label(name: str) -> str:
    """A transform's name in words; an uploaded query has none."""
    if not name:
        return str(_("Uploaded"))
    return str(TRANSFORM_LABELS.get(name, name))


class TestSetForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)


class TestBuildForm(forms.Form):
    """Queries made from stored images of the library, one per image and transform."""

    images = forms.ModelMultipleChoiceField(
        label=_("Images"), queryset=Library.objects.none(), widget=forms.CheckboxSelectMultiple
    )
    transforms = forms.MultipleChoiceField(
        label=_("Transforms"),
        choices=list(TRANSFORM_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
    )
    seed = forms.IntegerField(
        label=_("Seed"),
        required=False,
        min_value=0,
        max_value=2**31 - 1,
        help_text=_("Empty: each image's own number, so that building again gives the same."),
    )

    def __init__(self, *args: Any, choices: QuerySet[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["images"].queryset = choices  # type: ignore[attr-defined]


class TestQueryForm(forms.Form):
    """An uploaded query with its expected answer."""

    image = forms.FileField(label=_("Query image"), required=False)
    url = forms.URLField(label=_("or its URL"), required=False, assume_scheme="https")
    expected = forms.ChoiceField(label=_("Expected answer"), choices=[])
    expected_images = forms.ModelMultipleChoiceField(
        label=_("Expected images"),
        queryset=Library.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, choices: QuerySet[Any], nothing: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["expected_images"].queryset = choices  # type: ignore[attr-defined]
        self.fields["expected"].choices = [  # type: ignore[attr-defined]
            (value, label)
            for value, label in Expected.choices
            if nothing or value != Expected.NOTHING
        ]


class TestRunForm(forms.Form):
    library = forms.ModelChoiceField(label=_("Run against"), queryset=Library.objects.none())

    def __init__(self, *args: Any, choices: QuerySet[Library], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["library"].queryset = choices  # type: ignore[attr-defined]
        self.fields["library"].label_from_instance = str  # type: ignore[attr-defined]


class TestImportForm(forms.Form):
    file = forms.FileField(label=_("Exported test set (zip)"))
    name = forms.CharField(label=_("Name"), max_length=100, required=False)
