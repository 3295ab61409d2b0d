"""What counts as a search answer that was read: a source is checked only when read in full.

One check for every search the product reads, whether a FHIR server sent it (each page) or a CDS
client prefetched it: the answer must be a well-formed ``searchset`` Bundle (FHIR R4 Bundle and
http.html#search) whose entries are all resources of the type searched for, of a type an
``_include`` asked for, or search-mode ``outcome`` OperationOutcomes without errors and without
an issue saying results were left out. Anything
else (``"entry": "abc"``, entries without a resource, a ``transaction-response``, a link without
a ``url``, ``total`` above what was read...) is a failure of that source: reading it as "no
records" would be a false all-clear.

Messages name fields and counts only, never a value from the answer: callers show them on cards
and log them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from fhir_profiles.syntax import is_resource_type

_OUTCOME = "OperationOutcome"
_SEARCH_MODES = frozenset({"match", "include", "outcome"})
_FAILED_SEVERITIES = frozenset({"error", "fatal"})
# Issue types (FHIR R4 IssueType) that say, at any severity, that the answer is not the whole
# record: withheld by consent, privacy or access rules, stopped to protect the server, throttled,
# or incomplete. A search answered so cannot support "no opioid".
_PARTIAL_ISSUE_TYPES = frozenset({"suppressed", "incomplete", "too-costly", "throttled"})


class MalformedSearchset(ValueError):
    """A search answer is not a well-formed searchset of the expected type."""


@dataclass(frozen=True, slots=True)
class SearchsetPage:
    """One checked page: every entry's resource, how many matched, ``total`` and ``next``."""

    resources: tuple[Mapping[str, Any], ...]
    matches: int
    total: int | None
    next_url: str | None


def include_targets(includes: Iterable[str]) -> frozenset[str]:
    """Return the resource types ``_include`` values bring along.

    ``MedicationStatement:medication`` brings ``Medication`` (the search parameter's name); a
    third part names the target type itself (``MedicationRequest:requester:Practitioner``).
    """
    targets = set()
    for value in includes:
        parts = value.split(":")
        if len(parts) >= 2 and parts[-1]:
            name = parts[2] if len(parts) >= 3 else parts[1]
            targets.add(name[:1].upper() + name[1:])
    return frozenset(targets)


def read_searchset_page(
    bundle: object, resource_type: str, *, included: frozenset[str] = frozenset()
) -> SearchsetPage:
    """Check one searchset page for ``resource_type``; raise MalformedSearchset if it is not one."""
    if not isinstance(bundle, Mapping):
        raise MalformedSearchset("the answer is not a FHIR resource")
    kind = bundle.get("resourceType")
    if kind != "Bundle":
        raise MalformedSearchset(f"the answer is {_a(kind)}, not a Bundle")
    if bundle.get("type") != "searchset":
        raise MalformedSearchset("the answer is a Bundle but not a searchset")
    total = bundle.get("total")
    if total is not None and (type(total) is not int or total < 0):
        raise MalformedSearchset("the Bundle's total is not a count")
    resources = []
    matches = 0
    for index, entry in enumerate(_array(bundle, "entry")):
        plain = _plain_match(entry, resource_type)
        if plain is not None:  # the usual entry, checked in one step
            resources.append(plain)
            matches += 1
            continue
        resource, mode = _entry_resource(entry, index, resource_type, included)
        resources.append(resource)
        if resource["resourceType"] == resource_type and mode != "include":
            matches += 1
    return SearchsetPage(tuple(resources), matches, total, _next_url(bundle))


def check_all_read(total: int | None, matches: int) -> None:
    """Refuse a search whose ``total`` promises more matches than were read."""
    if total is not None and total > matches:
        raise MalformedSearchset(f"the server counted {total} matching records but sent {matches}")


def _plain_match(entry: object, resource_type: str) -> Mapping[str, Any] | None:
    """Return the resource of an entry that is plainly a match of ``resource_type`` (search
    mode ``match`` or none); None for any other entry, which ``_entry_resource`` then reads."""
    if type(entry) is not dict:
        return None
    resource = entry.get("resource")
    if type(resource) is not dict or resource.get("resourceType") != resource_type:
        return None
    search = entry.get("search")
    if search is None:
        return resource
    if type(search) is dict and (search.get("mode") is None or search.get("mode") == "match"):
        return resource
    return None


def _is_object(value: object) -> TypeGuard[Mapping[str, Any]]:
    # Parsed JSON objects are dicts: the exact type check first, the ABC's only for the rest.
    return type(value) is dict or isinstance(value, Mapping)


def _entry_resource(
    entry: object, index: int, resource_type: str, included: frozenset[str]
) -> tuple[Mapping[str, Any], str | None]:
    if not _is_object(entry):
        raise MalformedSearchset(f"entry[{index}] is not an object")
    mode = _mode(entry)
    resource = entry.get("resource")
    if not _is_object(resource) or not isinstance(resource.get("resourceType"), str):
        raise MalformedSearchset(f"entry[{index}] holds no resource")
    kind = resource["resourceType"]
    if kind == resource_type or kind in included:
        return resource, mode
    if kind == _OUTCOME and mode == "outcome":
        _check_outcome(resource, f"entry[{index}]")
        return resource, mode
    raise MalformedSearchset(f"entry[{index}] holds {_a(kind)}, not a {resource_type}")


def _mode(entry: Mapping[str, Any]) -> str | None:
    search = entry.get("search")
    if search is None:
        return None
    if not _is_object(search):
        raise MalformedSearchset("an entry's search is not an object")
    mode = search.get("mode")
    if mode is not None and (not isinstance(mode, str) or mode not in _SEARCH_MODES):
        raise MalformedSearchset("an entry's search mode is not match, include or outcome")
    return mode


def _check_outcome(outcome: Mapping[str, Any], where: str) -> None:
    issues = outcome.get("issue")
    if not isinstance(issues, list) or not issues:
        raise MalformedSearchset(f"{where} is an OperationOutcome without a list of issues")
    for issue in issues:
        severity = issue.get("severity") if isinstance(issue, Mapping) else None
        if not isinstance(severity, str):
            raise MalformedSearchset(f"{where} is an OperationOutcome with an unreadable issue")
        if severity in _FAILED_SEVERITIES:
            raise MalformedSearchset(f"{where}: the server reported an error in the search")
        code = issue.get("code")
        if isinstance(code, str) and code in _PARTIAL_ISSUE_TYPES:
            raise MalformedSearchset(
                f"{where}: the server said results were left out of the search ({code})"
            )


def _next_url(bundle: Mapping[str, Any]) -> str | None:
    found = None
    for link in _array(bundle, "link"):
        if not isinstance(link, Mapping):
            raise MalformedSearchset("a link is not an object")
        relation, url = link.get("relation"), link.get("url")
        if not isinstance(relation, str) or not isinstance(url, str) or not url:
            raise MalformedSearchset("a link has no relation or no url")
        if relation == "next":
            found = url
    return found


def _array(bundle: Mapping[str, Any], field: str) -> list[Any]:
    if field not in bundle:
        return []
    value = bundle[field]
    if not isinstance(value, list):
        raise MalformedSearchset(f"the Bundle's {field} is not an array")
    return value


def _a(kind: object) -> str:
    """Name a resource type from the answer, only when it looks like one (never echo data)."""
    return f"a {kind}" if is_resource_type(kind) else "something else"
