"""The mapping engine on small inline documents (XML, JSON, NDJSON), its load-time checks,
lint, the alpha mappings, and the adapter registry."""

from __future__ import annotations

import hashlib
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.mapping import Mapping, MappingError
from adapters.registry import (
    Registry,
    RegistryError,
    adapters_in,
    default_registry,
    package_adapters,
)
from gateway.canonical import CanonicalItem, Category, Function, MailClass, Money, item_to_dict
from gateway.codes import ItemCode, MessageCode
from gateway.contract import Adapter, ItemError, MessageRejected
from gateway.document import parse
from gateway.ingest.receive import dry_run
from gateway.schemas import SchemaInvalid


def mapping(tmp_path: Path, text: str, name: str = "m.toml") -> Mapping:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return Mapping.load(str(path))


def translate(m: Mapping, raw: str, content_type: str, **headers: str) -> list:
    return list(m.translate(parse(raw.encode(), content_type, headers)))


# --- XML ----------------------------------------------------------------------------------

XML_MAPPING = """
    operator = "test"
    format = "test-xml"
    version = "1"
    kind = "xml"

    [namespaces]
    t = "urn:test"

    [detect]
    root = "t:Batch"

    [message_ref]
    path = "@ref"

    [items]
    path = "t:Item"

    [item]
    item_id = "t:Id"
    mail_class = { path = "t:Class", codes = "class" }
    category = "t:Category"
    posted_at = "t:Posted"
    gross_weight_kg = { path = "t:Weight", unit_path = "t:Weight/@unit" }
    total_value = { sum = "t:Line/t:Value", currency_path = "t:Line/t:Value/@currency" }
    origin_country = { first = ["t:Origin", "t:From/t:Country"] }
    destination_country = { const = "US" }

    [sender]
    path = "t:From"

    [addressee]
    path = "t:To"

    [party]
    name = "t:Name"
    address.lines = "t:Line"
    address.house_number = { join = ["t:No", "t:NoAddition"] }
    address.country = "t:Country"
    phone = { path = "t:Phone", convert = "phone" }

    [contents]
    path = "t:Line"
    description = "t:Text"
    quantity = "t:Qty"
    net_weight_kg = { path = "t:UnitGrams", unit = "g", times = "t:Qty" }
    value = { path = "t:Value", currency_path = "t:Value/@currency" }
    hs_code = "t:HS"

    [documents]
    path = "t:Invoice"
    type = { const = "INVOICE" }
    number = "@no"

    [codes.class]
    P = "PARCEL"
    L = "LETTER"
"""

XML_DOC = """<Batch xmlns="urn:test" ref=" B-1 ">
<Item><Id>CP471820937GB</Id><Class>P</Class><Category>GIFT</Category>
  <Posted>2026-11-28T09:15:00+01:00</Posted><Weight unit="g">1250</Weight>
  <From><Name>Eleanor</Name><Line>12 Brick Lane</Line><Line>Flat 3</Line><No>12</No>
    <NoAddition>B</NoAddition><Country>GB</Country><Phone>020 7946 0958</Phone></From>
  <To><Name>Dan</Name><No>350</No><NoAddition/><Country>US</Country><Phone>12</Phone></To>
  <Line><Text>Shirt</Text><Qty>3</Qty><UnitGrams>200</UnitGrams><Value currency="GBP">45.00</Value>
    <HS>6109.10</HS></Line>
  <Line><Text>Socks</Text><Qty>2</Qty><UnitGrams>50</UnitGrams>
    <Value currency="GBP">5.5</Value></Line>
  <Invoice no="INV-1"/>
</Item>
<Item><Id>EE305614281GB</Id><Class>X</Class><Category>GIFT</Category><Weight unit="kg">0.9</Weight>
  <From><Name>M</Name><Country>GB</Country></From><To><Name>N</Name><Country>DE</Country></To></Item>
<Item><Id>RR629047155GB</Id><Class>L</Class><Category>GIFT</Category><Weight unit="st">1</Weight>
  <From><Name>M</Name><Country>GB</Country></From><To><Name>N</Name><Country>DE</Country></To></Item>
</Batch>"""


