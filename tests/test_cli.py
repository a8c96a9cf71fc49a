"""The `switchboard` command, run as a real subprocess against a temporary SQLite database."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from switchboard.app import create_app
from switchboard.settings import load_settings
from tests.fakes.telegram import FakeTelegram
from tests.helpers import AgentApi

ROOT = Path(__file__).resolve().parent.parent
DEMO_KB = ROOT / "config" / "demo_kb.yaml"
SWITCHBOARD = Path(sys.executable).parent / "switchboard"


class Cli:
    """Runs `switchboard` with its settings pointing at one temporary database."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db_path = folder / "x.db"
        self.url = f"sqlite+aiosqlite:///{self.db_path}"
        self.config = folder / "switchboard.yaml"
        self.config.write_text("", encoding="utf-8")

    def env(self, **extra: str) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        return {
            **clean,
            "SWITCHBOARD_CONFIG": str(self.config),
            "SWITCHBOARD_DATABASE_URL": self.url,
            **extra,
        }

    def run(
        self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SWITCHBOARD), *args],
            input=stdin,
            env=self.env() if env is None else env,
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def ok(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def fails(self, *args: str, stdin: str | None = None, code: int = 1) -> str:
        """Run a command that must fail cleanly; returns its single line of error."""
        done = self.run(*args, stdin=stdin)
        assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        return lines[0]

    def search(self, *questions: str) -> list[dict[str, Any]]:
        done = self.ok("kb", "search", "-", "--json", stdin="".join(q + "\n" for q in questions))
        return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture
def cli(tmp_path: Path, sqlite_template: Path) -> Cli:
    """A CLI on a database already at the latest schema (a copy of the migrated template)."""
    runner = Cli(tmp_path)
    shutil.copyfile(sqlite_template, runner.db_path)
    return runner


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    """A migrated database with the demo knowledge base imported through the CLI."""
    runner = Cli(tmp_path_factory.mktemp("demo"))
    shutil.copyfile(sqlite_template, runner.db_path)
    runner.ok("kb", "import", str(DEMO_KB))
    return runner.db_path


@pytest.fixture
def demo_cli(tmp_path: Path, demo_database: Path) -> Cli:
    runner = Cli(tmp_path)
    shutil.copyfile(demo_database, runner.db_path)
    return runner


def write_yaml(path: Path, articles: Any) -> Path:
    path.write_text(yaml.safe_dump(articles, allow_unicode=True), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict[str, str]], fields: list[str] | None = None) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=fields or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


ARTICLES = [
    {
        "id": "gift-wrap",
        "locale": "en",
        "title": "Can you gift wrap my order?",
        "body": "Yes: tick 'gift wrap' at checkout. Wrapping costs 3 EUR per parcel.",
        "questions": ["Do you offer gift wrapping?", "Can my present be wrapped?"],
        "tags": ["checkout"],
    },
    {
        "id": "loyalty-points",
        "locale": "en",
        "title": "How do loyalty points work?",
        "body": "You earn one point per euro spent; 100 points give a 5 EUR voucher.",
        "questions": ["How many points do I get?", "What are loyalty points worth?"],
    },
    {
        "id": "gift-wrap",
        "locale": "th",
        "title": "ห่อของขวัญได้ไหม",
        "body": "ได้ค่ะ เลือก 'ห่อของขวัญ' ตอนชำระเงิน ค่าบริการ 100 บาทต่อพัสดุ",
        "questions": ["มีบริการห่อของขวัญไหม"],
    },
]


