"""Bridge: lead handoff middleware between HubSpot and Salesforce / kintone."""

from bridge.app import create_app

__version__ = "0.1.0"
__all__ = ["create_app", "__version__"]
