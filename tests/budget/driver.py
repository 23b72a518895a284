"""One worker-like process for the shared-budget test: reads one HubSpot contact as fast as its budget allows for
`seconds`, and prints how many reads went through. `--local`: a budget of its own (the control: not shared)."""

from __future__ import annotations

import json
import os
import sys
import time

from bridge.kernel.budget import LocalBudget
from bridge.kernel.errors import RateLimited
from bridge.store import Store
from connectors.registry import load_connectors


def main() -> None:
    contact, seconds, local = sys.argv[1], float(sys.argv[2]), "--local" in sys.argv
    store = Store(os.environ["BRIDGE_DB"])
    budget = LocalBudget() if local else store.budget
    hubspot = load_connectors(os.environ, budget=budget)[0]["hubspot"]
    granted = refused = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            hubspot.read("contacts", [contact], ["email"])
            granted += 1
        except RateLimited as error:  # the driver stands in for a queue: it waits, the connector never does
            refused += 1
            time.sleep(min(error.retry_after, 0.05))
    print(json.dumps({"granted": granted, "refused": refused}))


if __name__ == "__main__":
    main()
