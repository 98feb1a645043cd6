"""Docs that restate code must not drift from it."""

import json
import re
from pathlib import Path

from matcher import catalog

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_fields_doc_holds_the_catalog_table():
    assert catalog.markdown_table() in (DOCS / "fields.md").read_text(encoding="utf-8")


def test_fields_doc_example_parses_with_the_catalog():
    text = (DOCS / "fields.md").read_text(encoding="utf-8")
    example = json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))
    for name, raw in example.items():
        assert catalog.parse_value(name, raw) is not None, name
