"""Payloads whose values must survive every serializer pair unchanged."""

#: A payload exercising every value type that must survive any serializer pair.
RICH_ARGS = [
    0,
    7,
    -42,
    2**53,
    -(2**53),
    1.5,
    -0.25,
    "héllo wörld ✓ 日本",
    b"\x00\x01\xff",
    [1, [2, [3, "x"]], {"k": [True, False, None]}],
]
RICH_KWARGS = {
    "int": 123456789,
    "neg": -1,
    "big": 2**53,
    "float": 1.5,
    "text": "ünïcödé",
    "bin": b"\x00\x01\xff",
    "nested": {"list": [1, 2.5, "three", b"\xfe"], "dict": {"a": {"b": [None]}}},
    "empty_list": [],
    "empty_dict": {},
}


def assert_rich(args, kwargs):
    assert list(args) == RICH_ARGS
    assert kwargs == RICH_KWARGS
    # Types matter too: 1.5 must stay a float, bytes must stay bytes.
    assert isinstance(args[5], float) and isinstance(args[0], int)
    assert isinstance(args[8], bytes) and isinstance(kwargs["bin"], bytes)
    assert isinstance(kwargs["nested"]["list"][3], bytes)
