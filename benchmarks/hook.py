"""The hook under the production server, signed calls, against its own floor.

For each chart size it times, interleaved call by call so that drift on a shared machine hits
all three alike: the order-select call with an LDN draft (the whole check), the same body with
no naltrexone drafted (authentication and parsing only: nothing to check), and the bare
endpoint that only parses the body. Then throughput at 16 concurrent clients for both kinds of
call, and the resident memory of the workers after 1,000 and 10,000 calls.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
import requests
from joserfc.jwk import ECKey

from benchmarks.charts import PATIENT_ID, USER, chart_prefetch
from benchmarks.machine import children, rss_bytes
from benchmarks.servers import ISSUER, Served, bare, product
from benchmarks.stats import Timing
from sandbox.cds_client import ClientKey, hook_request
from sandbox.order_drafts import CHOICES_BY_KEY, draft_order, reference

SERVICE = "/cds-services/ldn-naltrexone-order-select"
AMOXICILLIN = {
    "resourceType": "MedicationRequest",
    "id": "draft-amoxicillin",
    "status": "draft",
    "intent": "order",
    "medicationCodeableConcept": {"text": "amoxicillin 500 mg capsule"},
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
}


@dataclass(frozen=True, slots=True)
class HookRow:
    """One chart size: the three kinds of call, timed side by side."""

    records: int
    body_bytes: int
    ldn: Timing
    no_naltrexone: Timing
    bare: Timing
    critical_cards: int


@dataclass(frozen=True, slots=True)
class Throughput:
    """Calls per second at a number of concurrent clients, for both kinds of call."""

    clients: int
    records: int
    ldn_per_second: float
    no_naltrexone_per_second: float
    errors: Counter[str]  # by kind of call and what went wrong


@dataclass(frozen=True, slots=True)
class Memory:
    """Resident memory of the workers (summed) after a number of calls."""

    calls: int
    rss_bytes: int


class Caller:
    """Signs and posts hook calls to the production server."""

    def __init__(self, served: Served, key: ClientKey) -> None:
        self.served = served
        self.key = key
        self.session = requests.Session()
        ldn = draft_order(CHOICES_BY_KEY["ldn-1.5"], PATIENT_ID, USER)
        self._drafts = {"ldn": ([ldn], [reference(ldn)]), "none": ([AMOXICILLIN], [])}

    def body(self, kind: str, prefetch: Mapping[str, Any]) -> bytes:
        drafts, selections = self._drafts[kind]
        return orjson.dumps(
            hook_request(
                "order-select",
                patient_id=PATIENT_ID,
                user=USER,
                draft_orders=drafts,
                selections=selections,
                prefetch=prefetch,
                encounter_id="bench-encounter",
            )
        )

    def post(self, body: bytes, session: requests.Session | None = None) -> tuple[float, Any]:
        token = self.key.sign(ISSUER, self.served.base_url + SERVICE)
        began = time.perf_counter()
        response = (session or self.session).post(
            self.served.base_url + SERVICE,
            data=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=120,
        )
        elapsed = time.perf_counter() - began
        if response.status_code != 200:
            raise RuntimeError(f"hook answered {response.status_code}: {response.text[:300]}")
        return elapsed, response.json()


def _bare_post(session: requests.Session, served: Served, body: bytes) -> float:
    began = time.perf_counter()
    response = session.post(
        served.base_url + "/parse",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=120,
    )
    elapsed = time.perf_counter() - began
    response.raise_for_status()
    return elapsed


def _prefetch(records: int) -> dict[str, Any]:
    return {
        key: orjson.Fragment(orjson.dumps(value)) for key, value in chart_prefetch(records).items()
    }


def time_sizes(
    caller: Caller, floor: Served, sizes: list[int], repeats: Callable[[int], int]
) -> list[HookRow]:
    """Time the three kinds of call per chart size, interleaved."""
    rows = []
    session = requests.Session()
    for records in sizes:
        prefetch = _prefetch(records)
        ldn_body, none_body = caller.body("ldn", prefetch), caller.body("none", prefetch)
        for warm in (ldn_body, none_body):
            caller.post(warm)
        _bare_post(session, floor, ldn_body)
        ldn, none, parsed = [], [], []
        critical = 0
        for _ in range(repeats(records)):
            elapsed, answer = caller.post(ldn_body)
            ldn.append(elapsed)
            critical = sum(card["indicator"] == "critical" for card in answer["cards"])
            none.append(caller.post(none_body)[0])
            parsed.append(_bare_post(session, floor, ldn_body))
        rows.append(
            HookRow(
                records,
                len(ldn_body),
                Timing(tuple(ldn)),
                Timing(tuple(none)),
                Timing(tuple(parsed)),
                critical,
            )
        )
    return rows


# Throughput is measured in alternating rounds of each kind of call, so that a change in the
# shared machine's speed while it runs weighs on both kinds alike.
THROUGHPUT_ROUNDS = 8


def throughput(caller: Caller, records: int, clients: int, calls: int) -> Throughput:
    """Run ``calls`` calls of each kind from ``clients`` threads, in alternating rounds; return
    the rates (calls over the time spent on that kind)."""
    prefetch = _prefetch(records)
    bodies = {kind: caller.body(kind, prefetch) for kind in ("ldn", "none")}
    spent = dict.fromkeys(bodies, 0.0)
    made = dict.fromkeys(bodies, 0)
    errors: Counter[str] = Counter()
    sessions = [requests.Session() for _ in range(clients)]
    per_round = max(1, calls // THROUGHPUT_ROUNDS)
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for _ in range(THROUGHPUT_ROUNDS):
            for kind, body in bodies.items():

                def one(index: int, body: bytes = body) -> str | None:
                    try:
                        caller.post(body, sessions[index % clients])
                    except RuntimeError as error:
                        return str(error)[:120]
                    except requests.RequestException as error:
                        return type(error).__name__
                    return None

                began = time.perf_counter()
                results = list(pool.map(one, range(per_round)))
                spent[kind] += time.perf_counter() - began
                made[kind] += per_round
                errors.update(f"{kind}: {result}" for result in results if result is not None)
    return Throughput(
        clients,
        records,
        made["ldn"] / spent["ldn"],
        made["none"] / spent["none"],
        errors,
    )


def memory_growth(caller: Caller, checkpoints: list[int]) -> list[Memory]:
    """Make small LDN calls and read the workers' resident memory at each checkpoint."""
    body = caller.body("ldn", _prefetch(10))
    made = 0
    found = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for checkpoint in checkpoints:
            list(pool.map(lambda _: caller.post(body), range(checkpoint - made)))
            made = checkpoint
            workers = children(caller.served.pid)
            found.append(Memory(checkpoint, sum(rss_bytes(pid) for pid in workers)))
    return found


def run(
    sizes: list[int],
    repeats: Callable[[int], int],
    *,
    throughput_calls: int,
    memory_checkpoints: list[int],
) -> tuple[list[HookRow], Throughput, list[Memory]]:
    """Start both servers, measure everything, stop them."""
    key = ClientKey(ECKey.generate_key("P-384"))
    with product(key.jwks()) as served, bare() as floor:
        caller = Caller(served, key)
        rows = time_sizes(caller, floor, sizes, repeats)
        rate = throughput(caller, 100, 16, throughput_calls)
        memory = memory_growth(caller, memory_checkpoints)
    return rows, rate, memory
