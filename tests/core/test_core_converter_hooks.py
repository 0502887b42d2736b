"""The hand-written structure hooks agree with the hooks cattrs would generate.

The reference is a second converter configured like ours (the same string,
integer, boolean and time hooks) but with cattrs' generated hooks for the
models. On generated documents, every field present or absent, of the right
type or of a wrong one, both give the same model or both fail. The documents
are built from ``attrs.fields`` of each model, so a field added to a model and
not to its hook fails here.
"""

from __future__ import annotations

from datetime import datetime
from types import NoneType
from typing import Any, get_args, get_origin

import attrs
import cattrs
import pytest
from cattrs.gen import make_dict_structure_fn, override
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse_async._core import _converter
from pulse_async._core._converter import converter
from pulse_async.models import Message, MessageReceipt, Page, Thread, User


def _reference_converter() -> cattrs.Converter:
    conv = cattrs.Converter(
        forbid_extra_keys=False, prefer_attrib_converters=False, detailed_validation=False
    )
    conv.register_structure_hook(datetime, _converter.parse_datetime)
    conv.register_structure_hook(str, _converter._structure_str)
    conv.register_structure_hook(int, _converter._structure_int)
    conv.register_structure_hook(bool, _converter._structure_bool)
    conv.register_structure_hook(
        Message, make_dict_structure_fn(Message, conv, from_=override(rename="from"))
    )
    return conv


REFERENCE = _reference_converter()
MODELS = [User, MessageReceipt, Message, Thread]
for _cls in [*MODELS, Page]:
    attrs.resolve_types(_cls)

times = st.one_of(
    st.datetimes().map(lambda value: value.isoformat()),
    st.datetimes().map(lambda value: value.isoformat() + "Z"),
    st.sampled_from(["2024-11-14T09:00:00Z", "2024-11-14T10:00:00+01:00", "yesterday", ""]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    times,
)
#: Any JSON value: what a server, right or wrong, could put in a field.
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def _key(field: attrs.Attribute[Any]) -> str:
    return "from" if field.name == "from_" else field.name


def _kind(field: attrs.Attribute[Any]) -> tuple[Any, bool]:
    """A field's type without ``| None`` (its origin for generics), and whether it is optional."""
    args = get_args(field.type)
    optional = NoneType in args
    base = next(arg for arg in args if arg is not NoneType) if optional else field.type
    return get_origin(base) or base, optional


@st.composite
def documents(draw: st.DrawFn, cls: type[Any]) -> dict[str, Any]:
    """A JSON object for ``cls``: each field absent, or of any JSON value, often a likely one."""
    document: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if draw(st.integers(0, 5)) == 0:
            continue  # absent, required or not
        document[_key(field)] = draw(json_values)
    if draw(st.booleans()):
        document["unknown_field"] = draw(json_values)
    return document


@st.composite
def likely_documents(draw: st.DrawFn, cls: type[Any]) -> dict[str, Any]:
    """A JSON object for ``cls`` that is mostly well formed, so successes are compared too."""
    likely: dict[type[Any], st.SearchStrategy[Any]] = {
        str: st.text(max_size=8),
        int: st.integers(0, 10**6),
        bool: st.booleans(),
        datetime: times,
    }
    document: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.default is not attrs.NOTHING and draw(st.booleans()):
            continue
        base, optional = _kind(field)
        if base is dict:
            value: Any = draw(st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=3))
        elif base not in likely or draw(st.integers(0, 9)) == 0:
            value = draw(json_values)
        else:
            value = draw(st.none() | likely[base]) if optional else draw(likely[base])
        document[_key(field)] = value
    return document


def _outcome(conv: cattrs.Converter, document: Any, cls: Any) -> Any:
    try:
        return conv.structure(document, cls)
    except Exception as exc:  # what decipher turns into an APIConnectionError
        return ("failed", exc)


