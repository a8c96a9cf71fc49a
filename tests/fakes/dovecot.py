"""A real Dovecot IMAP server for tests, with its own config, port, users and maildirs.

Each instance lives entirely in one folder (config, sockets, state, log, mail), so several can
run side by side and none touches the system Dovecot. Needs root: Dovecot switches to the mail
users' uid (5000; it refuses anything below ``first_valid_uid``) and to its own service users.

The methods are blocking; from async tests call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import imaplib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from tests.fakes.server import free_port

MAIL_UID = 5000
MAIL_GID = 5000
HOST = "127.0.0.1"
_SBIN = "/usr/sbin:/sbin"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")
_LDA_CANDIDATES = ("/usr/lib/dovecot/dovecot-lda", "/usr/libexec/dovecot/dovecot-lda")


class StoredMessage(NamedTuple):
    uid: int
    flags: frozenset[str]
    raw: bytes


@dataclass(frozen=True)
class Mailbox:
    """One user's mail on a running server."""

    server: DovecotServer
    user: str
    password: str

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        self.server.deliver(self.user, raw, folder)

    def messages(self, folder: str = "INBOX") -> list[StoredMessage]:
        return self.server.messages(self.user, folder)


class DovecotUnavailable(RuntimeError):
    """Dovecot is not installed, or cannot run here."""


def dovecot_binary() -> str | None:
    return shutil.which("dovecot", path=f"{os.environ.get('PATH', '')}:{_SBIN}")


def unavailable_reason() -> str | None:
    """Why no Dovecot can be started here, or None when one can."""
    if dovecot_binary() is None:
        return "dovecot is not installed (apt-get install dovecot-imapd)"
    if os.geteuid() != 0:
        return "the Dovecot test server needs root (it switches to uid 5000)"
    if _lda_binary() is None:
        return "dovecot-lda is missing"
    if shutil.which("openssl") is None:
        return "openssl is missing (the test server's certificate is made with it)"
    return None


def _lda_binary() -> str | None:
    for candidate in _LDA_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("dovecot-lda", path=f"{os.environ.get('PATH', '')}:{_SBIN}")


