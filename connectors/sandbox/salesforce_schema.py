"""An sObject's describe() fields, value coercion and Salesforce's per-record checks; the Lead object's fields."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TEXT_TYPES = ("string", "email", "phone", "url", "textarea", "picklist", "combobox", "id", "reference")
Record = dict[str, Any]
# https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_lead.htm
# The four standard values, and two an org adds for the way back (mappings/feedback.yaml reads them).
LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Qualified",
    "Closed - Converted",
    "Closed - Not Converted",
    "Recycled",
)
CONVERTED_STATUS = "Closed - Converted"
INDUSTRIES = (
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
)
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
RATINGS = ("Hot", "Warm", "Cold")
# A custom picklist an org adds for the way back; each value is one of mappings/feedback.yaml's reasons.
DISQUALIFICATION_REASONS = (
    "No Budget",
    "No Authority",
    "No Need",
    "Bad Timing",
    "Lost to Competitor",
    "No Response",
    "Duplicate",
    "Other",
)


class RequestError(Exception):
    """The whole request is malformed (400 with a JSON array of {message, errorCode})."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def field_def(
    name: str,
    label: str,
    type_: str,
    length: int = 0,
    *,
    required: bool = False,
    writable: bool = True,
    defaulted: bool = False,
    picklist: tuple[str, ...] = (),
    default: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": type_,
        "length": length,
        "nillable": not required and writable,
        "createable": writable,
        "updateable": writable,
        "defaultedOnCreate": defaulted,
        "unique": False,
        "externalId": False,
        "caseSensitive": False,
        "custom": name.endswith("__c"),
        "restrictedPicklist": bool(picklist),
        "picklistValues": [
            {
                "active": True,
                "defaultValue": value == default,
                "label": value,
                "value": value,
                "validFor": None,
            }
            for value in picklist
        ],
        "defaultValue": default,
        **extra,
    }


def read_only_def(name: str, label: str, type_: str, length: int = 0) -> dict[str, Any]:
    return {**field_def(name, label, type_, length, writable=False, defaulted=True), "nillable": False}


LEAD_FIELDS = [
    read_only_def("Id", "Lead ID", "id", 18),
    read_only_def("IsDeleted", "Deleted", "boolean"),
    field_def("LastName", "Last Name", "string", 80, required=True),
    field_def("FirstName", "First Name", "string", 40),
    read_only_def("Name", "Full Name", "string", 121),
    field_def("Title", "Title", "string", 128),
    field_def("Company", "Company", "string", 255, required=True),
    field_def("Email", "Email", "email", 80),
    field_def("Phone", "Phone", "phone", 40),
    field_def("MobilePhone", "Mobile Phone", "phone", 40),
    field_def("Website", "Website", "url", 255),
    field_def("Description", "Description", "textarea", 32000),
    field_def("LeadSource", "Lead Source", "picklist", 255, picklist=LEAD_SOURCES),
    {
        **field_def(
            "Status",
            "Status",
            "picklist",
            255,
            picklist=LEAD_STATUSES,
            defaulted=True,
            default=LEAD_STATUSES[0],
        ),
        "nillable": False,
    },
    field_def("Industry", "Industry", "picklist", 255, picklist=INDUSTRIES),
    field_def("Rating", "Rating", "picklist", 255, picklist=RATINGS),
    field_def("NumberOfEmployees", "Employees", "int", digits=8),
    {
        **field_def("OwnerId", "Owner ID", "reference", 18, defaulted=True),
        "nillable": False,
        "referenceTo": ["Group", "User"],
    },
    read_only_def("IsConverted", "Converted", "boolean"),
    read_only_def("ConvertedDate", "Converted Date", "date"),
    {**read_only_def("ConvertedContactId", "Converted Contact ID", "reference", 18), "referenceTo": ["Contact"]},
    {
        **read_only_def("ConvertedOpportunityId", "Converted Opportunity ID", "reference", 18),
        "referenceTo": ["Opportunity"],
    },
    read_only_def("CreatedDate", "Created Date", "datetime"),
    read_only_def("CreatedById", "Created By ID", "reference", 18),
    read_only_def("LastModifiedDate", "Last Modified Date", "datetime"),
    read_only_def("LastModifiedById", "Last Modified By ID", "reference", 18),
    read_only_def("SystemModstamp", "System Modstamp", "datetime"),
]

BRIDGE_FIELDS: list[dict[str, Any]] = [
    {
        "name": "HubSpot_Contact_Id__c",
        "label": "HubSpot Contact ID",
        "type": "string",
        "length": 50,
        "unique": True,
        "externalId": True,
    },
    {
        "name": "Bridge_Score__c",
        "label": "Bridge Score",
        "type": "double",
        "precision": 18,
        "scale": 0,
    },
    {"name": "Bridge_Stage__c", "label": "Bridge Stage", "type": "string", "length": 40},
    {
        "name": "Bridge_Temperature__c",
        "label": "Bridge Temperature",
        "type": "string",
        "length": 20,
    },
    {
        "name": "Bridge_Handoff_Reason__c",
        "label": "Bridge Handoff Reason",
        "type": "textarea",
        "length": 32768,
    },
    {
        "name": "Disqualification_Reason__c",
        "label": "Disqualification Reason",
        "type": "picklist",
        "length": 255,
        "picklistValues": DISQUALIFICATION_REASONS,
    },
]


def _custom(definition: dict[str, Any]) -> dict[str, Any]:
    picklist = tuple(definition.get("picklistValues") or ())
    field = field_def(
        definition["name"],
        definition.get("label", definition["name"]),
        definition["type"],
        int(definition.get("length", 0)),
        required=bool(definition.get("required", False)),
        picklist=picklist,
    )
    for key in ("unique", "externalId", "caseSensitive", "precision", "scale"):
        if key in definition:
            field[key] = definition[key]
    return field


