"""The C pick (adapters/mapping/_pick.c) reads exactly what its Python reference reads.

The compiled XML readers take every value through ``pick``; a difference between the
two would change canonical records only where the extension was built, so they are
compared on every element of the XML fixtures and on generated trees (namespaces, blank
and Unicode-space texts, CDATA, repeated and missing children, attributes).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from adapters.mapping import pick as picking
from adapters.mapping.pick import ALL, ATTR, NODE, TEXT, entry, pick_in_python

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NAMES = ["a", "{urn:x}a", "{urn:x}b", "b", "{urn:y}a"]
ATTRS = ["k", "{urn:x}k", "m"]


def _c_pick():
    try:
        from adapters.mapping._pick import pick
    except ImportError:  # pragma: no cover - the failure this test exists for
        pytest.fail("adapters/mapping/_pick.c was not built (pip install -e . needs a C compiler)")
    return pick


def _spec(tags: list[str], attrs: list[str]) -> tuple[picking.Entry, ...]:
    spec = [entry(tag, mode) for tag in tags for mode in (NODE, TEXT, ALL)]
    spec += [entry(tag, ATTR, attr) for tag in tags for attr in attrs]
    return tuple(spec)


def _same(a: tuple, b: tuple) -> None:
    """Equal values; elements compared by identity of the libxml2 node (lxml hands out
    the same proxy for a node while one is alive)."""
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        if isinstance(x, list):
            assert isinstance(y, list) and len(x) == len(y)
            assert all(p is q for p, q in zip(x, y, strict=True))
        elif isinstance(x, etree._Element):
            assert x is y
        else:
            assert x == y and type(x) is type(y)


def test_the_extension_is_built_and_used() -> None:
    assert picking.pick is _c_pick()


def _parsed_fixtures() -> list[tuple[str, etree._Element]]:
    """Every XML fixture that parses (some are broken on purpose)."""
    parser = etree.XMLParser(resolve_entities=False)
    out = []
    for path in sorted(FIXTURES.rglob("*.xml")):
        try:
            out.append((path.name, etree.fromstring(path.read_bytes(), parser)))
        except etree.XMLSyntaxError:
            continue
    return out


@pytest.mark.parametrize(
    ("name", "root"), _parsed_fixtures(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_fixture_element_reads_the_same(name: str, root: etree._Element) -> None:
    c_pick = _c_pick()
    for element in root.iter(etree.Element):
        tags = sorted({child.tag for child in element if isinstance(child.tag, str)})
        attrs = sorted({a for child in element for a in child.attrib} | {"missing"})
        spec = _spec([*tags, "{urn:none}none"], attrs)
        _same(c_pick(element, spec), pick_in_python(element, spec))


texts = st.one_of(
    st.none(),
    st.text(alphabet=st.sampled_from(["x", "é", " ", "\t", "\n", "\u00a0", "\u3000", "ß"])),
)


@st.composite
def trees(draw: st.DrawFn) -> bytes:
    root = etree.Element("root", nsmap={"x": "urn:x", "y": "urn:y"})
    for _ in range(draw(st.integers(0, 8))):
        child = etree.SubElement(root, draw(st.sampled_from(NAMES)))
        child.text = draw(texts)
        for attr in draw(st.lists(st.sampled_from(ATTRS), max_size=3, unique=True)):
            child.set(attr, draw(texts) or "")
        if draw(st.booleans()):
            etree.SubElement(child, "inner").tail = draw(texts)
    raw = etree.tostring(root)
    if draw(st.booleans()):  # CDATA sections and split text nodes
        raw = raw.replace(b">x", b"><![CDATA[x]]>x")
    return raw


@settings(max_examples=300, deadline=None)
@given(trees())
def test_generated_trees_read_the_same(raw: bytes) -> None:
    root = etree.fromstring(raw)
    spec = _spec(NAMES, ATTRS)
    _same(_c_pick()(root, spec), pick_in_python(root, spec))


def test_no_element_reads_as_nothing() -> None:
    spec = _spec(["a"], ["k"])
    assert _c_pick()(None, spec) == pick_in_python(None, spec) == (None, None, [], None)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("not an element", ()), TypeError),
        ((etree.Element("r"), [("", "a", 0, None, None)]), TypeError),
        ((etree.Element("r"), (("a", 0),)), TypeError),
        ((etree.Element("r"), ((None, "a", 9, None, None),)), ValueError),
    ],
)
def test_a_bad_call_raises_rather_than_crashing(args: tuple, error: type) -> None:
    root = args[0]
    if isinstance(root, etree._Element):
        etree.SubElement(root, "a")
    with pytest.raises(error):
        _c_pick()(*args)


def test_an_element_with_no_node_raises_as_lxml_does() -> None:
    """An element object made without a node (it crashed the process before the check)."""
    hollow = etree.ElementBase.__new__(etree.ElementBase)
    with pytest.raises(AssertionError):
        _c_pick()(hollow, _spec(["a"], ["k"]))
