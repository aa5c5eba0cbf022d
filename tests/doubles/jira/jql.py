"""The part of JQL a worklog sync needs, evaluated against the double's issues (§6.2).

Fields: ``project``, ``id``, ``key``/``issuekey``, ``issuetype``/``type``, ``labels``,
``component``, ``parent`` with ``=``, ``!=``, ``in``, ``not in``; ``summary`` / ``text`` with
``~`` and ``!~``. Clauses combine with ``AND``, ``OR``, ``NOT`` and parentheses, then an optional
``ORDER BY``. Any other field is answered the way Jira answers a field that does not exist, so a
client cannot come to rely on something this double does not model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tests.doubles.jira.model import Issue, JiraError

Predicate = Callable[[Issue], bool]

_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|!~|~|=|\(|\)|,)"""
    r"""|(?P<word>[^\s"'=!~(),]+))"""
)
KEYWORDS = {"and", "or", "not", "in", "order", "by", "asc", "desc"}
EQUALITY_FIELDS = {"project", "id", "key", "issuekey", "issuetype", "type", "labels", "component",
                   "parent"}  # fmt: skip
TEXT_FIELDS = {"summary", "text"}
SORT_FIELDS = {"key", "id", "created", "updated", "summary", "project"}


@dataclass
class Token:
    kind: str  # "string", "op", "word"
    text: str

    @property
    def keyword(self) -> str | None:
        return self.text.lower() if self.kind == "word" and self.text.lower() in KEYWORDS else None


@dataclass
class Query:
    where: Predicate | None  # None: an unbounded query (§6.1)
    order: list[tuple[str, bool]]  # (field, descending)


def jql_error(message: str) -> JiraError:
    return JiraError(400, message)


def tokenize(text: str) -> list[Token]:
    tokens, position = [], 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise jql_error(
                f"Error in the JQL Query: The character '{text[position]}' is a reserved JQL "
                f"character (line 1, character {position + 1})."
            )
        kind = match.lastgroup or "word"
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append(Token(kind, value))
        position = match.end()
    return tokens


class Parser:
    """Recursive descent over tokens; ``clause`` turns (field, operator, values) into a test."""

    def __init__(self, text: str, clause: Callable[[str, str, list[str]], Predicate]) -> None:
        self.tokens = tokenize(text)
        self.index = 0
        self.clause = clause

    def parse(self) -> Query:
        where = None
        if self.tokens and self.peek_keyword() != "order":
            where = self.or_expression()
        order = self.order_by() if self.peek_keyword() == "order" else []
        if self.index < len(self.tokens):
            raise self.unexpected()
        return Query(where, order)

    # -- grammar ------------------------------------------------------------------------------
    def or_expression(self) -> Predicate:
        parts = [self.and_expression()]
        while self.peek_keyword() == "or":
            self.index += 1
            parts.append(self.and_expression())
        return parts[0] if len(parts) == 1 else (lambda i: any(p(i) for p in parts))

    def and_expression(self) -> Predicate:
        parts = [self.unary()]
        while self.peek_keyword() == "and":
            self.index += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda i: all(p(i) for p in parts))

    def unary(self) -> Predicate:
        if self.peek_keyword() == "not":
            self.index += 1
            inner = self.unary()
            return lambda i: not inner(i)
        if self.peek_op("("):
            self.index += 1
            inner = self.or_expression()
            self.expect_op(")")
            return inner
        return self.condition()

    def condition(self) -> Predicate:
        field = self.take()
        if field.kind == "op" or field.keyword:
            raise self.unexpected(field)
        operator = self.operator()
        if operator in ("in", "not in"):
            self.expect_op("(")
            values = [self.value()]
            while self.peek_op(","):
                self.index += 1
                values.append(self.value())
            self.expect_op(")")
        else:
            values = [self.value()]
        return self.clause(field.text.lower(), operator, values)

    def operator(self) -> str:
        token = self.take()
        if token.kind == "op" and token.text in ("=", "!=", "~", "!~"):
            return token.text
        if token.keyword == "in":
            return "in"
        if token.keyword == "not" and self.peek_keyword() == "in":
            self.index += 1
            return "not in"
        raise self.unexpected(token)

    def value(self) -> str:
        token = self.take()
        if token.kind == "op" or (token.keyword and token.kind != "string"):
            raise self.unexpected(token)
        return token.text

    def order_by(self) -> list[tuple[str, bool]]:
        self.index += 1
        if self.peek_keyword() != "by":
            raise self.unexpected()
        self.index += 1
        order = []
        while True:
            field = self.take()
            name = field.text.lower()
            if name not in SORT_FIELDS:
                raise jql_error(f"Not able to sort using field '{field.text}'.")
            descending = False
            if self.peek_keyword() in ("asc", "desc"):
                descending = self.take().text.lower() == "desc"
            order.append((name, descending))
            if not self.peek_op(","):
                return order
            self.index += 1

    # -- tokens -------------------------------------------------------------------------------
    def take(self) -> Token:
        if self.index >= len(self.tokens):
            raise jql_error("Error in the JQL Query: Expecting more input at the end of the query.")
        token = self.tokens[self.index]
        self.index += 1
        return token

    def peek_keyword(self) -> str | None:
        return self.tokens[self.index].keyword if self.index < len(self.tokens) else None

    def peek_op(self, text: str) -> bool:
        if self.index >= len(self.tokens):
            return False
        token = self.tokens[self.index]
        return token.kind == "op" and token.text == text

    def expect_op(self, text: str) -> None:
        token = self.take()
        if token.kind != "op" or token.text != text:
            raise self.unexpected(token)

    def unexpected(self, token: Token | None = None) -> JiraError:
        token = token or (self.tokens[self.index] if self.index < len(self.tokens) else None)
        found = token.text if token else "end of query"
        return jql_error(f"Error in the JQL Query: Expecting a field name, operator or value "
                         f"but got '{found}'.")  # fmt: skip


def parse(text: str, clause: Callable[[str, str, list[str]], Predicate]) -> Query:
    """Parse ``text``; bare words without any operator are a text search on the summary (§6.2)."""
    if text.strip() and not re.search(r"[=~!()]|\b(?:in|order)\b", text, re.IGNORECASE):
        words = text.strip()
        return Query(clause("text", "~", [words]), [])
    return Parser(text, clause).parse()


def check_operator(field: str, operator: str) -> None:
    if field in TEXT_FIELDS:
        if operator not in ("~", "!~"):
            raise jql_error(f"The operator '{operator}' is not supported by the '{field}' field.")
    elif field in EQUALITY_FIELDS:
        if operator in ("~", "!~"):
            raise jql_error(f"The operator '{operator}' is not supported by the '{field}' field.")
    else:
        raise jql_error(f"Field '{field}' does not exist or you do not have permission to view it.")