@pytest.fixture
def xml_mapping(tmp_path: Path) -> Mapping:
    return mapping(tmp_path, XML_MAPPING)


def test_xml_detect_and_message_ref(xml_mapping: Mapping) -> None:
    doc = parse(XML_DOC.encode(), "application/xml")
    assert isinstance(xml_mapping, Adapter)
    assert xml_mapping.detect(doc)
    assert xml_mapping.message_ref(doc) == "B-1"
    other = parse(b'<Batch xmlns="urn:other"/>', "application/xml")
    assert not xml_mapping.detect(other)
    assert not xml_mapping.detect(parse(b"{}", "application/json"))


def test_xml_item_values_and_paths(xml_mapping: Mapping) -> None:
    first, second, third = translate(xml_mapping, XML_DOC, "application/xml")
    assert isinstance(first, CanonicalItem)
    assert first.item_id == "CP471820937GB"
    assert first.source_path == "/Batch/Item[1]"
    assert first.mail_class is MailClass.PARCEL
    assert first.category is Category.GIFT  # an enum field without codes takes the value
    assert item_to_dict(first)["posted_at"] == "2026-11-28T08:15:00Z"
    assert first.gross_weight_kg == Decimal("1.250")
    assert first.total_value == Money(Decimal("50.50"), "GBP")  # 45.00 + 5.5
    assert first.origin_country == "GB"  # first: no t:Origin, so From/Country
    assert first.destination_country == "US"  # const
    sender = first.sender
    assert sender.name == "Eleanor"
    assert sender.address.lines == ["12 Brick Lane", "Flat 3"]
    assert sender.address.house_number == "12 B"
    assert sender.phone == "+442079460958"
    assert first.addressee.address.house_number == "350"  # empty addition dropped
    assert first.addressee.phone == "12"  # unreadable: kept as sent for the rules to flag
    line1, line2 = first.contents
    assert (line1.line_no, line1.description, line1.quantity) == (1, "Shirt", Decimal(3))
    assert line1.net_weight_kg == Decimal("0.600")  # 200 g x 3
    assert line1.value == Money(Decimal("45.00"), "GBP")
    assert line1.hs_code == "610910"
    assert line2.hs_code is None
    assert [(d.type, d.number) for d in first.documents] == [("INVOICE", "INV-1")]
    paths = first.field_paths
    assert paths["item_id"] == "/Batch/Item[1]/Id"
    assert paths["gross_weight_kg"] == "/Batch/Item[1]/Weight"
    assert paths["total_value"] == "/Batch/Item[1]"  # a sum is computed from the item
    assert paths["total_value.currency"] == "/Batch/Item[1]/Line[1]/Value/@currency"
    assert paths["origin_country"] == "/Batch/Item[1]/From/Country"
    assert paths["sender.address.lines[2]"] == "/Batch/Item[1]/From/Line[2]"
    assert paths["contents[2].value"] == "/Batch/Item[1]/Line[2]/Value"
    assert paths["contents[2].value.currency"] == "/Batch/Item[1]/Line[2]/Value/@currency"
    assert paths["contents[2].hs_code"] == "/Batch/Item[1]/Line[2]"  # missing: its line
    assert paths["documents[1].number"] == "/Batch/Item[1]/Invoice[1]/@no"  # list entry
    assert "destination_country" not in paths  # a constant has no source
    assert isinstance(second, ItemError)
    assert (second.index, second.item_id) == (1, "EE305614281GB")
    assert second.code is ItemCode.CODE_UNKNOWN
    assert second.path == "/Batch/Item[2]/Class"
    assert "'X'" in second.message and "P, L" in second.message
    assert isinstance(third, ItemError)
    assert (third.index, third.code) == (2, ItemCode.VALUE_INVALID)
    assert third.path == "/Batch/Item[3]/Weight/@unit"


def test_xml_single_item_and_single_line_are_still_indexed(xml_mapping: Mapping) -> None:
    doc = """<Batch xmlns="urn:test" ref="B-2"><Item><Id>A</Id><From><Name>x</Name></From>
    <Line><Text>t</Text></Line></Item></Batch>"""
    (item,) = translate(xml_mapping, doc, "application/xml")
    assert item.source_path == "/Batch/Item[1]"
    assert item.field_paths["contents[1].description"] == "/Batch/Item[1]/Line[1]/Text"
    assert item.field_paths["sender.name"] == "/Batch/Item[1]/From/Name"
    assert item.path_of("addressee.name") == "/Batch/Item[1]"  # no To: the item