# ---- db ----------------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema_and_is_repeatable(tmp_path: Path) -> None:
    cli = Cli(tmp_path)

    first = cli.ok("db", "upgrade")
    again = cli.ok("db", "upgrade")
    current = cli.ok("db", "current")

    assert first.stdout.strip().startswith("schema revision: ")
    revision = first.stdout.strip().removeprefix("schema revision: ")
    assert revision not in ("", "None")
    assert again.stdout == first.stdout
    assert current.stdout == first.stdout


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["kb", "import", str(DEMO_KB)], None),
        (["kb", "search", "How long does shipping take?"], None),
        (
            ["agent", "add", "--email", "a@example.com", "--name", "A", "--password-stdin"],
            "pw-123456\n",
        ),
        (["demo"], None),
    ],
    ids=["kb-import", "kb-search", "agent-add", "demo"],
)
def test_commands_refuse_a_database_that_was_never_upgraded(
    tmp_path: Path, args: list[str], stdin: str | None
) -> None:
    cli = Cli(tmp_path)

    message = cli.fails(*args, stdin=stdin)

    assert "switchboard db upgrade" in message, message
    assert cli.ok("db", "current").stdout.strip() == "schema revision: None"


def test_a_database_that_cannot_be_opened_is_a_one_line_error(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    env = cli.env(SWITCHBOARD_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'a-file' / 'x.db'}")

    done = cli.run("db", "upgrade", env=env)

    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "database" in done.stderr


# ---- --config ------------------------------------------------------------------------------


def test_config_is_accepted_before_and_after_the_subcommand(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    before, after = tmp_path / "before.db", tmp_path / "after.db"
    before_cfg = tmp_path / "before.yaml"
    after_cfg = tmp_path / "after.yaml"
    before_cfg.write_text(f"database_url: sqlite+aiosqlite:///{before}\n", encoding="utf-8")
    after_cfg.write_text(f"database_url: sqlite+aiosqlite:///{after}\n", encoding="utf-8")
    env = {k: v for k, v in cli.env().items() if k != "SWITCHBOARD_DATABASE_URL"}

    first = cli.run("--config", str(before_cfg), "db", "upgrade", env=env)
    assert first.returncode == 0, first.stderr
    assert before.exists() and not after.exists()

    second = cli.run("db", "upgrade", "--config", str(after_cfg), env=env)
    assert second.returncode == 0, second.stderr
    assert after.exists()

    nested = cli.run("kb", "import", str(DEMO_KB), "--config", str(after_cfg), env=env)
    assert nested.returncode == 0, nested.stderr
    assert not (tmp_path / "var").exists()  # the default settings were never used


def test_a_missing_config_file_is_a_one_line_error(cli: Cli) -> None:
    message = cli.fails("db", "current", "--config", str(cli.folder / "nope.yaml"), code=2)

    assert "nope.yaml" in message and "not found" in message


# ---- kb import -----------------------------------------------------------------------------


def test_kb_import_reads_yaml_and_reports_counts(cli: Cli) -> None:
    file = write_yaml(cli.folder / "faq.yaml", ARTICLES)

    done = cli.ok("kb", "import", str(file))

    assert "3 created, 0 updated, 0 unchanged" in done.stdout
    [gift, thai] = cli.search("Can my present be wrapped?", "มีบริการห่อของขวัญไหม")
    assert gift["answered"]
    assert (gift["results"][0]["id"], gift["results"][0]["locale"]) == ("gift-wrap", "en")
    assert thai["results"][0]["id"] == "gift-wrap" and thai["results"][0]["locale"] == "th"


def test_kb_import_reads_json(cli: Cli) -> None:
    file = cli.folder / "faq.json"
    file.write_text(json.dumps(ARTICLES, ensure_ascii=False), encoding="utf-8")

    done = cli.ok("kb", "import", str(file))

    assert "3 created, 0 updated, 0 unchanged" in done.stdout
    [points] = cli.search("What are loyalty points worth?")
    assert points["answered"] and points["results"][0]["id"] == "loyalty-points"


def test_kb_import_reads_csv_with_questions_joined_by_bars_in_thai_and_chinese(cli: Cli) -> None:
    rows = [
        {
            "id": "gift-wrap",
            "locale": "th",
            "title": "ห่อของขวัญได้ไหม",
            "body": "ได้ค่ะ เลือก 'ห่อของขวัญ' ตอนชำระเงิน ค่าบริการ 100 บาทต่อพัสดุ",
            "questions": "มีบริการห่อของขวัญไหม|ห่อของขวัญให้ได้หรือเปล่าคะ",
            "tags": "checkout|gift",
        },
        {
            "id": "gift-wrap",
            "locale": "zh",
            "title": "可以包装礼品吗？",
            "body": "可以，结账时勾选“礼品包装”，每个包裹收费 20 元。",
            "questions": "你们提供礼品包装吗|能帮我把礼物包起来吗",
            "tags": "checkout",
        },
        {
            "id": "loyalty-points",
            "locale": "zh",
            "title": "积分怎么用？",
            "body": "每消费一元获得一积分，100 积分可兑换 5 元优惠券。",
            "questions": "积分有什么用|怎么兑换积分",
            "tags": "",
        },
    ]
    file = write_csv(cli.folder / "faq.csv", rows)

    done = cli.ok("kb", "import", str(file))

    assert "3 created, 0 updated, 0 unchanged" in done.stdout
    thai, chinese = cli.search("ห่อของขวัญให้ได้หรือเปล่าคะ", "能帮我把礼物包起来吗")
    assert (thai["results"][0]["id"], thai["results"][0]["locale"]) == ("gift-wrap", "th")
    assert (chinese["results"][0]["id"], chinese["results"][0]["locale"]) == ("gift-wrap", "zh")
    assert thai["answered"] and chinese["answered"]


def test_kb_import_reads_a_csv_saved_by_excel(cli: Cli) -> None:
    file = cli.folder / "excel.csv"
    file.write_bytes(
        "\ufeffid,locale,title,body,questions\r\n"
        'gift-wrap,en,Gift wrap,"Yes, at checkout.",Do you gift wrap?|Can you wrap it?\r\n'.encode()
    )

    done = cli.ok("kb", "import", str(file))

    assert "1 created" in done.stdout


def test_kb_import_is_idempotent_and_counts_updates(cli: Cli) -> None:
    file = write_yaml(cli.folder / "faq.yaml", ARTICLES)
    cli.ok("kb", "import", str(file))

    again = cli.ok("kb", "import", str(file))
    changed = [dict(a) for a in ARTICLES]
    changed[1]["body"] = "You earn two points per euro spent; 100 points give a 5 EUR voucher."
    write_yaml(file, changed)
    updated = cli.ok("kb", "import", str(file))

    assert "0 created, 0 updated, 3 unchanged" in again.stdout
    assert "0 created, 1 updated, 2 unchanged" in updated.stdout


def test_the_same_id_in_another_locale_is_a_new_article(cli: Cli) -> None:
    cli.ok("kb", "import", str(write_yaml(cli.folder / "en.yaml", ARTICLES[:1])))
    chinese = {**ARTICLES[0], "locale": "zh", "title": "礼品包装", "body": "结账时可选择礼品包装。"}

    done = cli.ok("kb", "import", str(write_yaml(cli.folder / "zh.yaml", [chinese])))

    assert "1 created, 0 updated, 0 unchanged" in done.stdout


GOOD = {"id": "good-one", "locale": "en", "title": "Good", "body": "A fine article."}
GOOD_CSV = "good-one,en,Good,A fine article.,Is this fine?\n"
CSV_HEADER = "id,locale,title,body,questions\n"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        pytest.param(
            "faq.yaml",
            yaml.safe_dump([GOOD, {"id": "no-body", "locale": "en", "title": "No body"}]),
            ["item 2", "body"],
            id="yaml-item-2-missing-body",
        ),
        pytest.param(
            "faq.yaml",
            yaml.safe_dump([GOOD, {**GOOD, "body": ""}]),
            ["item 2", "body"],
            id="yaml-item-2-empty-body",
        ),
        pytest.param(
            "faq.yaml",
            yaml.safe_dump([GOOD, {**GOOD, "colour": "blue"}]),
            ["item 2", "colour"],
            id="yaml-unknown-field",
        ),
        pytest.param(
            "faq.yaml",
            yaml.safe_dump([GOOD, GOOD]),
            ["item 2", "duplicate", "good-one"],
            id="yaml-duplicate-id-and-locale",
        ),
        pytest.param(
            "faq.yaml",
            yaml.safe_dump({"id": "x", "locale": "en", "title": "t", "body": "b"}),
            ["list"],
            id="yaml-not-a-list",
        ),
        pytest.param(
            "faq.yaml",
            yaml.safe_dump([GOOD, {**GOOD, "id": "q", "questions": "just one string"}]),
            ["item 2", "questions"],
            id="yaml-questions-not-a-list",
        ),
        pytest.param("faq.yaml", "- id: [unclosed\n", ["invalid YAML"], id="yaml-syntax"),
        pytest.param(
            "faq.json",
            json.dumps([GOOD, {**GOOD, "locale": "English"}]),
            ["item 2", "locale"],
            id="json-bad-locale",
        ),
        pytest.param(
            "faq.json", '[{"id": "a",\n "locale": }]', ["line 2", "JSON"], id="json-syntax"
        ),
        pytest.param(
            "faq.json", json.dumps({"title": "not a list"}), ["list"], id="json-not-a-list"
        ),
        pytest.param(
            "faq.csv",
            CSV_HEADER + GOOD_CSV + "bad,English!,Title,Body,\n",
            ["line 3", "locale"],
            id="csv-line-3-bad-locale",
        ),
        pytest.param(
            "faq.csv",
            CSV_HEADER + GOOD_CSV + GOOD_CSV,
            ["line 3", "duplicate", "good-one"],
            id="csv-duplicate",
        ),
        pytest.param(
            "faq.csv",
            CSV_HEADER + GOOD_CSV + "other,en,Title,,\n",
            ["line 3", "body"],
            id="csv-line-3-empty-body",
        ),
        pytest.param(
            "faq.csv",
            "id,locale,title,body,colour\n" + "good-one,en,Good,Fine.,blue\n",
            ["colour"],
            id="csv-unknown-column",
        ),
        pytest.param(
            "faq.csv", "id,locale,title\ngood-one,en,Good\n", ["body"], id="csv-missing-column"
        ),
        pytest.param("faq.txt", "whatever", [".txt"], id="unknown-extension"),
    ],
)
def test_a_bad_file_is_refused_with_the_place_named_and_nothing_imported(
    cli: Cli, name: str, content: str, expected: list[str]
) -> None:
    file = cli.folder / name
    file.write_text(content, encoding="utf-8")

    message = cli.fails("kb", "import", str(file))

    for part in expected:
        assert part in message, message
    fixed = write_yaml(cli.folder / "fixed.yaml", [GOOD])
    assert "1 created" in cli.ok("kb", "import", str(fixed)).stdout


