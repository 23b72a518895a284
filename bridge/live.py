"""The routes and rules files in force (handoff, feedback, sla), reloaded when an admin saves a file (no restart)."""

from __future__ import annotations

import logging
from pathlib import Path

from bridge.config import Settings
from bridge.feedback.load import FEEDBACK_FILE, load_feedback
from bridge.feedback.rules import FeedbackRules
from bridge.handoff.load import load_rules
from bridge.handoff.rules import Rules
from bridge.mapping import MappingError, Route, load_routes
from bridge.sla.load import SLA_FILE, load_sla
from bridge.sla.rules import SlaRules

log = logging.getLogger(__name__)


class LiveMappings:
    """Loads the mappings folder at start-up (raising MappingError when broken) and again whenever a
    file in it changes; a broken change is logged and the previous version stays in force."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._signature = self._files()
        self.routes: dict[str, Route] = load_routes(settings.mappings_dir, settings.env)
        self.rules: Rules = load_rules(settings.mappings_dir)
        self.feedback: FeedbackRules | None = self._optional(FEEDBACK_FILE, load_feedback)
        self.sla: SlaRules | None = self._optional(SLA_FILE, load_sla)
        for name, rules, what in ((FEEDBACK_FILE, self.feedback, "sales feedback is"),
                                  (SLA_FILE, self.sla, "the SLA timers are")):
            if rules is None:
                log.warning("%s is not in %s: %s off (copy it from `bridge init` into that folder)", name,
                            settings.mappings_dir, what)

    def _optional(self, name: str, load):
        """A rules file added after the first release; None when the folder was made before it existed."""
        folder = Path(self.settings.mappings_dir)
        return load(folder) if (folder / name).is_file() else None

    def _files(self) -> tuple:
        folder = Path(self.settings.mappings_dir)
        return tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.glob("*.y*ml")))

    def refresh(self) -> bool:
        """Reload if a file changed since the last look; True when new mappings took effect."""
        signature = self._files()
        if signature == self._signature:
            return False
        self._signature = signature
        try:
            routes, rules = load_routes(self.settings.mappings_dir, self.settings.env), \
                load_rules(self.settings.mappings_dir)
            feedback, sla = self._optional(FEEDBACK_FILE, load_feedback), self._optional(SLA_FILE, load_sla)
        except MappingError as error:
            log.error("mappings changed but are broken; the previous version stays in force:\n%s", error)
            return False
        self.routes, self.rules, self.feedback, self.sla = routes, rules, feedback, sla
        log.info("mappings reloaded: %d route(s), handoff rules with %d criteria", len(routes), len(rules.criteria))
        return True

    def targets(self) -> list[Route]:
        """The enabled routes from HubSpot contacts: where a handed-off lead is written."""
        return [route for route in self.routes.values()
                if route.enabled and route.source.system == "hubspot" and route.source.object == "contacts"]
