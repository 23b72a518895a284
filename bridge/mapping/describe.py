"""Field descriptions from the configured connectors, to check mappings against real objects."""

from __future__ import annotations

from collections.abc import Mapping

from bridge.kernel.errors import ConnectorError
from connectors.base import Connector, FieldInfo


class ConnectorDescriptions:
    """A `Describe` backed by each connector's describe(), asked once per object.

    A system without API access configured is not described (its fields go unchecked, listed in
    `skipped`); a describe call that fails is listed in `failures`, so a caller can refuse to trust
    a check it could not complete.
    """

    def __init__(self, connectors: Mapping[str, Connector]):
        self.connectors = connectors
        self.skipped: list[str] = []
        self.failures: list[str] = []
        self._cache: dict[tuple[str, str], dict[str, FieldInfo] | None] = {}

    def __call__(self, system: str, object_name: str) -> dict[str, FieldInfo] | None:
        key = (system, object_name)
        if key not in self._cache:
            self._cache[key] = self._describe(system, object_name)
        return self._cache[key]

    def _describe(self, system: str, object_name: str) -> dict[str, FieldInfo] | None:
        connector = self.connectors.get(system)
        problem = "no connector of that name" if connector is None else connector.api_problem()
        if connector is None or problem:
            self.skipped.append(f"{system} {object_name}: not checked against the live object ({problem})")
            return None
        try:
            return connector.describe(object_name)
        except ConnectorError as error:
            self.failures.append(f"{system} {object_name}: could not read its fields: {error}")
            return None
