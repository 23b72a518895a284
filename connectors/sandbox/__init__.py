"""Local simulators of the HubSpot, Salesforce and kintone APIs: Bridge without accounts.

One server holds all three; each system keeps the base URL shape its real API has:

    HUBSPOT_API_BASE      = http://127.0.0.1:PORT/hubspot       (/oauth/v1/token, /crm/v3/...)
    SALESFORCE_LOGIN_URL  = http://127.0.0.1:PORT/salesforce    (/services/oauth2/token)
      instance_url        = http://127.0.0.1:PORT               (/services/data/vXX.X/...)
    KINTONE_BASE_URL      = http://127.0.0.1:PORT/kintone       (/k/v1/...)
    control API           = http://127.0.0.1:PORT/_sandbox      (seed, inspect, configure, fail)

Salesforce's REST API sits at the server root because real orgs answer on a host of their own
(instance_url) and return relative `nextRecordsUrl` values; at the root those resolve the same
whether a client joins them to instance_url by concatenation or by URL resolution.

The control API (GET /_sandbox lists the endpoints and the settings to export):
    /calls                          GET counts per endpoint and status; DELETE zeroes them
    /failures                       POST {endpoint (glob), status, count, code, message,
                                    retry_after, delay, rate, lose_response}; GET pending; DELETE all
    /config                         GET; PATCH {"hubspot"|"salesforce"|"kintone"|"delivery"|"faults": {…}}
    /reset                          POST: records, sessions, counters, failures, deliveries
    /tokens/expire                  POST {"system": "hubspot"|"salesforce"} (both when absent)
    /webhooks, /webhooks/flush      GET the delivery log; POST send all queued now and wait
    /hubspot/contacts[/<id>]        GET; POST {"records": [{…}], "webhooks": bool}; PATCH {"properties"}
    /salesforce/<objects>[/<id>]    leads, contacts, tasks, opportunities: GET; POST as above; PATCH {"fields"}
    /salesforce/leads/<id>/convert  POST {"opportunity": {…} | false}: a Contact, an Opportunity, the Lead converted
    /kintone/apps/<app>/records[/<id>]  GET; POST as above; PATCH {"fields"}
    /kintone/apps/<app>/records/<id>/status  POST {"status", "fields"}: a process-management action
    /hubspot/contacts/<id>, /salesforce/<objects>/<id>, /kintone/apps/<app>/records/<id>
                                    DELETE as a user deletes: HubSpot contact.deletion, kintone DELETE_RECORD;
                                    Salesforce sends nothing, the record goes to the recycle bin (getDeleted)
    /salesforce/recycle-bin         DELETE: an admin empties it (getDeleted's earliestDateAvailable moves up)
    /bulk                           POST {"system", "object" (contacts | leads… or an sObject | app id), "records"}:
                                    an import, all or nothing, no webhooks; answers the new ids in order
Changes made through these act as a user (a sales rep) in the UI and send webhooks (changeSource CRM), Salesforce's
as an outbound message per object (Lead, Task and Opportunity: SalesforceConfig.outbound_fields); "webhooks": false
on a POST or PATCH (or ?webhooks=false, on a DELETE too) makes them silent: seeding, or a webhook lost on its way.
They also say who saved: HubSpot hs_updated_by_user_id (the UI user; empty after an API write), Salesforce
LastModifiedById (SalesforceConfig.ui_user_id, the integration user_id for API writes), kintone 更新者 (a rep,
Administrator for API writes).

Failures come by count (the next `count` matching calls) or by rate: {"endpoint": "kintone.records_update",
"status": 503, "rate": 0.2} answers about 20 % of those calls 503 until deleted. {"endpoint": …,
"lose_response": true, "rate": 0.05} applies about 5 % of the calls and then closes the connection without an
answer (counted under status 0 in /calls). Rates of failures matching one call add up (one draw per call);
PATCH /config {"faults": {"seed": 7}} (or SandboxConfig.faults.seed) makes the draws repeat from run to run, and
SandboxConfig.faults.failures are injected at start and again on /reset.

In-process: `with serve() as running: running.sandbox.env()`; as a command: `bridge sandbox`.
"""

from connectors.sandbox.app import Sandbox, create_app
from connectors.sandbox.config import SandboxConfig
from connectors.sandbox.server import RunningSandbox, serve

__all__ = ["RunningSandbox", "Sandbox", "SandboxConfig", "create_app", "serve"]
