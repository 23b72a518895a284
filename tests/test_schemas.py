"""The canonical-input fast path answers exactly what marshmallow's full load answers."""

import pytest
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from bridge.kernel import schemas
from connectors.hubspot import EventSchema

CANONICAL = {"eventId": 1, "subscriptionId": 2, "portalId": 3, "occurredAt": 4, "subscriptionType": "contact.creation",
             "objectId": 5, "propertyName": None, "extra": {"kept": True}}


@pytest.mark.parametrize(
    "data",
    [
        CANONICAL,
        {**CANONICAL, "eventId": "1"},  # converted by the full load
        {**CANONICAL, "eventId": True},  # refused: a bool is not an id
        {**CANONICAL, "occurredAt": -1},  # validator
        {**CANONICAL, "subscriptionType": ""},
        {k: v for k, v in CANONICAL.items() if k != "objectId"},
        {**CANONICAL, "attemptNumber": None},
        {**CANONICAL, "eventId": 1.5},
        {**CANONICAL, "objectId": "١٢٣"},  # refused by both: not ASCII digits
        {**CANONICAL, "objectId": "0123"},
    ],
)
def test_fast_path_matches_full_load(data):
    schema = EventSchema()
    try:
        expected = schema.load(data)
    except ValidationError as error:
        with pytest.raises(ValidationError) as caught:
            schemas.load(schema, data)
        assert caught.value.messages == error.messages
    else:
        assert schemas.load(schema, data) == expected


def test_strict_schema_still_refuses_unknown_fields():
    class Strict(Schema):
        class Meta:
            unknown = RAISE

        a = fields.Integer(required=True, validate=validate.Range(min=0))

    with pytest.raises(ValidationError, match="Unknown field"):
        schemas.load(Strict(), {"a": 1, "b": 2})
    assert schemas.load(Strict(), {"a": 1}) == {"a": 1}


@pytest.mark.parametrize(
    "value", ["١٢٣", "１２３", "²", " 123", "123\n", "1_000", "+5", "-5", "", 1.0, 1.5, True, "9" * 5000])
def test_digits_refuse_every_spelling_but_an_int_or_ascii_digits(value):
    with pytest.raises(ValidationError):
        schemas.Digits().deserialize(value)


@pytest.mark.parametrize("value, expected", [(123, 123), ("123", 123), ("0042", 42), (-5, -5), (2**63 - 1, 2**63 - 1)])
def test_digits_read_ints_and_ascii_digit_strings(value, expected):
    assert schemas.Digits().deserialize(value) == expected
