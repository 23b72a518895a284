"""The simulated org's records: a store per object under one lock, lookups checked across objects, Lead conversion."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from connectors.sandbox.salesforce_schema import CONVERTED_STATUS, Record, RequestError, SObjectSchema
from connectors.sandbox.salesforce_store import SObjectStore

# The sandbox's own choices for an Opportunity a conversion creates when the rep names none (the Convert page
# asks for a name; the close date and stage are left to the org's defaults, which the sandbox fixes here).
OPPORTUNITY_STAGE = "Prospecting"
OPPORTUNITY_CLOSE_DAYS = 30
# Lead fields a conversion copies to the new Contact (the standard lead field mapping).
# https://help.salesforce.com/s/articleView?id=sf.customize_mapleads.htm
CONTACT_FROM_LEAD = ("FirstName", "LastName", "Title", "Email", "Phone", "MobilePhone", "LeadSource", "Description",
                     "OwnerId")


class Org:
    """One store per object; they share a lock, so a conversion (a Contact, an Opportunity and the Lead marked) is
    one step. `notify(object, ids)` is told of every saved record."""

    def __init__(
        self,
        schemas: dict[str, SObjectSchema],
        owner_id: str,
        clock: Callable[[], datetime],
        notify: Callable[[str, list[str]], None],
        ui_user_id: str | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self.stores = {
            name: SObjectStore(
                schema, owner_id, clock, lambda ids, name=name: notify(name, ids), self._lock, self._references,
                ui_user_id,
            )
            for name, schema in schemas.items()
        }
        self._by_lower = {name.lower(): name for name in self.stores}

    def store(self, object: str) -> SObjectStore | None:
        """The store of an object named case-insensitively, as the REST API takes sObject names."""
        name = self._by_lower.get(object.lower())
        return self.stores[name] if name else None

    def get(self, object: str, record_id: str) -> Record | None:
        store = self.store(object)
        return store.get(record_id) if store else None

    def reset(self) -> None:
        with self._lock:
            for store in self.stores.values():
                store.reset()

    def _references(self, objects: list[str], record_id: str) -> bool:
        """Whether `record_id` names a record of one of `objects`; objects the sandbox does not keep (User, Account)
        are taken on trust."""
        kept = [self.stores[o] for o in objects if o in self.stores]
        named = [s for s in kept if record_id.startswith(s.schema.key_prefix)]
        if named:
            return any(s.get(record_id) for s in named)
        return not kept or len(kept) < len(objects)

    def convert(self, lead_id: str, opportunity: dict[str, Any] | None) -> Record | None:
        """Convert a Lead as the rep's Convert button does: a Contact from the Lead's fields, an Opportunity (unless
        `opportunity` is None) from the given fields, and the Lead marked converted with links to both; the Lead as
        it is now, None when there is no such Lead. A converted Lead cannot be converted again."""
        leads, contacts, deals = self.stores["Lead"], self.stores["Contact"], self.stores["Opportunity"]
        with self._lock:
            lead = leads.get(lead_id)
            if lead is None:
                return None
            if lead["IsConverted"]:
                raise RequestError("CANNOT_UPDATE_CONVERTED_LEAD", f"lead {lead_id} was already converted")
            today = self._clock().date()
            deal = None if opportunity is None else {
                "Name": f"{lead.get('Company') or lead['Name']}-",  # the Convert page's default name
                "StageName": OPPORTUNITY_STAGE,
                "CloseDate": today + timedelta(days=OPPORTUNITY_CLOSE_DAYS),
                "LeadSource": lead.get("LeadSource"),
                **deals.schema.coerce(opportunity),
            }
            problems = deals.schema.problems(deal, creating=True) if deal else []
            if problems:  # checked first: a refused conversion leaves no Contact behind
                raise RequestError(problems[0]["statusCode"], problems[0]["message"])
            links = {"ConvertedContactId": _saved(contacts.save(None, {k: lead[k] for k in CONTACT_FROM_LEAD
                                                                        if lead.get(k)}, "UI"))}
            if deal:
                links["ConvertedOpportunityId"] = _saved(deals.save(None, deal, "UI"))
            return leads.stamp(lead["Id"], {"IsConverted": True, "ConvertedDate": today, "Status": CONVERTED_STATUS,
                                            **links})


def _saved(result: Record) -> str:
    """The id of a saved record; a refused save fails the whole request with its first error."""
    if not result["success"]:
        error = result["errors"][0]
        raise RequestError(error["statusCode"], error["message"])
    return result["id"]
