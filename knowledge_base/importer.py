"""Read articles from YAML, JSON or CSV, with errors that name the item or line at fault."""

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

FIELDS = ("id", "locale", "title", "body", "questions", "tags")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
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
    if suffix in {".yaml", ".yml"}:
        try:
            data = yaml.safe_load(text)
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
            value = item.get(name) or ""
            item[name] = [p.strip() for p in value.split("|") if p.strip()]
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
        article[name] = [v.strip() for v in value if v.strip()]
    return article


def _check_unique(articles: list[dict[str, Any]], path: Path, places: list[str]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for article, place in zip(articles, places, strict=True):
        key = (article["id"], article["locale"])
        if key in seen:
            raise ArticleImportError(
                f"{path}: {place}: duplicate id {key[0]!r} for locale {key[1]!r} ({seen[key]})"
            )
        seen[key] = place