class DovecotServer:
    """One Dovecot instance rooted at ``root`` (which must be traversable by other users)."""

    def __init__(self, root: Path, *, tls: bool = False, extra_config: str = "") -> None:
        self.root = root
        self.tls = tls
        self.extra_config = extra_config
        self.host = HOST
        self.port = 0
        self.ssl_port = 0
        self.cafile = root / "cert.pem"
        self._passwords: dict[str, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        reason = unavailable_reason()
        if reason:
            raise DovecotUnavailable(reason)
        self._prepare_root()
        for _attempt in range(3):  # a free port can be taken between probing and binding
            self.port = free_port()
            self.ssl_port = free_port() if self.tls else 0
            self.conf.write_text(self._config())
            with (self.root / "stderr.log").open("ab") as stderr:  # config errors land here
                self._proc = subprocess.Popen(
                    [str(dovecot_binary()), "-F", "-c", str(self.conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=stderr,
                    stderr=stderr,
                )
            if self._wait_ready(10.0):
                return
            self.stop()
        raise RuntimeError(f"dovecot did not start:\n{self._log_tail()}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def add_user(self, user: str, password: str) -> None:
        if not _SAFE_NAME.fullmatch(user) or ":" in password or "\n" in password:
            raise ValueError("user must be a plain name; password must not contain ':' or newlines")
        self._passwords[user] = password
        # One passwd-file per user: Dovecot re-reads a passwd-file at most once a second, but
        # opens a file it has never seen at once, so a new user can log in right away.
        users = self.root / "users"
        users.mkdir(exist_ok=True)
        tmp = users / f".{user}.tmp"
        tmp.write_text(
            f"{user}:{{PLAIN}}{password}:{MAIL_UID}:{MAIL_GID}::{self.root / 'mail' / user}::\n"
        )
        tmp.replace(users / user)

    def new_mailbox(self, prefix: str = "user") -> Mailbox:
        """A fresh user with an empty mailbox, so tests can share one server."""
        user = f"{prefix}-{uuid.uuid4().hex[:12]}"
        password = uuid.uuid4().hex
        self.add_user(user, password)
        return Mailbox(self, user, password)

    def deliver(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver like an MTA would (dovecot-lda), creating ``folder`` when missing."""
        result = subprocess.run(
            [str(_lda_binary()), "-c", str(self.conf), "-d", user, "-m", folder],
            input=raw,
            capture_output=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"dovecot-lda failed ({result.returncode}): {result.stderr!r}")

    def messages(self, user: str, folder: str = "INBOX") -> list[StoredMessage]:
        """What is in the folder, oldest first, read without changing any flag."""
        with self.imap(user) as client:
            typ, _ = client.select(_quote(folder), readonly=True)
            if typ != "OK":
                return []
            typ, data = client.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
            if typ != "OK":
                raise RuntimeError(f"FETCH failed: {data!r}")
        found = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            head = bytes(item[0]).decode()
            uid = re.search(r"UID (\d+)", head)
            flags = re.search(r"FLAGS \(([^)]*)\)", head)
            assert uid and flags, head
            found.append(StoredMessage(int(uid[1]), frozenset(flags[1].split()), bytes(item[1])))
        return sorted(found)

    def imap(self, user: str) -> imaplib.IMAP4:
        """A logged-in standard-library client (use it as a context manager)."""
        client = imaplib.IMAP4(self.host, self.port, timeout=30)
        client.login(user, self._passwords[user])
        return client

    def kick(self, user: str) -> None:
        """Drop every IMAP connection of ``user``, as a server restart would."""
        doveadm = shutil.which("doveadm", path=f"{os.environ.get('PATH', '')}:{_SBIN}")
        result = subprocess.run(
            [str(doveadm), "-c", str(self.conf), "kick", user],
            capture_output=True,
            timeout=30,
            check=False,
        )
        if result.returncode not in (0, 68):  # 68: nobody was connected
            raise RuntimeError(f"doveadm kick failed: {result.stderr!r}")

    def _prepare_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        for parent in self.root.resolve().parents:
            if not parent.stat().st_mode & 0o001:
                raise DovecotUnavailable(
                    f"{parent} is not traversable by other users; Dovecot's mail (uid 5000) and"
                    " login processes must reach the files under it: use e.g."
                    " tempfile.mkdtemp() under /tmp"
                )
        for name in ("run", "state", "users"):
            (self.root / name).mkdir(exist_ok=True)
        mail = self.root / "mail"
        mail.mkdir(exist_ok=True)
        os.chown(mail, MAIL_UID, MAIL_GID)
        if self.tls and not self.cafile.exists():
            self._make_certificate()

    def _make_certificate(self) -> None:
        command = ["openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=localhost"]
        command += ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        command += ["-keyout", str(self.root / "key.pem"), "-out", str(self.cafile)]
        command += ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
        subprocess.run(command, capture_output=True, timeout=30, check=True)

    def _config(self) -> str:
        r = self.root
        if self.tls:
            ssl = f"ssl = yes\nssl_cert = <{r / 'cert.pem'}\nssl_key = <{r / 'key.pem'}"
        else:
            ssl = "ssl = no"
        # Dovecot 2.3 spelling; 2.4 renamed disable_plaintext_auth to auth_allow_cleartext.
        # Nested blocks must span several lines: "service x { inet_listener y { … } }" on one
        # line does not parse. The anvil listener's mode 0 turns off the per-IP penalty that
        # would otherwise slow every login for seconds after a test's wrong password.
        return f"""\
protocols = imap
listen = {HOST}
base_dir = {r / "run"}
state_dir = {r / "state"}
instance_name = dovecot-{r.name}
log_path = {r / "dovecot.log"}
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = {MAIL_UID}
mail_location = maildir:~/Maildir
postmaster_address = postmaster@example.test
lda_mailbox_autocreate = yes
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {r / "users" / "%u"}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {r / "users" / "%u"}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.ssl_port}
  }}
}}
{self.extra_config}
"""

    def _wait_ready(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"* OK"):
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def _log_tail(self) -> str:
        lines: list[str] = []
        for path in (self.root / "stderr.log", self.log_path):
            if path.exists():
                lines += path.read_text(errors="replace").splitlines()[-10:]
        return "\n".join(lines) or "(no log)"


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'
