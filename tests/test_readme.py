"""The README shows the code catalogue and the required-fields table as the code has them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.codes import catalogue_markdown
from gateway.ingest.rules import required_table_markdown

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def section(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\n(.*?)\n<!-- /{marker} -->", README, re.DOTALL)
    assert match, f"README has no <!-- {marker} --> section"
    return match.group(1).strip()


@pytest.mark.parametrize(
    ("marker", "render"),
    [("codes", catalogue_markdown), ("required-table", required_table_markdown)],
)
def test_readme_section_matches_code(marker: str, render) -> None:
    assert section(marker) == render().strip(), (
        f"regenerate the README's {marker} section: python -m tests.sync_readme"
    )
