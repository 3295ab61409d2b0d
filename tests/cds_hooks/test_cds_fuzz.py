"""Fuzzing the CDS Hooks endpoints of the real deployable: at least 10,000 hostile calls per run.

Every call starts from a valid, signed order-sign or order-select call for a patient with an
active opioid in the prefetch (the service answers it with a critical card), then breaks it:
fields dropped, duplicated, retyped or made huge, bad Unicode, deep nesting, huge arrays, the
raw body cut or given a duplicate key, the JWT tampered with. Two generators drive it: hypothesis
(shrinking a failure to its smallest form) and a seeded mutation engine for volume.

What must hold for every call: no 5xx; every 4xx a JSON body; and, for a single mutation, never
an ``info`` card, the all-clear: one broken field may make the data unreadable (a warning or a
412) but can never make the opioid disappear. The one single mutation that legitimately removes
the opioid, a medication prefetch key set to ``null`` (CDS Hooks: "no data"), is not generated.
After the run the service is healthy and still answers the original call with its critical card.
The counts are printed (``pytest -s`` or the summary of ``-rP``); ``LDN_FUZZ_CASES`` raises the
number of mutation-engine cases for a longer local run.
"""

from __future__ import annotations

import copy
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from ldn_safety.app import create_app
from tests.cds_hooks.support import NALTREXONE_LDN, PATIENT_ID, SELECT, SIGN, hook_body, searchset

ISSUER = "https://fuzz-ehr.example.test"
BASE = "https://cds.example.test"
ENGINE_CASES = int(os.environ.get("LDN_FUZZ_CASES", "9000"))
HYPOTHESIS_CASES = 1000
SEED = 20261203

OXYCODONE = {
    "resourceType": "MedicationStatement",
    "id": "ms-oxy",
    "status": "active",
    "medicationCodeableConcept": {
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "1049621",
                "display": "oxycodone hydrochloride 5 MG Oral Tablet",
            }
        ],
        "text": "oxycodone 5 mg tablet",
    },
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
    "effectivePeriod": {"start": "2026-10-01"},
}
# A medication prefetch key set to null means "the patient has none": a legitimate all-clear.
NULL_IS_DATA = {("prefetch", "medicationStatements"), ("prefetch", "medicationRequests")}
Path_ = tuple[str | int, ...]


def valid_call(hook: str) -> dict[str, Any]:
    """Return a valid call whose answer is a critical card (active oxycodone)."""
    # A deep copy: mutations must never reach the shared OXYCODONE or the support module's drafts.
    return copy.deepcopy(
        hook_body(
            hook,
            drafts=[NALTREXONE_LDN],
            prefetch={
                "patient": {"resourceType": "Patient", "id": PATIENT_ID},
                "medicationStatements": searchset(OXYCODONE),
                "medicationRequests": searchset(),
                "conditions": searchset(),
            },
        )
    )


