"""Security headers on the console, the API and the chat widget, and requests aiohttp cannot
parse (switchboard/headers.py, switchboard/logs.py). The browser enforcing the policy is in
tests/test_browser.py."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp.test_utils import TestClient

from tests.helpers import AgentApi


def directives(policy: str) -> dict[str, list[str]]:
    parts = (d.split() for d in policy.split(";") if d.strip())
    return {d[0]: d[1:] for d in parts}


def assert_everywhere(headers: object) -> None:
    assert headers["X-Content-Type-Options"] == "nosniff"  # type: ignore[index]
    assert headers["Referrer-Policy"] == "no-referrer"  # type: ignore[index]


async def test_console_pages_run_only_our_script_files_and_cannot_be_framed(
    client: TestClient,
) -> None:
    for path in ("/console/", "/console/console.js", "/console/console.css", "/console"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status in (200, 302), path
        assert_everywhere(resp.headers)
        csp = directives(resp.headers["Content-Security-Policy"])
        assert csp["script-src"] == ["'self'"], path  # no 'unsafe-inline', no 'unsafe-eval'
        assert csp["object-src"] == ["'none'"]
        assert csp["frame-ancestors"] == ["'none'"]
        assert "'unsafe-inline'" not in csp["style-src"]
        assert csp["img-src"] == ["'self'", "data:", "blob:"]  # no remote images
        assert resp.headers["X-Frame-Options"] == "DENY"
    page = await (await client.get("/console/")).text()
    assert "<script>" not in page and " onclick=" not in page  # only <script src=...>


async def test_the_api_answers_carry_the_headers_even_when_they_are_errors(
    client: TestClient, agent1: AgentApi
) -> None:
    for resp in (
        await client.get("/api/v1/openapi.json"),
        await client.get("/api/v1/conversations"),  # 401
        await client.get("/api/v1/nothing-here"),  # 404
        await client.get("/api/v1/conversations", headers=agent1.headers),
        await client.get("/healthz"),
    ):
        assert_everywhere(resp.headers)
        csp = directives(resp.headers["Content-Security-Policy"])
        assert csp["default-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
        assert resp.headers["X-Frame-Options"] == "DENY"


async def test_the_chat_widget_runs_only_our_script_and_stays_embeddable(
    client: TestClient,
) -> None:
    for path in ("/chat/", "/chat/widget.js"):
        resp = await client.get(path)
        assert resp.status == 200
        assert_everywhere(resp.headers)
        csp = directives(resp.headers["Content-Security-Policy"])
        assert csp["script-src"] == ["'self'"]
        # Other sites embed the chat: nothing forbids framing it.
        assert "frame-ancestors" not in csp
        assert "X-Frame-Options" not in resp.headers
    page = await (await client.get("/chat/")).text()
    assert "<script>" not in page and '<script src="/chat/widget.js"' in page


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (b"GET /api/v1/conversations?q=" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /console/ HTTP/1.1\r\nHost: x\r\nCookie: " + b"a" * 20_000 + b"\r\n\r\n", 400),
    ],
    ids=["url", "header"],
)
async def test_an_over_long_url_or_header_is_a_4xx_and_one_info_line_without_traceback(
    client: TestClient, caplog: pytest.LogCaptureFixture, request_head: bytes, status: int
) -> None:
    caplog.set_level(logging.DEBUG)
    assert client.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    try:
        writer.write(request_head)
        await writer.drain()
        answer = await reader.read()  # the server closes the connection after answering
    finally:
        writer.close()
    assert answer.startswith(f"HTTP/1.0 {status} ".encode()) or answer.startswith(
        f"HTTP/1.1 {status} ".encode()
    ), answer[:80]
    server = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [(r.levelno, r.getMessage(), r.exc_info) for r in server] == [
        (logging.INFO, "bad_http_request", None)
    ]
    assert server[0].fields["error"] == "LineTooLong"  # type: ignore[attr-defined]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    # The server is none the worse.
    assert (await client.get("/healthz")).status == 200
