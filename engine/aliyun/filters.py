"""The `Filter` grammar of aliyun-wire §5.3, parsed into a query over AliyunImage.

    expr   := term ("OR" term)*
    term   := factor ("AND" factor)*
    factor := "(" expr ")" | int_attr OP INTEGER | str_attr ("=" | "!=") "STRING"

AND binds tighter than OR, as in SQL; keywords are case-insensitive, field names lower-case.
"""

from __future__ import annotations

import re

from django.db.models import Q

from engine.aliyun.errors import AliyunError
from wire.aliyun import MAX_FILTER, MAX_STR_ATTR

_TOKEN = re.compile(
    r'\s*(?:(?P<paren>[()])|(?P<op>>=|<=|!=|=|>|<)|"(?P<string>[^"]*)"'
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<number>-?[0-9]+(?:\.[0-9]*)?))"
)
_INT_OPS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "=": "exact"}
_INT32 = range(-(2**31), 2**31)

Token = tuple[str, str]


def _tokens(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise AliyunError("InvalidFilterClause")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise AliyunError("InvalidFilterClause")
        self.at += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].upper() == word:
            self.at += 1
            return True
        return False

    def expr(self) -> Q:
        query = self.term()
        while self.keyword("OR"):
            query |= self.term()
        return query

    def term(self) -> Q:
        query = self.factor()
        while self.keyword("AND"):
            query &= self.factor()
        return query

    def factor(self) -> Q:
        kind, value = self.take()
        if (kind, value) == ("paren", "("):
            query = self.expr()
            if self.take() != ("paren", ")"):
                raise AliyunError("InvalidFilterClause")
            return query
        if kind != "word" or value not in ("int_attr", "str_attr"):
            raise AliyunError("InvalidFilterClause")
        op_kind, op = self.take()
        literal_kind, literal = self.take()
        if op_kind != "op":
            raise AliyunError("InvalidFilterClause")
        if value == "int_attr":
            if op not in _INT_OPS:
                raise AliyunError("InvalidFilterClause")
            if literal_kind != "number" or not re.fullmatch(r"-?[0-9]{1,10}", literal):
                raise AliyunError("InvalidIntAttr")
            if int(literal) not in _INT32:
                raise AliyunError("InvalidIntAttr")
            return Q(**{f"int_attr__{_INT_OPS[op]}": int(literal)})
        if op not in ("=", "!=") or literal_kind != "string" or len(literal) > MAX_STR_ATTR:
            raise AliyunError("InvalidFilterClause")
        return ~Q(str_attr=literal) if op == "!=" else Q(str_attr=literal)


def parse(text: str) -> Q:
    """The condition a `Filter` value states, or InvalidFilterClause / InvalidIntAttr."""
    if len(text) > MAX_FILTER:
        raise AliyunError("InvalidFilterClause")
    parser = _Parser(_tokens(text))
    query = parser.expr()
    if parser.peek() is not None:
        raise AliyunError("InvalidFilterClause")
    return query
