"""The SMART on FHIR app: launch from the EHR, review, plan and save to the chart.

``init_app`` is the app's part of the application factory: it checks the settings once
(``smart_app.settings``), installs the sessions, and mounts the app's blueprint, which holds
what every view shares (static files, the error pages, the security headers and CSRF check) and,
inside it, one blueprint per module with views: the launch and the pages after it.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from clinical.titration import format_mg
from smart_app import launch_views, pages
from smart_app.errors import AppError, error_page, unexpected_error_page
from smart_app.security import protect
from smart_app.session import init_sessions
from smart_app.settings import EXTENSION, AppSettings
from smart_app.times import utc_text


def init_app(app: Flask) -> None:
    """Check the SMART app's settings, install its sessions and mount its blueprints."""
    settings = AppSettings.from_config(app.config)
    app.extensions[EXTENSION] = settings
    launch_views.init_launch_limiter(app, settings)
    init_sessions(app, settings)
    face = Blueprint("smart_app", __name__, static_folder="static", static_url_path="/app-static")
    face.register_error_handler(AppError, error_page)
    face.register_error_handler(Exception, unexpected_error_page)
    protect(face)
    face.register_blueprint(launch_views.bp)
    face.register_blueprint(pages.bp)
    app.add_template_filter(format_mg, "mg")
    app.add_template_filter(utc_text, "utc_text")
    app.register_blueprint(face)