def test_a_file_that_is_not_utf8_is_refused(cli: Cli) -> None:
    file = cli.folder / "faq.csv"
    file.write_bytes((CSV_HEADER + "cafe,fr,Caf\xe9,Ouvert.,\n").encode("latin-1"))

    message = cli.fails("kb", "import", str(file))

    assert "UTF-8" in message


def test_a_missing_file_is_refused(cli: Cli) -> None:
    message = cli.fails("kb", "import", str(cli.folder / "nothing.yaml"))

    assert "nothing.yaml" in message


def test_a_large_csv_import_shows_progress(cli: Cli) -> None:
    rows = [
        {
            "id": f"faq-{n:04d}",
            "locale": "en",
            "title": f"Question number {n}",
            "body": f"The answer to question number {n}.",
            "questions": f"What about {n}?|Tell me about {n}",
        }
        for n in range(1, 1501)
    ]
    file = write_csv(cli.folder / "big.csv", rows)

    done = cli.ok("kb", "import", str(file))

    assert "1500 created, 0 updated, 0 unchanged" in done.stdout
    progress = [line for line in done.stderr.splitlines() if line.startswith("importing")]
    assert len(progress) >= 2, done.stderr
    assert "1500/1500" in progress[-1]


# ---- kb search -----------------------------------------------------------------------------


