"""BentoML packaging: the same FastAPI app, mounted with ``@bentoml.asgi_app``.

BentoML adds what one uvicorn process lacks for deployment (a container image, replicas,
its own process supervision); the decision logic, auth, limits and logs are the app's, so
``creditdesk serve`` and ``bentoml serve`` answer identically. Configuration is the same
``CREDITDESK_*`` environment.

    bentoml serve serving.bento_service:CreditDesk     # local, port 3000
    bentoml build                                      # uses bentofile.yaml at the repo root
"""

from __future__ import annotations

import creditdesk  # noqa: F401  (telemetry off before bentoml is imported)

# isort: split
import bentoml

from serving.app import app_from_env

app = app_from_env()


@bentoml.service(
    name="creditdesk",
    traffic={"timeout": 30, "concurrency": 64},
    workers=1,
)
@bentoml.asgi_app(app, path="/")
class CreditDesk:
    """No BentoML APIs of its own: every route is the mounted FastAPI app's."""
