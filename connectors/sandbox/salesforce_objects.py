"""Contact, Task and Opportunity: the standard fields sales feedback reads, and what the platform derives on save."""

from __future__ import annotations

from typing import Any

from connectors.sandbox import sfid
from connectors.sandbox.salesforce_schema import (
    DISQUALIFICATION_REASONS,
    LEAD_SOURCES,
    LeadSchema,
    Record,
    SObjectSchema,
    field_def,
    full_name,
    read_only_def,
)

# https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_task.htm
TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
TASK_CLOSED = frozenset({"Completed"})
TASK_PRIORITIES = ("High", "Normal", "Low")
TASK_SUBTYPES = ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn")
TASK_TYPES = ("Call", "Email", "Meeting", "Other")
CALL_TYPES = ("Internal", "Inbound", "Outbound")
# https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_opportunity.htm
# The default sales process: (stage, default probability %, closed, won), as OpportunityStage describes each stage.
OPPORTUNITY_STAGES = (
    ("Prospecting", 10, False, False),
    ("Qualification", 10, False, False),
    ("Needs Analysis", 20, False, False),
    ("Value Proposition", 50, False, False),
    ("Id. Decision Makers", 60, False, False),
    ("Perception Analysis", 70, False, False),
    ("Proposal/Price Quote", 75, False, False),
    ("Negotiation/Review", 90, False, False),
    ("Closed Won", 100, True, True),
    ("Closed Lost", 0, True, False),
)
OPPORTUNITY_TYPES = ("Existing Customer - Upgrade", "Existing Customer - Replacement", "Existing Customer - Downgrade",
                     "New Customer")
# A custom picklist an org adds to say why a deal was lost; the values mean mappings/feedback.yaml's reasons.
LOSS_REASONS = DISQUALIFICATION_REASONS

_BOOKKEEPING = [
    read_only_def("CreatedDate", "Created Date", "datetime"),
    read_only_def("CreatedById", "Created By ID", "reference", 18),
    read_only_def("LastModifiedDate", "Last Modified Date", "datetime"),
    read_only_def("LastModifiedById", "Last Modified By ID", "reference", 18),
    read_only_def("SystemModstamp", "System Modstamp", "datetime"),
]


def _reference(name: str, label: str, *targets: str, required: bool = False) -> dict[str, Any]:
    field = field_def(name, label, "reference", 18, defaulted=required, referenceTo=list(targets))
    return {**field, "nillable": not required}


def _picklist(name: str, label: str, values: tuple[str, ...], default: str | None = None) -> dict[str, Any]:
    """A restricted picklist; with a default it is also required (never null), as Status and Priority are."""
    field = field_def(name, label, "picklist", 255, picklist=values, defaulted=default is not None, default=default)
    return {**field, "nillable": default is None}


def _owner() -> dict[str, Any]:
    return _reference("OwnerId", "Owner ID", "Group", "User", required=True)


CONTACT_FIELDS = [
    read_only_def("Id", "Contact ID", "id", 18),
    read_only_def("IsDeleted", "Deleted", "boolean"),
    _reference("AccountId", "Account ID", "Account"),
    field_def("LastName", "Last Name", "string", 80, required=True),
    field_def("FirstName", "First Name", "string", 40),
    read_only_def("Name", "Full Name", "string", 121),
    field_def("Title", "Title", "string", 128),
    field_def("Department", "Department", "string", 80),
    field_def("Email", "Email", "email", 80),
    field_def("Phone", "Business Phone", "phone", 40),
    field_def("MobilePhone", "Mobile Phone", "phone", 40),
    _picklist("LeadSource", "Lead Source", LEAD_SOURCES),
    field_def("Description", "Contact Description", "textarea", 32000),
    _owner(),
    *_BOOKKEEPING,
]

TASK_FIELDS = [
    read_only_def("Id", "Activity ID", "id", 18),
    read_only_def("IsDeleted", "Deleted", "boolean"),
    _reference("WhoId", "Name ID", "Contact", "Lead"),
    _reference("WhatId", "Related To ID", "Opportunity", "Account"),
    field_def("Subject", "Subject", "combobox", 255),
    field_def("ActivityDate", "Due Date Only", "date"),
    _picklist("Status", "Status", TASK_STATUSES, default="Not Started"),
    _picklist("Priority", "Priority", TASK_PRIORITIES, default="Normal"),
    _picklist("Type", "Type", TASK_TYPES),
    # Set when the task is created (Log a Call, an email logged), never changed afterwards.
    {**_picklist("TaskSubtype", "Task Subtype", TASK_SUBTYPES), "updateable": False},
    field_def("CallDisposition", "Call Result", "string", 255),
    _picklist("CallType", "Call Type", CALL_TYPES),
    field_def("CallDurationInSeconds", "Call Duration", "int", digits=8),
    field_def("Description", "Comments", "textarea", 32000),
    read_only_def("IsClosed", "Closed", "boolean"),
    _owner(),
    *_BOOKKEEPING,
]

OPPORTUNITY_FIELDS = [
    read_only_def("Id", "Opportunity ID", "id", 18),
    read_only_def("IsDeleted", "Deleted", "boolean"),
    _reference("AccountId", "Account ID", "Account"),
    field_def("Name", "Name", "string", 120, required=True),
    field_def("Description", "Description", "textarea", 32000),
    {**_picklist("StageName", "Stage", tuple(s for s, *_ in OPPORTUNITY_STAGES)), "nillable": False},
    field_def("Amount", "Amount", "currency", precision=18, scale=2),
    field_def("Probability", "Probability (%)", "percent", precision=3, scale=0),
    field_def("CloseDate", "Close Date", "date", required=True),
    _picklist("Type", "Opportunity Type", OPPORTUNITY_TYPES),
    _picklist("LeadSource", "Lead Source", LEAD_SOURCES),
    read_only_def("IsClosed", "Closed", "boolean"),
    read_only_def("IsWon", "Won", "boolean"),
    _owner(),
    _picklist("Loss_Reason__c", "Loss Reason", LOSS_REASONS),
    *_BOOKKEEPING,
]


def task_state(record: Record) -> Record:
    return {"IsClosed": record.get("Status") in TASK_CLOSED}


def opportunity_state(record: Record) -> Record:
    """IsClosed and IsWon follow the stage (Closed Won, Closed Lost)."""
    stage = next((s for s in OPPORTUNITY_STAGES if s[0] == record.get("StageName")), None)
    return {"IsClosed": stage[2], "IsWon": stage[3]} if stage else {}


def schemas(lead_custom_fields: list[dict[str, Any]] | None) -> dict[str, SObjectSchema]:
    """Every object the sandbox keeps, by API name."""
    return {
        "Lead": LeadSchema(lead_custom_fields),
        "Contact": SObjectSchema("Contact", "Contacts", sfid.CONTACT, CONTACT_FIELDS, derive=full_name),
        "Task": SObjectSchema("Task", "Tasks", sfid.TASK, TASK_FIELDS, derive=task_state),
        "Opportunity": SObjectSchema(
            "Opportunity", "Opportunities", sfid.OPPORTUNITY, OPPORTUNITY_FIELDS, derive=opportunity_state
        ),
    }
