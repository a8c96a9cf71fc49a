"""The deployment's secret key: signs what the server hands out (web-chat visitor ids).

``secret_key`` in the settings, or else a random key kept in ``<data_dir>/secret_key``,
made on the first start (readable by its owner only). Processes on several machines must share
it: set ``secret_key`` (or copy the file). A new key makes every visitor id handed out before
it unknown, so those visitors start afresh.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from switchboard.settings import Settings, SettingsError

FILE_NAME = "secret_key"


def load(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.data_dir) / FILE_NAME
    if not path.exists():
        _create(path)
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise SettingsError(
            f"setting secret_key: empty, and {path} is not a readable hex key ({exc})"
        ) from None


def _create(path: Path) -> None:
    """Write a new key so that processes starting together all end up with the same one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_hex(32) + "\n").encode())
    finally:
        os.close(fd)
    try:
        os.link(draft, path)  # atomic, and never replaces a key another process wrote first
    except FileExistsError:
        pass
    finally:
        draft.unlink()