def test_sum_in_mixed_currencies_is_refused(xml_mapping: Mapping) -> None:
    doc = """<Batch xmlns="urn:test" ref="B-3"><Item><Id>A</Id>
    <Line><Value currency="GBP">1</Value></Line><Line><Value currency="EUR">2</Value></Line>
    </Item></Batch>"""
    (error,) = translate(xml_mapping, doc, "application/xml")
    assert isinstance(error, ItemError)
    assert error.code is ItemCode.VALUE_INVALID
    assert error.path == "/Batch/Item[1]/Line[2]/Value/@currency"


# --- JSON ---------------------------------------------------------------------------------

JSON_MAPPING = """
    operator = "test"
    format = "test-json"
    version = "2"
    kind = "json"

    [detect]
    has = ["/batchNo", "/parcels"]
    equals = { "/version" = 2 }

    [message_ref]
    path = "/batchNo"

    [items]
    path = "/parcels"

    [item]
    item_id = "trackingNo"
    posted_at = "/sentAt"
    gross_weight_kg = { path = "weightG", unit = "g" }
    function = "function"
    revision = "revision"

    [item.total_value]  # a field as a table of its own: same as { path = ..., ... }
    path = "declared/amount"
    currency_path = "declared/currency"
    minor_units = true

    [sender]
    path = "shipper"

    [party]
    name = { first = ["nameLatin", "name"] }
    name_original = { path = "name", only_non_latin = true }
    address.lines = ["addr1", "addr2"]

    [party.tax_ids]
    path = "taxId"
    scheme = { path = ".", remove = ".-/", patterns = "tax" }
    value = { path = ".", remove = ".-/" }

    [contents]
    path = "goods"
    quantity = "qty"
    net_weight_kg = { path = "unitWeightG", unit = "g", times = "qty" }
    value = { path = "unitValue", currency_path = "../../declared/currency", times = "qty" }

    [transport]
    flight = "flightNo"
    departure_at = "etd"

    [patterns.tax]
    CPF = '\\d{11}'
    CNPJ = '\\d{14}'
"""

JSON_DOC = """{"batchNo": "GP-1", "version": 2, "sentAt": "2026-11-28T17:02:11+08:00", "parcels": [
 {"trackingNo": "EA281100112CN", "weightG": 850, "declared": {"amount": 12000, "currency": "CNY"},
  "function": "UPDATE", "revision": 3,
  "shipper": {"name": "张伟", "nameLatin": "Zhang Wei", "addr1": "Room 1502", "addr2": "",
              "taxId": "111.444.777-35"},
  "goods": [{"qty": 2, "unitWeightG": 150, "unitValue": 4500},
            {"qty": 1, "unitWeightG": 300, "unitValue": 3000}],
  "flightNo": "MU583", "etd": "2026-11-29T13:20:00+08:00"},
 {"trackingNo": "EA281100126CN", "weightG": 100, "shipper": {"name": "Chen Jie", "taxId": "123"}},
 {"trackingNo": "EA281100130CN", "weightG": "heavy", "shipper": {"name": "Li"}}
]}"""


