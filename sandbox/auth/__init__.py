"""The sandbox's SMART authorization server (SMART App Launch 2.x), built on authlib.

Mount it with ``app.register_blueprint(create_auth_blueprint(config))``; the FHIR proxy asks
``introspect(token)`` what a bearer token grants, the EHR page asks ``create_launch(context)``
for a launch value. See docs/sandbox-auth.md.
"""

from sandbox.auth.config import AuthConfig, AuthConfigError, PatientChoice, PatientListError
from sandbox.auth.launch import LaunchContext, LaunchRequestError
from sandbox.auth.models import Client, ClientConfigError, TokenInfo
from sandbox.auth.routes import create_auth_blueprint
from sandbox.auth.scopes import Interaction, Scopes
from sandbox.auth.server import SandboxAuth, create_launch, current_auth, introspect

__all__ = [
    "AuthConfig",
    "AuthConfigError",
    "Client",
    "ClientConfigError",
    "Interaction",
    "LaunchContext",
    "LaunchRequestError",
    "PatientChoice",
    "PatientListError",
    "SandboxAuth",
    "Scopes",
    "TokenInfo",
    "create_auth_blueprint",
    "create_launch",
    "current_auth",
    "introspect",
]
