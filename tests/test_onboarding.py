"""The onboarding kit as an engineer uses it: ``aedgw adapters new|test|expect|lint|list``
run in-process, scaffolds written into temporary checkouts, no database."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from adapters.mapping import Mapping
from gateway.cli import main
from gateway.document import parse
from gateway.onboarding import MISSING, differences, registry_for, value_at

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
SAMPLES = {
    "xml": FIXTURES / "alpha" / "v11-batch-3.xml",
    "json": FIXTURES / "gamma" / "batch-3.json",
    "ndjson": FIXTURES / "delta" / "good_batch.ndjson",
}


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """An empty checkout: what ``adapters new --root`` needs."""
    for folder in ("adapters", "xsd", "fixtures", "tests"):
        (tmp_path / folder).mkdir()
    return tmp_path


def aedgw(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# --- adapters new ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_scaffold_loads_detects_the_sample_and_its_test_runs(
    kind: str, checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = aedgw(
        capsys,
        "adapters",
        "new",
        "kappa",
        "--format",
        kind,
        "--root",
        checkout,
        "--sample",
        SAMPLES[kind],
    )
    assert code == 0, err
    mapping_file = checkout / f"adapters/kappa/kappa-{kind}.toml"
    schema = "kappa-xml.xsd" if kind == "xml" else f"kappa-{kind}.schema.json"
    assert {Path(line) for line in out.split()} == {
        mapping_file,
        checkout / "xsd" / schema,
        checkout / "fixtures/kappa/README.md",
        checkout / f"fixtures/kappa/sample.{kind}",
        checkout / "fixtures/kappa/sample.expected.json",
        checkout / "tests/test_kappa_fixtures.py",
    }
    mapping = Mapping.load(mapping_file)
    assert (mapping.operator, mapping.format, mapping.version) == ("kappa", f"kappa-{kind}", "1")
    sample = SAMPLES[kind].read_bytes()
    assert mapping.detect(parse(sample, mapping_content_type(kind))), "detection from the sample"
    assert (checkout / f"fixtures/kappa/sample.{kind}").read_bytes() == sample
    expected = orjson.loads((checkout / "fixtures/kappa/sample.expected.json").read_bytes())
    # the stub schema let the sample through: only the TODO message reference stops it
    assert expected["error"]["code"] == "message_ref_missing"
    readme = (checkout / "fixtures/kappa/README.md").read_text()
    assert "generated: check every value by hand against the operator's spec" in readme

    generated = run_pytest(checkout / "tests/test_kappa_fixtures.py", checkout)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "1 passed" in generated.stdout


def mapping_content_type(kind: str) -> str:
    return {"xml": "application/xml", "json": "application/json"}.get(kind, "application/x-ndjson")


def run_pytest(test_file: Path, checkout: Path) -> subprocess.CompletedProcess[str]:
    """The generated test in its own process, from a folder without adapters/ or xsd/
    (those would shadow the installed packages on ``sys.path``)."""
    elsewhere = checkout.parent / f"{checkout.name}-cwd"
    elsewhere.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEDGW_", "PYTEST_"))}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(test_file),
            "-q",
            "-p",
            "no:cacheprovider",
            f"--basetemp={checkout.parent / (checkout.name + '-pytest')}",
            f"--rootdir={checkout}",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_scaffold_without_sample_loads(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for kind in SAMPLES:
        code, _, err = aedgw(
            capsys, "adapters", "new", f"k-{kind}", "--format", kind, "--root", checkout
        )
        assert code == 0, err
        Mapping.load(checkout / f"adapters/k-{kind}/k-{kind}-{kind}.toml")
    assert (checkout / "tests/test_k_xml_fixtures.py").is_file(), "a module name without '-'"
    assert not (checkout / "fixtures/k-xml/sample.xml").exists()


def test_scaffold_refuses_to_overwrite(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert aedgw(capsys, "adapters", "new", "kappa", "--format", "json", "--root", checkout)[0] == 0
    before = (checkout / "adapters/kappa/kappa-json.toml").read_text() + "edited"
    (checkout / "adapters/kappa/kappa-json.toml").write_text(before)
    code, _, err = aedgw(capsys, "adapters", "new", "kappa", "--format", "json", "--root", checkout)
    assert code == 2 and "refusing to overwrite adapters/kappa/kappa-json.toml" in err
    assert (checkout / "adapters/kappa/kappa-json.toml").read_text() == before


def test_scaffold_needs_a_checkout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = aedgw(capsys, "adapters", "new", "kappa", "--format", "xml", "--root", tmp_path)
    assert code == 2 and "not a checkout" in err and "adapters" in err
    code, _, err = aedgw(capsys, "adapters", "new", "Kappa!", "--format", "xml", "--root", REPO)
    assert code == 2 and "operator code" in err


def test_nested_item_objects_become_the_items(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """[{"shipment": {...}}]: the items path steps into the wrapper, and the sample's
    values are listed relative to the item and to its first content line."""
    sample = checkout / "in.json"
    sample.write_bytes(
        orjson.dumps(
            {
                "manifest": {"id": "M1"},
                "shipments": [
                    {"shipment": {"barcode": "X1", "items": [{"text": "Tea"}]}},
                    {"shipment": {"barcode": "X2", "items": [{"text": "Mug"}]}},
                ],
            }
        )
    )
    code, _, err = aedgw(
        capsys,
        "adapters",
        "new",
        "kappa",
        "--format",
        "json",
        "--root",
        checkout,
        "--sample",
        sample,
    )
    assert code == 0, err
    mapping = (checkout / "adapters/kappa/kappa-json.toml").read_text()
    assert 'path = "/shipments/*/shipment"' in mapping
    assert '#   barcode = "X1"' in mapping and '#   text = "Tea"' in mapping
    assert 'path = "items"' in mapping


def test_arrays_of_arrays_give_the_inner_entries_as_items(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Consignments of parcels of lines (the onboarding trial's zeta): the parcels are
    the items, not content lines of a consignment."""
    code, _, err = aedgw(
        capsys,
        "adapters",
        "new",
        "kappa",
        "--format",
        "json",
        "--root",
        checkout,
        "--sample",
        FIXTURES / "zeta/manifest-1.json",
    )
    assert code == 0, err
    mapping = (checkout / "adapters/kappa/kappa-json.toml").read_text()
    assert 'path = "/consignments/*/parcels"' in mapping
    assert "groups items in 'parcels': every parcels entry of every one is an item" in mapping
    assert '#   barcode = "CP102030405US"' in mapping and 'path = "items"' in mapping
    assert Mapping.load(checkout / "adapters/kappa/kappa-json.toml").kind is not None