def paths(value: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Yield the path of every value inside ``value`` (not the root)."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, child in items:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def parent_of(body: Any, path: Path_) -> Any:
    for key in path[:-1]:
        body = body[key]
    return body


# Values of each JSON type, for retyping; a few are hostile in themselves.
RETYPES: list[Any] = [
    None,
    0,
    -1,
    2**63,
    1.5,
    True,
    "",
    "x",
    "\u202eevitca",
    "\x00",
    [],
    [None],
    {},
    {"resourceType": "OperationOutcome"},
]
WEIRD_TEXT = ["\u0000", "\u202e", "\ufeff", "\u0301" * 50, "\U0001f480", "\u2028", "\\", '"']
DEEP = "__FUZZ_DEEP__"


@dataclass
class Case:
    """One mutated call: its body bytes, its kind, and whether the all-clear oracle applies."""

    kind: str
    body: Any = None
    raw: bytes | None = None
    single: bool = True
    deep: int = 0
    tamper_jwt: Callable[[str], str] | None = None
    signed: bool = True

    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw
        text = orjson.dumps(self.body).decode()
        if self.deep:
            text = text.replace(f'"{DEEP}"', "[" * self.deep + "]" * self.deep)
        return text.encode()


def _type_of(value: Any) -> type:
    return type(value) if not isinstance(value, bool) else bool


def mutate(body: Any, rng: random.Random, hook: str) -> Case:
    """Apply one structural mutation to ``body`` (in place) and describe it."""
    all_paths = list(paths(body))
    path = rng.choice(all_paths)
    parent, key = parent_of(body, path), path[-1]
    kind = rng.choice(["drop", "duplicate", "retype", "oversize", "unicode", "deep", "huge-array"])
    case = Case(kind=f"{kind} {'.'.join(map(str, path))}", body=body)
    if kind == "drop":
        del parent[key]
    elif kind == "duplicate":
        if isinstance(parent, list):
            parent.insert(int(key), copy.deepcopy(parent[key]))
        else:
            parent[key] = [parent[key], copy.deepcopy(parent[key])]
    elif kind == "retype":
        choices = [v for v in RETYPES if _type_of(v) is not _type_of(parent[key])]
        if path in NULL_IS_DATA:
            choices = [v for v in choices if v is not None]
        parent[key] = copy.deepcopy(rng.choice(choices))
    elif kind == "oversize":
        current = parent[key]
        # Bounded, so that stacked mutations cannot multiply into bodies of hundreds of MB.
        if isinstance(current, list):
            parent[key] = current[:100] * rng.choice([10, 100])
        else:
            parent[key] = (str(current)[:1000] or "x") * rng.choice([10, 300])
    elif kind == "unicode":
        current = parent[key]
        text = current if isinstance(current, str) else str(current)
        at = rng.randrange(len(text) + 1)
        parent[key] = text[:at] + rng.choice(WEIRD_TEXT) + text[at:]
    elif kind == "deep":
        parent[key] = DEEP
        case.deep = rng.choice([50, 500, 3000])
    else:  # huge-array
        item = rng.choice([0, "x", {}, {"resourceType": "MedicationStatement"}, None])
        parent[key] = [item] * rng.choice([200, 2000])
    return case


def raw_mutation(body: Any, rng: random.Random) -> Case:
    """Break the body's text: cut it, repeat a key, insert bad bytes or a lone surrogate."""
    text = orjson.dumps(body)
    kind = rng.choice(["truncate", "duplicate-key", "bad-utf8", "lone-surrogate"])
    if kind == "truncate":
        return Case(kind="raw-truncate", raw=text[: rng.randrange(len(text))])
    if kind == "duplicate-key":
        key = rng.choice([b'"medicationStatements":', b'"patientId":', b'"hook":', b'"entry":'])
        at = text.find(key)
        value_end = text.find(b",", at)
        duplicate = text[at:value_end] + b","
        return Case(kind="raw-duplicate-key", raw=text[:at] + duplicate + text[at:])
    strings = [i for i in range(len(text)) if text[i : i + 1] == b'"']
    at = rng.choice(strings) + 1
    bad = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80"]) if kind == "bad-utf8" else b"\\ud800"
    return Case(kind=f"raw-{kind}", raw=text[:at] + bad + text[at:])


def jwt_mutation(rng: random.Random) -> Callable[[str], str]:
    """Return a function that breaks a signed JWT: flipped character, cut, or swapped part."""
    choice = rng.choice(["flip", "cut", "swap", "empty", "junk"])

    def tamper(token: str) -> str:
        if choice == "flip":
            at = rng.randrange(len(token))
            replacement = "A" if token[at] != "A" else "B"
            return token[:at] + replacement + token[at + 1 :]
        if choice == "cut":
            return token[: rng.randrange(len(token))]
        if choice == "swap":
            head, payload, signature = token.split(".")
            return ".".join([payload, head, signature])
        if choice == "empty":
            return ""
        return "é" * rng.randrange(1, 50)

    return tamper


@dataclass
class Tally:
    """What the run saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    all_clears: int = 0
    non_json_4xx: int = 0

    @property
    def cases(self) -> int:
        return sum(self.statuses.values())


class Fuzzer:
    """Send cases to the real deployable and check each answer.

    Signed cases carry a real ES384 JWT (and its jti goes through the replay store); unsigned
    ones go to a second instance of the same deployable with the development JWT bypass, which
    halves the cost of a case so that the run stays inside CI's time: the body takes the same
    path through the service either way.
    """

    def __init__(self, signed: Flask, unsigned: Flask, key: ECKey) -> None:
        self.client: FlaskClient = signed.test_client()
        self.unsigned: FlaskClient = unsigned.test_client()
        self.key = key
        self.tally = Tally()

    def token(self, path: str) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": BASE + path,
            "exp": now + 300,
            "iat": now,
            "jti": str(uuid.uuid4()),
        }
        header = {"alg": "ES384", "typ": "JWT", "kid": self.key.kid}
        return jwt.encode(header, claims, self.key, algorithms=["ES384"])

    def send(self, case: Case, hook: str) -> None:
        service = SELECT if hook == "order-select" else SIGN
        path = f"/cds-services/{service}"
        headers = {"Content-Type": "application/json"}
        client = self.unsigned
        if case.signed or case.tamper_jwt is not None:
            token = self.token(path)
            if case.tamper_jwt is not None:
                token = case.tamper_jwt(token)
            headers["Authorization"] = f"Bearer {token}"
            client = self.client
        response = client.post(path, data=case.payload(), headers=headers)
        self.check(case, response)

    def check(self, case: Case, response: Any) -> None:
        tally = self.tally
        tally.statuses[response.status_code] += 1
        tally.kinds[case.kind] += 1
        where = f"{case.kind} -> {response.status_code}"
        if response.status_code >= 500:
            tally.failures.append(f"{where}: {response.get_data(as_text=True)[:200]}")
        elif response.status_code >= 400:
            body = response.get_json(silent=True)
            if not isinstance(body, dict) or not (body.get("error") or body.get("issue")):
                tally.non_json_4xx += 1
                tally.failures.append(f"{where}: not a JSON error body")
        elif case.single and case.tamper_jwt is None:
            cards = response.get_json()["cards"]
            if any(card["indicator"] == "info" for card in cards):
                tally.all_clears += 1
                summaries = [c["summary"] for c in cards]
                tally.failures.append(f"{where}: all-clear {summaries}")


@pytest.fixture(scope="module")
def fuzz_key() -> ECKey:
    return ECKey.generate_key("P-384", parameters={"kid": "fuzz-es384"})


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory: pytest.TempPathFactory, fuzz_key: ECKey) -> Fuzzer:
    folder = tmp_path_factory.mktemp("fuzz")
    config = {
        "TESTING": False,  # errors go through the handlers as in production
        "SECRET_KEY": "fuzz-secret",
        "PUBLIC_BASE_URL": BASE,
        # In memory: the run measures the service, not the disk's commit latency.
        "DATABASE_URL": "sqlite://",
        "SESSION_DIR": str(folder / "sessions"),
        "CDS_TRUSTED_CLIENTS": {ISSUER: {"jwks": KeySet([fuzz_key]).as_dict(private=False)}},
        "TODAY": lambda: date(2026, 12, 3),
        "LOG_LEVEL": "CRITICAL",
    }
    unsigned = create_app({**config, "CDS_INSECURE_DEV_NO_JWT": True})
    return Fuzzer(create_app(config), unsigned, fuzz_key)


@settings(
    max_examples=HYPOTHESIS_CASES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    hook=st.sampled_from(["order-sign", "order-select"]),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    depth=st.integers(min_value=1, max_value=3),
)
def test_hypothesis_mutations(fuzzer: Fuzzer, hook: str, seed: int, depth: int) -> None:
    rng = random.Random(seed)
    body = valid_call(hook)
    case = mutate(body, rng, hook)
    for _ in range(depth - 1):
        if not list(paths(body)):
            break
        case = mutate(body, rng, hook)
        case.single = False
    case.kind = f"hypothesis-{case.kind}"
    case.signed = seed % 10 == 0
    before = len(fuzzer.tally.failures)
    fuzzer.send(case, hook)
    assert fuzzer.tally.failures[before:] == []


def test_mutation_engine(fuzzer: Fuzzer, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(SEED)
    for number in range(ENGINE_CASES):
        hook = "order-select" if number % 2 else "order-sign"
        body = valid_call(hook)
        roll = rng.random()
        if roll < 0.6:
            case = mutate(body, rng, hook)
        elif roll < 0.7:
            case = mutate(body, rng, hook)
            for _ in range(rng.randrange(1, 4)):
                if list(paths(body)):
                    mutate(body, rng, hook)
            case.single, case.kind = False, f"stacked-{case.kind}"
        elif roll < 0.93:
            case = raw_mutation(body, rng)
        else:
            case = Case(kind="jwt", body=body, tamper_jwt=jwt_mutation(rng))
        case.signed = number % 10 == 0
        fuzzer.send(case, hook)
    tally = fuzzer.tally
    with capsys.disabled():
        print(
            f"\nCDS fuzz: {tally.cases} cases ({HYPOTHESIS_CASES} hypothesis, {ENGINE_CASES} "
            f"mutation engine); statuses {dict(sorted(tally.statuses.items()))}; "
            f"5xx {sum(n for s, n in tally.statuses.items() if s >= 500)}; "
            f"false all-clears {tally.all_clears}; non-JSON 4xx {tally.non_json_4xx}"
        )
    assert tally.failures == [], tally.failures[:20]
    assert tally.cases >= 10_000


def test_the_service_is_healthy_after_the_fuzzing(fuzzer: Fuzzer) -> None:
    assert fuzzer.tally.cases >= 10_000  # runs after the two tests above
    assert fuzzer.client.get("/healthz").status_code == 200
    for hook in ("order-sign", "order-select"):
        case = Case(kind="valid", body=valid_call(hook))
        service = SELECT if hook == "order-select" else SIGN
        path = f"/cds-services/{service}"
        response = fuzzer.client.post(
            path,
            data=case.payload(),
            headers={
                "Authorization": f"Bearer {fuzzer.token(path)}",
                "Content-Type": "application/json",
            },
        )
        assert response.status_code == 200
        assert [c["indicator"] for c in response.get_json()["cards"]] == ["critical"]
