"""Put the titration CarePlan and its evidence DocumentReference in one transaction Bundle.

The two are saved together or not at all (a FHIR ``transaction``), and a
retried save writes nothing new: each entry is a conditional create on its business identifier
(``ifNoneExist``). The DocumentReference points at the CarePlan's ``urn:uuid`` fullUrl, which the
server rewrites to the CarePlan's id, the new one or, on a retry, the one already stored (FHIR R4
RESTful API, "Transaction Processing Rules"). Every fullUrl is derived from the plan identifier,
so a retry sends the same Bundle.

A plan that revises the plans in effect carries ``CarePlan.replaces`` and the transaction also
ends each of them (``careplan.revoked_careplan``, a PUT of the stored CarePlan with status
``revoked``): the new plan and the end of the old ones are saved together or not at all. The
PUT sets the same content again on a retry, so it is as safe to repeat as the creates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from fhir_profiles.identifiers import (
    Identifier,
    InvalidResourceInput,
    careplan_identifier,
    document_identifier,
)


def _entry(resource: Mapping[str, Any], identifier: Identifier) -> dict[str, Any]:
    kind = resource.get("resourceType")
    if resource.get("id") is not None:
        raise InvalidResourceInput(f"The {kind} to create must not have an id yet.")
    if identifier.to_fhir() not in (resource.get("identifier") or []):
        raise InvalidResourceInput(
            f"The {kind} does not carry the identifier {identifier.system}|{identifier.value} "
            "of this plan."
        )
    return {
        "fullUrl": identifier.full_url,
        "resource": dict(resource),
        "request": {"method": "POST", "url": kind, "ifNoneExist": identifier.search},
    }


def _related(document: Mapping[str, Any]) -> list[str]:
    context = document.get("context") or {}
    return [item.get("reference") for item in context.get("related") or []]


def _ended_entry(careplan: Mapping[str, Any], ended: Mapping[str, Any]) -> dict[str, Any]:
    ident = ended.get("id")
    if ended.get("resourceType") != "CarePlan" or not ident or ended.get("status") != "revoked":
        raise InvalidResourceInput("A plan ended by a save must be a stored, revoked CarePlan.")
    replaced = [item.get("reference") for item in careplan.get("replaces") or []]
    if f"CarePlan/{ident}" not in replaced:
        raise InvalidResourceInput(f"The new CarePlan must name CarePlan/{ident} in replaces.")
    return {"resource": dict(ended), "request": {"method": "PUT", "url": f"CarePlan/{ident}"}}


def build_save_transaction(
    careplan: Mapping[str, Any],
    document: Mapping[str, Any],
    plan_identifier: str,
    ended: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Return the transaction Bundle that creates ``careplan`` and ``document`` once, together.

    Both must carry the identifiers derived from ``plan_identifier`` and the document must point
    at the CarePlan's ``urn:uuid`` (``identifiers.careplan_full_url``); each of ``ended`` (the
    revoked plans it replaces) must be named in the CarePlan's ``replaces``. Otherwise
    ``InvalidResourceInput`` says what is wrong.
    """
    if careplan.get("resourceType") != "CarePlan":
        raise InvalidResourceInput("The first resource of a save must be the CarePlan.")
    if document.get("resourceType") != "DocumentReference":
        raise InvalidResourceInput("The second resource of a save must be the DocumentReference.")
    plan = careplan_identifier(plan_identifier)
    if plan.full_url not in _related(document):
        raise InvalidResourceInput(
            f"The DocumentReference must point at the CarePlan of this save ({plan.full_url})."
        )
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            _entry(careplan, plan),
            _entry(document, document_identifier(plan_identifier)),
            *(_ended_entry(careplan, plan) for plan in ended),
        ],
    }
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)