def test_element_text_is_listed_as_dot(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Eta's lines carry attributes and their description as text, in CDATA."""
    code, _, err = aedgw(
        capsys,
        "adapters",
        "new",
        "kappa",
        "--format",
        "xml",
        "--root",
        checkout,
        "--sample",
        FIXTURES / "eta/shipment-1.xml",
    )
    assert code == 0, err
    mapping = (checkout / "adapters/kappa/kappa-xml.toml").read_text()
    assert 'path = "goods/g"' in mapping
    assert '#   @hs = "8471.30"' in mapping
    assert '#   . = "Tablet 10\\" – 64 GB, with case & charger"' in mapping


# --- adapters test -----------------------------------------------------------------------------


def test_every_real_operator_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = aedgw(capsys, "adapters", "test", "--root", REPO)
    assert code == 0, out
    for operator in ("alpha", "beta", "gamma", "delta", "epsilon"):
        assert f"PASS {operator}/" in out
    assert "FAIL" not in out and out.rstrip().endswith(" passed, 0 failed")


def copy_operator(operator: str, checkout: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / operator, checkout / "fixtures" / operator))


def edit_json(path: Path, change) -> None:
    data = orjson.loads(path.read_bytes())
    change(data)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))


def test_a_tampered_expectation_fails_with_a_diff_per_field(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = copy_operator("gamma", checkout)

    def tamper(expected: dict) -> None:
        expected["translation"]["records"][0]["sender"]["address"]["city"] = "SHANGHAI"

    edit_json(folder / "batch-3.expected.json", tamper)
    code, out, _ = aedgw(capsys, "adapters", "test", "gamma", "--root", checkout)
    assert code == 1
    assert "FAIL gamma/batch-3" in out and "PASS gamma/times" in out
    assert '  records[0].sender.address.city: expected "SHANGHAI", got "Shanghai"' in out
    assert out.rstrip().endswith("11 passed, 1 failed")


def test_a_missing_record_does_not_shift_the_others(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = copy_operator("gamma", checkout)
    edit_json(folder / "batch-3.expected.json", lambda e: e["translation"]["records"].pop(0))
    code, out, _ = aedgw(capsys, "adapters", "test", "gamma", "--root", checkout)
    assert code == 1
    assert "records: got a record of EA281100112CN, not expected" in out
    assert "records[0]." not in out and "records[1]." not in out


def test_a_wrong_outcome_shows_the_errors_of_the_run(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Expected accepted, refused by the schema: the status, then every detail of the
    refusal with the schema file, the path and the value found there."""
    folder = copy_operator("gamma", checkout)
    shutil.copy(folder / "batch-3.expected.json", folder / "schema-invalid.expected.json")
    code, out, _ = aedgw(capsys, "adapters", "test", "gamma", "--root", checkout)
    assert code == 1
    assert "FAIL gamma/schema-invalid\n  http_status: expected 202, got 422" in out
    assert "422 schema_invalid: document does not validate against gamma-batch.schema.json" in out
    assert "at /parcels/1/weightG = 1.25: " in out


def test_verbose_shows_each_run_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = aedgw(capsys, "adapters", "test", "beta", "--verbose", "--root", REPO)
    assert code == 0
    assert 'at /Items/Item[2]/Gift = "yes" (line 39): value must be one of' in out
    assert "item 1 CP261102027ES at /Items/Item[2]/ItemId: s10_check_digit:" in out


def test_test_without_fixtures_is_an_error(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = aedgw(capsys, "adapters", "test", "nobody", "--root", checkout)
    assert code == 2 and "no fixtures" in err


# --- readable onboarding errors (issue 3 point 6) ------------------------------------------------


def test_lint_names_file_key_and_path(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = aedgw(
        capsys, "adapters", "lint", "gamma", FIXTURES / "gamma/batch-3.json", "--root", REPO
    )
    assert code == 1
    assert (
        "adapters/gamma/gamma-json.toml: item.category_explanation: "
        "path 'catNote' never matches in the sample"
    ) in out.splitlines()


def test_lint_of_a_sample_in_no_format(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = checkout / "other.json"
    sample.write_bytes(b'{"something": "else"}')
    code, _, err = aedgw(capsys, "adapters", "lint", "gamma", sample, "--root", REPO)
    assert code == 2 and "none of this operator's formats (gamma-json/1)" in err


def scaffold_with_codes(checkout: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """gamma's batch as a new operator's sample, the skeleton filled in just enough to
    translate: its mail class code list still holds only the TODO code."""
    code, _, err = aedgw(
        capsys,
        "adapters",
        "new",
        "kappa",
        "--format",
        "json",
        "--root",
        checkout,
        "--sample",
        SAMPLES["json"],
    )
    assert code == 0, err
    mapping = checkout / "adapters/kappa/kappa-json.toml"
    text = mapping.read_text().replace('path = "/TODO"', 'path = "/batchNo"', 1)
    text = text.replace('item_id = "TODO"', 'item_id = "trackingNo"')
    text = text.replace('{ path = "TODO", codes = "mail_class" }', '"serviceType"')
    mapping.write_text(text.replace('category = { path = "TODO"', 'category = { path = "catCode"'))
    return mapping


def test_code_not_in_code_list_names_path_value_and_mapping_file(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scaffold_with_codes(checkout, capsys)
    code, out, err = aedgw(capsys, "adapters", "expect", "kappa", "sample", "--root", checkout)
    assert code == 2 and "--force" in err, "a hand-checked file is not replaced silently"
    code, out, err = aedgw(
        capsys, "adapters", "expect", "kappa", "sample", "--force", "--root", checkout
    )
    assert code == 0 and "check every value by hand" in err
    code, out, _ = aedgw(capsys, "adapters", "test", "kappa", "--verbose", "--root", checkout)
    assert code == 0
    assert (
        "item 0 EA281100112CN at /parcels/0/catCode: code_unknown: '1' is not in code list "
        "'category' (allowed: TODO) [adapters/kappa/kappa-json.toml]"
    ) in out


def test_translate_shows_code_and_schema_errors_with_path_and_value(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``aedgw translate`` (installed adapters) prints the same errors as JSON."""
    bad = checkout / "bad.json"
    edit_json_copy(
        FIXTURES / "gamma/batch-3.json", bad, lambda m: m["parcels"][1].update(weightG="2,3")
    )
    code, out, _ = aedgw(capsys, "translate", "--operator", "gamma", bad)
    result = orjson.loads(out)
    assert code == 1 and result["error"]["code"] == "schema_invalid"
    assert "gamma-batch.schema.json" in result["error"]["message"]
    [detail] = result["error"]["details"]
    assert detail["path"] == "/parcels/1/weightG" and "'2,3'" in detail["message"]


def edit_json_copy(source: Path, target: Path, change) -> None:
    shutil.copy(source, target)
    edit_json(target, change)


def test_a_mapping_that_does_not_load_is_one_readable_line(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert aedgw(capsys, "adapters", "new", "kappa", "--format", "json", "--root", checkout)[0] == 0
    mapping = checkout / "adapters/kappa/kappa-json.toml"
    mapping.write_text(mapping.read_text().replace('unit = "kg" }', 'unitt = "kg" }', 1))
    code, _, err = aedgw(capsys, "adapters", "list", "--root", checkout)
    assert code == 2
    assert err.startswith("aedgw: adapters/kappa/kappa-json.toml: item.gross_weight_kg.unitt: ")
    assert "Traceback" not in err


# --- a Python adapter in another checkout ------------------------------------------------------

WRAPPER = '''
"""A mapping behind Python code: here, only the first item of a message is read."""
from itertools import islice
from pathlib import Path

from adapters.mapping import Mapping


class FirstOnly:
    def __init__(self):
        self.mapping = Mapping.load(Path(__file__).with_name("_kappa-json.toml"))
        for name in ("operator", "format", "version", "kind", "schema"):
            setattr(self, name, getattr(self.mapping, name))

    def detect(self, doc):
        return self.mapping.detect(doc)

    def message_ref(self, doc):
        return self.mapping.message_ref(doc)

    def translate(self, doc):
        return islice(self.mapping.translate(doc), 1)


ADAPTERS = [FirstOnly]
'''


def test_python_adapters_and_schemas_of_another_checkout(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = scaffold_with_codes(checkout, capsys)
    mapping.rename(mapping.with_name("_kappa-json.toml"))
    (mapping.parent / "__init__.py").write_text(WRAPPER)
    code, out, _ = aedgw(capsys, "adapters", "list", "--json", "--root", checkout)
    rows = {r["format"]: r for r in orjson.loads(out)}
    assert rows["kappa-json"]["source"] == "adapters.kappa.ADAPTERS"
    assert rows["kappa-json"]["schema"] == "kappa-json.schema.json"
    code, out, _ = aedgw(capsys, "adapters", "test", "kappa", "--root", checkout)
    assert code == 1, "the sample was drafted with the skeleton"
    assert "expected error message_ref_missing, got a translation (rejected: 1 received" in out
    (checkout / "xsd/kappa-json.schema.json").unlink()
    code, _, err = aedgw(capsys, "adapters", "test", "kappa", "--root", checkout)
    assert code == 2 and "schema 'kappa-json.schema.json' is not in xsd/" in err


# --- adapters list ------------------------------------------------------------------------------


def test_list_shows_every_operator(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = aedgw(capsys, "adapters", "list", "--json", "--root", REPO)
    assert code == 0
    rows = orjson.loads(out)
    assert {r["operator"] for r in rows} >= {"alpha", "beta", "gamma", "delta", "epsilon"}
    gamma = next(r for r in rows if r["format"] == "gamma-json")
    assert gamma == {
        "format": "gamma-json",
        "version": "1",
        "operator": "gamma",
        "kind": "json",
        "schema": "gamma-batch.schema.json",
        "source": "adapters/gamma/gamma-json.toml",
    }


# --- the pieces ---------------------------------------------------------------------------------


def test_differences_name_each_field() -> None:
    expected = {
        "status": "accepted",
        "records": [{"item_id": "A", "total_value": None}],
        "quality_flags": [],
    }
    actual = {
        "status": "accepted",
        "records": [{"item_id": "A", "total_value": {"amount": "1"}}],
        "quality_flags": ["value_mismatch"],
    }
    assert differences(expected, actual) == [
        'records[0].total_value: expected null, got {"amount":"1"}',
        'quality_flags: expected [], got ["value_mismatch"]',
    ]


@pytest.mark.parametrize(
    ("source", "content_type", "path", "value"),
    [
        ("beta/schema-invalid.xml", "application/xml", "/Items/Item[2]/Gift", "yes"),
        (
            "alpha/v11-batch-3.xml",
            "application/xml",
            "/ITMATT/Items/Item[1]/GrossWeight/@unit",
            "kg",
        ),
        ("gamma/batch-3.json", "application/json", "/parcels/1/trackingNo", "CA281100126CN"),
        ("delta/schema_invalid.ndjson", "application/x-ndjson", "line 3 /item_id", "CP610030025BR"),
        ("gamma/batch-3.json", "application/json", "/parcels/9/trackingNo", MISSING),
        ("gamma/batch-3.json", "application/json", "/parcels/1", MISSING),
    ],
)
def test_value_at_error_paths(source: str, content_type: str, path: str, value: object) -> None:
    doc = parse((FIXTURES / source).read_bytes(), content_type)
    assert value_at(doc, path) == value


# --- the guide -----------------------------------------------------------------------------


def test_the_guides_worked_examples_are_the_installed_mappings() -> None:
    """docs/onboarding.md shows eta's and zeta's mapping files whole: they must be the
    files the gateway runs (tests/test_worked_examples.py checks what they give)."""
    guide = (REPO / "docs/onboarding.md").read_text()
    blocks = re.findall(r"<!-- example: (\S+) -->\n```\w+\n(.*?)```", guide, re.DOTALL)
    assert [path for path, _ in blocks] == [
        "adapters/eta/eta-shipment.toml",
        "adapters/zeta/zeta-manifest.toml",
    ]
    for path, body in blocks:
        assert body == (REPO / path).read_text(encoding="utf-8"), path


def test_the_guides_minimal_python_adapter_works(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guide's minimal Python adapter, written into a scratch checkout, is found and
    translates; a bad weight is its item's value_invalid at the weight's path."""
    guide = (REPO / "docs/onboarding.md").read_text()
    (code,) = re.findall(r"## Python adapters.*?```python\n(.*?)```", guide, re.DOTALL)
    (checkout / "adapters/kappa").mkdir()
    (checkout / "adapters/kappa/__init__.py").write_text(code)
    (checkout / "fixtures/kappa").mkdir()
    (checkout / "fixtures/kappa/pairs.json").write_text(
        '{"ref": "K-1", "pairs": [["CP471820937GB", 1250], ["EE305614281GB", "heavy"]]}'
    )
    result, _, err = aedgw(capsys, "adapters", "expect", "kappa", "pairs", "--root", checkout)
    assert result == 0, err
    expected = orjson.loads((checkout / "fixtures/kappa/pairs.expected.json").read_bytes())
    translation = expected["translation"]
    assert translation["source_format"] == "kappa-list/1"
    # item 0 has only an id and a weight: the canonical rules want the rest
    assert {e["code"] for e in translation["errors"] if e["index"] == 0} == {"required_missing"}
    [error] = [e for e in translation["errors"] if e["index"] == 1]
    assert (error["code"], error["path"]) == ("value_invalid", "/pairs/1/1")
    adapter = registry_for(checkout).get("kappa-list", "1")
    doc = parse((checkout / "fixtures/kappa/pairs.json").read_bytes(), "application/json")
    first = next(iter(adapter.translate(doc)))
    assert first.gross_weight_kg == Decimal("1.250") and first.path_of("item_id") == "/pairs/0/0"


# --- every error, one line for a person's mistake (issues 8 and 11) -----------------------------


def test_translate_verbose_lists_every_error_of_every_item(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = aedgw(
        capsys, "translate", "--operator", "eta", "-v", FIXTURES / "eta/one-bad-item.xml"
    )
    assert code == 0
    receipt = orjson.loads(out)["translation"]
    assert [e["path"] for e in receipt["errors"]] == [
        "/shipment/item[2]/@weight-g",  # its first error; the message counts the others
        "/shipment/item[3]",
    ]
    assert [line for line in err.splitlines() if line.startswith("item ")] == [
        "item 1 RB314159271FI at /shipment/item[2]/@weight-g: value_invalid: "
        "'heavy' is not a decimal number with a decimal point",
        "item 1 RB314159271FI at /shipment/item[2]/@value: value_invalid: "
        "'12.50' is not a decimal number with a decimal comma",
        "item 2 EE700011149FI at /shipment/item[3]: required_missing: "
        "category_explanation is required (OTHER)",
    ]


@pytest.mark.parametrize(
    ("operator", "file", "message"),
    [
        ("ALPHA", "alpha/v11-batch-3.xml", "operator codes are lower case: 'alpha', not 'ALPHA'"),
        ("kappa", "alpha/v11-batch-3.xml", "no adapter is written for operator 'kappa'; known: "),
        ("alpha", "alpha/nothing-here.xml", "nothing-here.xml: No such file or directory"),
        ("alpha", "alpha/README.md", "give --content-type"),
    ],
)
def test_translate_answers_a_mistake_with_one_line(
    capsys: pytest.CaptureFixture[str], operator: str, file: str, message: str
) -> None:
    code, out, err = aedgw(capsys, "translate", "--operator", operator, FIXTURES / file)
    assert code == 2 and out == ""
    assert err.startswith("aedgw: ") and err.count("\n") == 1
    assert message in err


def test_translate_with_a_mapping_that_does_not_load_is_one_line(
    checkout: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The installed adapters are the package's; a broken one is played by a real broken
    mapping file loaded the way the registry loads the package's."""
    from adapters.registry import Registry, package_adapters
    from gateway.cli import translate

    assert aedgw(capsys, "adapters", "new", "kappa", "--format", "json", "--root", checkout)[0] == 0
    mapping = checkout / "adapters/kappa/kappa-json.toml"
    mapping.write_text(mapping.read_text().replace('unit = "kg" }', 'unitt = "kg" }', 1))
    monkeypatch.setattr(
        translate, "default_registry", lambda: Registry(package_adapters(checkout / "adapters"))
    )
    code, _, err = aedgw(capsys, "translate", "--operator", "kappa", SAMPLES["json"])
    assert code == 2 and "Traceback" not in err
    assert err.startswith("aedgw: ") and "item.gross_weight_kg.unitt: not a parameter" in err


def test_lint_reads_through_a_python_adapter_or_says_what_it_cannot_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrappers = {
        "wrapped": WRAPPER,
        "opaque": WRAPPER.replace("self.mapping", "self.inner"),  # no mapping it exposes
    }
    found = {}
    for name, wrapper in wrappers.items():
        checkout = tmp_path / name
        for folder in ("adapters", "xsd", "fixtures", "tests"):
            (checkout / folder).mkdir(parents=True)
        mapping = scaffold_with_codes(checkout, capsys)
        mapping.rename(mapping.with_name("_kappa-json.toml"))
        (mapping.parent / "__init__.py").write_text(wrapper)
        found[name] = aedgw(
            capsys, "adapters", "lint", "kappa", SAMPLES["json"], "--root", checkout
        )
    code, out, err = found["wrapped"]
    assert code == 1, "the skeleton's TODO paths are findings"
    assert "adapters/kappa/_kappa-json.toml: item.pieces: path 'TODO'" in out
    assert "Python code around adapters/kappa/_kappa-json.toml" in err
    code, out, err = found["opaque"]
    assert code == 0 and out == ""
    assert "is Python code with no mapping: lint checks mapped paths only" in err
