"""The ksqlDB contract double: ksqlDB's REST API over an in-memory metastore.

`KsqlDbDouble` serves `POST /ksql`, `GET /info`, `GET /healthcheck` and `GET /status` the way
ksqlDB 0.29 does, with the same entities, error codes and, where known, the same messages.
Statements are parsed by a small tokenizer and recursive-descent parser that extracts what
the engine's checks need (names, columns, sources, joins, grouping, keys); expressions are
kept as token lists and never evaluated. With `kafka_bootstrap` set, the Kafka side effects
are real: sink topics are created and `DELETE TOPIC` deletes them in the broker.

Run it standalone with `python -m tests.ksqldb_double.server --port N --kafka-bootstrap h:p`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Literal, Self, cast
from urllib.parse import unquote, urlsplit

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

KSQL_VERSION = "0.29.0"
KSQL_MEDIA_TYPE = "application/vnd.ksql.v1+json"
JSON_MEDIA_TYPE = "application/json"

# ksqlDB's error codes: the HTTP status times 100, plus a detail digit.
BAD_REQUEST = 40000
BAD_STATEMENT = 40001
QUERY_ENDPOINT = 40002
NOT_FOUND = 40400
METHOD_NOT_ALLOWED = 40500
SERVER_ERROR = 50000
COMMAND_QUEUE_CATCHUP_TIMEOUT = 50301
SERVER_NOT_READY = 50302

ONE_STATEMENT = "The double accepts one statement per request"
QUERY_ENDPOINT_MESSAGE = (
    "The following statement types should be issued to the websocket endpoint '/query':"
    "\n\t* PRINT\n\t* SELECT"
)
SYNTHETIC_KEY_DOC = "https://cnfl.io/2LV7ouS"
KAFKA_TIMEOUT_S = 30.0

Json = dict[str, Any]
Unavailable = Literal["status", "close", "hang"]
Kind = Literal["STREAM", "TABLE"]
Literal_ = str | int | float | bool


class KsqlError(Exception):
    """A failure that the REST API reports as an error entity."""

    def __init__(self, message: str, error_code: int = BAD_STATEMENT) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.statement_text: str | None = None

    def body(self, statement_text: str) -> Json:
        """Return the statement_error entity ksqlDB would send."""
        return {
            "@type": "statement_error",
            "error_code": self.error_code,
            "message": self.message,
            "statementText": self.statement_text or statement_text,
            "entities": [],
        }


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    """One lexical token; `value` is upper-cased for words and unescaped for quotes."""

    kind: Literal["word", "quoted", "string", "number", "symbol"]
    value: str
    start: int
    end: int

    def is_word(self, *words: str) -> bool:
        """Return whether this is one of the (upper-case) keywords."""
        return self.kind == "word" and (not words or self.value in words)

    def is_symbol(self, *symbols: str) -> bool:
        """Return whether this is one of the symbols."""
        return self.kind == "symbol" and self.value in symbols

    @property
    def is_identifier(self) -> bool:
        """Return whether this token can name something."""
        return self.kind == "quoted" or (self.kind == "word" and self.value not in _LITERAL_WORDS)


_TOKEN_RE = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<comment>--[^\n]*|/\*.*?\*/)
    | (?P<string>'(?:[^']|'')*')
    | (?P<backquoted>`(?:[^`]|``)*`)
    | (?P<doublequoted>"(?:[^"]|"")*")
    | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
    | (?P<word>[A-Za-z_][A-Za-z0-9_@]*)
    | (?P<symbol>->|=>|<=|>=|<>|!=|\|\||:=|[(),;.*<>=+\-/%\[\]{}:?])
    """,
    re.VERBOSE | re.DOTALL,
)
_LITERAL_WORDS = frozenset({"NULL", "TRUE", "FALSE"})


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _syntax_error(text: str, offset: int, detail: str = "") -> KsqlError:
    line, column = _position(text, offset)
    return KsqlError(f"line {line}:{column}: Syntax Error" + (f"\n{detail}" if detail else ""))


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens, dropping whitespace and comments."""
    tokens: list[Token] = []
    offset = 0
    while offset < len(text):
        match = _TOKEN_RE.match(text, offset)
        if match is None:
            raise _syntax_error(text, offset, f"Unexpected character {text[offset]!r}")
        group, raw = match.lastgroup, match.group()
        kind: Literal["word", "quoted", "string", "number", "symbol"]
        if group in ("space", "comment"):
            offset = match.end()
            continue
        if group == "string":
            kind, value = "string", raw[1:-1].replace("''", "'")
        elif group in ("backquoted", "doublequoted"):
            kind, value = "quoted", raw[1:-1].replace(raw[0] * 2, raw[0])
        elif group == "word":
            kind, value = "word", raw.upper()
        elif group == "number":
            kind, value = "number", raw
        else:
            kind, value = "symbol", raw
        tokens.append(Token(kind, value, offset, match.end()))
        offset = match.end()
    return tokens


def split_statements(tokens: Sequence[Token]) -> list[list[Token]]:
    """Group tokens into statements, each ending with its ';' when it has one."""
    statements: list[list[Token]] = [[]]
    for token in tokens:
        statements[-1].append(token)
        if token.is_symbol(";"):
            statements.append([])
    return [s for s in statements if s and not (len(s) == 1 and s[0].is_symbol(";"))]


def render(tokens: Sequence[Token]) -> str:
    """Return canonical SQL for tokens: keywords upper-cased, identifiers unquoted."""
    out: list[str] = []
    previous: Token | None = None
    for token in tokens:
        text = "'" + token.value.replace("'", "''") + "'" if token.kind == "string" else token.value
        if previous is not None and not (
            token.is_symbol(".", ")", ",", "]", "->")
            or previous.is_symbol(".", "(", "[", "->")
            or (token.is_symbol("(") and previous.kind in ("word", "quoted"))
        ):
            out.append(" ")
        out.append(text)
        previous = token
    return "".join(out)


def _split_top(tokens: Sequence[Token], *separators: str) -> list[list[Token]]:
    """Split on symbols (or keywords) that are not nested in brackets."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.is_symbol("(", "["):
            depth += 1
        elif token.is_symbol(")", "]"):
            depth -= 1
        if depth == 0 and token.kind in ("symbol", "word") and token.value in separators:
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


# --------------------------------------------------------------------------- types


@dataclass(frozen=True)
class SqlType:
    """A ksqlDB SQL type."""

    base: str
    params: tuple[int, int] | None = None
    element: SqlType | None = None
    key: SqlType | None = None
    fields: tuple[tuple[str, SqlType], ...] | None = None

    def __str__(self) -> str:
        if self.base == "DECIMAL" and self.params:
            return f"DECIMAL({self.params[0]}, {self.params[1]})"
        if self.base == "ARRAY":
            return f"ARRAY<{self.element}>"
        if self.base == "MAP":
            return f"MAP<{self.key}, {self.element}>"
        if self.base == "STRUCT":
            inner = ", ".join(f"`{name}` {type_}" for name, type_ in self.fields or ())
            return f"STRUCT<{inner}>"
        return self.base

    def schema_info(self) -> Json:
        """Return the `schema` object of DESCRIBE's field list."""
        info: Json = {
            "type": self.base,
            "fields": (
                [{"name": n, "schema": t.schema_info()} for n, t in self.fields]
                if self.fields is not None
                else None
            ),
            "memberSchema": self.element.schema_info() if self.element else None,
        }
        if self.params:
            info["parameters"] = {"precision": self.params[0], "scale": self.params[1]}
        return info


STRING = SqlType("STRING")
INTEGER = SqlType("INTEGER")
BIGINT = SqlType("BIGINT")
DOUBLE = SqlType("DOUBLE")
BOOLEAN = SqlType("BOOLEAN")
_SIMPLE_TYPES = {
    "STRING": STRING,
    "VARCHAR": STRING,
    "INT": INTEGER,
    "INTEGER": INTEGER,
    "BIGINT": BIGINT,
    "DOUBLE": DOUBLE,
    "BOOLEAN": BOOLEAN,
    "TIMESTAMP": SqlType("TIMESTAMP"),
    "DATE": SqlType("DATE"),
    "TIME": SqlType("TIME"),
    "BYTES": SqlType("BYTES"),
}
_PSEUDO_COLUMNS = {
    "ROWTIME": BIGINT,
    "ROWPARTITION": INTEGER,
    "ROWOFFSET": BIGINT,
    "WINDOWSTART": BIGINT,
    "WINDOWEND": BIGINT,
}


@dataclass(frozen=True)
class Column:
    """A column of a stream or table."""

    name: str
    type: SqlType
    key: bool = False

    def __str__(self) -> str:
        return f"`{self.name}` {self.type}" + (" KEY" if self.key else "")

    def field_info(self) -> Json:
        """Return the DESCRIBE field entry."""
        info: Json = {"name": self.name, "schema": self.type.schema_info()}
        if self.key:
            info["type"] = "KEY"
        return info


# --------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class Expr:
    """An expression, kept as tokens."""

    tokens: tuple[Token, ...]

    @property
    def sql(self) -> str:
        """Return the canonical text."""
        return render(self.tokens)


@dataclass(frozen=True)
class SelectItem:
    """One projection item: `*`, `alias.*` or an expression with an optional alias."""

    expr: Expr | None
    alias: str | None = None
    star: str | None = None


@dataclass(frozen=True)
class Relation:
    """A source named after FROM or JOIN."""

    name: str
    alias: str


@dataclass(frozen=True)
class Join:
    """One JOIN clause."""

    kind: Literal["INNER", "LEFT", "RIGHT", "FULL"]
    relation: Relation
    within: Expr | None
    on: Expr


@dataclass(frozen=True)
class Select:
    """The query of a CREATE ... AS SELECT or INSERT INTO."""

    items: tuple[SelectItem, ...]
    source: Relation
    joins: tuple[Join, ...]
    window: Expr | None
    window_type: str | None
    where: Expr | None
    group_by: tuple[Expr, ...]
    partition_by: tuple[Expr, ...]
    having: Expr | None
    emit: str | None

    @property
    def relations(self) -> list[Relation]:
        """Return the FROM source and the joined ones, in order."""
        return [self.source, *(j.relation for j in self.joins)]


@dataclass(frozen=True)
class CreateSource:
    """CREATE STREAM|TABLE with columns: a source without a query."""

    text: str
    kind: Kind
    name: str
    or_replace: bool
    if_not_exists: bool
    columns: tuple[Column, ...]
    properties: Mapping[str, Literal_]


@dataclass(frozen=True)
class CreateAs:
    """CREATE STREAM|TABLE ... AS SELECT: a source written by a persistent query."""

    text: str
    kind: Kind
    name: str
    or_replace: bool
    if_not_exists: bool
    properties: Mapping[str, Literal_]
    select: Select


@dataclass(frozen=True)
class InsertInto:
    """INSERT INTO sink SELECT ...: a persistent query writing into an existing stream."""

    text: str
    target: str
    properties: Mapping[str, Literal_]
    select: Select


@dataclass(frozen=True)
class DropSource:
    """DROP STREAM|TABLE."""

    text: str
    kind: Kind
    name: str
    if_exists: bool
    delete_topic: bool


@dataclass(frozen=True)
class Terminate:
    """TERMINATE <query id> or TERMINATE ALL (query_id None)."""

    text: str
    query_id: str | None


@dataclass(frozen=True)
class Listing:
    """SHOW|LIST QUERIES|STREAMS|TABLES [EXTENDED]."""

    text: str
    what: Literal["QUERIES", "STREAMS", "TABLES"]
    extended: bool


@dataclass(frozen=True)
class Describe:
    """DESCRIBE [EXTENDED] name, or DESCRIBE STREAMS|TABLES [EXTENDED]."""

    text: str
    name: str | None
    what: Literal["STREAMS", "TABLES"] | None
    extended: bool


Statement = CreateSource | CreateAs | InsertInto | DropSource | Terminate | Listing | Describe

# Keywords that end an expression of a query clause.
_CLAUSE_WORDS = frozenset(
    {"FROM", "WINDOW", "WHERE", "GROUP", "PARTITION", "HAVING", "EMIT", "LIMIT"}
    | {"JOIN", "INNER", "LEFT", "RIGHT", "FULL", "ON", "WITHIN"}
)
# Words after which a trailing identifier is an operand, not an implicit alias.
_OPERATOR_WORDS = frozenset(
    {"AND", "OR", "NOT", "IS", "LIKE", "BETWEEN", "IN", "CASE", "WHEN", "THEN", "ELSE", "AS"}
)
_RESERVED_NAMES = _CLAUSE_WORDS | _OPERATOR_WORDS | {"SELECT", "WITH", "END", "BY", "EMIT"}
# Real statements the double recognises but does not model.
_UNMODELLED = frozenset(
    {"SET", "UNSET", "DEFINE", "UNDEFINE", "EXPLAIN", "ALTER", "PAUSE", "RESUME", "RUN"}
    | {"ASSERT"}
)


class _Parser:
    """Recursive descent over the tokens of one statement."""

    def __init__(self, source: str, tokens: Sequence[Token]) -> None:
        self.source = source
        self.tokens = list(tokens)
        self.text = source[tokens[0].start : tokens[-1].end] if tokens else ""
        self.pos = 0

    # -- primitives

    def peek(self, ahead: int = 0) -> Token | None:
        index = self.pos + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def error(self, detail: str = "") -> KsqlError:
        token = self.peek()
        offset = token.start if token else (self.tokens[-1].end if self.tokens else 0)
        if not detail:
            detail = f"Unexpected {token.value!r}" if token else "Unexpected end of statement"
        return _syntax_error(self.source, offset, detail)

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.is_word(*words)

    def take_word(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token.is_word(*words):
            self.pos += 1
            return token.value
        return None

    def expect_word(self, *words: str) -> str:
        taken = self.take_word(*words)
        if taken is None:
            raise self.error(f"Expecting {' or '.join(words)}")
        return taken

    def take_symbol(self, symbol: str) -> bool:
        token = self.peek()
        if token is not None and token.is_symbol(symbol):
            self.pos += 1
            return True
        return False

    def expect_symbol(self, symbol: str) -> None:
        if not self.take_symbol(symbol):
            raise self.error(f"Expecting {symbol!r}")

    def identifier(self) -> str:
        token = self.peek()
        if token is None or not token.is_identifier or token.value in _RESERVED_NAMES:
            raise self.error("Expecting an identifier")
        self.pos += 1
        return token.value

    def at_identifier(self) -> bool:
        token = self.peek()
        return token is not None and token.is_identifier and token.value not in _RESERVED_NAMES

    def literal(self) -> Literal_:
        token = self.peek()
        negative = token is not None and token.is_symbol("-")
        if negative:
            self.pos += 1
            token = self.peek()
        if token is None:
            raise self.error("Expecting a literal")
        self.pos += 1
        if token.kind == "string" and not negative:
            return token.value
        if token.kind == "number":
            number = float(token.value) if re.search(r"[.eE]", token.value) else int(token.value)
            return -number if negative else number
        if token.is_word("TRUE", "FALSE") and not negative:
            return token.value == "TRUE"
        self.pos -= 1
        raise self.error("Expecting a literal")

    def end(self) -> None:
        if not self.take_symbol(";"):
            raise self.error("Expecting ';'")
        if self.peek() is not None:
            raise self.error()

    def until(self, stops: frozenset[str]) -> list[Token]:
        """Take tokens up to a top-level stop keyword or ';'."""
        taken: list[Token] = []
        depth = 0
        while (token := self.peek()) is not None:
            if depth == 0 and (token.is_symbol(";") or (token.is_word() and token.value in stops)):
                break
            if token.is_symbol("(", "["):
                depth += 1
            elif token.is_symbol(")", "]"):
                depth -= 1
            taken.append(token)
            self.pos += 1
        return taken

    def expression(self, stops: frozenset[str] = _CLAUSE_WORDS) -> Expr:
        tokens = self.until(stops)
        if not tokens:
            raise self.error("Expecting an expression")
        return Expr(tuple(tokens))

    # -- pieces

    def properties(self) -> dict[str, Literal_]:
        found: dict[str, Literal_] = {}
        self.expect_symbol("(")
        while True:
            name = self.identifier().upper()
            self.expect_symbol("=")
            found[name] = self.literal()
            if not self.take_symbol(","):
                break
        self.expect_symbol(")")
        return found

    def sql_type(self) -> SqlType:
        token = self.peek()
        if token is None or token.kind != "word":
            raise self.error("Expecting a type")
        self.pos += 1
        name = token.value
        if name in _SIMPLE_TYPES:
            return _SIMPLE_TYPES[name]
        if name == "DECIMAL":
            self.expect_symbol("(")
            precision = self.literal()
            self.expect_symbol(",")
            scale = self.literal()
            self.expect_symbol(")")
            if not isinstance(precision, int) or not isinstance(scale, int):
                raise KsqlError("DECIMAL precision and scale must be integers.")
            return SqlType("DECIMAL", params=(precision, scale))
        if name in ("ARRAY", "MAP", "STRUCT"):
            self.expect_symbol("<")
            if name == "ARRAY":
                type_ = SqlType("ARRAY", element=self.sql_type())
            elif name == "MAP":
                key = self.sql_type()
                self.expect_symbol(",")
                type_ = SqlType("MAP", key=key, element=self.sql_type())
            else:
                fields: list[tuple[str, SqlType]] = []
                while not (next_ := self.peek()) or not next_.is_symbol(">"):
                    field_name = self.identifier()
                    fields.append((field_name, self.sql_type()))
                    if not self.take_symbol(","):
                        break
                type_ = SqlType("STRUCT", fields=tuple(fields))
            self.expect_symbol(">")
            return type_
        raise KsqlError(f"Cannot resolve unknown type: {name}")

    def column(self, kind: Kind) -> Column:
        name = self.identifier()
        type_ = self.sql_type()
        if self.take_word("PRIMARY"):
            self.expect_word("KEY")
            if kind == "STREAM":
                raise KsqlError(
                    f"Column `{name}` is a 'PRIMARY KEY' column: please use 'KEY' for streams."
                    "\nTables have PRIMARY KEYs, which are unique and NON NULL."
                    "\nStreams have KEYs, which have no uniqueness or NON NULL constraints."
                )
            return Column(name, type_, key=True)
        if self.take_word("KEY"):
            if kind == "TABLE":
                raise KsqlError(
                    f"Column `{name}` is a 'KEY' column: please use 'PRIMARY KEY' for tables."
                    "\nTables have PRIMARY KEYs, which are unique and NON NULL."
                    "\nStreams have KEYs, which have no uniqueness or NON NULL constraints."
                )
            return Column(name, type_, key=True)
        if self.at_word("HEADERS", "HEADER"):
            raise KsqlError("HEADER columns are not modelled by the ksqlDB double.")
        return Column(name, type_)

    def relation(self) -> Relation:
        name = self.identifier()
        if self.take_word("AS"):
            return Relation(name, self.identifier())
        if self.at_identifier():
            return Relation(name, self.identifier())
        return Relation(name, name)

    def select_item(self, tokens: list[Token]) -> SelectItem:
        if not tokens:
            raise self.error("Expecting a select item")
        if len(tokens) == 1 and tokens[0].is_symbol("*"):
            return SelectItem(None, star="")
        if (
            len(tokens) == 3
            and tokens[0].is_identifier
            and tokens[1].is_symbol(".")
            and (tokens[2].is_symbol("*"))
        ):
            return SelectItem(None, star=tokens[0].value)
        last = tokens[-1]
        if len(tokens) >= 3 and tokens[-2].is_word("AS") and last.is_identifier:
            return SelectItem(Expr(tuple(tokens[:-2])), alias=last.value)
        if len(tokens) >= 2 and last.is_identifier and last.value not in _RESERVED_NAMES:
            before = tokens[-2]
            operand = before.kind in ("quoted", "string", "number") or before.is_symbol(")", "]")
            if operand or (before.kind == "word" and before.value not in _OPERATOR_WORDS):
                return SelectItem(Expr(tuple(tokens[:-1])), alias=last.value)
        return SelectItem(Expr(tuple(tokens)))

    def join(self) -> Join:
        kind: Literal["INNER", "LEFT", "RIGHT", "FULL"] = "INNER"
        word = self.take_word("INNER", "LEFT", "RIGHT", "FULL")
        if word in ("LEFT", "RIGHT", "FULL"):
            kind = cast(Literal["LEFT", "RIGHT", "FULL"], word)
            self.take_word("OUTER")
        self.expect_word("JOIN")
        relation = self.relation()
        within = None
        if self.take_word("WITHIN"):
            within = self.expression(frozenset({"ON"}))
        self.expect_word("ON")
        return Join(kind, relation, within, self.expression())

    def select(self) -> Select:
        self.expect_word("SELECT")
        item_tokens = self.until(frozenset({"FROM"}))
        items = tuple(self.select_item(t) for t in _split_top(item_tokens, ","))
        self.expect_word("FROM")
        source = self.relation()
        joins: list[Join] = []
        while self.at_word("JOIN", "INNER", "LEFT", "RIGHT", "FULL"):
            joins.append(self.join())
        window = window_type = None
        if self.take_word("WINDOW"):
            window_type = self.expect_word("TUMBLING", "HOPPING", "SESSION")
            end = _closing(self.tokens, self.pos) if self.peek_is("(") else -1
            if end < 0:
                raise self.error("Expecting a parenthesised window size")
            window = Expr(tuple(self.tokens[self.pos : end + 1]))
            self.pos = end + 1
        where = self.expression() if self.take_word("WHERE") else None
        group_by = self.expression_list("GROUP")
        partition_by = self.expression_list("PARTITION")
        having = self.expression() if self.take_word("HAVING") else None
        emit = self.expect_word("CHANGES", "FINAL") if self.take_word("EMIT") else None
        return Select(
            items, source, tuple(joins), window, window_type, where, group_by, partition_by,
            having, emit,
        )  # fmt: skip

    def expression_list(self, first: str) -> tuple[Expr, ...]:
        following = self.peek(1)
        if not (self.at_word(first) and following is not None and following.is_word("BY")):
            return ()
        self.pos += 2
        tokens = self.until(_CLAUSE_WORDS)
        if not tokens:
            raise self.error("Expecting an expression")
        parts = _split_top(tokens, ",")
        if any(not p for p in parts):
            raise self.error("Expecting an expression")
        return tuple(Expr(tuple(p)) for p in parts)

    # -- statements

    def statement(self) -> Statement:
        first = self.peek()
        if first is None or first.kind != "word":
            raise self.error()
        parsers = {
            "CREATE": self.create,
            "INSERT": self.insert,
            "DROP": self.drop,
            "TERMINATE": self.terminate,
            "SHOW": self.listing,
            "LIST": self.listing,
            "DESCRIBE": self.describe,
        }
        if first.value in ("SELECT", "PRINT"):
            raise KsqlError(QUERY_ENDPOINT_MESSAGE, QUERY_ENDPOINT)
        if first.value in parsers:
            return parsers[first.value]()
        if first.value in _UNMODELLED:
            raise self.error(f"{first.value} statements are not modelled by the ksqlDB double.")
        raise self.error("")

    def create(self) -> Statement:
        self.expect_word("CREATE")
        or_replace = False
        if self.take_word("OR"):
            self.expect_word("REPLACE")
            or_replace = True
        if self.at_word("SOURCE", "TYPE", "SINK", "CONNECTOR"):
            raise self.error("Only CREATE [OR REPLACE] STREAM|TABLE is modelled by the double.")
        kind = cast(Kind, self.expect_word("STREAM", "TABLE"))
        if_not_exists = False
        if self.take_word("IF"):
            self.expect_word("NOT")
            self.expect_word("EXISTS")
            if_not_exists = True
        if or_replace and if_not_exists:
            raise KsqlError("Cannot set both OR REPLACE and IF NOT EXISTS.")
        name = self.identifier()
        columns: list[Column] = []
        if self.take_symbol("(") and not self.take_symbol(")"):
            while True:
                columns.append(self.column(kind))
                if not self.take_symbol(","):
                    break
            self.expect_symbol(")")
        properties = self.properties() if self.take_word("WITH") else {}
        if self.take_word("AS"):
            if columns:
                raise self.error("CREATE ... AS SELECT takes no column list")
            select = self.select()
            self.end()
            return CreateAs(self.text, kind, name, or_replace, if_not_exists, properties, select)
        self.end()
        keys_first = [c for c in columns if c.key] + [c for c in columns if not c.key]
        return CreateSource(
            self.text, kind, name, or_replace, if_not_exists, tuple(keys_first), properties
        )

    def insert(self) -> InsertInto:
        self.expect_word("INSERT")
        self.expect_word("INTO")
        target = self.identifier()
        if self.at_word("VALUES") or self.peek_is("("):
            raise self.error("INSERT ... VALUES is not modelled by the ksqlDB double.")
        properties = self.properties() if self.take_word("WITH") else {}
        select = self.select()
        self.end()
        return InsertInto(self.text, target, properties, select)

    def peek_is(self, symbol: str) -> bool:
        token = self.peek()
        return token is not None and token.is_symbol(symbol)

    def drop(self) -> DropSource:
        self.expect_word("DROP")
        if self.at_word("TYPE", "CONNECTOR"):
            raise self.error("Only DROP STREAM|TABLE is modelled by the ksqlDB double.")
        kind = cast(Kind, self.expect_word("STREAM", "TABLE"))
        if_exists = False
        if self.take_word("IF"):
            self.expect_word("EXISTS")
            if_exists = True
        name = self.identifier()
        delete_topic = False
        if self.take_word("DELETE"):
            self.expect_word("TOPIC")
            delete_topic = True
        self.end()
        return DropSource(self.text, kind, name, if_exists, delete_topic)

    def terminate(self) -> Terminate:
        self.expect_word("TERMINATE")
        if self.take_word("ALL"):
            self.end()
            return Terminate(self.text, None)
        query_id = self.identifier()
        self.end()
        return Terminate(self.text, query_id)

    def listing(self) -> Listing:
        self.expect_word("SHOW", "LIST")
        what = cast(
            Literal["QUERIES", "STREAMS", "TABLES"], self.take_word("QUERIES", "STREAMS", "TABLES")
        )
        if what is None:
            raise self.error("Only SHOW QUERIES|STREAMS|TABLES is modelled by the ksqlDB double.")
        extended = self.take_word("EXTENDED") is not None
        if extended and what == "QUERIES":
            raise self.error("SHOW QUERIES EXTENDED is not modelled by the ksqlDB double.")
        self.end()
        return Listing(self.text, what, extended)

    def describe(self) -> Describe:
        self.expect_word("DESCRIBE")
        if self.at_word("FUNCTION", "CONNECTOR"):
            raise self.error("Only DESCRIBE of streams and tables is modelled by the double.")
        extended = self.take_word("EXTENDED") is not None
        what = cast(Literal["STREAMS", "TABLES"] | None, self.take_word("STREAMS", "TABLES"))
        if what is not None:
            extended = self.take_word("EXTENDED") is not None or extended
            self.end()
            return Describe(self.text, None, what, extended)
        name = self.identifier()
        self.end()
        return Describe(self.text, name, None, extended)


def parse(source: str, tokens: Sequence[Token]) -> Statement:
    """Parse the tokens of one statement of `source`."""
    return _Parser(source, tokens).statement()


# --------------------------------------------------------------------------- metastore


@dataclass
class Source:
    """A stream or table in the metastore."""

    name: str
    kind: Kind
    topic: str
    key_format: str
    value_format: str
    columns: list[Column]
    statement: str
    partitions: int
    replicas: int
    timestamp: str | None = None
    window_type: str | None = None
    references: set[str] = field(default_factory=set)
    cas: bool = False

    def column(self, name: str) -> Column | None:
        """Return the column called `name`, if any."""
        return next((c for c in self.columns if c.name == name), None)

    @property
    def schema(self) -> str:
        """Return the schema as ksqlDB prints it in messages."""
        return ", ".join(str(c) for c in self.columns)

    def listing(self) -> Json:
        """Return the SHOW STREAMS|TABLES entry."""
        return {
            "type": self.kind,
            "name": self.name,
            "topic": self.topic,
            "keyFormat": self.key_format,
            "valueFormat": self.value_format,
            "isWindowed": self.window_type is not None,
        }


@dataclass(frozen=True)
class Plan:
    """What analysis derives from a query: its output and what an upgrade must keep."""

    kind: Kind
    columns: tuple[Column, ...]
    sources: tuple[str, ...]
    window_type: str | None
    unupgradeable: str | None
    source_steps: tuple[str, ...]
    group_by: tuple[str, ...]
    partition_by: tuple[str, ...]
    aggregates: tuple[str, ...]
    required: tuple[str, ...]


@dataclass
class Query:
    """A persistent query."""

    id: str
    kind: Literal["CREATE_AS", "INSERT"]
    sink: str
    sink_topic: str
    statement: str
    plan: Plan

    def running(self) -> Json:
        """Return the RunningQuery entity of SHOW QUERIES and DESCRIBE."""
        return {
            "queryString": self.statement,
            "sinks": [self.sink],
            "sinkKafkaTopics": [self.sink_topic],
            "id": self.id,
            "statusCount": {"RUNNING": 1},
            "queryType": "PERSISTENT",
            "state": "RUNNING",
        }


# --------------------------------------------------------------------------- analysis

_AGGREGATES = frozenset(
    {"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX", "COLLECT_LIST", "COLLECT_SET"}
    | {"LATEST_BY_OFFSET", "EARLIEST_BY_OFFSET", "TOPK", "TOPKDISTINCT", "HISTOGRAM"}
    | {"STDDEV_SAMP", "STDDEV_SAMPLE", "CORRELATION", "ATTR"}
)
_ARGUMENT_TYPED = frozenset(
    {"SUM", "MIN", "MAX", "LATEST_BY_OFFSET", "EARLIEST_BY_OFFSET", "ATTR", "AS_VALUE", "ABS"}
    | {"COALESCE", "IFNULL", "CEIL", "FLOOR", "GREATEST", "LEAST"}
)
_FUNCTION_TYPES = {
    "COUNT": BIGINT,
    "COUNT_DISTINCT": BIGINT,
    "AVG": DOUBLE,
    "STDDEV_SAMP": DOUBLE,
    "CORRELATION": DOUBLE,
    "SQRT": DOUBLE,
    "RANDOM": DOUBLE,
    "LEN": INTEGER,
    "ARRAY_LENGTH": INTEGER,
    "INSTR": INTEGER,
    "UNIX_TIMESTAMP": BIGINT,
    "STRINGTOTIMESTAMP": BIGINT,
    "SPLIT": SqlType("ARRAY", element=STRING),
}
_STRING_FUNCTIONS = frozenset(
    {"UCASE", "LCASE", "CONCAT", "CONCAT_WS", "SUBSTRING", "TRIM", "LTRIM", "RTRIM", "REPLACE"}
    | {"LPAD", "RPAD", "INITCAP", "MASK", "FORMAT_TIMESTAMP", "TIMESTAMPTOSTRING"}
    | {"EXTRACTJSONFIELD", "UUID", "CHR", "ENCODE", "REGEXP_EXTRACT", "REGEXP_REPLACE"}
)
_COMPARISONS = frozenset({"=", "<>", "!=", "<", ">", "<=", ">=", "IS", "LIKE", "BETWEEN", "IN"})
_NUMERIC_RANK = {"INTEGER": 0, "BIGINT": 1, "DECIMAL": 2, "DOUBLE": 3}


def _is_reference(tokens: Sequence[Token]) -> bool:
    if len(tokens) == 1:
        return tokens[0].is_identifier
    return (
        len(tokens) == 3
        and tokens[0].is_identifier
        and tokens[1].is_symbol(".")
        and tokens[2].is_identifier
    )


def _closing(tokens: Sequence[Token], opening: int) -> int:
    """Return the index of the bracket closing the one at `opening`."""
    depth = 0
    for index in range(opening, len(tokens)):
        if tokens[index].is_symbol("(", "["):
            depth += 1
        elif tokens[index].is_symbol(")", "]"):
            depth -= 1
            if depth == 0:
                return index
    return -1


def _is_call(tokens: Sequence[Token]) -> bool:
    return (
        len(tokens) >= 3
        and tokens[0].kind == "word"
        and tokens[1].is_symbol("(")
        and _closing(tokens, 1) == len(tokens) - 1
    )


def _calls(tokens: Sequence[Token], names: frozenset[str]) -> list[tuple[str, list[Token]]]:
    """Return the calls of functions in `names` anywhere in `tokens`, outermost first."""
    found: list[tuple[str, list[Token]]] = []
    index = 0
    while index < len(tokens) - 1:
        token = tokens[index]
        if token.is_word(*names) and tokens[index + 1].is_symbol("("):
            end = _closing(tokens, index + 1)
            if end > 0:
                found.append((token.value, list(tokens[index : end + 1])))
                index = end + 1
                continue
        index += 1
    return found


def _joined(items: Sequence[str], word: str) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


def _key_missing(
    sink: str, what: str, names: Sequence[str], *, require_all: bool, synthetic: bool = False
) -> KsqlError:
    """Return ksqlDB's error for a projection that lacks the key of its result."""
    plural = "s" if require_all and len(names) > 1 else ""
    kinds = what + ("" if len(names) == 1 else "s")
    example = ", ".join(names) if require_all else names[0]
    message = (
        f"Key{plural} missing from projection (ie, SELECT). "
        + (f"See {SYNTHETIC_KEY_DOC}." if synthetic else "")
        + f"\nThe query used to build `{sink}` must include the {kinds} "
        + _joined(names, "and" if require_all else "or")
        + f" in its projection (eg, SELECT {example}...)."
    )
    if synthetic:
        message += (
            f"\n{names[0]} was added as a synthetic key column because the join criteria did not"
            " match any source column. This expression must be included in the projection and"
            " may be aliased. "
        )
    return KsqlError(message)


@dataclass(frozen=True)
class _Output:
    """One output column of a projection, before keys are chosen."""

    name: str
    type: SqlType
    ref: tuple[str, str] | None
    sql: str | None
    star: bool = False


@dataclass
class _JoinKeys:
    """What the joins of a query leave as candidates for the result's key."""

    steps: list[str] = field(default_factory=list)
    viable: list[tuple[str, tuple[str, str]]] = field(default_factory=list)
    synthetic: bool = False
    synthetic_type: SqlType = STRING


class _Scope:
    """The sources of one query, by alias, for resolving column references."""

    def __init__(self, relations: Sequence[tuple[str, Source]]) -> None:
        self.relations = list(relations)
        self.joined = len(self.relations) > 1

    def source(self, alias: str) -> Source:
        return next(s for a, s in self.relations if a == alias)

    def resolve(self, tokens: Sequence[Token]) -> tuple[str, Column] | None:
        """Return (alias, column) when `tokens` are a column reference."""
        if not _is_reference(tokens):
            return None
        name = tokens[-1].value
        qualifier = tokens[0].value if len(tokens) > 1 else None
        for alias, source in self.relations:
            if qualifier is not None and qualifier not in (alias, source.name):
                continue
            column = source.column(name)
            if column is not None:
                return alias, column
            if name in _PSEUDO_COLUMNS and qualifier is not None:
                return alias, Column(name, _PSEUDO_COLUMNS[name])
        if name in _PSEUDO_COLUMNS and qualifier is None:
            return "", Column(name, _PSEUDO_COLUMNS[name])
        return None

    def strip(self, tokens: Sequence[Token]) -> str:
        """Render `tokens`, dropping column qualifiers when there is one source."""
        if self.joined:
            return render(tokens)
        qualifiers = {self.relations[0][0], self.relations[0][1].name}
        kept: list[Token] = []
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if (
                token.is_identifier
                and token.value in qualifiers
                and index + 2 < len(tokens)
                and tokens[index + 1].is_symbol(".")
                and tokens[index + 2].is_identifier
                and not (index and tokens[index - 1].is_symbol(".", "->"))
            ):
                index += 2
                continue
            kept.append(token)
            index += 1
        return render(kept)

    def references(self, tokens: Sequence[Token]) -> set[str]:
        """Return the source columns that `tokens` read."""
        found: set[str] = set()
        index = 0
        while index < len(tokens):
            token = tokens[index]
            after = tokens[index + 1] if index + 1 < len(tokens) else None
            if not token.is_identifier or (after is not None and after.is_symbol("(")):
                index += 1
                continue
            if index and tokens[index - 1].is_symbol(".", "->"):
                index += 1
                continue
            width = 3 if after is not None and after.is_symbol(".") else 1
            ref = self.resolve(tokens[index : index + width])
            if ref is not None:
                found.add(f"`{ref[1].name}`")
            index += width
        return found

    def infer(self, tokens: Sequence[Token]) -> SqlType:  # noqa: PLR0911 - one return per form
        """Return the type of an expression, or STRING when the double cannot tell."""
        if not tokens:
            return STRING
        ref = self.resolve(tokens)
        if ref is not None:
            return ref[1].type
        if tokens[0].is_word("CASE"):
            return self._infer_case(tokens)
        if len(_split_top(tokens, "AND", "OR")) > 1 or tokens[0].is_word("NOT"):
            return BOOLEAN
        if any(len(_split_top(tokens, op)) > 1 for op in _COMPARISONS):
            return BOOLEAN
        operands = [p for p in _split_top(tokens, "+", "-", "*", "/", "%") if p]
        if len(operands) > 1:
            return self._combine([self.infer(p) for p in operands])
        if operands and len(operands[0]) < len(tokens):
            return self.infer(operands[0])
        if len(tokens) == 1:
            return self._literal(tokens[0])
        if tokens[0].is_symbol("(") and _closing(tokens, 0) == len(tokens) - 1:
            return self.infer(tokens[1:-1])
        if _is_call(tokens):
            return self._infer_call(tokens[0].value, list(tokens[2:-1]))
        parts = _split_top(tokens, "->")
        if len(parts) > 1:
            type_: SqlType | None = self.infer(parts[0])
            for part in parts[1:]:
                fields = dict(type_.fields or ()) if type_ else {}
                type_ = fields.get(part[0].value) if len(part) == 1 else None
            return type_ or STRING
        return STRING

    def _literal(self, token: Token) -> SqlType:
        if token.kind == "string":
            return STRING
        if token.is_word("TRUE", "FALSE"):
            return BOOLEAN
        if token.kind != "number":
            return STRING
        if re.fullmatch(r"\d+", token.value):
            return INTEGER if int(token.value) < 2**31 else BIGINT
        if "e" in token.value.lower():
            return DOUBLE
        whole, _, fraction = token.value.partition(".")
        digits = (whole + fraction).lstrip("0") or "0"
        return SqlType("DECIMAL", params=(max(len(digits), len(fraction)), len(fraction)))

    def _combine(self, types: Sequence[SqlType]) -> SqlType:
        if types and all(t.base in _NUMERIC_RANK for t in types):
            return max(types, key=lambda t: _NUMERIC_RANK[t.base])
        return STRING if any(t.base == "STRING" for t in types) else types[0]

    def _infer_case(self, tokens: Sequence[Token]) -> SqlType:
        depth = 0
        branch: list[Token] | None = None
        for token in tokens[1:]:
            if token.is_word("CASE"):
                depth += 1
            elif token.is_word("END") and depth:
                depth -= 1
            elif depth == 0 and token.is_word("THEN"):
                branch = []
                continue
            elif depth == 0 and token.is_word("WHEN", "ELSE", "END") and branch is not None:
                return self.infer(branch)
            if branch is not None:
                branch.append(token)
        return STRING

    def _infer_call(self, name: str, inner: list[Token]) -> SqlType:  # noqa: PLR0911
        arguments = [a for a in _split_top(inner, ",") if a]
        if name == "CAST":
            cast_parts = _split_top(inner, "AS")
            if len(cast_parts) == 2:
                return _Parser("", cast_parts[1]).sql_type()
            return STRING
        if name in _FUNCTION_TYPES:
            return _FUNCTION_TYPES[name]
        if name in _STRING_FUNCTIONS:
            return STRING
        if name in _ARGUMENT_TYPED and arguments:
            return self.infer(arguments[0])
        if name in ("COLLECT_LIST", "COLLECT_SET") and arguments:
            return SqlType("ARRAY", element=self.infer(arguments[0]))
        return STRING


def _join_keys(select: Select, scope: _Scope) -> tuple[_JoinKeys, Kind]:
    """Check the joins as ksqlDB does; return the key candidates and the result kind."""
    keys = _JoinKeys()
    left = scope.relations[0][1]
    kind: Kind = left.kind
    for join, (alias, right) in zip(select.joins, scope.relations[1:], strict=True):
        label = {"INNER": "[INNER]", "LEFT": "[LEFT] OUTER"}.get(join.kind, f"[{join.kind}] OUTER")
        got = f"{left.name} {label} JOIN {right.name}"
        if kind == "TABLE" and right.kind == "STREAM":
            raise KsqlError(
                "Invalid join order: table-stream joins are not supported; only stream-table"
                f" joins. Got {got}."
            )
        if kind == right.kind == "STREAM":
            if join.within is None:
                raise KsqlError(
                    "Stream-Stream joins must have a WITHIN clause specified. None was provided."
                    " To learn about how to specify a WITHIN clause with a stream-stream join,"
                    " please visit: https://docs.confluent.io/current/ksql/docs/"
                    "syntax-reference.html#create-stream-as-select"
                )
            step = "StreamStreamJoin"
        else:
            pair = "Stream-Table" if kind == "STREAM" else "Table-Table"
            if join.within is not None:
                raise KsqlError(
                    f"A window definition was provided for a {pair} join. These joins are not"
                    " windowed. Please drop the window definition (ie. the WITHIN clause) and try"
                    " to execute your join again."
                )
            if kind == "STREAM" and join.kind in ("RIGHT", "FULL"):
                raise KsqlError(
                    f"Invalid join type: {join.kind.lower()}-outer join not supported for"
                    f" {pair} join. Got {got}."
                )
            step = "StreamTableJoin" if kind == "STREAM" else "TableTableJoin"
        if len(_split_top(join.on.tokens, "AND")) > 1:
            raise KsqlError(
                "Invalid join condition: joins on multiple conditions are not yet supported."
                f" Got {join.on.sql}."
            )
        sides = _split_top(join.on.tokens, "=")
        if len(sides) != 2 or not all(sides):
            raise KsqlError(f"Unsupported join expression: {join.on.sql}")
        refs = [scope.resolve(side) for side in sides]
        on_right = [r for r in refs if r is not None and r[0] == alias]
        on_left = [r for r in refs if r is not None and r[0] != alias]
        if right.kind == "TABLE" and not (on_right and on_right[0][1].key):
            what = (
                "stream-table joins require to join on the table's primary key"
                if kind == "STREAM"
                else "table-table joins require to join on the primary key of the right input table"
            )
            raise KsqlError(f"Invalid join condition: {what}. Got {join.on.sql}.")
        keys.viable = [
            (render(side), (ref[0], ref[1].name))
            for side, ref in zip(sides, refs, strict=True)
            if ref is not None
        ]
        if step == "TableTableJoin" and on_left and not on_left[0][1].key:
            step = "ForeignKeyTableTableJoin"
            owner = on_left[0][0]
            keys.viable = [
                (f"{owner}.{c.name}", (owner, c.name)) for c in scope.source(owner).columns if c.key
            ]
        first_alias, first = scope.relations[0]
        if step != "ForeignKeyTableTableJoin" and first.partitions != right.partitions:
            raise KsqlError(
                f"Can't join `{first_alias}` with `{alias}` since the number of partitions don't"
                f" match. `{first_alias}` partitions = {first.partitions}; `{alias}` partitions ="
                f" {right.partitions}. Please repartition either one so that the number of"
                " partitions match."
            )
        keys.synthetic = join.kind == "FULL" or not keys.viable
        keys.synthetic_type = scope.infer(sides[0])
        keys.steps.append(step)
        kind = "STREAM" if "STREAM" in (kind, right.kind) else "TABLE"
    return keys, kind


def _project(select: Select, scope: _Scope) -> list[_Output]:
    """Resolve the projection into named, typed output columns."""
    outputs: list[_Output] = []
    generated = 0
    for item in select.items:
        if item.expr is None:
            matched = False
            for alias, source in scope.relations:
                if item.star and item.star not in (alias, source.name):
                    continue
                matched = True
                for column in source.columns:
                    name = f"{alias}_{column.name}" if scope.joined else column.name
                    outputs.append(_Output(name, column.type, (alias, column.name), None, True))
            if not matched:
                raise KsqlError(f"'{item.star}' is not a valid stream/table name or alias.")
            continue
        tokens = item.expr.tokens
        ref = scope.resolve(tokens)
        if ref is None and _is_reference(tokens):
            raise KsqlError(f"SELECT column '{tokens[-1].value}' cannot be resolved.")
        if item.alias is not None:
            name = item.alias
        elif ref is not None:
            name = f"{ref[0]}_{ref[1].name}" if scope.joined and ref[0] else ref[1].name
        elif len(tokens) > 2 and tokens[-2].is_symbol("->") and tokens[-1].is_identifier:
            name = tokens[-1].value
        else:
            name = f"KSQL_COL_{generated}"
            generated += 1
        outputs.append(
            _Output(
                name,
                ref[1].type if ref else scope.infer(tokens),
                (ref[0], ref[1].name) if ref else None,
                scope.strip(tokens),
            )
        )
    names = [o.name for o in outputs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        listed = ", ".join(f"`{d}`" for d in duplicates)
        raise KsqlError(f"Duplicate value columns found in schema: {listed}")
    return outputs


def _matches(scope: _Scope, output: _Output, tokens: Sequence[Token]) -> bool:
    ref = scope.resolve(tokens)
    if ref is not None:
        return output.ref == (ref[0], ref[1].name)
    return not output.star and output.sql == scope.strip(tokens)


def _required_keys(
    scope: _Scope, outputs: list[_Output], what: str, exprs: Sequence[Expr], sink: str
) -> list[_Output]:
    keys: list[_Output] = []
    missing: list[str] = []
    for expr in exprs:
        found = next((o for o in outputs if _matches(scope, o, expr.tokens)), None)
        if found is None:
            missing.append(scope.strip(expr.tokens))
        else:
            keys.append(found)
    if missing:
        raise _key_missing(sink, what, missing, require_all=True)
    return keys


def _keys(
    select: Select, scope: _Scope, outputs: list[_Output], joins: _JoinKeys, sink: str
) -> list[_Output]:
    """Return the outputs that become the result's key, as ksqlDB requires them."""
    if select.group_by:
        return _required_keys(scope, outputs, "grouping expression", select.group_by, sink)
    if select.partition_by:
        if len(select.partition_by) == 1 and select.partition_by[0].sql == "NULL":
            return []
        return _required_keys(scope, outputs, "partitioning expression", select.partition_by, sink)
    if select.joins:
        if joins.synthetic:
            found = next((o for o in outputs if o.star or o.sql == "ROWKEY"), None)
            if found is None:
                raise _key_missing(sink, "join expression", ["ROWKEY"], require_all=False,
                                   synthetic=True)  # fmt: skip
            return [
                found if not found.star else _Output("ROWKEY", joins.synthetic_type, None, None)
            ]
        for output in outputs:
            if any(output.ref == ref for _, ref in joins.viable):
                return [output]
        names = [display for display, _ in joins.viable]
        raise _key_missing(sink, "join expression", names, require_all=False)
    alias, source = scope.relations[0]
    key_columns = [c for c in source.columns if c.key]
    keys = [next((o for o in outputs if o.ref == (alias, c.name)), None) for c in key_columns]
    present = [k for k in keys if k is not None]
    if len(present) < len(key_columns):
        names = [c.name for c in key_columns]
        raise _key_missing(sink, "key column", names, require_all=True)
    return present


def _aggregates(select: Select, scope: _Scope) -> list[str]:
    """Check the aggregation rules; return the aggregate calls."""
    calls: list[tuple[str, list[Token]]] = []
    for item in select.items:
        if item.expr is not None:
            calls += _calls(item.expr.tokens, _AGGREGATES)
    if select.having is not None:
        calls += _calls(select.having.tokens, _AGGREGATES)
    for name, call in calls:
        nested = _calls(call[2:-1], _AGGREGATES)
        if nested:
            raise KsqlError(f"Aggregate functions can not be nested: {name}({nested[0][0]}())")
    if calls and not select.group_by:
        names = ", ".join(name for name, _ in calls)
        raise KsqlError(
            f"Use of aggregate functions requires a GROUP BY clause. Aggregate function(s): {names}"
        )
    if select.group_by and not calls:
        raise KsqlError(
            "GROUP BY requires aggregate functions in either the SELECT or HAVING clause."
        )
    if select.group_by:
        grouped = [scope.resolve(g.tokens) for g in select.group_by]
        loose = [
            item.expr.sql
            for item in select.items
            if item.expr is not None
            and (ref := scope.resolve(item.expr.tokens)) is not None
            and ref[1].name not in ("WINDOWSTART", "WINDOWEND")
            and ref not in grouped
        ]
        if loose:
            raise KsqlError(
                "Non-aggregate SELECT expression(s) not part of GROUP BY: "  # noqa: S608 - a message
                + ", ".join(loose)
                + "\nEither add the column to the GROUP BY or remove it from the SELECT."
            )
    return [scope.strip(call) for _, call in calls]


def analyze(select: Select, scope: _Scope, sink: str, expected: Kind) -> Plan:
    """Check a query as ksqlDB's analyzer and planner do; return its plan."""
    joins, kind = _join_keys(select, scope)
    outputs = _project(select, scope)
    aggregates = _aggregates(select, scope)
    if select.group_by:
        kind = "TABLE"
    if kind != expected:
        raise KsqlError(
            f"Invalid result type. Your SELECT query produces a {kind}. Please use CREATE {kind}"
            " AS SELECT statement instead."
        )
    if select.partition_by and kind == "TABLE":
        raise KsqlError("Cannot repartition a TABLE source.")
    keys = _keys(select, scope, outputs, joins, sink)
    key_ids = {id(k) for k in keys}
    columns = [Column(k.name, k.type, key=True) for k in keys]
    columns += [Column(o.name, o.type) for o in outputs if id(o) not in key_ids]
    first = scope.relations[0][1]
    unupgradeable = joins.steps[0] if joins.steps else None
    if unupgradeable is None and select.group_by and select.window is not None:
        unupgradeable = "StreamWindowedAggregate"
    if unupgradeable is None and select.group_by and first.kind == "TABLE":
        unupgradeable = "TableAggregate"
    required: set[str] = set()
    for expr in (
        *(i.expr for i in select.items if i.expr is not None),
        select.where, *select.group_by, select.having,
    ):  # fmt: skip
        if expr is not None:
            required |= scope.references(expr.tokens)
    return Plan(
        kind=kind,
        columns=tuple(columns),
        sources=tuple(s.name for _, s in scope.relations),
        window_type=select.window_type,
        unupgradeable=unupgradeable,
        source_steps=tuple(f"{s.kind.title()}Source `{s.name}`" for _, s in scope.relations),
        group_by=tuple(scope.strip(g.tokens) for g in select.group_by),
        partition_by=tuple(scope.strip(p.tokens) for p in select.partition_by),
        aggregates=tuple(aggregates),
        required=tuple(sorted(required)),
    )


def _source_upgrade_problem(old: Source, new: Source) -> str | None:
    """Return why `old` cannot be replaced by `new`, in ksqlDB's words, or None."""
    issues: list[str] = []

    def issue(prop: str, before: object, after: object) -> None:
        issues.append(
            f"DataSource '`{old.name}`' has {prop} = {before} which is not upgradeable to {after}"
        )

    if old.kind != new.kind:
        issue("type", f"K{old.kind}", f"K{new.kind}")
    old_topic = (old.topic, old.key_format, old.value_format)
    new_topic = (new.topic, new.key_format, new.value_format)
    if old_topic != new_topic:
        issue("topic", _topic_text(*old_topic), _topic_text(*new_topic))
    if old.timestamp != new.timestamp:
        issue("timestampColumn", old.timestamp, new.timestamp)
    old_keys = [c for c in old.columns if c.key]
    new_keys = [c for c in new.columns if c.key]
    old_values = [c for c in old.columns if not c.key]
    new_values = [c for c in new.columns if not c.key]
    schema_problem = None
    if old_keys != new_keys:
        changed = [str(c) for i, c in enumerate(old_keys) if new_keys[i : i + 1] != [c]]
        schema_problem = (
            "Key columns must be identical. The following key columns are changed, missing or"
            f" reordered: [{', '.join(changed)}]"
        )
    else:
        changed = [str(c) for i, c in enumerate(old_values) if new_values[i : i + 1] != [c]]
        if changed:
            schema_problem = (
                f"The following columns are changed, missing or reordered: [{', '.join(changed)}]"
            )
    if schema_problem:
        issue("schema", old.schema, f"{new.schema}. ({schema_problem})")
    return "\n\tAND ".join(issues) or None


def _topic_text(topic: str, key_format: str, value_format: str) -> str:
    return (
        f"KsqlTopic{{kafkaTopicName={topic}, keyFormat={key_format}, valueFormat={value_format}}}"
    )


def _query_upgrade_problem(old: Plan, new: Plan) -> str | None:
    """Return why the running query `old` cannot be upgraded in place to `new`, or None."""
    for plan in (old, new):
        if plan.unupgradeable is not None:
            return f"Upgrades not yet supported for {plan.unupgradeable}"
    checks = (
        ("StreamSource", "sources", old.source_steps, new.source_steps),
        ("StreamSelectKey", "keyExpression", old.partition_by, new.partition_by),
        ("StreamGroupBy", "groupByExpressions", old.group_by, new.group_by),
    )
    for step, prop, before, after in checks:
        if before != after:
            return _not_upgradeable(step, prop, before, after)
    if old.group_by:
        if old.aggregates != new.aggregates:
            return _not_upgradeable("StreamAggregate", "aggregationFunctions", old.aggregates,
                                    new.aggregates)  # fmt: skip
        if old.required != new.required:
            return _not_upgradeable("StreamAggregate", "nonAggregateColumns", old.required,
                                    new.required)  # fmt: skip
    return None


def _not_upgradeable(step: str, prop: str, before: Sequence[str], after: Sequence[str]) -> str:
    return (
        f"Query is not upgradeable. Plan step of type {step} must have matching {prop}."
        f" Values differ: [{', '.join(before)}] vs. [{', '.join(after)}]"
    )


# --------------------------------------------------------------------------- kafka


@dataclass(frozen=True)
class _TopicPlan:
    """A sink or source topic: to create, or already there with this layout."""

    name: str
    partitions: int
    replicas: int
    create: bool
    config: Mapping[str, str] = field(default_factory=dict)


class _Kafka:
    """The few admin operations ksqlDB performs on the broker."""

    def __init__(self, bootstrap: str) -> None:
        self.admin = AdminClient({"bootstrap.servers": bootstrap})

    def describe(self, topic: str) -> tuple[int, int] | None:
        """Return (partitions, replicas) of `topic`, or None when it does not exist."""
        metadata = self.admin.list_topics(topic=topic, timeout=KAFKA_TIMEOUT_S)
        found = metadata.topics.get(topic)
        if found is None or (
            found.error and found.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
        ):
            return None
        if found.error is not None:
            raise KsqlError(f"Could not describe topic {topic}: {found.error}", SERVER_ERROR)
        partitions = list(found.partitions.values())
        return len(partitions), len(partitions[0].replicas) if partitions else 0

    def cluster_id(self) -> str | None:
        """Return the broker's cluster id."""
        cluster_id = self.admin.list_topics(timeout=KAFKA_TIMEOUT_S).cluster_id
        return str(cluster_id) if cluster_id else None

    def create(self, plan: _TopicPlan) -> None:
        """Create a topic and wait until the broker lists it."""
        new = NewTopic(plan.name, plan.partitions, plan.replicas, config=dict(plan.config))
        future = self.admin.create_topics([new], operation_timeout=KAFKA_TIMEOUT_S)[plan.name]
        try:
            future.result(timeout=KAFKA_TIMEOUT_S)
        except KafkaException as error:
            if _kafka_code(error) != KafkaError.TOPIC_ALREADY_EXISTS:
                raise KsqlError(
                    f"Could not create topic {plan.name}: {error}", SERVER_ERROR
                ) from None
        self._await(plan.name, present=True)

    def delete(self, topic: str) -> None:
        """Delete a topic and wait until the broker no longer lists it."""
        future = self.admin.delete_topics([topic], operation_timeout=KAFKA_TIMEOUT_S)[topic]
        try:
            future.result(timeout=KAFKA_TIMEOUT_S)
        except KafkaException as error:
            if _kafka_code(error) != KafkaError.UNKNOWN_TOPIC_OR_PART:
                message = f"Could not delete the corresponding kafka topic: {topic}"
                raise KsqlError(message, SERVER_ERROR) from None
        self._await(topic, present=False)

    def _await(self, topic: str, *, present: bool) -> None:
        # Metadata lags the admin result for a moment; callers of the double expect
        # a created topic to be usable and a deleted one to be gone once it answers.
        deadline = time.monotonic() + KAFKA_TIMEOUT_S
        while (self.describe(topic) is not None) != present and time.monotonic() < deadline:
            time.sleep(0.05)


def _kafka_code(error: KafkaException) -> int | None:
    first = error.args[0] if error.args else None
    return first.code() if isinstance(first, KafkaError) else None


# --------------------------------------------------------------------------- engine

_FORMATS = frozenset(
    {"JSON", "AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR", "DELIMITED", "KAFKA", "NONE"}
)
_COMMON_PROPERTIES = frozenset(
    {"KAFKA_TOPIC", "KEY_FORMAT", "VALUE_FORMAT", "FORMAT", "PARTITIONS", "REPLICAS"}
    | {"TIMESTAMP", "TIMESTAMP_FORMAT", "WRAP_SINGLE_VALUE", "KEY_DELIMITER", "VALUE_DELIMITER"}
    | {"KEY_SCHEMA_ID", "VALUE_SCHEMA_ID", "KEY_SCHEMA_FULL_NAME", "VALUE_SCHEMA_FULL_NAME"}
    | {"VALUE_AVRO_SCHEMA_FULL_NAME", "RETENTION_MS"}
)
_SOURCE_PROPERTIES = _COMMON_PROPERTIES | {"WINDOW_TYPE", "WINDOW_SIZE"}
_INSERT_PROPERTIES = frozenset({"QUERY_ID"})


def _check_properties(properties: Mapping[str, Literal_], allowed: frozenset[str]) -> None:
    unknown = [name for name in properties if name not in allowed]
    if unknown:
        raise KsqlError(f"Invalid config variable(s) in the WITH clause: {','.join(unknown)}")


def _int_property(properties: Mapping[str, Literal_], name: str) -> int | None:
    value = properties.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise KsqlError(f"Invalid value {value} for property {name}: must be a positive integer")
    return value


def _format(value: Literal_) -> str:
    name = str(value).upper()
    if name not in _FORMATS:
        raise KsqlError(f"Unknown format: {value}")
    return name


def _formats(properties: Mapping[str, Literal_], inherit: Source | None) -> tuple[str, str | None]:
    """Return (key format, value format) from the WITH clause, else inherited or defaulted."""
    both = properties.get("FORMAT")
    if both is not None:
        for other in ("KEY_FORMAT", "VALUE_FORMAT"):
            if other in properties:
                raise KsqlError(
                    f"Cannot supply both '{other}' and 'FORMAT' properties, as 'FORMAT' sets"
                    " both key and value formats. Either use just 'FORMAT', or use 'KEY_FORMAT'"
                    " and 'VALUE_FORMAT'."
                )
        return _format(both), _format(both)
    key = properties.get("KEY_FORMAT")
    value = properties.get("VALUE_FORMAT")
    key_format = _format(key) if key is not None else inherit.key_format if inherit else "KAFKA"
    value_format = (
        _format(value) if value is not None else inherit.value_format if inherit else None
    )
    return key_format, value_format


def _timestamp(properties: Mapping[str, Literal_], columns: Sequence[Column]) -> str | None:
    value = properties.get("TIMESTAMP")
    if value is None:
        return None
    text = str(value)
    name = text[1:-1] if len(text) > 1 and text[0] == text[-1] == "`" else text.upper()
    if not any(c.name == name for c in columns):
        raise KsqlError(
            f"The TIMESTAMP column set in the WITH clause does not exist in the schema: '{name}'"
        )
    return name


class Engine:
    """The metastore and the statement executor; the double calls it under its lock."""

    def __init__(self, kafka: _Kafka | None) -> None:
        self.kafka = kafka
        self.sources: dict[str, Source] = {}
        self.queries: dict[str, Query] = {}
        self.statuses: dict[str, Json] = {}
        self.sequence = 0

    def snapshot(self) -> tuple[object, ...]:
        """Return every source and query object: same objects, nothing changed.

        Changes replace objects rather than mutate them, so compare with `same()`.
        """
        return (*self.sources.values(), *self.queries.values())

    @staticmethod
    def same(before: tuple[object, ...], after: tuple[object, ...]) -> bool:
        """Return whether two snapshots hold the very same objects."""
        return len(before) == len(after) and all(a is b for a, b in zip(before, after, strict=True))

    def execute(self, ksql: str) -> list[Json]:
        """Run the request's single statement and return its entities."""
        statements = split_statements(tokenize(ksql))
        if not statements:
            return []
        if len(statements) > 1:
            raise KsqlError(ONE_STATEMENT)
        tokens = statements[0]
        try:
            return [self._run(parse(ksql, tokens))]
        except KsqlError as error:
            error.statement_text = error.statement_text or ksql[tokens[0].start : tokens[-1].end]
            raise

    def _run(self, statement: Statement) -> Json:  # noqa: PLR0911 - one per statement kind
        match statement:
            case CreateSource():
                return self._create_source(statement)
            case CreateAs():
                return self._create_as(statement)
            case InsertInto():
                return self._insert(statement)
            case DropSource():
                return self._drop(statement)
            case Terminate():
                return self._terminate(statement)
            case Listing():
                return self._listing(statement)
            case Describe():
                return self._describe(statement)

    def _command(
        self, text: str, command_id: str, message: str, query_id: str | None = None
    ) -> Json:
        self.sequence += 1
        status = {"status": "SUCCESS", "message": message, "queryId": query_id}
        self.statuses[command_id] = status
        return {
            "@type": "currentStatus",
            "statementText": text,
            "commandId": command_id,
            "commandStatus": dict(status),
            "commandSequenceNumber": self.sequence,
            "warnings": [],
        }

    def _writer(self, sink: str) -> Query | None:
        return next(
            (q for q in self.queries.values() if q.kind == "CREATE_AS" and q.sink == sink), None
        )

    # -- topics

    def _source_topic(
        self, statement: CreateSource, topic: str, partitions: int | None, replicas: int | None
    ) -> _TopicPlan:
        compact = {"cleanup.policy": "compact"} if statement.kind == "TABLE" else {}
        if self.kafka is None:
            return _TopicPlan(topic, partitions or 1, replicas or 1, create=False)
        found = self.kafka.describe(topic)
        if found is None:
            if partitions is None:
                raise KsqlError(
                    f"Topic '{topic}' does not exist. If you want to create a new topic for the"
                    " stream/table please re-run the statement providing the required"
                    " 'PARTITIONS' configuration in the WITH clause (and optionally 'REPLICAS')."
                    f" For example: CREATE {statement.kind} {statement.name} (...) WITH"
                    f" (KAFKA_TOPIC='{topic}', PARTITIONS=2, REPLICAS=1, ...);"
                )
            return _TopicPlan(topic, partitions, replicas or 1, create=True, config=compact)
        self._check_layout(topic, found, partitions, replicas)
        return _TopicPlan(topic, *found, create=False)

    def _sink_topic(
        self, statement: CreateAs, first: Source, partitions: int | None, replicas: int | None
    ) -> _TopicPlan:
        topic = str(statement.properties.get("KAFKA_TOPIC", statement.name))
        compact: dict[str, str] = {}
        if statement.kind == "TABLE":
            windowed = statement.select.window is not None
            compact = {"cleanup.policy": "compact,delete" if windowed else "compact"}
        wanted = (partitions or first.partitions, replicas or first.replicas)
        if self.kafka is None:
            return _TopicPlan(topic, *wanted, create=False)
        found = self.kafka.describe(topic)
        if found is None:
            return _TopicPlan(topic, *wanted, create=True, config=compact)
        self._check_layout(topic, found, wanted[0], replicas)
        return _TopicPlan(topic, *found, create=False)

    @staticmethod
    def _check_layout(
        topic: str, found: tuple[int, int], partitions: int | None, replicas: int | None
    ) -> None:
        if (partitions is not None and partitions != found[0]) or (
            replicas is not None and replicas != found[1]
        ):
            raise KsqlError(
                f"A Kafka topic with the name '{topic}' already exists, with different"
                " partition/replica configuration than required. KSQL expects"
                f" {partitions or found[0]} partitions (topic has {found[0]}), and"
                f" {replicas or found[1]} replication factor (topic has {found[1]})."
            )

    def _apply(self, plan: _TopicPlan) -> None:
        if plan.create and self.kafka is not None:
            self.kafka.create(plan)

    # -- statements

    def _create_source(self, statement: CreateSource) -> Json:
        kind, name, properties = statement.kind, statement.name, statement.properties
        _check_properties(properties, _SOURCE_PROPERTIES)
        topic = properties.get("KAFKA_TOPIC")
        if topic is None:
            raise KsqlError(
                'Missing required configuration "KAFKA_TOPIC" which has no default value.'
            )
        key_format, value_format = _formats(properties, None)
        if value_format is None:
            raise KsqlError(
                "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either"
                " provide one or set a default via the 'ksql.persistence.default.format.value'"
                " config."
            )
        partitions = _int_property(properties, "PARTITIONS")
        replicas = _int_property(properties, "REPLICAS")
        columns = list(statement.columns)
        if not columns:
            raise KsqlError("The statement does not define any columns.")
        for column in columns:
            if column.name in _PSEUDO_COLUMNS:
                raise KsqlError(
                    f"'{column.name}' is a reserved column name. You cannot use it as a name for"
                    " a column."
                )
        names = [c.name for c in columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise KsqlError(f"Duplicate column names: {', '.join(duplicates)}")
        existing = self.sources.get(name)
        if existing and not statement.or_replace and not statement.if_not_exists:
            raise KsqlError(
                f"Cannot add {kind.lower()} '{name}': A {existing.kind.lower()} with the same name"
                " already exists"
            )
        if kind == "TABLE" and not any(c.key for c in columns):
            raise KsqlError("Tables require a PRIMARY KEY. Please define the PRIMARY KEY.")
        timestamp = _timestamp(properties, columns)
        topic_plan = self._source_topic(statement, str(topic), partitions, replicas)
        new = Source(
            name, kind, str(topic), key_format, value_format, columns, statement.text,
            topic_plan.partitions, topic_plan.replicas, timestamp=timestamp,
            window_type=str(properties["WINDOW_TYPE"]).upper() if "WINDOW_TYPE" in properties else None,
        )  # fmt: skip
        command_id = f"{kind.lower()}/`{name}`/create"
        if existing and statement.or_replace:
            if existing.cas:
                raise KsqlError(
                    f"Cannot upgrade data source: DataSource '`{name}`' is written by a CREATE"
                    f" {existing.kind} AS SELECT query; replace it with a CREATE OR REPLACE"
                    f" {existing.kind} ... AS SELECT statement."
                )
            problem = _source_upgrade_problem(existing, new)
            if problem:
                raise KsqlError(f"Cannot upgrade data source: {problem}")
        self._apply(topic_plan)
        if existing and statement.if_not_exists:
            return self._command(
                statement.text, command_id,
                f"Cannot add {kind.lower()} `{name}`: A {existing.kind.lower()} with the same name"
                " already exists.",
            )  # fmt: skip
        self.sources[name] = new
        return self._command(statement.text, command_id, f"{kind.title()} created")

    def _relations(self, select: Select) -> list[tuple[str, Source]]:
        found: list[tuple[str, Source]] = []
        for relation in select.relations:
            source = self.sources.get(relation.name)
            if source is None:
                raise KsqlError(
                    f"Exception while preparing statement: {relation.name} does not exist."
                )
            # ksqlDB plans with the topics as they are now, not as they were at CREATE.
            layout = self.kafka.describe(source.topic) if self.kafka is not None else None
            if layout is not None:
                source.partitions, source.replicas = layout
            found.append((relation.alias, source))
        return found

    def _create_as(self, statement: CreateAs) -> Json:
        kind, name, properties = statement.kind, statement.name, statement.properties
        _check_properties(properties, _COMMON_PROPERTIES)
        relations = self._relations(statement.select)
        command_id = f"{kind.lower()}/`{name}`/create"
        existing = self.sources.get(name)
        first = relations[0][1]
        topic_plan = self._sink_topic(
            statement, first,
            _int_property(properties, "PARTITIONS"), _int_property(properties, "REPLICAS"),
        )  # fmt: skip
        if existing and statement.if_not_exists:
            # ksqlDB prepares the sink topic before its engine sees that nothing is to do.
            self._apply(topic_plan)
            return self._command(
                statement.text, command_id,
                f"Cannot add {kind.lower()} `{name}`: A {existing.kind.lower()} with the same name"
                " already exists.",
            )  # fmt: skip
        if existing and not statement.or_replace:
            raise KsqlError(
                f"Cannot add {kind.lower()} '{name}': A {existing.kind.lower()} with the same name"
                " already exists"
            )
        if any(r.name == name for r in statement.select.relations):
            raise KsqlError(f"Source name '{name}' should not be referenced itself.")
        plan = analyze(statement.select, _Scope(relations), name, kind)
        key_format, value_format = _formats(properties, first)
        topic = topic_plan.name
        new = Source(
            name, kind, topic, key_format, value_format or first.value_format, list(plan.columns),
            statement.text, topic_plan.partitions, topic_plan.replicas,
            timestamp=_timestamp(properties, plan.columns), window_type=plan.window_type,
            references={r.name for r in statement.select.relations}, cas=True,
        )  # fmt: skip
        writer = self._writer(name)
        if existing:
            if not existing.cas:
                raise KsqlError(
                    f"Cannot upgrade data source: DataSource '`{name}`' was created by CREATE"
                    f" {existing.kind} without a query; it cannot be replaced by CREATE OR"
                    f" REPLACE {kind} ... AS SELECT."
                )
            problem = _source_upgrade_problem(existing, new)
            if problem:
                raise KsqlError(f"Cannot upgrade data source: {problem}")
            query_problem = _query_upgrade_problem(writer.plan, plan) if writer else None
            if writer and query_problem:
                raise KsqlError(f"Cannot upgrade query {writer.id}: {query_problem}")
        self._apply(topic_plan)
        prefix = "CSAS" if kind == "STREAM" else "CTAS"
        query_id = writer.id if writer else f"{prefix}_{name}_{self.sequence + 1}"
        self.sources[name] = new
        self.queries[query_id] = Query(query_id, "CREATE_AS", name, topic, statement.text, plan)
        return self._command(
            statement.text, command_id, f"Created query with ID {query_id}", query_id
        )

    def _insert(self, statement: InsertInto) -> Json:
        _check_properties(statement.properties, _INSERT_PROPERTIES)
        relations = self._relations(statement.select)
        target = self.sources.get(statement.target)
        if target is None:
            raise KsqlError(
                f"Exception while preparing statement: {statement.target} does not exist."
            )
        if target.kind == "TABLE":
            raise KsqlError(
                "Exception while preparing statement: INSERT INTO can only be used to insert"
                f" into a stream. {target.name} is a table."
            )
        plan = analyze(statement.select, _Scope(relations), target.name, "STREAM")
        if list(plan.columns) != target.columns:
            result = ", ".join(str(c) for c in plan.columns)
            raise KsqlError(
                "Incompatible schema between results and sink."
                f"\nResult schema is {result}\nSink schema is {target.schema}"
            )
        query_id = str(statement.properties.get("QUERY_ID", f"INSERTQUERY_{self.sequence + 1}"))
        if query_id in self.queries:
            raise KsqlError(f"Query ID '{query_id}' already exists.")
        self.queries[query_id] = Query(
            query_id, "INSERT", target.name, target.topic, statement.text, plan
        )
        return self._command(
            statement.text, f"stream/`{target.name}`/create", f"Created query with ID {query_id}",
            query_id,
        )  # fmt: skip

    def _drop(self, statement: DropSource) -> Json:
        name = statement.name
        command_id = f"{statement.kind.lower()}/{name}/drop"
        source = self.sources.get(name)
        if source is None:
            if statement.if_exists:
                return self._command(statement.text, command_id, f"Source `{name}` does not exist.")
            if statement.delete_topic:
                raise KsqlError(f"Could not find source to delete topic for: {statement.text}")
            raise KsqlError(f"Source {name} does not exist.")
        if source.kind != statement.kind:
            raise KsqlError(
                f"Incompatible data source type is {source.kind}, but statement was DROP"
                f" {statement.kind}"
            )
        if statement.delete_topic:
            sharing = sorted(
                s.name for s in self.sources.values() if s.topic == source.topic and s.name != name
            )
            if sharing:
                raise KsqlError(
                    f"Refusing to delete topic. Found other data sources ({', '.join(sharing)})"
                    f" using topic {source.topic}"
                )
        inserts = [q for q in self.queries.values() if q.kind == "INSERT"]
        readers = sorted(q.id for q in inserts if name in q.plan.sources)
        writers = sorted(q.id for q in inserts if q.sink == name)
        if readers or writers:
            raise KsqlError(
                f"Cannot drop {name}.\nThe following queries read from this source:"
                f" [{', '.join(readers)}].\nThe following queries write into this source:"
                f" [{', '.join(writers)}].\nYou need to terminate them before dropping {name}."
            )
        dependents = sorted(s.name for s in self.sources.values() if name in s.references)
        if dependents:
            raise KsqlError(
                f"Cannot drop {name}.\nThe following streams and/or tables read from this source:"
                f" [{', '.join(dependents)}].\nYou need to drop them before dropping {name}."
            )
        if statement.delete_topic and self.kafka is not None:
            self.kafka.delete(source.topic)
        del self.sources[name]
        writer = self._writer(name)
        if writer is not None:
            del self.queries[writer.id]
        return self._command(
            statement.text, command_id, f"Source `{name}` (topic: {source.topic}) was dropped."
        )

    def _terminate(self, statement: Terminate) -> Json:
        if statement.query_id is None:
            self.queries.clear()
            return self._command(statement.text, "terminate/ALL/execute", "Query terminated.")
        query = self.queries.pop(statement.query_id, None)
        if query is None:
            raise KsqlError(f"Unknown queryId: {statement.query_id}")
        return self._command(statement.text, f"terminate/{query.id}/execute", "Query terminated.")

    def _listing(self, statement: Listing) -> Json:
        if statement.what == "QUERIES":
            return {
                "@type": "queries",
                "statementText": statement.text,
                "queries": [q.running() for q in self.queries.values()],
                "warnings": [],
            }
        kind = statement.what[:-1]
        sources = [s for s in self.sources.values() if s.kind == kind]
        if statement.extended:
            return self._descriptions(statement.text, sources)
        return {
            "@type": statement.what.lower(),
            "statementText": statement.text,
            statement.what.lower(): [s.listing() for s in sources],
            "warnings": [],
        }

    def _describe(self, statement: Describe) -> Json:
        if statement.what is not None:
            kind = statement.what[:-1]
            sources = [s for s in self.sources.values() if s.kind == kind]
            return self._descriptions(statement.text, sources, extended=statement.extended)
        source = self.sources.get(statement.name or "")
        if source is None:
            raise KsqlError(f"Could not find STREAM/TABLE '{statement.name}' in the Metastore")
        return {
            "@type": "sourceDescription",
            "statementText": statement.text,
            "sourceDescription": self._description(source, extended=statement.extended),
            "warnings": [],
        }

    def _descriptions(self, text: str, sources: list[Source], *, extended: bool = True) -> Json:
        return {
            "@type": "source_descriptions",
            "statementText": text,
            "sourceDescriptions": [self._description(s, extended=extended) for s in sources],
            "warnings": [],
        }

    def _description(self, source: Source, *, extended: bool) -> Json:
        layout = (source.partitions, source.replicas)
        if extended and self.kafka is not None:
            layout = self.kafka.describe(source.topic) or (0, 0)
        return {
            "name": source.name,
            "windowType": source.window_type,
            "readQueries": [
                q.running() for q in self.queries.values() if source.name in q.plan.sources
            ],
            "writeQueries": [q.running() for q in self.queries.values() if q.sink == source.name],
            "fields": [c.field_info() for c in source.columns],
            "type": source.kind,
            "timestamp": source.timestamp or "",
            "statistics": "",
            "errorStats": "",
            "extended": extended,
            "keyFormat": source.key_format,
            "valueFormat": source.value_format,
            "topic": source.topic,
            "partitions": layout[0] if extended else 0,
            "replication": layout[1] if extended else 0,
            "statement": source.statement,
            "queryOffsetSummaries": [],
            "sourceConstraints": sorted(
                s.name for s in self.sources.values() if source.name in s.references
            ),
        }


# --------------------------------------------------------------------------- http


@dataclass(frozen=True)
class _Response:
    status: int
    body: object
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Fault:
    status: int
    body: Mapping[str, Any]
    path: str
    execute: bool
    statement: str = ""

    def applies(self, path: str, body: bytes) -> bool:
        """Return whether this fault answers a request to `path` with `body`."""
        if path != self.path:
            return False
        if not self.statement:
            return True
        try:
            ksql = json.loads(body or b"null").get("ksql")
        except (ValueError, AttributeError):
            return False
        return isinstance(ksql, str) and ksql.lstrip().upper().startswith(self.statement.upper())


def _not_found(message: str = "Not Found") -> _Response:
    return _Response(404, {"@type": "generic_error", "error_code": NOT_FOUND, "message": message})


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that can end its open connections when it stops."""

    # Handler threads are joined on close, so a stopped double leaves nothing running.
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], double: KsqlDbDouble) -> None:
        self.double = double
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake idle keep-alive handlers so that their threads can end."""
        with self.connections_lock:
            open_now = list(self.connections)
        for connection in open_now:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Hands each request to the double and writes its answer."""

    protocol_version = "HTTP/1.1"
    server_version = "ksqlDB-double"
    timeout = 30

    def do_GET(self) -> None:
        """Serve a GET."""
        self._serve("GET")

    def do_POST(self) -> None:
        """Serve a POST."""
        self._serve("POST")

    def do_PUT(self) -> None:
        """Serve a PUT."""
        self._serve("PUT")

    def do_DELETE(self) -> None:
        """Serve a DELETE."""
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        server = cast(_Server, self.server)
        response = server.double.handle(method, self.path, self.headers.get("Accept", ""), body)
        if response is None:
            self.close_connection = True
            return
        data = json.dumps(response.body).encode()
        accept = self.headers.get("Accept", "")
        json_only = JSON_MEDIA_TYPE in accept and KSQL_MEDIA_TYPE not in accept
        self.send_response(response.status)
        self.send_header("Content-Type", JSON_MEDIA_TYPE if json_only else KSQL_MEDIA_TYPE)
        self.send_header("Content-Length", str(len(data)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


# --------------------------------------------------------------------------- the double


class KsqlDbDouble:
    """An in-process ksqlDB REST server for tests; see the package docstring for its scope."""

    def __init__(
        self, kafka_bootstrap: str | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._address = (host, port)
        self._kafka = _Kafka(kafka_bootstrap) if kafka_bootstrap else None
        self._engine = Engine(self._kafka)
        self._lock = threading.Lock()
        self._requests: list[str] = []
        self._executed: list[str] = []
        self._faults: deque[_Fault] = deque()
        self._unavailable: Unavailable | None = None
        # Set whenever nothing should hang: held requests are let go on recovery and stop.
        self._released = threading.Event()
        self._released.set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._cluster_id: str | None = None

    # -- lifecycle

    def start(self) -> Self:
        """Start serving (idempotent) and return the double."""
        if self._server is None:
            self._server = _Server(self._address, self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                name="ksqldb-double", daemon=True,
            )  # fmt: skip
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and join every thread (idempotent)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._released.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Return the base URL, e.g. http://127.0.0.1:41234 (the double must be started)."""
        if self._server is None:
            msg = "the ksqlDB double is not started"
            raise RuntimeError(msg)
        return f"http://{self._address[0]}:{self._server.server_port}"

    # -- inspection and fault injection

    @property
    def requests(self) -> list[str]:
        """Return the `ksql` text of every POST /ksql received, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def executed(self) -> list[str]:
        """Return the text of every statement that changed the metastore, in order.

        A statement answered with an injected failure but run anyway (`execute=True`) is
        here; one refused, not run, a listing, or a no-op (`IF NOT EXISTS` on an existing
        object) is not.
        """
        with self._lock:
            return list(self._executed)

    @property
    def pending_faults(self) -> int:
        """Return how many injected failures have not hit a request yet."""
        with self._lock:
            return len(self._faults)

    @property
    def command_sequence_number(self) -> int:
        """Return the sequence number of the last executed command (0: none yet)."""
        with self._lock:
            return self._engine.sequence

    def fail_next(
        self,
        status: int,
        body: Mapping[str, Any],
        *,
        path: str = "/ksql",
        execute: bool = False,
        statement: str = "",
    ) -> None:
        """Answer the next request to `path` with `status` and `body`.

        With `execute`, the statement still runs and only its answer is lost, as when a
        connection drops after ksqlDB accepted a command. With `statement`, only a
        statement that starts with it (case-insensitive) is hit. Calls queue up in order.
        """
        with self._lock:
            self._faults.append(_Fault(status, dict(body), path, execute, statement))

    def set_unavailable(self, unavailable: bool, *, mode: Unavailable = "status") -> None:
        """Make every endpoint fail: 503 "Server initializing", or a dropped connection.

        `hang`: requests get no answer until the outage ends (past any client timeout),
        then their connections are dropped, as with a server stuck in a long GC pause.
        """
        with self._lock:
            self._unavailable = mode if unavailable else None
            if self._unavailable == "hang":
                self._released.clear()
            else:
                self._released.set()

    # -- serving

    def handle(self, method: str, target: str, accept: str, body: bytes) -> _Response | None:
        """Answer one HTTP request; None means: close the connection without answering."""
        del accept  # the handler negotiates the media type
        path = urlsplit(target).path
        with self._lock:
            unavailable = self._unavailable
            fault = next((f for f in self._faults if f.applies(path, body)), None)
            if fault is not None:
                self._faults.remove(fault)
        if unavailable == "hang":
            self._released.wait()
            return None
        if unavailable == "close":
            return None
        if unavailable == "status":
            error = {"@type": "generic_error", "error_code": SERVER_NOT_READY,
                     "message": "Server initializing"}  # fmt: skip
            return _Response(503, error, {"Retry-After": "10"})
        if fault is not None and not fault.execute:
            if path == "/ksql":
                self._record(body)
            return _Response(fault.status, fault.body)
        response = self._route(method, path, body)
        if fault is not None:
            return _Response(fault.status, fault.body)
        return response

    def _record(self, body: bytes) -> None:
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            return
        if isinstance(payload, dict) and isinstance(payload.get("ksql"), str):
            with self._lock:
                self._requests.append(payload["ksql"])

    def _route(self, method: str, path: str, body: bytes) -> _Response:
        routes = {
            "/ksql": ("POST", self._ksql),
            "/info": ("GET", self._info),
            "/healthcheck": ("GET", self._healthcheck),
            "/status": ("GET", self._statuses),
        }
        if path.startswith("/status/"):
            routes[path] = ("GET", self._status)
        if path not in routes:
            return _not_found()
        allowed, serve = routes[path]
        if method != allowed:
            error = {"@type": "generic_error", "error_code": METHOD_NOT_ALLOWED,
                     "message": f"Method {method} not allowed on {path}"}  # fmt: skip
            return _Response(405, error, {"Allow": allowed})
        return serve(path, body)

    def _ksql(self, path: str, body: bytes) -> _Response:  # noqa: PLR0911 - one per outcome
        del path
        try:
            payload = json.loads(body or b"null")
        except ValueError as invalid:
            return _bad_request(f"Invalid JSON in request: {invalid}")
        if not isinstance(payload, dict) or not isinstance(payload.get("ksql"), str):
            return _bad_request('The request must be a JSON object with a "ksql" string.')
        properties = payload.get("streamsProperties", {})
        if properties is not None and not isinstance(properties, dict):
            return _bad_request('"streamsProperties" must be a JSON object.')
        ksql: str = payload["ksql"]
        sequence = payload.get("commandSequenceNumber")
        with self._lock:
            self._requests.append(ksql)
            if isinstance(sequence, int) and sequence > self._engine.sequence:
                error = {"@type": "generic_error", "error_code": COMMAND_QUEUE_CATCHUP_TIMEOUT,
                         "message": "Timed out while waiting for a previous command to execute."
                                    f" command sequence number: {sequence}"}  # fmt: skip
                return _Response(503, error)
            try:
                before = self._engine.snapshot()
                entities = self._engine.execute(ksql)
                if not Engine.same(before, self._engine.snapshot()):
                    self._executed.append(ksql)
                return _Response(200, entities)
            except KsqlError as error:
                return _Response(error.error_code // 100, error.body(ksql))
            except Exception as error:  # noqa: BLE001 - ksqlDB answers 500 to its own bugs too
                failure = KsqlError(f"{type(error).__name__}: {error}", SERVER_ERROR)
                return _Response(500, failure.body(ksql))

    def _info(self, path: str, body: bytes) -> _Response:
        del path, body
        if self._cluster_id is None:
            self._cluster_id = (self._kafka.cluster_id() if self._kafka else None) or "double"
        info = {"version": KSQL_VERSION, "kafkaClusterId": self._cluster_id,
                "ksqlServiceId": "default_", "serverStatus": "RUNNING"}  # fmt: skip
        return _Response(200, {"KsqlServerInfo": info})

    def _healthcheck(self, path: str, body: bytes) -> _Response:
        del path, body
        kafka = True
        if self._kafka is not None:
            try:
                self._kafka.admin.list_topics(timeout=5)
            except KafkaException:
                kafka = False
        details = {name: {"isHealthy": healthy} for name, healthy in
                   (("metastore", True), ("kafka", kafka), ("commandRunner", True))}  # fmt: skip
        return _Response(200, {"isHealthy": kafka, "details": details, "serverState": "READY"})

    def _statuses(self, path: str, body: bytes) -> _Response:
        del path, body
        with self._lock:
            statuses = {cid: s["status"] for cid, s in self._engine.statuses.items()}
        return _Response(200, {"commandStatuses": statuses})

    def _status(self, path: str, body: bytes) -> _Response:
        del body
        command_id = unquote(path.removeprefix("/status/"))
        with self._lock:
            status = self._engine.statuses.get(command_id)
        if status is None:
            return _not_found("Command not found")
        return _Response(200, dict(status))


def _bad_request(message: str) -> _Response:
    return _Response(400, {"@type": "generic_error", "error_code": BAD_REQUEST, "message": message})


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the double until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description="ksqlDB REST API contract double")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8088, help="port (0 picks a free one)")
    parser.add_argument("--kafka-bootstrap", help="Kafka bootstrap servers for sink topics")
    args = parser.parse_args(argv)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    with KsqlDbDouble(args.kafka_bootstrap, host=args.host, port=args.port) as double:
        print(f"ksqlDB double listening on {double.url}", flush=True)
        stopping.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