def test_json_items(tmp_path: Path) -> None:
    m = mapping(tmp_path, JSON_MAPPING)
    doc = parse(JSON_DOC.encode(), "application/json")
    assert m.detect(doc)
    assert m.message_ref(doc) == "GP-1"
    assert not m.detect(parse(b'{"batchNo": "x", "parcels": [], "version": 1}', "application/json"))
    first, second, third = m.translate(doc)
    assert isinstance(first, CanonicalItem)
    wire = item_to_dict(first)
    assert wire["posted_at"] == "2026-11-28T09:02:11Z"
    assert wire["gross_weight_kg"] == "0.850"
    assert wire["total_value"] == {"amount": "120.00", "currency": "CNY"}
    assert (first.function, first.revision) == (Function.UPDATE, 3)
    assert (first.sender.name, first.sender.name_original) == ("Zhang Wei", "张伟")
    assert first.sender.address.lines == ["Room 1502"]
    assert [(t.scheme, t.value) for t in first.sender.tax_ids] == [("CPF", "11144477735")]
    assert [item_to_dict(first)["contents"][i]["value"]["amount"] for i in (0, 1)] == [
        "9000.00",
        "3000.00",  # no minor_units on lines here: 4500 x 2, 3000 x 1
    ]
    assert first.contents[0].net_weight_kg == Decimal("0.300")
    assert first.transport is not None and first.transport.flight == "MU583"
    assert first.source_path == "/parcels/0"
    paths = first.field_paths
    assert paths["item_id"] == "/parcels/0/trackingNo"
    assert paths["posted_at"] == "/sentAt"
    assert paths["total_value.currency"] == "/parcels/0/declared/currency"
    assert paths["contents"] == "/parcels/0/goods"
    assert paths["contents[2].value"] == "/parcels/0/goods/1/unitValue"
    assert paths["contents[2].value.currency"] == "/parcels/0/declared/currency"
    assert paths["sender.address.lines[1]"] == "/parcels/0/shipper/addr1"
    assert paths["sender.tax_ids[1].value"] == "/parcels/0/shipper/taxId"
    assert isinstance(second, ItemError)
    assert (second.index, second.code, second.path) == (
        1,
        ItemCode.VALUE_INVALID,
        "/parcels/1/shipper/taxId",
    )
    assert isinstance(third, ItemError)
    assert (third.code, third.path) == (ItemCode.VALUE_INVALID, "/parcels/2/weightG")


# --- NDJSON -------------------------------------------------------------------------------

NDJSON_MAPPING = """
    operator = "test"
    format = "test-ndjson"
    version = "1"
    kind = "ndjson"

    [detect]
    equals = { "/type" = "header" }

    [message_ref]
    path = "/file_id"

    [items]
    header = true
    where = { type = "item" }
    count = "/item_count"

    [item]
    item_id = "item_id"
    gross_weight_kg = { path = "gross_weight_kg", decimal_comma = true }
    total_value = { sum = "lines/*/value", currency_path = "currency", decimal_comma = true }
    category = { path = "category", codes = "category" }

    [contents]
    path = "lines"
    value = { path = "value", currency_path = "../../currency", decimal_comma = true }

    [codes.category]
    presente = "GIFT"
    "devolução" = "RETURNED_GOODS"
"""


