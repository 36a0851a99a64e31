"""The onboarding guide's worked examples (issue 11, "Proof"): the two formats of the
onboarding trial (../shared/onboarding-trial), mapped without Python in at most 40 lines,
give the facts the trial wrote down beside each sample (``*.expected-facts.json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from adapters.registry import default_registry
from gateway.ingest.receive import dry_run
from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = {
    "eta": ("shipment-1.xml", "application/xml", "adapters/eta/eta-shipment.toml"),
    "zeta": ("manifest-1.json", "application/json", "adapters/zeta/zeta-manifest.toml"),
}


def records(operator: str) -> dict[str, dict[str, Any]]:
    sample, content_type, _ = EXAMPLES[operator]
    registry = default_registry()
    result = dry_run(
        (FIXTURES / operator / sample).read_bytes(),
        content_type,
        registry.candidates(registry.formats_of(operator)),
        operator=operator,
    )
    translation = result["translation"]
    assert translation["errors"] == []
    return {r["item_id"]: r for r in translation["records"]}


def at(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        value = value[part]
    return value


def check_fact(record: dict[str, Any], key: str, want: Any) -> None:
    """One fact: a dotted path of the canonical record; "street_or_line" is the street
    or an address line containing the text; a line's "value" is its amount."""
    if key.endswith(".street_or_line"):
        address = at(record, key.removesuffix(".street_or_line"))
        assert address["street"] == want or any(want in line for line in address["lines"])
    elif key == "contents":
        assert len(record["contents"]) == len(want)
        for line, facts in zip(record["contents"], want, strict=True):
            for name, value in facts.items():
                got = line[name]["amount"] if name == "value" else line[name]
                assert got == value, (record["item_id"], name)
    else:
        assert at(record, key) == want, (record["item_id"], key)


@pytest.mark.parametrize("operator", EXAMPLES)
def test_the_trial_sample_gives_the_trial_facts(operator: str) -> None:
    sample = EXAMPLES[operator][0]
    facts_file = FIXTURES / operator / sample.replace(Path(sample).suffix, ".expected-facts.json")
    facts = orjson.loads(facts_file.read_bytes())
    found = records(operator)
    assert set(found) == {f["item_id"] for f in facts}
    for expected in facts:
        record = found[expected["item_id"]]
        for key, want in expected.items():
            check_fact(record, key, want)


@pytest.mark.parametrize("operator", EXAMPLES)
def test_mapped_in_forty_lines_without_python(operator: str) -> None:
    mapping = ROOT / EXAMPLES[operator][2]
    lines = [
        line
        for line in mapping.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert len(lines) <= 40
    assert not list(mapping.parent.glob("*.py"))


def test_the_facts_files_are_the_trials() -> None:
    """Copied into the project unchanged (the trial folder is the source of truth)."""
    found = [p / "shared" / "onboarding-trial" for p in ROOT.parents]
    trial = next((p for p in found if p.is_dir()), None)
    if trial is None:
        pytest.skip("the onboarding trial folder is not beside this checkout")
    copies = {
        "eta_shipment_1.xml": "eta/shipment-1.xml",
        "eta_shipment_1.expected-facts.json": "eta/shipment-1.expected-facts.json",
        "zeta_manifest_1.json": "zeta/manifest-1.json",
        "zeta_manifest_1.expected-facts.json": "zeta/manifest-1.expected-facts.json",
    }
    for original, copy in copies.items():
        assert (trial / original).read_bytes() == (FIXTURES / copy).read_bytes()
