"""The sandbox's SMART authorization server (SMART App Launch 2.x), built on authlib.

Start it on an app with ``init_auth(app, config)``; the FHIR proxy asks
``introspect(token)`` what a bearer token grants, the EHR page asks ``create_launch(context)``
for a launch value. See docs/sandbox-auth.md.
"""

from sandbox.auth.config import AuthConfig, AuthConfigError, PatientChoice, PatientListError
from sandbox.auth.launch import LaunchContext, LaunchRequestError
from sandbox.auth.models import Client, ClientConfigError, TokenInfo
from sandbox.auth.routes import init_auth
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
    "create_launch",
    "current_auth",
    "init_auth",
    "introspect",
]
