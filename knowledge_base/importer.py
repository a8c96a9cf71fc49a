"""Read and write articles as YAML, JSON or CSV, with errors that name the item or line at
fault. Writing then reading gives back exactly what was written (the formats round-trip)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from channels.errors import SwitchboardError

FIELDS = ("id", "locale", "title", "body", "questions", "tags", "category", "status")
STATUSES = ("draft", "in_review", "published", "archived")
FORMATS = ("yaml", "json", "csv")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
# Text no database column takes (PostgreSQL refuses NUL; no encoding has a lone surrogate).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_ID = 128


class ArticleImportError(SwitchboardError):
    """The file is not a valid article list; the message says where."""


def read_articles(path: Path) -> list[dict[str, Any]]:
    """Parse and validate a whole file before anything is written (all or nothing)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ArticleImportError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleImportError(f"{path}: not UTF-8 (byte {exc.start})") from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return list(_from_csv(text, path))
    return _from_document(text, suffix, path)


# libyaml's safe loader when PyYAML was built with it (about ten times faster), else PyYAML's.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _from_document(text: str, suffix: str, path: Path) -> list[dict[str, Any]]:
    if suffix in {".yaml", ".yml"}:
        try:
            data = yaml.load(text, Loader=YAML_LOADER)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark else ""
            raise ArticleImportError(f"{path}: {where}invalid YAML") from None
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArticleImportError(
                f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})"
            ) from None
    else:
        raise ArticleImportError(
            f"{path}: unknown format {suffix!r} (use .yaml, .yml, .json or .csv)"
        )
    if isinstance(data, dict) and "articles" in data:
        data = data["articles"]
    if not isinstance(data, list):
        raise ArticleImportError(f"{path}: expected a list of articles")
    articles = [validate(item, f"{path}: item {n}") for n, item in enumerate(data, start=1)]
    _check_unique(articles, path, [f"item {n}" for n in range(1, len(articles) + 1)])
    return articles


def _from_csv(text: str, path: Path) -> Iterator[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [f for f in ("id", "locale", "title", "body") if f not in (reader.fieldnames or [])]
    if missing:
        raise ArticleImportError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    unknown = [f for f in reader.fieldnames or [] if f not in FIELDS]
    if unknown:
        raise ArticleImportError(f"{path}: line 1: unknown column(s) {', '.join(unknown)}")
    seen: dict[tuple[str, str], int] = {}
    for row in reader:
        where = f"{path}: line {reader.line_num}"
        if None in row:
            raise ArticleImportError(f"{where}: more fields than columns")
        item: dict[str, Any] = dict(row)
        for name in ("questions", "tags"):
            item[name] = split_cell(item.get(name) or "")
        for name in ("category", "status"):
            if not item.get(name):
                item.pop(name, None)
        article = validate(item, where)
        key = (article["id"], article["locale"])
        if key in seen:
            raise ArticleImportError(
                f"{where}: duplicate id {key[0]!r} for locale {key[1]!r} (line {seen[key]})"
            )
        seen[key] = reader.line_num
        yield article


def validate(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ArticleImportError(f"{where}: expected a mapping with {', '.join(FIELDS[:4])}")
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise ArticleImportError(f"{where}: unknown field(s) {', '.join(unknown)}")
    article: dict[str, Any] = {}
    for name in ("id", "locale", "title", "body"):
        value = item.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and name == "id":
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise ArticleImportError(f"{where}: '{name}' is missing or empty")
        article[name] = value.strip()
    if len(article["id"]) > MAX_ID:
        raise ArticleImportError(f"{where}: 'id' is longer than {MAX_ID} characters")
    if not _LOCALE.match(article["locale"]):
        raise ArticleImportError(
            f"{where}: 'locale' {article['locale']!r} is not a language tag like en or th"
        )
    if len(article["title"]) > 500:
        raise ArticleImportError(f"{where}: 'title' is longer than 500 characters")
    for name in ("questions", "tags"):
        value = item.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ArticleImportError(f"{where}: '{name}' must be a list of strings")
        # One line each (a CSV cell lists them one per line), no repeats, order kept.
        cleaned = (" ".join(v.split()) for v in value)
        article[name] = list(dict.fromkeys(v for v in cleaned if v))
    category = item.get("category")
    if category is not None:
        if not isinstance(category, str):
            raise ArticleImportError(f"{where}: 'category' must be a string")
        category = " ".join(category.split())
        if len(category) > 100:
            raise ArticleImportError(f"{where}: 'category' is longer than 100 characters")
    article["category"] = category or None
    status = item.get("status")
    if status is not None and status not in STATUSES:
        raise ArticleImportError(f"{where}: 'status' must be one of {', '.join(STATUSES)}")
    if status:
        article["status"] = status
    for name, value in article.items():
        texts = value if isinstance(value, list) else [value or ""]
        if any(_UNSTORABLE.search(text) for text in texts):
            raise ArticleImportError(
                f"{where}: '{name}' contains a NUL or an unpaired surrogate character"
            )
    return article


def split_cell(value: str) -> list[str]:
    """A CSV cell's list: one item per line, or (older files) items separated by "|"."""
    parts = value.splitlines() if "\n" in value else value.split("|")
    return [p.strip() for p in parts if p.strip()]


def join_cell(items: list[str]) -> str:
    """The inverse of ``split_cell``: a lone item holding "|" gets a line break to keep it
    whole."""
    text = "\n".join(items)
    return text + "\n" if len(items) == 1 and "|" in items[0] else text


def export_rows(articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Articles as plain records in file order, fields in the documented order."""
    return [
        {f: a.get(f) for f in FIELDS if a.get(f) is not None or f in ("questions", "tags")}
        for a in articles
    ]


def dumps(articles: list[dict[str, Any]], fmt: str) -> str:
    """Serialise articles as ``fmt`` (yaml, json or csv)."""
    rows = export_rows(articles)
    if fmt == "json":
        return json.dumps({"articles": rows}, ensure_ascii=False, indent=2) + "\n"
    if fmt == "yaml":
        return yaml.dump(
            {"articles": rows},
            Dumper=_BlockDumper,
            allow_unicode=True,
            sort_keys=False,
            width=100,
        )
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    **{f: row.get(f) or "" for f in FIELDS},
                    "questions": join_cell(row.get("questions") or []),
                    "tags": join_cell(row.get("tags") or []),
                }
            )
        return out.getvalue()
    raise ValueError(f"unknown format {fmt!r}")


def loads(text: str, fmt: str, name: str = "upload") -> list[dict[str, Any]]:
    """Parse and validate a whole document (``read_articles`` for text already in memory)."""
    if fmt == "csv":
        return list(_from_csv(text.removeprefix("\ufeff"), Path(name)))
    if fmt not in ("yaml", "json"):
        raise ArticleImportError(f"{name}: unknown format {fmt!r} (use yaml, json or csv)")
    return _from_document(text, "." + fmt, Path(name))


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (article bodies) as readable ``|`` blocks."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


def _check_unique(articles: list[dict[str, Any]], path: Path, places: list[str]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for article, place in zip(articles, places, strict=True):
        key = (article["id"], article["locale"])
        if key in seen:
            raise ArticleImportError(
                f"{path}: {place}: duplicate id {key[0]!r} for locale {key[1]!r} ({seen[key]})"
            )
        seen[key] = place