def test_kb_search_ranks_the_right_article_first(demo_cli: Cli) -> None:
    done = demo_cli.ok("kb", "search", "I forgot my password and can't log in")

    lines = done.stdout.splitlines()
    assert lines[0] == "I forgot my password and can't log in"
    assert lines[1].strip() == "answered"
    assert lines[2].strip().startswith("1.") and "reset-password [en]" in lines[2], done.stdout


def test_kb_search_says_when_a_question_is_not_answered(demo_cli: Cli) -> None:
    done = demo_cli.ok("kb", "search", "zxqv blorf wibble")

    assert "not answered" in done.stdout.splitlines()[1]


def test_kb_search_reads_questions_from_stdin_and_prints_json_lines(demo_cli: Cli) -> None:
    questions = [
        "How long does shipping take?",
        "ลืมรหัสผ่านครับ",
        "zxqv blorf wibble",
        "怎么重置密码？",
    ]

    results = demo_cli.search(*questions)

    assert [r["question"] for r in results] == questions
    for result in results:
        assert set(result) == {"question", "answered", "results"}
        assert result["results"], result
        for match in result["results"]:
            assert set(match) == {"id", "locale", "score"}
        scores = [m["score"] for m in result["results"]]
        assert scores == sorted(scores, reverse=True)
    shipping, thai, nonsense, chinese = results
    assert shipping["answered"] is True
    assert shipping["results"][0]["id"] == "shipping-times"
    assert (thai["results"][0]["id"], thai["results"][0]["locale"]) == ("reset-password", "th")
    assert thai["answered"] is True
    assert (chinese["results"][0]["id"], chinese["results"][0]["locale"]) == (
        "reset-password",
        "zh",
    )
    assert nonsense["answered"] is False


