"""``switchboard serve``: run the app until interrupted."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from switchboard import logs
from switchboard.app import SchemaOutOfDate, create_app
from switchboard.settings import Settings, SettingsError

log = logging.getLogger("switchboard")


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> int:
    logs.configure(settings.log_level, settings.log_format)
    host = host or settings.host
    port = port if port is not None else settings.port
    base = settings.public_url.rstrip("/") if settings.public_url else f"http://{host}:{port}"
    try:
        # Files the settings name (IVR flow, email templates) are read and checked here.
        app = create_app(settings)
    except SettingsError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    print(
        f"Switchboard is serving on http://{host}:{port}\n"
        f"  demo chat page: {base}/chat/\n"
        f"  agent console:  {base}/console/\n"
        f"  API:            {base}/api/v1/openapi.json\n"
        f"  health:         {base}/healthz   metrics: {base}/metrics",
        flush=True,
    )
    try:
        web.run_app(app, host=host, port=port, print=None, access_log=None)
    except SchemaOutOfDate as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"switchboard: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0
