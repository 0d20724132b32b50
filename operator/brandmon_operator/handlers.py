"""kopf handlers: thin entry points that delegate to the reconcile modules.

Handlers are registered on an explicit registry rather than kopf's global one, so importing
this module has no side effects on other kopf users (tests, the node agent).
"""

from __future__ import annotations

from typing import Any

import kopf

registry = kopf.OperatorRegistry()

FIELD_MANAGER = "brandmon-operator"


@kopf.on.startup(registry=registry)
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Tune kopf for a level-based operator that owns its status."""
    # Keep kopf's bookkeeping under our own API group instead of kopf.zalando.org.
    settings.persistence.finalizer = "brandmon.io/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="brandmon.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="brandmon.io", key="last-handled-configuration"
    )
    settings.posting.level = 30  # warnings and errors become Events; info stays in logs
    settings.watching.server_timeout = 300
