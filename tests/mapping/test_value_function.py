"""value_function (a field's value computed the fast way, for the reconciliation's diff) gives exactly what
field_value gives, for every field of the shipped routes, both ways, on any text a record may hold."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config import SHIPPED_MAPPINGS
from bridge.mapping import load_routes
from bridge.mapping.apply import field_value, value_function

ROUTES = load_routes(SHIPPED_MAPPINGS, {"KINTONE_APP_ID": "7"})
FIELDS = [(route.name, entry, back) for route in ROUTES.values() for entry in route.fields for back in (False, True)
          if (entry.target if back else entry.source)]
VALUES = st.one_of(st.none(), st.text(max_size=30), st.sampled_from(["", "  ", "　ＡＢＣ㈱ ", "100-500", "SaaS",
                                                                     "Foo@Example.COM "]),
                   st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False), st.booleans())


def test_a_text_chain_is_built_the_fast_way():
    email = next(e for _, e, back in FIELDS if e.source == "email" and not back)
    assert value_function(email).__name__ == "text_chain"


@settings(max_examples=60, deadline=None)
@given(value=VALUES)
def test_every_shipped_field_computes_the_same_both_ways(value):
    for _, entry, back in FIELDS:
        record = {entry.target if back else entry.source: value}
        assert value_function(entry, back)(record) == field_value(entry, record, back), (entry.label, back, value)
