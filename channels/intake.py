"""Handing what a webhook parsed to the router, one item at a time.

A provider redelivers whatever it did not get a 2xx for. That is right when storing failed for
a reason that passes (the database is away) or that we do not know: the redelivery may succeed,
and the router drops what was already stored by its provider id. It is wrong when one message
fails the same way every time (a programming or data error, ``fails_every_time``): the provider
would redeliver the whole batch until it gives up, and the good messages beside the bad one
would wait with it. So each item is stored on its own; one that can never be stored is logged
with its traceback and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from channels.errors import fails_every_time
from routing.ingest import UnstorableMessage

__all__ = ["store_each"]

T = TypeVar("T")


async def store_each(
    items: Iterable[T], store: Callable[[T], Awaitable[Any]], log: logging.Logger, channel: str
) -> bool:
    """``store`` every item in order. An item failing with a programming or data error is logged
    (``<channel>_message_dropped``, with the traceback) and skipped, and the rest are stored.
    Returns False as soon as one fails for any other reason (the database is away): answer 503,
    so the provider redelivers."""
    for item in items:
        try:
            await store(item)
        except asyncio.CancelledError:
            raise
        except UnstorableMessage as exc:  # not a real message: nothing to trace
            log.warning(f"{channel}_message_refused", extra={"fields": {"reason": str(exc)}})
        except Exception as exc:
            if not fails_every_time(exc):
                log.exception(f"{channel}_store_failed")
                return False
            log.exception(f"{channel}_message_dropped")
    return True
