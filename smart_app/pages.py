"""The app's pages after launch: review, plan, save, saved plans, evidence, patient handout.

Each view is thin: open the launch (token renewed if needed), read the chart through the FHIR
client, call the pure pieces (review, plan, dose chart, save), render. Every page names its
launch in ``launch_id``, so two tabs on two patients never mix. Failures raise an ``AppError``,
which the app's error handler renders as ``error.html``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from clinical.conditions import classify_conditions
from clinical.evidence import select_evidence
from clinical.knowledge import Knowledge
from clinical.titration import TitrationProtocol
from fhir_client import FhirError
from fhir_profiles.evidence_render import summary_view
from fhir_profiles.mapping import PatientBanner
from smart_app.card_context import read_card_context
from smart_app.dose_chart import dose_chart
from smart_app.errors import (
    BadPlanLink,
    ChartUnreadable,
    LaunchExpired,
    PlanNotFound,
    PlanNotPrintable,
)
from smart_app.fhir_connection import fhir_client, open_launch
from smart_app.launch import LaunchContext
from smart_app.plan import (
    PlanCheck,
    check_plan,
    days_to_show,
    form_from,
    is_plan_id,
    new_form,
    target_options,
)
from smart_app.review import (
    Review,
    build_review,
    patient_of,
    read_banner,
    read_chart,
    read_chart_conditions,
    unreadable_chart,
)
from smart_app.revision import Revision, RevisionUnknown, read_revision
from smart_app.save import SaveFailed, after_failed_save, save_blockers, save_plan
from smart_app.saved_plans import SavedPlan, find_saved_plan, find_saved_plans, schedule_of
from smart_app.settings import app_settings

bp = Blueprint("pages", __name__)
log = logging.getLogger("ldn.smart_app")


def today() -> date:
    """Return the day the pages reason about: the product's clock (``TODAY``, shared with CDS)."""
    return app_settings().today()


def knowledge() -> Knowledge:
    """Return the clinical knowledge with the site's windows (the CDS card applies the same)."""
    return app_settings().knowledge


@bp.get("/review")
def review() -> str:
    """Show the opioid review: each opioid found and the naltrexone decision (the landing page)."""
    launch_id, ctx, result = _review()
    return render_template(
        "smart_app/review.html",
        page="review",
        card=read_card_context(ctx.app_context),
        **_chart_page(launch_id, ctx, result),
    )


@bp.get("/plan")
def plan() -> str:
    """Show the plan editor: on the plan in effect if there is one, else the protocol's defaults."""
    launch_id, ctx, result = _review()
    revision, unknown = Revision(), None
    with fhir_client(ctx) as client:
        try:
            found = read_revision(client, ctx, new_form(result.assessment, _protocol(), today()))
            revision = Revision(in_effect=found.in_effect)  # shown now: nothing unseen
        except RevisionUnknown as exc:
            unknown = exc.explanation
    form = new_form(result.assessment, _protocol(), today(), revision.in_effect)
    check = check_plan(form, result.assessment, _protocol(), today())
    # A first view shows no errors: the clinician has not entered anything yet.
    return _plan_page(
        launch_id, ctx, result, check, show_errors=False, revision=revision, plans_unknown=unknown
    )


@bp.post("/plan")
def update_plan() -> tuple[str, int]:
    """Redraw the plan with the values entered; errors are shown beside their fields."""
    launch_id, ctx, result, unreadable = _review_keeping_form()
    check = _checked(result)
    if unreadable is not None:
        return _plan_page(launch_id, ctx, result, check, save_error=unreadable), 502
    return _plan_page(launch_id, ctx, result, check), 422 if check.errors else 200