def test_kb_search_limit_is_checked(demo_cli: Cli) -> None:
    one = demo_cli.ok("kb", "search", "refund", "--json", "--limit", "1")
    message = demo_cli.fails("kb", "search", "refund", "--limit", "0")

    assert len(json.loads(one.stdout)["results"]) == 1
    assert "--limit" in message


# ---- agent add -----------------------------------------------------------------------------


async def test_an_agent_added_on_the_command_line_can_log_in(
    cli: Cli, aiohttp_client: Callable[..., Any]
) -> None:
    done = await asyncio.to_thread(
        cli.ok,
        "agent",
        "add",
        "--email",
        "ann@example.com",
        "--name",
        "Ann Lee",
        "--password-stdin",
        stdin="a long secret pass\n",
    )
    assert "ann@example.com" in done.stdout
    settings = load_settings(
        cli.config,
        environ={},
        overrides={"database_url": cli.url, "data_dir": str(cli.folder), "log_format": "text"},
    )
    client = await aiohttp_client(create_app(settings, run_workers=False))

    agent = await AgentApi.login(client, "ann@example.com", "a long secret pass")
    me = await agent.call("GET", "/api/v1/me")
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": "ann@example.com", "password": "a long secret"}
    )

    assert me["name"] == "Ann Lee" and me["role"] == "agent"
    assert wrong.status == 401


async def test_an_agent_added_with_teams_skills_and_capacity_works_those_queues(
    cli: Cli, aiohttp_client: Callable[..., Any]
) -> None:
    cli.ok(
        "agent", "add", "--email", "ma@example.com", "--name", "Mali", "--password-stdin",
        "--team", "thai", "--team", "Billing", "--skill", "lang:th",
        "--capacity", "chat=2,call=0",
        stdin="a long secret pass\n",
    )  # fmt: skip
    settings = load_settings(
        cli.config,
        environ={},
        overrides={"database_url": cli.url, "data_dir": str(cli.folder), "log_format": "text"},
    )
    client = await aiohttp_client(create_app(settings, run_workers=False))
    me = await (await AgentApi.login(client, "ma@example.com", "a long secret pass")).call(
        "GET", "/api/v1/me"
    )

    assert me["teams"] == ["thai", "billing"] and me["skills"] == ["lang:th"]
    assert me["capacity"] == {"chat": 2, "message": 5, "call": 0}


def test_agent_add_refuses_an_unknown_team_or_a_bad_capacity(cli: Cli) -> None:
    args = ["agent", "add", "--email", "no@example.com", "--name", "No", "--password-stdin"]

    team = cli.fails(*args, "--team", "astronauts", stdin="a long secret pass\n")
    capacity = cli.fails(*args, "--capacity", "fax=2", stdin="a long secret pass\n")

    assert "--team: no team 'astronauts'" in team and "general" in team
    assert "'fax=2': write kind=number" in capacity


