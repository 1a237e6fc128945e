"""The `Filter` grammar (aliyun-wire §5.3) and the index's entry restriction behind it."""

from __future__ import annotations

import pytest
from django.db.models import Q

from engine.aliyun.errors import AliyunError
from engine.aliyun.filters import parse
from engine.vectors import Filter


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("int_attr >= 100", Q(int_attr__gte=100)),
        ("int_attr=-5", Q(int_attr__exact=-5)),
        ('str_attr != "value1"', ~Q(str_attr="value1")),
        (
            'int_attr = 1000 AND str_attr = "value1"',
            Q(int_attr__exact=1000) & Q(str_attr="value1"),
        ),
        (
            'int_attr < 1 or int_attr > 9 and str_attr = "a b"',
            Q(int_attr__lt=1) | (Q(int_attr__gt=9) & Q(str_attr="a b")),
        ),
        (
            "(int_attr <= 1 OR int_attr > 9) AND int_attr = 5",
            (Q(int_attr__lte=1) | Q(int_attr__gt=9)) & Q(int_attr__exact=5),
        ),
    ],
)
def test_parse(text: str, expected: Q) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "InvalidFilterClause"),
        ("int_attr", "InvalidFilterClause"),
        ("int_attr2 = 1", "InvalidFilterClause"),  # numbered attributes: a later revision
        ('str_attr > "a"', "InvalidFilterClause"),
        ("int_attr != 1", "InvalidFilterClause"),
        ("str_attr = a", "InvalidFilterClause"),
        ("int_attr = 1 AND", "InvalidFilterClause"),
        ("(int_attr = 1", "InvalidFilterClause"),
        ("int_attr = 1 int_attr = 2", "InvalidFilterClause"),
        ("int_attr = 1 in (1)", "InvalidFilterClause"),
        ("int_attr = x" + "1" * 4096, "InvalidFilterClause"),
        ('int_attr = "1"', "InvalidIntAttr"),
        ("int_attr = 1.5", "InvalidIntAttr"),
        ("int_attr = 99999999999", "InvalidIntAttr"),
    ],
)
def test_refusals(text: str, code: str) -> None:
    with pytest.raises(AliyunError) as raised:
        parse(text)
    assert (raised.value.status, raised.value.code) == (400, code)


def test_entry_restriction_in_admits() -> None:
    flt = Filter(entries=frozenset({3, 4}))
    assert flt != Filter()
    assert flt.admits((), None, None, 3)
    assert not flt.admits((), None, None, 5)
    assert not flt.admits((), None, None)
    assert Filter().admits((), None, None, 5)