def ndjson(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def test_ndjson_items_and_paths(tmp_path: Path) -> None:
    m = mapping(tmp_path, NDJSON_MAPPING)
    raw = ndjson(
        '{"type": "header", "file_id": "DC-1", "item_count": 2}',
        '{"type": "item", "item_id": "A", "gross_weight_kg": "1,250", "currency": "BRL",'
        ' "category": "devolução", "lines": [{"value": "25,50"}, {"value": "4,50"}]}',
        "",
        '{"type": "item", "item_id": "B", "gross_weight_kg": "1.250", "currency": "BRL"}',
    )
    doc = parse(raw.encode(), "application/x-ndjson")
    assert m.detect(doc)
    assert m.message_ref(doc) == "DC-1"
    first, second = m.translate(doc)
    assert first.source_path == "line 2"
    assert first.category is Category.RETURNED_GOODS
    assert first.gross_weight_kg == Decimal("1.250")
    assert first.total_value == Money(Decimal("30.00"), "BRL")
    assert first.field_paths["total_value"] == "line 2 /lines"
    assert first.field_paths["contents"] == "line 2 /lines"
    assert first.field_paths["contents[2].value"] == "line 2 /lines/1/value"
    assert first.field_paths["contents[2].value.currency"] == "line 2 /currency"
    assert isinstance(second, ItemError)
    assert (second.index, second.code, second.path) == (
        1,
        ItemCode.VALUE_INVALID,
        "line 4 /gross_weight_kg",
    )


@pytest.mark.parametrize("declared", [1, 3])
def test_ndjson_item_count_mismatch_rejects_the_message(tmp_path: Path, declared: int) -> None:
    m = mapping(tmp_path, NDJSON_MAPPING)
    raw = ndjson(
        f'{{"type": "header", "file_id": "DC-2", "item_count": {declared}}}',
        '{"type": "item", "item_id": "A"}',
        '{"type": "item", "item_id": "B"}',
    )
    with pytest.raises(MessageRejected) as caught:
        list(m.translate(parse(raw.encode(), "application/x-ndjson")))
    assert caught.value.code is MessageCode.ITEM_COUNT_MISMATCH
    assert caught.value.details == [{"path": "line 1 /item_count"}]


def test_ndjson_line_that_is_no_item_breaks_the_file(tmp_path: Path) -> None:
    m = mapping(tmp_path, NDJSON_MAPPING)
    raw = ndjson(
        '{"type": "header", "file_id": "DC-3", "item_count": 1}',
        '{"type": "header", "file_id": "DC-4", "item_count": 1}',
    )
    with pytest.raises(SchemaInvalid) as caught:
        list(m.translate(parse(raw.encode(), "application/x-ndjson")))
    assert caught.value.details[0]["path"] == "line 2 /type"


def test_message_ref_from_header_then_sha256(tmp_path: Path) -> None:
    m = mapping(
        tmp_path,
        XML_MAPPING.replace('path = "@ref"', 'header = "X-Message-Ref"\n    fallback = "sha256"'),
    )
    body = b'<Batch xmlns="urn:test"/>'
    assert m.message_ref(parse(body, "application/xml", {"x-message-ref": " R-9 "})) == "R-9"
    assert m.message_ref(parse(body, "application/xml")) == hashlib.sha256(body).hexdigest()


# --- extends, lint, load errors -----------------------------------------------------------


def test_extends_merges_tables_and_lint_names_the_defining_file(tmp_path: Path) -> None:
    base = XML_MAPPING.replace('version = "1"\n', "")
    (tmp_path / "_base.toml").write_text(textwrap.dedent(base), encoding="utf-8")
    m = mapping(
        tmp_path,
        """
        extends = "_base.toml"
        version = "2"
        [party]
        email = "t:Mail"
    """,
    )
    assert (m.format, m.version) == ("test-xml", "2")
    findings = m.lint(parse(XML_DOC.encode(), "application/xml"))
    found = {(f.file.rpartition("/")[2], f.key, f.path) for f in findings}
    assert ("m.toml", "party.email", "t:Mail") in found
    assert ("_base.toml", "item.posted_at", "t:Posted") not in found
    assert ("_base.toml", "item.origin_country", "t:Origin") in found
    assert "never matches" in str(findings[0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[item]\n", '[item]\ncolour = "t:Colour"\n'), "item.colour: unknown key"),
        (
            ('hs_code = "t:HS"', 'hs_code = { path = "t:HS", convert = "roman" }'),
            "contents.hs_code.convert: 'roman' is not a conversion",
        ),
        (('unit = "g"', 'unit = "g", unitt = "kg"'), "contents.net_weight_kg.unitt"),
        (('P = "PARCEL"', 'P = "PACKAGE"'), "codes.class.P: 'PACKAGE' is not a canonical"),
        (('"t:Id"', '"q:Id"'), "item.item_id: XPath 'q:Id'"),
        (('codes = "class"', 'codes = "klass"'), "item.mail_class.codes: no code list"),
        (('unit = "g"', 'unit = "stone"'), "contents.net_weight_kg.unit"),
        (("[party]\n", '[party]\ncity = "t:City"\n'), "party.city: unknown"),
        (('root = "t:Batch"', 'root = "x:Batch"'), "detect.root"),
    ],
)
def test_load_errors_name_file_and_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in XML_MAPPING
    with pytest.raises(MappingError) as caught:
        mapping(tmp_path, XML_MAPPING.replace(old, new, 1))
    assert str(caught.value).startswith(str(tmp_path / "m.toml"))
    assert message in str(caught.value)


# --- alpha --------------------------------------------------------------------------------


def alpha_doc(version: str, party: str) -> str:
    return f"""<ITMATT xmlns="urn:alphapost:itmatt:{version}"><Header>
<MessageRef>A-{version}</MessageRef>
<SenderOperator>GBALPA</SenderOperator><RecipientOperator>USA</RecipientOperator>
<Created>2026-11-28T09:00:00Z</Created></Header><Items><Item><ItemId>CP471820937GB</ItemId>
<MailClass>E</MailClass><Category>91</Category><CategoryText>Spare part</CategoryText>
<PostingDate>2026-11-28T09:15:00+01:00</PostingDate><Sender>{party}</Sender>
<Addressee>{party}</Addressee><GrossWeight unit="g">230</GrossWeight>
<TotalValue currency="JPY">3050</TotalValue><Contents><Line><No>7</No>
<Description>Gear</Description>
<Quantity>2</Quantity><NetWeight unit="kg">0.2</NetWeight><Value currency="JPY">3050</Value>
<HSCode>8483.40</HSCode><Origin>JP</Origin></Line></Contents>
<Transport><DispatchId>D1</DispatchId><ReceptacleId>R1</ReceptacleId><Flight>BA0117</Flight>
<Departure>2026-11-28T18:40:00Z</Departure></Transport></Item></Items></ITMATT>"""


def test_alpha_versions_side_by_side() -> None:
    registry = default_registry()
    v11, v8 = registry.get("alpha-itmatt", "11"), registry.get("alpha-itmatt", "8")
    doc11 = parse(
        alpha_doc(
            "11",
            "<Name>Ann</Name><Business>B Ltd</Business><Street>Brick Lane"
            "</Street><HouseNumber>12 B</HouseNumber><City>London</City><State>"
            "Greater London</State><Postcode>E1</Postcode><Country>GB</Country>"
            '<TaxId scheme="EORI">GB1</TaxId>',
        ).encode(),
        "application/xml",
    )
    doc8 = parse(
        alpha_doc(
            "8",
            "<Name>Ann</Name><AddressLine>12 B Brick Lane</AddressLine>"
            "<AddressLine>Shoreditch</AddressLine><Postcode>E1</Postcode>"
            "<City>London</City><Country>GB</Country>",
        ).encode(),
        "application/xml",
    )
    assert v11.detect(doc11) and not v11.detect(doc8)
    assert v8.detect(doc8) and not v8.detect(doc11)
    assert (v11.schema, v8.schema) == ("alpha-itmatt-11.xsd", "alpha-itmatt-8.xsd")
    (item11,) = v11.translate(doc11)
    (item8,) = v8.translate(doc8)
    wire = item_to_dict(item11)
    assert (wire["mail_class"], wire["category"], wire["category_explanation"]) == (
        "EMS",
        "OTHER",
        "Spare part",
    )
    assert wire["gross_weight_kg"] == "0.230"
    assert wire["total_value"] == {"amount": "3050", "currency": "JPY"}
    assert (wire["origin_country"], wire["destination_country"]) == ("GB", "GB")
    assert wire["contents"][0]["line_no"] == 7
    assert wire["contents"][0]["hs_code"] == "848340"
    assert wire["transport"]["departure_at"] == "2026-11-28T18:40:00Z"
    address = wire["sender"]["address"]
    assert address["lines"] == [] and address["street"] == "Brick Lane"
    assert (address["house_number"], address["region"]) == ("12 B", "Greater London")
    assert wire["sender"]["business_name"] == "B Ltd"
    assert wire["sender"]["tax_ids"] == [{"scheme": "EORI", "value": "GB1"}]
    party8 = item_to_dict(item8)["sender"]
    assert party8["address"]["lines"] == ["12 B Brick Lane", "Shoreditch"]
    assert party8["address"]["street"] is None and party8["tax_ids"] == []
    assert item8.field_paths["sender.address.lines[2]"] == (
        "/ITMATT/Items/Item[1]/Sender/AddressLine[2]"
    )


# --- registry -----------------------------------------------------------------------------


def test_default_registry_has_alpha() -> None:
    registry = default_registry()
    assert {"alpha-itmatt"} <= set(registry.formats())
    assert "alpha-itmatt" in registry.formats_of("alpha")
    candidates = registry.candidates(["alpha-itmatt"], parse(b"<x/>", "application/xml").kind)
    assert {a.version for a in candidates} == {"8", "11"}
    assert registry.candidates(["alpha-itmatt"], parse(b"{}", "application/json").kind) == []
    with pytest.raises(KeyError):
        registry.get("alpha-itmatt", "9")


def write_operator(root: Path, operator: str, files: dict[str, str]) -> None:
    folder = root / operator
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")


def test_package_discovery_skips_shared_parts(tmp_path: Path) -> None:
    write_operator(
        tmp_path,
        "zeta",
        {
            "_base.toml": XML_MAPPING.replace('version = "1"\n', "").replace("test", "zeta"),
            "v1.toml": 'extends = "_base.toml"\nversion = "1"\n',
            "v2.toml": 'extends = "_base.toml"\nversion = "2"\n',
            "notes.md": "not a mapping",
        },
    )
    registry = Registry(package_adapters(tmp_path))
    assert [(a.format, a.version) for a in registry.adapters()] == [
        ("zeta-xml", "1"),
        ("zeta-xml", "2"),
    ]
    assert registry.formats_of("zeta") == ["zeta-xml"]
    assert registry.formats_of("nobody") == []


def test_duplicate_format_version_names_both_sources(tmp_path: Path) -> None:
    write_operator(tmp_path, "one", {"a.toml": XML_MAPPING})
    write_operator(tmp_path, "two", {"b.toml": XML_MAPPING})
    with pytest.raises(RegistryError) as caught:
        Registry(package_adapters(tmp_path))
    assert "one/a.toml" in str(caught.value) and "two/b.toml" in str(caught.value)


class PythonAdapter:
    """A hand-written adapter, as an operator package or an entry point would declare it."""

    operator = "test"
    format = "test-python"
    version = "1"
    kind = parse(b"<x/>", "application/xml").kind
    schema = None

    def detect(self, doc: object) -> bool:
        return False

    def message_ref(self, doc: object) -> str | None:
        return None

    def translate(self, doc: object) -> list:
        return []


def test_entry_point_objects_may_be_adapters_classes_factories_or_iterables(
    tmp_path: Path,
) -> None:
    m = mapping(tmp_path, XML_MAPPING)
    found = list(adapters_in([PythonAdapter, lambda: [m]]))
    assert [(a.format, a.version) for a in found] == [("test-python", "1"), ("test-xml", "1")]
    assert list(adapters_in(m)) == [m]
    with pytest.raises(RegistryError):
        list(adapters_in("not an adapter"))


def test_general_xpath_gives_the_same_paths_as_child_steps(tmp_path: Path) -> None:
    m = mapping(
        tmp_path,
        XML_MAPPING.replace('description = "t:Text"', 'description = "t:Text[not(@lang)]"'),
    )
    doc = """<Batch xmlns="urn:test" ref="B-4"><Item><Id>A</Id>
    <Line><Text>t</Text></Line></Item></Batch>"""
    (item,) = translate(m, doc, "application/xml")
    assert item.contents[0].description == "t"
    assert item.field_paths["contents[1].description"] == "/Batch/Item[1]/Line[1]/Text"


def test_json_object_where_a_value_belongs_is_an_item_error(tmp_path: Path) -> None:
    m = mapping(tmp_path, JSON_MAPPING)
    doc = '{"batchNo": "GP-2", "version": 2, "parcels": [{"trackingNo": {"no": 1}}]}'
    (error,) = translate(m, doc, "application/json")
    assert isinstance(error, ItemError)
    assert (error.code, error.path) == (ItemCode.VALUE_INVALID, "/parcels/0/trackingNo")


BETA_ONE_LINE = """<Items><Item><ItemId>CP261101017ES</ItemId><TotalWeight>1.25</TotalWeight>
<MailClass>C</MailClass><Gift>true</Gift><OriginCountry>ES</OriginCountry>
<ContentPiece><HSCode>610910</HSCode><Weight>0.45</Weight><NumberOfPieces>3</NumberOfPieces>
<Value>45.00</Value><Currency>ZZZ</Currency><OriginCountry>PT</OriginCountry>
<Description>Cotton T-shirts</Description></ContentPiece>
<ReceiverAddress><Name>Emily Carter</Name><Street>Maple Avenue</Street><City>Hoboken</City>
<Country>US</Country></ReceiverAddress><SenderAddress><Name>Jose Munoz</Name>
<StreetAndNumber>Carrer de Mallorca 401</StreetAndNumber><City>Barcelona</City>
<Country>ES</Country></SenderAddress></Item></Items>"""


def test_a_list_entry_is_indexed_whatever_reads_it_first() -> None:
    """beta's total_value sums ContentPiece/Value at the item, before the content lines are
    read: a single line is still named ContentPiece[1], by the sum's currency too."""
    beta = default_registry().get("beta-items", "1")
    result = dry_run(
        BETA_ONE_LINE.encode(),
        "application/xml",
        [beta],
        operator="beta",
        headers={"X-Message-Ref": "B-ZZZ"},
    )
    errors = result["translation"]["errors"]
    assert len(errors) == 2  # total_value.currency and contents[1].value.currency
    assert {(e["code"], e["path"]) for e in errors} == {
        ("currency_unknown", "/Items/Item[1]/ContentPiece[1]/Currency")
    }
    (item,) = beta.translate(parse(BETA_ONE_LINE.encode(), "application/xml"))
    assert item.field_paths["total_value.currency"] == "/Items/Item[1]/ContentPiece[1]/Currency"
    assert item.field_paths["contents[1].value.currency"] == (
        "/Items/Item[1]/ContentPiece[1]/Currency"
    )


def test_ndjson_lines_are_checked_as_jsonschema_would() -> None:
    """Lines are validated by a compiled validator; a whole number written with a fraction
    ("quantity": 2.0) is still refused where the schema wants an integer, at its pointer."""
    delta = default_registry().get("delta-ndjson", "1")
    raw = ndjson(
        '{"type": "header", "file_id": "DC-9", "item_count": 2, "created": "2026-11-28"}',
        '{"type": "item", "item_id": "CP610010012BR", "lines": [{"quantity": 2}]}',
        '{"type": "item", "item_id": "RB610010026BR", "lines": [{"quantity": 2.0}]}',
    )
    with pytest.raises(SchemaInvalid) as caught:
        list(delta.translate(parse(raw.encode(), "application/x-ndjson")))
    assert [d["path"] for d in caught.value.details] == ["line 3 /lines/0/quantity"]


def test_an_object_where_a_message_value_belongs_is_no_value(tmp_path: Path) -> None:
    """Detection, the message reference and the item count are read before any schema
    check of an NDJSON file: an object there refuses the message instead of crashing."""
    m = mapping(tmp_path, NDJSON_MAPPING)
    assert not m.detect(
        parse(ndjson('{"type": {"is": "header"}}').encode(), "application/x-ndjson")
    )
    doc = parse(
        ndjson('{"type": "header", "file_id": {"id": 1}, "item_count": {"n": 1}}').encode(),
        "application/x-ndjson",
    )
    assert m.message_ref(doc) is None
    with pytest.raises(MessageRejected) as caught:
        list(m.translate(doc))
    assert caught.value.code is MessageCode.ITEM_COUNT_MISMATCH
    assert caught.value.details == [{"path": "line 1 /item_count"}]


def test_adapters_and_renderers_are_found_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One discovery (adapters.plugins): what an operator package declares, named by
    where it was found, folders starting with "_" or "." skipped."""
    from adapters import plugins

    package = tmp_path / "pluginpkg"
    for folder in ("kappa", "_shared", "lambda"):
        (package / folder).mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "kappa" / "__init__.py").write_text("ADAPTERS = ['an adapter']\n")
    (package / "kappa" / "decisions.py").write_text("RENDERERS = ['a renderer']\n")
    (package / "_shared" / "__init__.py").write_text("ADAPTERS = ['never']\n")
    (package / "lambda" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert list(plugins.declared(package, "", "ADAPTERS")) == [
        (["an adapter"], "pluginpkg.kappa.ADAPTERS")
    ]
    assert list(plugins.declared(package, "decisions", "RENDERERS")) == [
        (["a renderer"], "pluginpkg.kappa.decisions.RENDERERS")
    ]