def _same(document: Any, cls: Any) -> None:
    ours = _outcome(converter, document, cls)
    reference = _outcome(REFERENCE, document, cls)
    if isinstance(reference, tuple):
        assert isinstance(ours, tuple), (document, ours, reference)
    else:
        assert ours == reference, document


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
@PROPERTY
@given(data=st.data())
def test_hooks_agree_with_cattrs_on_any_document(cls: type[Any], data: st.DataObject) -> None:
    _same(data.draw(documents(cls)), cls)


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
@PROPERTY
@given(data=st.data())
def test_hooks_agree_with_cattrs_on_likely_documents(cls: type[Any], data: st.DataObject) -> None:
    _same(data.draw(likely_documents(cls)), cls)


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
@PROPERTY
@given(data=st.data())
def test_pages_agree_with_cattrs_when_data_is_a_list(cls: type[Any], data: st.DataObject) -> None:
    page = data.draw(documents(Page))
    page["data"] = data.draw(st.lists(likely_documents(cls), max_size=3))
    _same(page, Page[cls])


@pytest.mark.parametrize("items", ["", "abc", {}, {"id": "thr_1"}, ("a",), 3, None])
def test_page_data_must_be_a_json_array(items: Any) -> None:
    # cattrs would iterate a string or an object's keys; a page whose data is not an array
    # is malformed.
    with pytest.raises((TypeError, ValueError, KeyError, AttributeError)):
        converter.structure({"data": items, "has_more": False}, Page[Thread])


def test_every_model_field_is_filled_by_its_hook() -> None:
    # One document with every field set to a non-default value: each must arrive.
    values: dict[type[Any], Any] = {
        User: {"name": "n", "metadata": {"k": "v"}},
        Message: {"metadata": {"k": 1}},
    }
    for cls in MODELS:
        document: dict[str, Any] = {}
        for field in attrs.fields(cls):
            base = _kind(field)[0]
            if base is datetime:
                document[_key(field)] = "2024-11-14T09:00:00Z"
            elif base is int:
                document[_key(field)] = 7
            elif base is dict:
                document[_key(field)] = values[cls]["metadata"]
            else:
                document[_key(field)] = f"v-{field.name}"
        model = converter.structure(document, cls)
        for field in attrs.fields(cls):
            default = field.default
            if isinstance(default, attrs.Factory):
                default = default.factory()
            assert getattr(model, field.name) != default, (cls, field.name)
        assert model == REFERENCE.structure(document, cls)


def test_builder_sets_slots_directly_only_where_init_would_do_nothing_more() -> None:
    from pulse_async._core._converter import _builder

    @attrs.frozen(kw_only=True)
    class Plain:
        a: int
        b: str = "default"

    build = _builder(Plain)
    assert build(a=1, b="x") == Plain(a=1, b="x")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        build(a=1, b="x").a = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        build(a=1)  # every field is required: a field the hook forgets fails loudly

    @attrs.frozen(kw_only=True)
    class Checked:
        n: int = attrs.field(validator=attrs.validators.gt(0))

    checked = _builder(Checked)
    assert checked(n=1) == Checked(n=1)
    with pytest.raises(ValueError, match="n"):
        checked(n=0)  # a validated class goes through its own __init__


def test_slot_setters_refuse_a_hook_that_does_not_match_its_model() -> None:
    from pulse_async._core._converter import _slot_setters

    @attrs.frozen(kw_only=True)
    class Plain:
        a: int
        b: str = "default"

    set_a, set_b = _slot_setters(Plain, ("a", "b"))
    obj = object.__new__(Plain)
    set_a(obj, 1)
    set_b(obj, "x")
    assert obj == Plain(a=1, b="x")
    # a field the hook does not know (or knows in another order) fails at import time
    with pytest.raises(TypeError, match="does not match its fields"):
        _slot_setters(Plain, ("a",))
    with pytest.raises(TypeError, match="does not match its fields"):
        _slot_setters(Plain, ("b", "a"))

    @attrs.frozen(kw_only=True)
    class Checked:
        n: int = attrs.field(validator=attrs.validators.gt(0))

    with pytest.raises(TypeError, match="does not match its fields"):
        _slot_setters(Checked, ("n",))  # its validator would be skipped