@bp.post("/plan/save")
def save() -> BaseResponse | tuple[str, int]:
    """Save the plan and its evidence summary to the chart together, then show what was saved."""
    if not is_plan_id(request.form.get("plan_id")):
        raise BadPlanLink("The form carries no valid plan identifier, so it cannot be saved.")
    launch_id, ctx, result, unreadable = _review_keeping_form()
    check = _checked(result)
    if unreadable is not None:
        # Never save a plan against a chart that could not be read just now; keep every entry.
        log.warning("plan not saved: chart unreadable", extra={"event": "smart_save_failed"})
        return _plan_page(launch_id, ctx, result, check, save_error=unreadable), 502
    blockers = save_blockers(ctx)
    if blockers:
        return _plan_page(launch_id, ctx, result, check), 403
    if check.choice is None:
        return _plan_page(launch_id, ctx, result, check), 422
    try:
        with fhir_client(ctx) as client:
            revision = read_revision(client, ctx, check.form)
            if revision.unseen:
                # Another plan came into effect since the page was drawn: say so, save nothing.
                log.info("plan not saved: new plan in effect", extra={"event": "smart_revise_ask"})
                return _plan_page(
                    launch_id, ctx, result, _revising(check, revision), revision=revision
                ), 409
            save_plan(client, ctx, check.choice, result, knowledge(), revision=revision)
    except RevisionUnknown as exc:
        why = f"{exc.explanation} The plan was not saved; everything you entered is kept."
        return _plan_page(launch_id, ctx, result, check, save_error=why), 502
    except SaveFailed as failure:
        # A fresh deadline: the save may have used all of its own.
        with fhir_client(ctx) as client:
            after = after_failed_save(client, result.chart.patient_id, check.form.plan_id, failure)
        if not after.saved:
            log.warning("plan not saved", extra={"event": "smart_save_failed"})
            return _plan_page(launch_id, ctx, result, check, save_error=after.explanation), 502
    log.info("plan saved", extra={"event": "smart_plan_saved"})
    target = url_for("smart_app.pages.saved_plan", launch_id=launch_id, plan_id=check.form.plan_id)
    return redirect(target, code=303)


@bp.get("/plan/saved")
def saved_plan() -> str:
    """Show a saved plan as read back from the FHIR server."""
    launch_id, ctx = _launch()
    banner, notes, found = _saved_plan(ctx)
    return render_template(
        "smart_app/saved_plan.html",
        launch_id=launch_id,
        ctx=ctx,
        banner=banner,
        notes=notes,
        plan=found,
        page="saved",
    )


@bp.get("/plans")
def saved_plans() -> str:
    """List the LDN plans already saved on the patient's chart."""
    launch_id, ctx = _launch()
    failure = None
    plans: tuple[SavedPlan, ...] = ()
    notes: list[str] = []
    with fhir_client(ctx) as client:
        banner = read_banner(client, ctx, notes)
        if not ctx.can("CarePlan", "s"):
            failure = "The EHR did not grant the app access to care plans."
        else:
            try:
                plans = find_saved_plans(client, patient_of(ctx))
            except FhirError as exc:
                failure = f"The FHIR server could not answer ({exc.message})."
    return render_template(
        "smart_app/saved_plans.html",
        launch_id=launch_id,
        ctx=ctx,
        banner=banner,
        notes=notes,
        plans=plans,
        failure=failure,
        page="plans",
    )


@bp.get("/evidence")
def evidence() -> str:
    """Show the evidence summary, the patient's own conditions first, with grades."""
    launch_id, ctx = _launch()
    known = knowledge()
    notes: list[str] = []
    with fhir_client(ctx) as client:
        banner = read_banner(client, ctx, notes)
        conditions = read_chart_conditions(client, ctx, notes)
    groups = classify_conditions(conditions or (), known.conditions)
    view = summary_view(
        select_evidence(groups, known.evidence),
        patient_name=banner.name if banner else None,
        knowledge=known,
    )
    return render_template(
        "smart_app/evidence.html",
        launch_id=launch_id,
        ctx=ctx,
        banner=banner,
        notes=notes,
        view=view,
        page="evidence",
    )


@bp.get("/handout")
def handout() -> str:
    """Show a printable, plain-language handout of the plan for the patient."""
    launch_id, ctx, result = _review()
    known = knowledge()
    check = check_plan(form_from(request.args), result.assessment, known.titration, today())
    if check.choice is None:
        raise BadPlanLink(
            "The plan in this link is not complete or not valid: " + " ".join(check.errors.values())
        )
    schedule = check.choice.schedule
    return render_template(
        "smart_app/handout.html",
        page="handout",
        schedule=schedule,
        handout=known.handout.for_schedule(schedule, known.opioids.washouts),
        back=url_for("smart_app.pages.plan", launch_id=launch_id),
        **_chart_page(launch_id, ctx, result),
    )


