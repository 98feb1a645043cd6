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


def test_configuration_doc_names_every_environment_variable_the_code_reads():
    root = DOCS.parent
    used = set()
    for folder in ("service", "matcher", "graph", "models"):
        for path in (root / folder).rglob("*.py"):
            used.update(re.findall(r"ZHIDA_[A-Z_]+", path.read_text(encoding="utf-8")))
    documented = set(re.findall(r"`(ZHIDA_[A-Z_]+)`", (DOCS / "configuration.md").read_text(encoding="utf-8")))
    assert used <= documented, sorted(used - documented)
