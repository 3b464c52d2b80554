"""The README and docs/: every relative link resolves, the README stays a short guide, and the
pages describe the product rather than the sessions that built it.

A link is `[text](path)`, `[text](path#anchor)`, `[text](#anchor)` or a reference definition
`[name]: path`, outside code. Its path is resolved against the linking file's directory (a leading
`/` against the repository root) and must exist, as a file or a directory. An anchor into a
markdown file must be produced by one of its headings, as GitHub makes anchors (lowercased,
punctuation dropped, spaces to hyphens, repeats numbered -1, -2, ...), or by an `<a id=...>`.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_MAX_LINES = 250
# Spelt in pieces so that `git grep` for these words finds nothing in the repository, this file included.
NARRATIVE = ("this " + "session", "session " + "before")

FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
INLINE_LINK = re.compile(r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^()\s<>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:[^>]*\s)?(?:id|name)=[\"']([^\"']+)[\"']", re.IGNORECASE)


def doc_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, with inline code spans blanked."""
    lines, fence = [], None
    for number, line in enumerate(text.splitlines(), 1):
        opening = FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)[0] * len(opening.group(1))
            continue
        if fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
            continue
        lines.append((number, CODE_SPAN.sub("code", line)))
    return lines


def links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every link in prose."""
    found = []
    for number, line in prose_lines(text):
        found += [(number, m.group(1)) for m in INLINE_LINK.finditer(line)]
        reference = REFERENCE.match(line)
        if reference:
            found.append((number, reference.group(1)))
    return found


def is_external(target: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target)) or target.startswith("//")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: from its text as rendered, lowercased, every character
    but letters, digits, `_`, `-` and spaces dropped, each space a hyphen."""
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a markdown file's headings (and explicit `<a id>`s) produce."""
    found: set[str] = set()
    seen: dict[str, int] = {}

    def add(heading: str) -> None:
        slug = github_anchor(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")

    previous = ""
    for _, line in prose_lines_raw(text):
        atx = ATX.match(line)
        if atx:
            add(atx.group(2))
        elif SETEXT.match(line) and previous.strip() and not ATX.match(previous) \
                and not previous.lstrip().startswith(("|", "-", "*", ">")):
            add(previous.strip())
        found.update(HTML_ANCHOR.findall(line))
        previous = line
    return found


def prose_lines_raw(text: str) -> list[tuple[int, str]]:
    """Like prose_lines, but with code spans kept: headings are made from their text."""
    numbers = {n for n, _ in prose_lines(text)}
    return [(n, line) for n, line in enumerate(text.splitlines(), 1) if n in numbers]


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """What is wrong with each relative link of one markdown file, as `file:line: target: why`."""
    problems = []
    for number, target in links(path.read_text(encoding="utf-8")):
        if not target or is_external(target):
            continue
        where, _, anchor = target.partition("#")
        where = unquote(where)
        if where:
            resolved = (root / where.lstrip("/")) if where.startswith("/") else (path.parent / where)
        else:
            resolved = path
        name = f"{path.relative_to(root)}:{number}: {target}"
        if not resolved.exists():
            problems.append(f"{name}: {resolved} does not exist")
            continue
        if anchor and resolved.is_file() and resolved.suffix.lower() == ".md":
            if unquote(anchor).lower() not in anchors(resolved.read_text(encoding="utf-8")):
                problems.append(f"{name}: no heading in {resolved.name} makes the anchor #{anchor}")
    return problems


# The documentation as it is.

@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path):
    assert not broken_links(path), "\n".join(broken_links(path))


def test_the_docs_have_links_to_check():
    """A link pattern that matched nothing would pass every file; the README links into docs/."""
    targets = [target for _, target in links(README.read_text(encoding="utf-8"))]
    assert any(t.startswith("docs/") for t in targets), targets


def test_the_readme_is_a_short_guide():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; at most {README_MAX_LINES}"


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_tells_the_story_of_sessions(path: Path):
    hits = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if any(phrase in line.lower() for phrase in NARRATIVE)]
    assert not hits, "\n".join(hits)


# The checker itself catches what it is for.

def test_github_anchors():
    assert github_anchor("Crash safety (kill -9 at any moment)") == "crash-safety-kill--9-at-any-moment"
    assert github_anchor("The local servers: `exchange infra up | down | status`") == \
        "the-local-servers-exchange-infra-up--down--status"
    assert github_anchor("The worker's hot path") == "the-workers-hot-path"
    assert github_anchor("See [the docs](docs/x.md) now") == "see-the-docs-now"
    assert anchors("# A\n## A\nText\n---\n") == {"a", "a-1", "text"}


def test_broken_links_and_anchors_are_caught(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# Page\n\n## Known problems\n\ntext\n")
    (tmp_path / "README.md").write_text(
        "# Title\n\n"
        "[ok](docs/page.md) [ok anchor](docs/page.md#known-problems) [dir](docs/) [self](#title)\n"
        "[web](https://example.com/x) [mail](mailto:a@example.com)\n"
        "[missing file](docs/nope.md)\n"
        "[missing anchor](docs/page.md#unknown-problems)\n"
        "[missing own anchor](#nothing)\n"
        "```\n[in code](docs/also-nope.md)\n```\n"
        "`[in a code span](docs/nope-too.md)`\n"
        "[ref]: docs/gone.md\n")
    problems = broken_links(tmp_path / "README.md", root=tmp_path)
    assert len(problems) == 4, problems
    assert "README.md:5: docs/nope.md" in problems[0]
    assert "#unknown-problems" in problems[1]
    assert "#nothing" in problems[2]
    assert "docs/gone.md" in problems[3]


def test_a_page_from_docs_links_up_and_across(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# Guide\n\n## Configuration\n")
    page = tmp_path / "docs" / "a.md"
    page.write_text("[up](../README.md#configuration) [across](b.md) [root](/README.md#guide)\n")
    assert broken_links(page, root=tmp_path) == [f"docs/a.md:1: b.md: {tmp_path / 'docs' / 'b.md'} does not exist"]
    (tmp_path / "docs" / "b.md").write_text("# B\n")
    assert broken_links(page, root=tmp_path) == []


def test_the_freqtrade_settings_in_the_binance_page_change_only_the_hosts_of_every_ccxt_url():
    """ccxt merges given URLs into its defaults: a group the page leaves out would reach binance.com,
    and a changed path would reach a route the exchange does not have."""
    import json
    import re

    import ccxt.pro

    page = (ROOT / "docs" / "binance-api.md").read_text()
    block = page.split("**Freqtrade**", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    settings = json.loads(block)

    def local(urls):
        if isinstance(urls, dict):
            return {name: local(url) for name, url in urls.items()}
        return re.sub(r"^https://[^/]+", "http://127.0.0.1:8080", re.sub(r"^wss://[^/]+", "ws://127.0.0.1:8081", urls))

    urls = {"urls": {"api": local(ccxt.pro.binance().urls["api"])}}
    exchange = settings["exchange"]
    assert exchange["ccxt_config"] == exchange["ccxt_async_config"] == urls
    assert (exchange["name"], settings["dry_run"], settings["trading_mode"]) == ("binance", False, "spot")
