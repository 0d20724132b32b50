"""Pure planning of ksqlDB changes: what to drop and what to create, in which order.

Inputs are the desired statements (from `ksql`), the live objects ksqlDB reports, and what
the monitor's status recorded last time (statement digests, shapes, sources, query ids).
Unchanged statements are never resent; changed ones use `CREATE OR REPLACE` when their
shape allows it, otherwise they are dropped with everything that reads from them (reverse
dependency order) and recreated (dependency order). Objects the spec no longer wants are
dropped. Objects terminated or dropped outside are repaired the same way.

Only objects the monitor recorded as its own are changed or dropped. An object with a
name the monitor wants that it never recorded is adopted only when it is exactly what the
monitor would create; otherwise the plan sends nothing and names it (`foreign`), and the
monitor stalls until a person looks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from brandmon_operator.ksql import CreateMode, Statement


@dataclass(frozen=True)
class LiveObject:
    """A stream or table ksqlDB has, and the running queries that write it."""

    name: str
    kind: str
    query_ids: tuple[str, ...] = ()
    statement: str = ""
    """The text of the query that writes it, as ksqlDB reports it ('' when unknown)."""
    topic: str = ""
    """Its Kafka topic, as ksqlDB reports it ('' when unknown)."""


@dataclass(frozen=True)
class Recorded:
    """What the status remembers of a statement the operator ran."""

    name: str
    kind: str
    digest: str
    shape: str
    sources: tuple[str, ...]
    query_id: str | None = None


@dataclass
class QueryPlan:
    """The changes to send, in order: drops first, then creates."""

    drop: list[str] = field(default_factory=list)
    create: list[tuple[Statement, CreateMode]] = field(default_factory=list)
    in_sync: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    """Objects found dropped or terminated outside the operator."""
    foreign: list[str] = field(default_factory=list)
    """Objects with a wanted name that the monitor did not create: nothing is sent."""

    @property
    def writes(self) -> bool:
        """Whether anything must be sent."""
        return bool(self.drop or self.create)


def _dependents(names: set[str], graph: Mapping[str, Sequence[str]]) -> set[str]:
    """Return `names` plus everything that (transitively) reads from them."""
    result = set(names)
    changed = True
    while changed:
        changed = False
        for name, sources in graph.items():
            if name not in result and result.intersection(sources):
                result.add(name)
                changed = True
    return result


def _classify(
    statement: Statement, before: Recorded | None, found: LiveObject | None, forced: bool
) -> str:
    """Return what one desired statement needs.

    One of: create, repair, repair-replace, in-sync, upgrade, replace, or foreign (an
    object of this name that the monitor never recorded and that is not exactly what it
    would create: it is never adopted, changed or dropped).
    """
    if found is None:
        return "create" if before is None else "repair"
    if before is None:
        # Exists but unrecorded. The operator may have died after ksqlDB ran the statement
        # and before the status recorded it: adopt what is exactly this statement (a
        # query ksqlDB runs with its text, a plain source of this kind on this topic),
        # nothing else.
        return "in-sync" if _is_this(found, statement) else "foreign"
    if statement.query and not found.query_ids:
        return "repair-replace"  # its query was terminated outside
    if before.digest == statement.digest:
        return "in-sync"
    if forced or not statement.upgradable or before.shape != statement.shape_digest:
        # A change CREATE OR REPLACE cannot make (or ksqlDB refused it): rebuild.
        return "replace"
    return "upgrade"


def _is_this(found: LiveObject, statement: Statement) -> bool:
    """Return whether a live object is exactly what the statement creates."""
    if found.kind != statement.kind:
        return False
    if statement.query:
        return bool(found.query_ids) and _same_statement(found.statement, statement)
    return bool(found.topic) and found.topic == statement.topic


_CREATE_PREFIX = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:STREAM|TABLE)\s+(?:IF\s+NOT\s+EXISTS\s+)?", re.IGNORECASE
)


def _same_statement(live: str, statement: Statement) -> bool:
    """Return whether ksqlDB's query text is this statement, in any CREATE mode."""

    def body(text: str) -> str:
        return " ".join(_CREATE_PREFIX.sub("", text).rstrip().rstrip(";").split())

    return bool(live) and body(live) == body(statement.body)


def plan_queries(
    desired: Sequence[Statement],
    live: Mapping[str, LiveObject],
    recorded: Mapping[str, Recorded],
    force_replace: frozenset[str] = frozenset(),
) -> QueryPlan:
    """Decide what to drop and create so ksqlDB matches the desired statements.

    `force_replace` names statements ksqlDB refused to upgrade in place.
    """
    plan = QueryPlan()
    wanted = {s.name: s for s in desired}
    replace: set[str] = set()
    upgrade: set[str] = set()
    for statement in desired:
        forced = statement.name in force_replace
        verdict = _classify(
            statement, recorded.get(statement.name), live.get(statement.name), forced
        )
        if verdict == "foreign":
            plan.foreign.append(statement.name)
        if verdict in ("repair", "repair-replace"):
            plan.repaired.append(statement.name)
        if verdict in ("replace", "repair-replace"):
            replace.add(statement.name)
        elif verdict == "upgrade":
            upgrade.add(statement.name)
        elif verdict == "in-sync":
            plan.in_sync.append(statement.name)

    # What an object reads, old or new: the live object still reads its old sources
    # until it is dropped, and its replacement will read the new ones.
    graph: dict[str, Sequence[str]] = {n: tuple(r.sources) for n, r in recorded.items()}
    for statement in desired:
        graph[statement.name] = (*graph.get(statement.name, ()), *statement.sources)
    if plan.foreign:
        return plan
    # Only what the monitor recorded as its own is ever dropped.
    removed = {n for n in recorded if n not in wanted and n in live}
    to_drop = _dependents(replace | removed, graph) & set(live)
    # Anything that reads from a dropped object must be recreated too.
    replace |= {n for n in _dependents(to_drop, graph) if n in wanted}
    upgrade -= replace
    plan.in_sync = [n for n in plan.in_sync if n not in replace]

    plan.drop = drop_order(to_drop, graph)
    for statement in desired:
        if statement.name in upgrade:
            plan.create.append((statement, "or-replace"))
        elif statement.name in replace or statement.name not in live:
            plan.create.append((statement, "if-not-exists"))
    return plan


def drop_order(names: set[str], graph: Mapping[str, Sequence[str]]) -> list[str]:
    """Order names so that every object is dropped before the objects it reads from."""
    remaining = set(names)
    ordered: list[str] = []
    while remaining:
        # Drop first whatever nothing remaining reads from.
        leaves = sorted(n for n in remaining if not any(n in graph.get(m, ()) for m in remaining))
        if not leaves:  # a cycle cannot happen in ksqlDB; never loop forever
            leaves = sorted(remaining)
        ordered += leaves
        remaining -= set(leaves)
    return ordered