def format_value(value: Any, type_: str) -> Any:
    """A stored value as REST JSON carries it."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"
    if isinstance(value, date):
        return value.isoformat()
    return value


def parse_datetime(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class SObjectSchema:
    """One object's fields as describe() lists them; `derive` gives the fields the platform computes on every save
    (a full name, a closed flag), from the record as it is after the save."""

    def __init__(
        self,
        name: str,
        label_plural: str,
        key_prefix: str,
        fields: list[dict[str, Any]],
        derive: Callable[[Record], Record] = lambda record: {},
    ) -> None:
        self.object, self.label_plural, self.key_prefix, self.derive = name, label_plural, key_prefix, derive
        self.fields = {f["name"]: f for f in fields}
        self._by_lower = {name.lower(): name for name in self.fields}
        self.unique = [n for n, f in self.fields.items() if f["unique"]]
        self.keys = [n for n, f in self.fields.items() if f["unique"] or f["externalId"]]

    def name(self, given: str) -> str | None:
        """The API name for a case-insensitive field reference; None when the object has no such field."""
        return self._by_lower.get(given.lower())

    def defaults(self) -> Record:
        """What a new record holds before its own values: every field null, flags false, picklist defaults."""
        return {
            name: False if field["type"] == "boolean" else field["defaultValue"] for name, field in self.fields.items()
        }

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.object,
            "label": self.object,
            "labelPlural": self.label_plural,
            "keyPrefix": self.key_prefix,
            "custom": False,
            "createable": True,
            "updateable": True,
            "queryable": True,
            "fields": list(self.fields.values()),
        }

    def coerce(self, record: dict[str, Any]) -> dict[str, Any]:
        """JSON values -> stored values by API name; a bad name or type fails the whole request."""
        values = {}
        for given, raw in record.items():
            if given == "attributes":
                continue
            name = self.name(given)
            if name is None:
                raise RequestError("INVALID_FIELD", f"No such column '{given}' on sobject of type {self.object}")
            values[name] = self._coerce(self.fields[name], raw)
        return values

    @staticmethod
    def _coerce(field: dict[str, Any], raw: Any) -> Any:
        type_ = field["type"]
        if raw is None or raw == "":
            return None  # Salesforce stores an empty value as null
        try:
            if type_ in TEXT_TYPES:
                return raw if isinstance(raw, str) else str(raw)
            if type_ == "int":
                number = float(raw)
                if isinstance(raw, bool) or number != int(number):
                    raise ValueError
                return int(number)
            if type_ in ("double", "currency", "percent"):
                if isinstance(raw, bool):
                    raise ValueError
                return float(raw)
            if type_ == "boolean":
                if isinstance(raw, bool):
                    return raw
                if str(raw).lower() in ("true", "false"):
                    return str(raw).lower() == "true"
                raise ValueError
            if type_ == "datetime":
                moment = parse_datetime(str(raw))
                if moment is None:
                    raise ValueError
                return moment
            if type_ == "date":
                return date.fromisoformat(str(raw))
        except (TypeError, ValueError):
            pass
        raise RequestError(
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of {type_} from value {raw!r} for field {field['name']}",
        )

    def problems(self, values: dict[str, Any], creating: bool) -> list[dict[str, Any]]:
        """Per-record errors in collection-result form: {statusCode, message, fields}."""
        errors = []
        locked = [n for n in values if not self.fields[n]["createable" if creating else "updateable"]]
        if locked:
            errors.append(
                _error(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {', '.join(locked)}. Please check the "
                    "security "
                    "settings of this field and verify that it is read/write for your profile or "
                    "permission set.",
                    locked,
                )
            )
        required = [
            n
            for n, f in self.fields.items()
            if not f["nillable"]
            and f["createable"]
            and not f["defaultedOnCreate"]
            and (values.get(n) in (None, "") if creating or n in values else False)
        ]
        if required:
            errors.append(
                _error(
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(required)}]",
                    required,
                )
            )
        for name, value in values.items():
            field = self.fields[name]
            if name in locked or name in required:
                continue
            if field["restrictedPicklist"] and (value or not field["nillable"]):
                allowed = [p["value"] for p in field["picklistValues"] if p["active"]]
                if value not in allowed:
                    errors.append(
                        _error(
                            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                            f"{field['label']}: bad value for restricted picklist field: {value}",
                            [name],
                        )
                    )
            elif isinstance(value, str) and field["length"] and len(value) > field["length"]:
                errors.append(
                    _error(
                        "STRING_TOO_LONG",
                        f"{field['label']}: data value too large: {value[:40]} (max length={field['length']})",
                        [name],
                    )
                )
            elif field["type"] == "email" and value and not EMAIL.match(value):
                errors.append(
                    _error(
                        "INVALID_EMAIL_ADDRESS",
                        f"{field['label']}: invalid email address: {value}",
                        [name],
                    )
                )
        return errors


class LeadSchema(SObjectSchema):
    def __init__(self, custom: list[dict[str, Any]] | None) -> None:
        extra = [_custom(d) for d in (BRIDGE_FIELDS if custom is None else custom)]
        super().__init__("Lead", "Leads", "00Q", [*LEAD_FIELDS, *extra], derive=full_name)


def full_name(record: Record) -> Record:
    """Name, as Salesforce composes it for a Lead or a Contact."""
    return {"Name": " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)}


def _error(code: str, message: str, fields: list[str]) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": fields}
