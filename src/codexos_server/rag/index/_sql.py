"""SQL pieces both index adapters share: document filters and keyword terms.

Filters are conditions on the chunk's document (`rag_documents`, alias `d`): every tag must be
in `d.tags`; every metadata key must hold one of the given values (a scalar is a list of one).
Values compare as JSON scalars on both databases: strings with strings, numbers with numbers
(1 equals 1.0), booleans with booleans (true is not 1), null with null.

Keyword queries are split into terms (words, or "quoted phrases"), English stop words dropped
(unless nothing else is left), and the terms are OR-ed: the ranking (BM25, ts_rank_cd) puts
chunks matching more and rarer terms first, where AND would return nothing for most
natural-language questions. Each term reaches the database as a bound parameter inside a
quoted string, so no user text is ever parsed as query syntax.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from codexos_server.errors import ValidationFailed
from codexos_server.rag.index.port import Filters

MAX_TERMS = 32
_TERM = re.compile(r'"([^"]*)"|(\S+)')
_WORD = re.compile(r"\w")
_WORDS = re.compile(r"\w+")
# Snowball's English stop words (PostgreSQL's 'english' configuration drops the same ones), so
# that "how do I reset my password" searches for "reset" and "password" on both databases
# instead of every chunk containing "I" or "my".
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can did do does doing don down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is
    it its itself just me more most my myself no nor not now of off on once only or other our
    ours ourselves out over own same she should so some such t than that the their theirs them
    themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with you your yours yourself
    yourselves s""".split()  # noqa: SIM905 - a word list reads best as text
)
_SCALARS = (str, int, float, bool, type(None))


def _is_stop_word(term: str) -> bool:
    return all(word in STOP_WORDS for word in _WORDS.findall(term.casefold()))


def keyword_terms(query: str) -> list[str]:
    """The distinct terms of a user query (at most MAX_TERMS), without stop words unless the
    query has nothing else; empty if it has no words."""
    terms: list[str] = []
    seen: set[str] = set()
    # NUL ends a string in SQLite's parser and is refused by PostgreSQL: never a term.
    for match in _TERM.finditer(query.replace("\x00", " ")):
        term = match.group(1) if match.group(1) is not None else match.group(2)
        term = " ".join(term.split())
        key = term.casefold()
        if term and _WORD.search(term) and key not in seen:
            seen.add(key)
            terms.append(term)
    content = [term for term in terms if " " in term or not _is_stop_word(term)]
    return (content or terms)[:MAX_TERMS]


def fts5_query(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression: each term a quoted string (quotes doubled), OR-ed."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def websearch_phrase(term: str) -> str:
    """A term as `websearch_to_tsquery` input: one quoted phrase, so words like `or` and a
    leading `-` stay words."""
    return '"' + term.replace('"', " ") + '"'


def metadata_values(filters: Filters) -> dict[str, list[Any]]:
    """key -> allowed values. Raises: ValidationFailed for a non-scalar or empty value."""
    result: dict[str, list[Any]] = {}
    for key, value in filters.metadata.items():
        values = list(value) if isinstance(value, list | tuple) else [value]
        if not values or not all(isinstance(v, _SCALARS) for v in values):
            raise ValidationFailed(
                "A metadata filter value must be a string, number, boolean or null, or a "
                "non-empty list of them",
                {"key": key},
            )
        result[str(key)] = values
    return result


def document_conditions(dialect: str, filters: Filters) -> tuple[list[str], dict[str, Any]]:
    """Tag and metadata conditions on `rag_documents d` (AND-ed by the caller) and their
    parameters. Document ids are left to the adapters, which filter them on their own
    `document_id` columns."""
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if filters.tags:
        if dialect == "sqlite":
            for i, tag in enumerate(filters.tags):
                conditions.append(
                    f"EXISTS (SELECT 1 FROM json_each(d.tags) AS t WHERE t.value = :f_tag{i})"  # noqa: S608
                )
                params[f"f_tag{i}"] = tag
        else:
            conditions.append("d.tags @> CAST(:f_tags AS jsonb)")
            params["f_tags"] = json.dumps(list(filters.tags))
    for i, (key, values) in enumerate(metadata_values(filters).items()):
        params[f"f_key{i}"] = key
        params[f"f_values{i}"] = json.dumps(values)
        if dialect == "sqlite":
            # json_each gives each value's JSON type and SQL value ("atom"); integer and real
            # are both numbers, and true/false are types of their own (not 1/0).
            conditions.append(
                "EXISTS (SELECT 1 FROM json_each(d.metadata) AS m, "  # noqa: S608
                f"json_each(:f_values{i}) AS v WHERE m.key = :f_key{i} "
                "AND (m.type = v.type OR (m.type IN ('integer', 'real') "
                "AND v.type IN ('integer', 'real'))) AND m.atom IS v.atom)"
            )
        else:
            # jsonb equality: numbers by value, and a boolean never equals a number.
            conditions.append(
                f"EXISTS (SELECT 1 FROM jsonb_array_elements(CAST(:f_values{i} AS jsonb)) AS v "  # noqa: S608
                f"WHERE d.metadata -> CAST(:f_key{i} AS text) = v.value)"
            )
    return conditions, params


def needs_documents(filters: Filters) -> bool:
    """Whether the filters look at document rows (tags or metadata)."""
    return bool(filters.tags or filters.metadata)
