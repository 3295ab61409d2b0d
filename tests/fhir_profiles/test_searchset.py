"""The one shape check of search answers: what counts as a searchset read in full."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_profiles.searchset import (
    MalformedSearchset,
    check_all_read,
    include_targets,
    read_searchset_page,
)

STATEMENT = {"resourceType": "MedicationStatement", "id": "ms-1", "status": "active"}
MEDICATION = {"resourceType": "Medication", "id": "med-1"}
INFO = {"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "x"}]}
ERROR = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}


def bundle(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", **fields}


def entry(resource: dict[str, Any], mode: str | None = "match") -> dict[str, Any]:
    return {"resource": resource, "search": {"mode": mode}} if mode else {"resource": resource}


MALFORMED = {
    "not an object": [bundle()],
    "another resource": STATEMENT,
    "an OperationOutcome": ERROR,
    "a transaction-response": {"resourceType": "Bundle", "type": "transaction-response"},
    "a Bundle without type": {"resourceType": "Bundle", "entry": []},
    "entry a string": bundle(entry="abc"),
    "entry an object": bundle(entry={"resource": STATEMENT}),
    "entry null": bundle(entry=None),
    "entry numbers": bundle(entry=[1, 2, 3]),
    "entry without resource": bundle(entry=[{"fullUrl": "x"}]),
    "entry resource without type": bundle(entry=[{"resource": {"id": "1"}}]),
    "entry of another type": bundle(entry=[entry({"resourceType": "Condition"})]),
    "entry search not an object": bundle(entry=[{"resource": STATEMENT, "search": "match"}]),
    "entry search mode unknown": bundle(entry=[entry(STATEMENT, "whatever")]),
    # Found by fuzzing the merged service: an unhashable mode was a TypeError (a 503).
    "entry search mode a list": bundle(entry=[{"resource": STATEMENT, "search": {"mode": [1]}}]),
    "outcome severity a list": bundle(
        entry=[entry({**INFO, "issue": [{"severity": ["error"]}]}, "outcome")]
    ),
    "Medication not asked for": bundle(entry=[entry(STATEMENT), entry(MEDICATION, "include")]),
    "outcome without outcome mode": bundle(entry=[entry(INFO, "match")]),
    "outcome issue not a list": bundle(entry=[entry({**INFO, "issue": "x"}, "outcome")]),
    "outcome issue item not an object": bundle(entry=[entry({**INFO, "issue": [1]}, "outcome")]),
    "outcome with an error": bundle(entry=[entry(ERROR, "outcome")]),
    # Results withheld (consent, privacy, access), cut short or throttled: not the whole record,
    # even when the server calls it a warning or information.
    **{
        f"outcome saying results were left out ({code}, {severity})": bundle(
            entry=[
                entry(STATEMENT),
                entry(
                    {
                        "resourceType": "OperationOutcome",
                        "issue": [{"severity": severity, "code": code}],
                    },
                    "outcome",
                ),
            ]
        )
        for code in ("suppressed", "incomplete", "too-costly", "throttled")
        for severity in ("warning", "information")
    },
    "total a string": bundle(total="1"),
    "total negative": bundle(total=-1),
    "total a boolean": bundle(total=True),
    "link a string list": bundle(link=["x"]),
    "link an object": bundle(link={"relation": "next", "url": "x"}),
    "next link without url": bundle(link=[{"relation": "next"}]),
    "next link with an empty url": bundle(link=[{"relation": "next", "url": ""}]),
    "link without relation": bundle(link=[{"url": "http://x"}]),
}


@pytest.mark.parametrize("answer", MALFORMED.values(), ids=MALFORMED.keys())
def test_anything_but_a_well_formed_searchset_is_refused(answer: object) -> None:
    with pytest.raises(MalformedSearchset):
        read_searchset_page(answer, "MedicationStatement")


def test_a_well_formed_page_gives_its_resources_matches_total_and_next() -> None:
    page = read_searchset_page(
        bundle(
            total=3,
            entry=[entry(STATEMENT), entry(MEDICATION, "include"), entry(INFO, "outcome")],
            link=[{"relation": "self", "url": "s"}, {"relation": "next", "url": "n"}],
        ),
        "MedicationStatement",
        included=frozenset({"Medication"}),
    )
    assert [r["resourceType"] for r in page.resources] == [
        "MedicationStatement",
        "Medication",
        "OperationOutcome",
    ]
    assert (page.matches, page.total, page.next_url) == (1, 3, "n")


def test_an_empty_searchset_is_zero_records() -> None:
    page = read_searchset_page(bundle(total=0), "MedicationStatement")
    assert (page.resources, page.matches, page.next_url) == ((), 0, None)


def test_a_total_above_what_was_read_is_refused() -> None:
    check_all_read(None, 0)
    check_all_read(2, 2)
    with pytest.raises(MalformedSearchset, match=r"counted 3 .* sent 1"):
        check_all_read(3, 1)


def test_error_messages_never_echo_the_answer() -> None:
    with pytest.raises(MalformedSearchset) as raised:
        read_searchset_page(bundle(entry=[entry({"resourceType": "John Smith 1970"})]), "X")
    assert "John" not in str(raised.value)


@pytest.mark.parametrize(
    ("includes", "types"),
    [
        (["MedicationStatement:medication"], {"Medication"}),
        (["MedicationRequest:requester:Practitioner"], {"Practitioner"}),
        (
            ["MedicationDispense:medication", "MedicationDispense:patient"],
            {"Medication", "Patient"},
        ),
        ([], set()),
        (["nonsense"], set()),
    ],
)
def test_include_targets(includes: list[str], types: set[str]) -> None:
    assert include_targets(includes) == types
