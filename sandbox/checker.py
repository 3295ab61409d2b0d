"""``ldn-safety check``: run the whole product flow against any FHIR R4 server, step by step.

Steps, each reported PASS / FAIL / NOT RUN with a one-line reason:

1. reach the server (CapabilityStatement: FHIR 4.0.x, transaction, conditional create);
2. load the sample patients (conditional updates, tagged ``ldn-sample``, dated for ``today``);
3. start the real CDS service in-process, trusting a fresh ES384 key;
4. per sample patient, a CDS ``order-select`` call drafting LDN 1.5 mg, without prefetch (the
   service fetches from the server under test), judged against ``sandbox.patients.expectations``;
5. per planned patient, save the titration CarePlan and evidence DocumentReference in one
   transaction, read them back, and validate both against base R4 and the project's profiles;
6. check that nothing was written twice; optionally remove everything the checker wrote.

A step whose prerequisite did not pass is NOT RUN, and the run fails. No step lets an exception
through: every failure becomes its reason line.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import requests

from fhir_client import FhirClient, FhirError, FhirForbidden, FhirUnauthorized
from fhir_profiles.artefacts import CAREPLAN_PROFILE, DOCUMENTREFERENCE_PROFILE
from fhir_profiles.core_package import CorePackageMissingError
from fhir_profiles.validation import validate
from sandbox.cds_client import CdsCallFailed
from sandbox.checker_capability import read_capabilities
from sandbox.checker_cds import AppFactory, CdsTarget, InProcessCds, judge_cards
from sandbox.checker_cleanup import clean_up, tagged_resources
from sandbox.checker_report import Echo, Progress, StepResult, Verdict
from sandbox.checker_save import SavedPlan, SaveProblem, read_back, save_plan
from sandbox.loader import SampleLoadError, load_samples
from sandbox.patients import expectations, sample_keys

# The fibromyalgia patient gets an active plan; the hydrocodone one a plan that waits.
DEFAULT_PLAN_PATIENTS = ("fibromyalgia-no-opioids", "hydrocodone-stopped")

# Groups of steps in the summary.
SERVER, CDS_CHECKS, PLANS, CLEANUP = "server and samples", "CDS checks", "plans", "clean up"
# Step names that others depend on.
REACH = "reach the FHIR server"
LOAD = "load the sample patients"
CDS = "start the CDS service in-process"


class StepFailed(Exception):
    """What a step checks is wrong; the message is the one-line reason."""


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """What to check, where, and with which credentials (the token stays out of reprs)."""

    base_url: str
    today: date
    token: str | None = field(default=None, repr=False)
    timeout: float = 20.0
    plan_patients: tuple[str, ...] = DEFAULT_PLAN_PATIENTS
    cleanup: bool = False
    cleanup_only: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    """A named check, the steps that must have passed before it, and what it does.

    ``run`` returns the one-line detail of a pass and raises to fail.
    """

    name: str
    group: str
    run: Callable[[], str]
    needs: tuple[str, ...] = ()


class _Run:
    """The state the steps share: the client, the patient ids, the CDS service, saved plans."""

    def __init__(self, options: CheckOptions, create_app: AppFactory, workdir: Path) -> None:
        self.options = options
        self.create_app = create_app
        self.workdir = workdir
        self.session = requests.Session()
        self.client = FhirClient(
            options.base_url, token=options.token, session=self.session, timeout=options.timeout
        )
        self.patient_ids: dict[str, str] = {}
        self.cds: InProcessCds | None = None
        self.saved: dict[str, SavedPlan] = {}
        # patient key -> resource type -> the resource as read back from the server
        self.read: dict[str, dict[str, dict[str, Any]]] = {}

    def reach(self) -> str:
        facts = read_capabilities(self.client.capabilities())
        if not facts.is_r4:
            raise StepFailed(f"{facts.describe()}: the product needs FHIR R4 (4.0.x)")
        return facts.describe()

    def load(self) -> str:
        loader_session = requests.Session()
        if self.options.token:
            loader_session.headers["Authorization"] = f"Bearer {self.options.token}"
        with loader_session:
            report = load_samples(self.options.base_url, loader_session, today=self.options.today)
        self.patient_ids = dict(report.patient_ids)
        return (
            f"{len(report.patient_ids)} patients dated for {self.options.today}: "
            f"{report.created} created, {report.updated} updated"
        )

    def start_cds(self) -> str:
        target = CdsTarget(
            fhir_base=self.client.base_url,
            token=self.options.token,
            deadline_seconds=self.options.timeout,
            today=self.options.today,
        )
        self.cds = InProcessCds(self.create_app, target, self.workdir)
        auth = "with the bearer token" if self.options.token else "without a token"
        return f"client key ES384 {self.cds.key_id}; reads {self.client.base_url} {auth}"

    def cds_check(self, key: str) -> str:
        assert self.cds is not None  # guaranteed by the step's prerequisites
        try:
            cards = self.cds.order_select(self.patient_ids[key])
        except CdsCallFailed as exc:
            raise StepFailed(str(exc)) from None
        verdict = judge_cards(cards, expectations(self.options.today)[key])
        if verdict.problems:
            raise StepFailed(f"{verdict.seen}: " + "; ".join(verdict.problems))
        return verdict.seen

    def save(self, key: str) -> str:
        saved = save_plan(self.client, key, self.patient_ids[key], self.options.today)
        self.saved[key] = saved
        return saved.describe()

    def read_back(self, key: str) -> str:
        careplan, document = read_back(self.client, self.saved[key])
        self.read[key] = {"CarePlan": careplan, "DocumentReference": document}
        return "both read; identifiers match; the DocumentReference points at the CarePlan"

    def validate(self, key: str, resource_type: str, profile: str) -> str:
        report = validate(self.read[key][resource_type], profile)
        if not report.valid:
            more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
            raise StepFailed(f"{report.errors[0]}{more}")
        name = profile.rsplit("/", 1)[-1]
        return f"valid against base R4 and {name} ({len(report.warnings)} warnings)"

    def no_duplicates(self) -> str:
        resources = tagged_resources(self.client)
        counts = Counter(
            f"{r['resourceType']} {i.get('system')}|{i.get('value')}"
            for r in resources
            for i in r.get("identifier") or []
        )
        twice = sorted(ident for ident, n in counts.items() if n > 1)
        if twice:
            raise StepFailed(f"{len(twice)} identifier(s) on more than one resource: {twice[0]}")
        return f"{len(resources)} tagged resources, each identifier once"

    def cleanup(self) -> str:
        report = clean_up(self.client)
        if report.remaining:
            raise StepFailed(f"{report.describe()}: some resources were not removed")
        return report.describe()


def plan_steps(run: _Run) -> list[Step]:
    """Return the steps for the options, in order, with their prerequisites."""
    options = run.options
    steps = [Step(REACH, SERVER, run.reach)]
    if options.cleanup_only:
        return [*steps, Step(CLEANUP, CLEANUP, run.cleanup, (REACH,))]
    steps += [
        Step(LOAD, SERVER, run.load, (REACH,)),
        Step(CDS, CDS_CHECKS, run.start_cds, (LOAD,)),
    ]
    steps += [
        Step(f"CDS check {key}", CDS_CHECKS, partial(run.cds_check, key), (CDS,))
        for key in sample_keys()
    ]
    for key in options.plan_patients:
        save, back = f"save plan {key}", f"read back plan {key}"
        steps += [
            Step(save, PLANS, partial(run.save, key), (LOAD,)),
            Step(back, PLANS, partial(run.read_back, key), (save,)),
            Step(
                f"validate CarePlan {key}",
                PLANS,
                partial(run.validate, key, "CarePlan", CAREPLAN_PROFILE),
                (back,),
            ),
            Step(
                f"validate DocumentReference {key}",
                PLANS,
                partial(run.validate, key, "DocumentReference", DOCUMENTREFERENCE_PROFILE),
                (back,),
            ),
        ]
    steps.append(Step("no duplicates", SERVER, run.no_duplicates, (LOAD,)))
    if options.cleanup:
        steps.append(Step(CLEANUP, CLEANUP, run.cleanup, (REACH,)))
    return steps


def failure_reason(exc: Exception) -> str:
    """Say in one line why a step failed, without tokens or tracebacks."""
    if isinstance(exc, FhirUnauthorized | FhirForbidden):
        return f"{exc.message}: the server refused the bearer token (or needs one)"
    if isinstance(exc, FhirError):
        issues = (exc.outcome or {}).get("issue") or []
        diagnostics = next((i["diagnostics"] for i in issues if i.get("diagnostics")), None)
        return f"{exc.message}: {diagnostics}" if diagnostics else exc.message
    if isinstance(exc, StepFailed | SampleLoadError | SaveProblem | CorePackageMissingError):
        return str(exc)
    if isinstance(exc, ValueError):
        # Bad input found by a builder or a reader (InvalidResourceInput, InvalidTitration...).
        return f"{type(exc).__name__}: {exc}"
    return f"unexpected {type(exc).__name__}: {exc}"


def run_steps(steps: list[Step], progress: Progress) -> list[StepResult]:
    """Run the steps in order, reporting each as it ends; return every result."""
    passed: set[str] = set()
    results = []
    for number, step in enumerate(steps, start=1):
        progress.begin(number, step.name)
        started = time.monotonic()
        missing = [need for need in step.needs if need not in passed]
        if missing:
            verdict, detail = Verdict.NOT_RUN, f"(needs: {missing[0]})"
        else:
            try:
                verdict, detail = Verdict.PASS, step.run()
            # The checker reports every failure as a line, never as a traceback.
            except Exception as exc:  # noqa: BLE001
                verdict, detail = Verdict.FAIL, failure_reason(exc)
        result = StepResult(
            number, step.name, step.group, verdict, detail, time.monotonic() - started
        )
        if verdict is Verdict.PASS:
            passed.add(step.name)
        progress.end(result)
        results.append(result)
    return results


def run_checks(options: CheckOptions, create_app: AppFactory, echo: Echo) -> list[StepResult]:
    """Run every step against ``options.base_url``, writing progress through ``echo``."""
    with tempfile.TemporaryDirectory(prefix="ldn-check-") as workdir:
        run = _Run(options, create_app, Path(workdir))
        with run.session:
            steps = plan_steps(run)
            return run_steps(steps, Progress(len(steps), echo))
