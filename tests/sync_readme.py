"""Rewrite the README sections generated from code (codes catalogue, required fields)."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.codes import catalogue_markdown
from gateway.ingest.rules import required_table_markdown

README = Path(__file__).resolve().parent.parent / "README.md"
SECTIONS = {"codes": catalogue_markdown, "required-table": required_table_markdown}


def main() -> None:
    text = README.read_text()
    for marker, render in SECTIONS.items():
        text = re.sub(
            rf"(<!-- {marker} -->\n).*?(\n<!-- /{marker} -->)",
            lambda m, r=render: m.group(1) + r().strip() + m.group(2),
            text,
            flags=re.DOTALL,
        )
    README.write_text(text)


if __name__ == "__main__":
    main()
