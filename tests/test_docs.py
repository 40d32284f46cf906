"""Issue 39: the README is a newcomer's five minutes and links every line's guide; every relative
link and anchor in README.md and docs/ resolves; every code block either runs in the tests
(`runnable`) or says why not (`skip: …`); every line's guide walks from training to monitoring.
The runnable blocks themselves run in tests/test_readme_walk.py and tests/test_contract.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO
from docs_blocks import CODE, Block, blocks, pages, runnable

from modelmill import lines

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
MAX_README_LINES = 250
# What the issue lets a page show without running: the internet, a real AWS account, a GPU,
# several machines, long training. A reason says which, in words.
MIN_REASON = 12


def prose(page: Path) -> str:
    """The page without its code blocks and inline code, where links are links."""
    text = page.read_text()
    for block in blocks(page):
        text = text.replace(block.code, "")
    return INLINE_CODE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", prose_keep_code(page), re.M):
        name, n = slug(heading), 1
        while name in found:  # GitHub numbers repeated headings: x, x-1, x-2
            name, n = f"{slug(heading)}-{n}", n + 1
        found.add(name)
    return found


def prose_keep_code(page: Path) -> str:
    """The page without its code blocks (a `# comment` in a block is not a heading)."""
    text = page.read_text()
    for block in blocks(page):
        text = text.replace(block.code, "")
    return text


PAGES = pages()


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check offline
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading makes #{anchor} in {dest.relative_to(REPO)}")
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_code_block_runs_or_says_why_not(page):
    def ok(block: Block) -> bool:
        if block.info == "runnable":
            return True
        reason = block.info.removeprefix("skip:").strip()
        return block.info.startswith("skip:") and len(reason) >= MIN_REASON

    unmarked = [f"{b.where()} ```{b.lang} {b.info}" for b in blocks(page) if b.lang in CODE and not ok(b)]
    assert not unmarked, "mark each `runnable`, or `skip: <why it can't run here>`: " + ", ".join(unmarked)


def test_the_readme_is_short_and_links_every_line():
    readme = REPO / "README.md"
    assert len(readme.read_text().splitlines()) <= MAX_README_LINES
    targets = set(LINK.findall(prose(readme)))
    for name in lines.LINES:
        assert f"docs/lines/{name}.md" in targets, f"the README does not link {name}'s guide"
    for page in sorted((REPO / "docs").glob("*.md")):
        assert f"docs/{page.name}" in targets, f"the README does not say where {page.name} is"


@pytest.mark.parametrize("name", list(lines.LINES))
def test_every_line_has_a_guide_that_walks_to_monitoring(name):
    """Its runnable blocks go from `make repro` through publish and serve to `make monitor`, for a
    model of that line (test_contract.py runs them)."""
    guide = REPO / "docs" / "lines" / f"{name}.md"
    assert guide.exists(), f"{name} has no guide at {guide.relative_to(REPO)}"
    code = "\n".join(block.code for block in runnable(guide))
    steps = [
        f"make repro{'' if name == lines.DEFAULT else f' PIPELINE={name}'}",
        "make publish",
        "make serve",
        "make monitor",
    ]
    at = [code.find(step) for step in steps]
    assert -1 not in at and at == sorted(at), f"{name}'s guide: runnable blocks lack, in order, {steps}"
    published = {model.publish_config(REPO / lines.get(name).folder).model_name for model in lines.get(name).models}
    assert any(f"make monitor MODEL={model}" in code for model in published), (
        f"{name}'s guide monitors none of {published}"
    )
    pointer = REPO / lines.get(name).folder / "README.md"
    if lines.get(name).folder != Path("."):
        assert f"docs/lines/{name}.md" in pointer.read_text(), f"{pointer.relative_to(REPO)} should point to the guide"


def test_the_flagship_has_one_name_in_the_text():
    """`landcover` (the land-cover line) in the text; EuroSAT names the dataset, eurosat-resnet18
    the registry name; "the EuroSAT line" is gone."""
    for page in PAGES:
        text = page.read_text()
        assert not re.search(r"EuroSAT line", text), f"{page.relative_to(REPO)} calls the flagship the EuroSAT line"
