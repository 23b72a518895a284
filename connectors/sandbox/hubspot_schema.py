"""HubSpot contact properties: the definitions the Properties API lists, and value checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Set by HubSpot itself; writing them is refused.
READ_ONLY = {"hs_object_id", "createdate", "lastmodifieddate", "hubspotscore", "hs_updated_by_user_id"}
# Default lifecycle stages:
# https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts
LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
LEAD_STATUSES = (
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
)
EMPLOYEE_RANGES = ("1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+")


def _prop(
    name: str,
    label: str,
    type_: str = "string",
    field_type: str = "text",
    group: str = "contactinformation",
    options: tuple[str, ...] = (),
    unique: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type,
        "groupName": group,
        "options": list(options),
        "hasUniqueValue": unique,
        **extra,
    }


DEFAULT_PROPERTIES = [
    _prop("email", "Email"),
    _prop("firstname", "First Name"),
    _prop("lastname", "Last Name"),
    _prop("company", "Company Name"),
    _prop("jobtitle", "Job Title"),
    _prop("phone", "Phone Number", field_type="phonenumber"),
    _prop("website", "Website URL"),
    _prop("city", "City"),
    _prop("country", "Country/Region"),
    _prop("industry", "Industry"),  # free text on contacts, unlike the company property
    _prop("numemployees", "Number of Employees", "enumeration", "select", options=EMPLOYEE_RANGES),
    _prop("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", options=LIFECYCLE_STAGES),
    _prop(
        "hs_lead_status",
        "Lead Status",
        "enumeration",
        "radio",
        group="sales_properties",
        options=LEAD_STATUSES,
    ),
    _prop("hubspotscore", "HubSpot Score", "number", "number", group="contact_activity"),
    _prop("hs_object_id", "Record ID", "number", "number"),
    _prop("createdate", "Create Date", "datetime", "date"),
    _prop("lastmodifieddate", "Last Modified Date", "datetime", "date"),
    _prop("hs_updated_by_user_id", "Updated by user ID", "number", "number"),  # the user who last updated it
]

BRIDGE_PROPERTIES = [
    _prop("bridge_score", "Bridge score", "number", "number", group="bridge"),
    _prop(
        "bridge_stage",
        "Bridge stage",
        "enumeration",
        "select",
        group="bridge",
        options=("awareness", "interest", "consideration"),
    ),
    _prop(
        "bridge_temperature",
        "Bridge temperature",
        "enumeration",
        "select",
        group="bridge",
        options=("cold", "warm", "hot"),
    ),
    _prop("salesforce_lead_id", "Salesforce lead ID", group="bridge", unique=True),
    _prop("kintone_record_id", "kintone record ID", group="bridge", unique=True),
    # The way back: what sales did (mappings' `direction: to_source` fields, bridge/feedback).
    _prop("bridge_sales_outcome", "Bridge sales outcome", group="bridge"),
    _prop("bridge_sales_reason", "Bridge sales reason", group="bridge"),
    _prop("bridge_first_touch_at", "Bridge first touch", "datetime", "date", group="bridge"),
    _prop("bridge_won_at", "Bridge won at", "datetime", "date", group="bridge"),
    _prop("bridge_lost_at", "Bridge lost at", "datetime", "date", group="bridge"),
    _prop("bridge_deal_amount", "Bridge deal amount", "number", "number", group="bridge"),
    _prop("bridge_sla_status", "Bridge SLA status", group="bridge"),  # waiting, met, late, breached, recycled
]


@dataclass(frozen=True)
class Problem:
    """One invalid property value, as HubSpot lists it in errors[]."""

    name: str
    code: str
    message: str

    def detail(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "code": self.code,
            "in": self.name,
            "context": {"propertyName": [self.name]},
        }


def to_millis(value: Any) -> int | None:
    """HubSpot datetime values: epoch milliseconds, or an ISO-8601 string."""
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class ContactSchema:
    def __init__(self, custom: list[dict[str, Any]] | None) -> None:
        definitions = [*DEFAULT_PROPERTIES, *(BRIDGE_PROPERTIES if custom is None else custom)]
        self.properties: dict[str, dict[str, Any]] = {}
        for order, definition in enumerate(definitions):
            prop = _prop(
                definition["name"],
                definition.get("label", definition["name"]),
                definition.get("type", "string"),
                definition.get("fieldType", "text"),
                definition.get("groupName", "bridge"),
                tuple(o["value"] if isinstance(o, dict) else str(o) for o in definition.get("options", ())),
                bool(definition.get("hasUniqueValue", False)),
            )
            prop["displayOrder"] = order
            self.properties[prop["name"]] = prop
        self.unique = {n for n, p in self.properties.items() if p["hasUniqueValue"]}

    def id_properties(self) -> set[str]:
        """Properties batch upsert accepts as idProperty: email and the unique ones."""
        return {"email", *self.unique}

    def normalize(self, properties: dict[str, Any]) -> tuple[dict[str, str], list[Problem]]:
        """Values as HubSpot stores them (strings, "" clears), plus every invalid value found."""
        values: dict[str, str] = {}
        problems = []
        for name, raw in properties.items():
            prop = self.properties.get(name)
            if prop is None:
                problems.append(Problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
                continue
            if name in READ_ONLY:
                problems.append(
                    Problem(
                        name,
                        "READ_ONLY_VALUE",
                        f'"{name}" is a read only property; its value cannot be set.',
                    )
                )
                continue
            value = "" if raw is None else (str(raw).lower() if isinstance(raw, bool) else str(raw))
            problem = self._check(prop, value)
            if problem:
                problems.append(Problem(name, *problem))
            else:
                values[name] = value.strip().lower() if name == "email" else value
        return values, problems

    def _check(self, prop: dict[str, Any], value: str) -> tuple[str, str] | None:
        if value == "":
            return None
        name, kind = prop["name"], prop["type"]
        if name == "email" and not EMAIL.match(value.strip()):
            return "INVALID_EMAIL", f"Email address {value} is invalid"
        if kind == "enumeration":
            allowed = prop["options"]
            if value not in allowed:
                return "INVALID_OPTION", (f"{value} was not one of the allowed options: [{', '.join(allowed)}]")
        if kind == "number":
            try:
                float(value)
            except ValueError:
                return "INVALID_DECIMAL", f'"{value}" is not a valid number'
        if kind in ("datetime", "date") and to_millis(value) is None:
            return "INVALID_DATE", f'"{value}" is not a valid date (epoch milliseconds or ISO-8601)'
        return None

    def definitions(self) -> list[dict[str, Any]]:
        """Property definitions in the shape of the Properties API."""
        out = []
        for prop in self.properties.values():
            options = [
                {"label": o, "value": o, "displayOrder": i, "hidden": False} for i, o in enumerate(prop["options"])
            ]
            out.append(
                {
                    **prop,
                    "options": options,
                    "description": "",
                    "hidden": False,
                    "formField": prop["name"] not in READ_ONLY,
                    "calculated": prop["name"] == "hubspotscore",
                    "externalOptions": False,
                    "archived": False,
                    "modificationMetadata": {
                        "archivable": prop["groupName"] == "bridge",
                        "readOnlyDefinition": prop["groupName"] != "bridge",
                        "readOnlyValue": prop["name"] in READ_ONLY,
                    },
                }
            )
        return out
