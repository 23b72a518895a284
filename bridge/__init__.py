"""Bridge: lead handoff middleware between HubSpot and Salesforce / kintone."""

__version__ = "0.1.0"
__all__ = ["create_app", "__version__"]


def create_app(settings=None, **options):
    """Build the Flask app (imported lazily so `connectors` can import `bridge.kernel.errors` without a cycle)."""
    from bridge.app import create_app as build

    return build(settings, **options)
