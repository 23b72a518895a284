"""Connectors: one module per external system (HubSpot, Salesforce, kintone), behind one base interface."""