@bp.get("/plan/saved/handout")
def saved_handout() -> str:
    """Show the handout of one saved plan, its schedule read back from the chart."""
    launch_id, ctx = _launch()
    banner, notes, found = _saved_plan(ctx)
    schedule = schedule_of(found, _protocol())
    if schedule is None:
        raise PlanNotPrintable(
            "The plan's saved dose steps are not a schedule this app lays out, so a handout "
            "could say a dose or a date the plan does not."
        )
    return render_template(
        "smart_app/handout.html",
        launch_id=launch_id,
        ctx=ctx,
        banner=banner,
        notes=notes,
        schedule=schedule,
        handout=knowledge().handout.for_schedule(schedule, knowledge().opioids.washouts),
        back=url_for("smart_app.pages.saved_plan", launch_id=launch_id, plan_id=found.plan_id),
        page="handout",
    )


def _launch() -> tuple[str, LaunchContext]:
    launch_id = request.args.get("launch_id", "")
    return launch_id, open_launch(launch_id)


def _saved_plan(ctx: LaunchContext) -> tuple[PatientBanner | None, list[str], SavedPlan]:
    """Read the banner and the saved plan the link's ``plan_id`` names, back from the chart."""
    plan_id = request.args.get("plan_id", "")
    if not is_plan_id(plan_id):
        raise BadPlanLink("The link does not name a plan.")
    notes: list[str] = []
    with fhir_client(ctx) as client:
        banner = read_banner(client, ctx, notes)
        try:
            found = find_saved_plan(client, patient_of(ctx), plan_id)
        except FhirError as exc:
            raise ChartUnreadable(f"The saved plan could not be read ({exc.message}).") from exc
    if found is None:
        raise PlanNotFound("No saved LDN plan with this identifier is on the patient's chart.")
    return banner, notes, found


def _review() -> tuple[str, LaunchContext, Review]:
    launch_id, ctx = _launch()
    with fhir_client(ctx) as client:
        chart = read_chart(client, ctx, knowledge().opioids)
    return launch_id, ctx, build_review(chart, today(), knowledge())


def _review_keeping_form() -> tuple[str, LaunchContext, Review, str | None]:
    """Like ``_review`` for a submitted form: an unreadable chart keeps the form on screen.

    The review is then "uncertain" (nothing could be checked) and the fourth value says why,
    so the page can show the clinician's entries again with the failure instead of an error
    page that would lose them.
    """
    launch_id, ctx = _launch()
    try:
        with fhir_client(ctx) as client:
            chart = read_chart(client, ctx, knowledge().opioids)
    except (ChartUnreadable, LaunchExpired) as exc:
        why = (
            f"{exc.explanation} The plan was not saved and nothing was written; everything you "
            "entered is kept. "
            + (
                "Open the app again from the patient's chart to save it."
                if isinstance(exc, LaunchExpired)
                else "Try again when the FHIR server answers."
            )
        )
        return launch_id, ctx, build_review(unreadable_chart(ctx, why), today(), knowledge()), why
    return launch_id, ctx, build_review(chart, today(), knowledge()), None


def _protocol() -> TitrationProtocol:
    return knowledge().titration


def _revising(check: PlanCheck, revision: Revision) -> PlanCheck:
    """Return ``check`` with its form now naming every plan in effect as the ones it replaces."""
    form = replace(check.form, revises=tuple(plan.plan_id for plan in revision.in_effect))
    return replace(check, form=form)


def _checked(result: Review) -> PlanCheck:
    return check_plan(form_from(request.form), result.assessment, knowledge().titration, today())


def _chart_page(launch_id: str, ctx: LaunchContext, result: Review) -> dict[str, Any]:
    """Return the template values every page built on the review needs."""
    return {
        "launch_id": launch_id,
        "ctx": ctx,
        "review": result,
        "banner": result.chart.banner,
        "notes": result.chart.notes,
    }


def _plan_page(
    launch_id: str,
    ctx: LaunchContext,
    result: Review,
    check: PlanCheck,
    *,
    show_errors: bool = True,
    save_error: str | None = None,
    revision: Revision | None = None,
    plans_unknown: str | None = None,
) -> str:
    schedule = check.schedule
    days = days_to_show(schedule) if schedule else 0
    return render_template(
        "smart_app/plan.html",
        form=check.form,
        errors=check.errors if show_errors else {},
        complete=check.choice is not None,
        schedule=schedule,
        chart=dose_chart(schedule, days) if schedule else None,
        days=list(schedule.days(days)) if schedule else [],
        protocol=knowledge().titration,
        targets=target_options(knowledge().titration),
        blockers=save_blockers(ctx),
        save_error=save_error,
        revision=revision,
        plans_unknown=plans_unknown,
        page="plan",
        **_chart_page(launch_id, ctx, result),
    )