def test_adding_the_same_agent_twice_is_refused(cli: Cli) -> None:
    args = ["agent", "add", "--email", "bo@example.com", "--name", "Bo", "--password-stdin"]
    cli.ok(*args, stdin="first password\n")

    message = cli.fails(*args, stdin="second password\n")

    assert "bo@example.com" in message and "exists" in message


def test_a_short_password_is_refused(cli: Cli) -> None:
    message = cli.fails(
        "agent",
        "add",
        "--email",
        "cy@example.com",
        "--name",
        "Cy",
        "--password-stdin",
        stdin="short\n",
    )

    assert "8" in message and "password" in message


async def test_telegram_set_webhook_registers_the_public_url_and_secret(cli: Cli) -> None:
    async with FakeTelegram() as telegram:
        env = cli.env(
            SWITCHBOARD_PUBLIC_URL="https://support.acme.test",
            SWITCHBOARD_TELEGRAM__TOKEN=telegram.token,
            SWITCHBOARD_TELEGRAM__WEBHOOK_SECRET="s3cret-s3cret-s3cret",
            SWITCHBOARD_TELEGRAM__API_BASE_URL=telegram.base_url,
        )
        done = await asyncio.to_thread(cli.run, "telegram", "set-webhook", env=env)

        assert done.returncode == 0, done.stderr
        assert "https://support.acme.test/webhooks/telegram" in done.stdout
        assert telegram.webhook is not None
        assert telegram.webhook["url"] == "https://support.acme.test/webhooks/telegram"
        assert telegram.webhook["secret_token"] == "s3cret-s3cret-s3cret"


def test_serve_refuses_a_broken_phone_menu_in_one_line(cli: Cli) -> None:
    broken = cli.folder / "ivr.yaml"
    broken.write_text("languages:\n  en: {digit: '1'}\nmenus: {}\n", encoding="utf-8")
    env = cli.env(
        SWITCHBOARD_TWILIO__ACCOUNT_SID="AC" + "0" * 32,
        SWITCHBOARD_TWILIO__AUTH_TOKEN="token",
        SWITCHBOARD_TWILIO__PHONE_NUMBER="+15005550006",
        SWITCHBOARD_TWILIO__IVR_FILE=str(broken),
    )

    done = cli.run("serve", "--port", "0", env=env)

    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("switchboard: setting twilio.ivr_file: ivr.yaml:"), line


def test_segments_recompute_profiles_every_customer_with_progress(cli: Cli) -> None:
    with sqlite3.connect(cli.db_path) as db:
        for n, plan in enumerate(["gold", "basic", "basic"]):
            db.execute(
                "INSERT INTO customers (display_name, attributes, tags, created_at, updated_at)"
                " VALUES (?, ?, '[]', '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')",
                (f"Customer {n}", json.dumps({"plan": plan})),
            )

    done = cli.ok("segments", "recompute")

    assert "3 customer(s) profiled, 1 segment(s) changed" in done.stdout
    assert "segments by rule: vip 1" in done.stdout
    assert "profiled 3/3 customers" in done.stderr
    with sqlite3.connect(cli.db_path) as db:
        rows = db.execute("SELECT segment, lifecycle FROM customers ORDER BY id").fetchall()
    assert [segment for segment, _ in rows] == ["vip", None, None]
    assert all(stage for _, stage in rows)


def test_segments_recompute_refuses_a_broken_rule_in_one_line(cli: Cli) -> None:
    broken = cli.folder / "workspace.yaml"
    broken.write_text("segments:\n  rules:\n    - {name: vip, all: ['plan = 1']}\n", "utf-8")
    done = cli.run("segments", "recompute", env=cli.env(SWITCHBOARD_WORKSPACE_FILE=str(broken)))

    assert done.returncode == 1 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("switchboard: workspace.yaml: segments.rules.1.all.1:"), line
