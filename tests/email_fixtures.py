"""Fixtures for the email channel's real peers; conftest imports them.

``dovecot`` is one real Dovecot for the whole session (it starts in ~0.1 s but stops in ~1 s);
``mailbox`` is a fresh user on it for each test, so tests stay isolated; ``dovecot_basic``
lacks the extensions a poller would like to use. Without Dovecot (or
without root) the tests skip, except under CI, where they fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.dovecot import DovecotServer, Mailbox, unavailable_reason


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def start_dovecot(*, tls: bool = False, extra_config: str = "") -> Iterator[DovecotServer]:
    """Start a private Dovecot (skip or fail when there is none) and remove it afterwards."""
    reason = unavailable_reason()
    if reason:
        if _in_ci():
            pytest.fail(f"Dovecot is required under CI: {reason}")
        pytest.skip(reason)
    # Not pytest's tmp_path: its parents are private to root, and Dovecot's mail and login
    # processes run as other users.
    root = Path(tempfile.mkdtemp(prefix="switchboard-dovecot-"))
    try:
        with DovecotServer(root, tls=tls, extra_config=extra_config) as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """Plain IMAP on ``port``, implicit TLS on ``ssl_port``, certificate in ``cafile``."""
    yield from start_dovecot(tls=True)


@pytest.fixture(scope="module")
def dovecot_basic() -> Iterator[DovecotServer]:
    """A server offering neither IDLE, MOVE nor STARTTLS, like many older or hosted ones."""
    yield from start_dovecot(extra_config="imap_capability = IMAP4rev1 LITERAL+ UIDPLUS")


@pytest.fixture
def mailbox(dovecot: DovecotServer) -> Mailbox:
    return dovecot.new_mailbox()
