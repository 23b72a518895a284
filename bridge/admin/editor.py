"""What admins do to a mapping file: list, check, preview, save as a new version, restore an old one."""

from __future__ import annotations

import difflib
import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

from bridge.admin.samples import (
    RecordProblem,
    SampleChange,
    SampleHandoff,
    SampleLead,
    change_from,
    handoff_from,
    lead_from,
    record_from,
    sample_changes,
    sample_handoffs,
    sample_leads,
)
from bridge.config import Settings
from bridge.feedback.events import SalesEvent, sales_events
from bridge.feedback.load import FEEDBACK_FILE, check_feedback_text
from bridge.feedback.rules import FeedbackRules
from bridge.feedback.writeback import Feedback, feedback
from bridge.handoff.evaluate import Decision, evaluate
from bridge.handoff.load import RULES_FILE, check_rules_text
from bridge.handoff.rules import Rules
from bridge.mapping.apply import Preview, preview_route
from bridge.mapping.describe import ConnectorDescriptions
from bridge.mapping.files import check_text_once, load_document, route_files, save_mapping, write_atomically
from bridge.mapping.loader import check_text
from bridge.mapping.model import TO_SOURCE, TO_TARGET, Route
from bridge.mapping.problems import MappingError, Problem
from bridge.mapping.rulesfile import check_once
from bridge.mapping.sample import sample_record
from bridge.sla.clock import reminder_times
from bridge.sla.load import SLA_FILE, check_sla_text
from bridge.sla.rules import Policy, Reminder, SlaRules
from bridge.store import Store
from connectors.base import Connector

ROUTE, HANDOFF, FEEDBACK, SLA = "route", "handoff", "feedback", "sla"
#: The rules files beside the routes: their kind, file name and check (the routes are every other YAML file).
RULES_FILES = {HANDOFF: (RULES_FILE, check_rules_text), FEEDBACK: (FEEDBACK_FILE, check_feedback_text),
               SLA: (SLA_FILE, check_sla_text)}
BASELINE_AUTHOR = "(file)"  # versions Bridge records itself: the text found on disk
BASELINE_NOTE = "管理画面で最初に保存する前のファイル / the file before the first save from the admin pages"
MAX_NOTE = 200
DRIFT_NOTE = "管理画面の外で変更されたファイル / the file as changed outside the admin pages"
SHIPPED_READ_ONLY = (
    "Bridge に同梱の初期マッピングは保存できません。サーバーで `bridge init` を実行して編集用のコピーを作るか、"
    "BRIDGE_MAPPINGS を設定して再起動してください / these are the default mappings shipped with Bridge and cannot "
    "be saved: run `bridge init` on the server for an editable copy in ./mappings, or set BRIDGE_MAPPINGS, then "
    "restart Bridge"
)


@dataclass(frozen=True)
class MappingFile:
    name: str  # the file name, e.g. hubspot-contact-to-kintone.yaml; also its key in the history
    path: Path
    kind: str  # ROUTE, or a kind of RULES_FILES


@dataclass
class Checked:
    """A text's check: errors block saving; warnings and notes (live checks skipped or failed) do not."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    route: Route | None = None
    rules: Rules | FeedbackRules | SlaRules | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class FileStatus:
    """One row of the file list."""

    file: MappingFile
    checked: Checked
    enabled: bool | None  # None: not known (unreadable header) or not applicable (handoff rules)
    description: str | None
    versions: int
    last: dict | None  # the newest version row: author, created_at …


@dataclass(frozen=True)
class Saved:
    version: int | None  # None: the text equals the active file, nothing was stored
    checked: Checked


@dataclass(frozen=True)
class RoutePreview:
    route: Route
    preview: Preview
    sample: bool  # True: the built-in sample record was used


@dataclass(frozen=True)
class LeadResult:
    lead: SampleLead
    decision: Decision


@dataclass(frozen=True)
class HandoffPreview:
    results: tuple[LeadResult, ...]
    sample: bool


@dataclass(frozen=True)
class FeedbackResult:
    """A sales record's change, the events it means, and what HubSpot then hears."""

    case: SampleChange
    events: tuple[SalesEvent, ...]
    told: Feedback


@dataclass(frozen=True)
class FeedbackPreview:
    results: tuple[FeedbackResult, ...]
    sample: bool


@dataclass(frozen=True)
class PolicyTimes:
    """One policy's first-touch deadline for a handoff, and when each of its reminders goes out."""

    policy: Policy
    deadline: datetime
    reminders: tuple[tuple[Reminder, datetime], ...]


@dataclass(frozen=True)
class HandoffTimes:
    handoff: SampleHandoff
    starts: datetime  # when the clock starts counting: the handoff itself, or the next opening
    policies: tuple[PolicyTimes, ...]


@dataclass(frozen=True)
class SlaPreview:
    """Each policy's deadlines for sample handoff times, and the closed days of the year (weekends aside)."""

    zone: str
    results: tuple[HandoffTimes, ...]
    year: int
    closed: tuple[tuple[date, str], ...]
    sample: bool


class Rejected(Exception):
    """A text that was not saved, with every problem; the active file is untouched."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class Conflict(Exception):
    """The file changed after the editor opened it; saving would silently drop someone's change."""

    def __init__(self, current_text: str, version: int | None):
        self.current_text, self.version = current_text, version
        super().__init__(f"the file changed since it was opened (now version {version})")


class NoSample(Exception):
    """No built-in record exists for this object: the admin has to paste one."""

    def __init__(self, system: str, object_name: str):
        self.system, self.object = system, object_name
        super().__init__(f"no built-in sample record for {system} {object_name}")


def fingerprint(text: str) -> str:
    """What an editor sends back as `base`, to find out whether the file changed meanwhile."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def unified_diff(old: str, new: str, name: str) -> str:
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 fromfile=f"{name} (before)", tofile=f"{name} (after)")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def normalise_newlines(text: str) -> str:
    """Browsers send a textarea with CRLF line ends; the files use LF, and so must the diffs."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class Editor:
    """The mapping folder as the admin pages and API see it; writes are versioned and audited."""

    def __init__(self, settings: Settings, store: Store, clock: Callable[[], datetime],
                 connectors: Mapping[str, Connector]):
        self.settings, self.store, self.clock, self.connectors = settings, store, clock, connectors
        self.folder = settings.mappings_dir
        # The defaults inside the installed package: never written (an upgrade would undo it, and the package
        # folder may be shared or read-only). Saving needs `bridge init` or BRIDGE_MAPPINGS.
        self.read_only = settings.mappings_shipped

    # -- reading ----------------------------------------------------------------------------
    def files(self) -> list[MappingFile]:
        if not self.folder.is_dir():
            return []
        found = [MappingFile(p.name, p, ROUTE) for p in route_files(self.folder)]
        for kind, (name, _) in RULES_FILES.items():
            if (self.folder / name).is_file():
                found.append(MappingFile(name, self.folder / name, kind))
        return found

    def file(self, name: str) -> MappingFile | None:
        """Only names in the listing resolve, so a URL can never reach outside the folder."""
        return next((f for f in self.files() if f.name == name), None)

    def read(self, file: MappingFile) -> str:
        return file.path.read_text(encoding="utf-8", errors="replace")

    def status(self) -> list[FileStatus]:
        rows = []
        for file in self.files():
            text = self.read(file)
            checked = self.check(file, text)
            versions = self.store.admin.mapping_versions(file.name)
            if checked.route is not None:  # parsing YAML is the slow part: reuse what the check read
                enabled, description = checked.route.enabled, checked.route.description
            else:
                header = _header(text)
                enabled = header.get("enabled", True) if file.kind == ROUTE and header else None
                description = header.get("description")
            rows.append(FileStatus(
                file=file, checked=checked, enabled=enabled if isinstance(enabled, bool) else None,
                description=str(description) if description else None,
                versions=len(versions), last=versions[0] if versions else None,
            ))
        return rows

    def latest_version(self, file: MappingFile) -> int | None:
        versions = self.store.admin.mapping_versions(file.name)
        return versions[0]["version"] if versions else None

    def version_text(self, file: MappingFile, version: int) -> str | None:
        row = self.store.admin.mapping_version(file.name, version)
        return row["text"] if row else None

    # -- checking and previewing ------------------------------------------------------------
    def check(self, file: MappingFile, text: str, live: bool = False) -> Checked:
        """Validate `text` as `file`; `live` also checks fields against systems with API access."""
        if file.kind in RULES_FILES:
            rules, problems = check_once(RULES_FILES[file.kind][1], text, file.path)
            return Checked(errors=self._local(problems), rules=rules)
        describe = self._describe() if live else None
        loaded = check_text(text, file.path, self.settings.env, describe) if describe is not None \
            else check_text_once(text, file.path, self.settings.env)  # the list page checks every file each view
        notes = [*describe.failures, *describe.skipped] if describe else []
        return Checked(self._local(loaded.errors), self._local(loaded.warnings), notes, route=loaded.route)

    def preview(self, file: MappingFile, text: str, record: Any | None,
                direction: str = TO_TARGET) -> RoutePreview | HandoffPreview | FeedbackPreview | SlaPreview:
        """Apply unsaved `text` to `record` (parsed JSON; None: the built-in samples).

        Raises Rejected when the text has errors, RecordProblem or NoSample for the record.
        """
        checked = self.check(file, text)
        if checked.errors:
            raise Rejected(checked.errors)
        if file.kind == FEEDBACK:
            now = self.clock()
            cases = sample_changes() if record is None else (change_from(record),)
            results = []
            for case in cases:
                events = tuple(sales_events(checked.rules, case.system, case.object, "preview", case.before,
                                            case.after, now))
                results.append(FeedbackResult(case, events, feedback(checked.rules, events, case.lifecycle)))
            return FeedbackPreview(tuple(results), sample=record is None)
        if file.kind == SLA:
            try:
                return _sla_preview(checked.rules, self.clock(), record)
            except RecordProblem:
                raise
            except ValueError as error:  # e.g. closures that leave no business day: the arithmetic cannot end
                raise Rejected([Problem(file.name, None, "calendar", str(error))]) from None
        if checked.rules is not None:
            now = self.clock()
            leads = sample_leads(now) if record is None else (lead_from(record, now),)
            return HandoffPreview(tuple(LeadResult(lead, evaluate(lead.lead, lead.activities, checked.rules, now))
                                        for lead in leads), sample=record is None)
        route = checked.route
        assert route is not None  # no errors, so the route loaded
        if direction not in (TO_TARGET, TO_SOURCE):
            raise RecordProblem(f"direction must be {TO_TARGET} or {TO_SOURCE}")
        if record is None:
            side = route.source if direction == TO_TARGET else route.target
            record = sample_record(side.system, side.object)
            if record is None:
                raise NoSample(side.system, side.object)
            return RoutePreview(route, preview_route(route, record, direction), sample=True)
        return RoutePreview(route, preview_route(route, record_from(record), direction), sample=False)

    # -- saving -----------------------------------------------------------------------------
    def save(self, file: MappingFile, text: str, actor: str, note: str | None = None,
             base: str | None = None, restored_from: int | None = None) -> Saved:
        """Check, then write atomically and store a version; a rejected text leaves the file as it was.

        `base` is the fingerprint of the text the editor started from: when the file has changed
        since, Conflict is raised instead of overwriting someone else's save.
        """
        action = "save" if restored_from is None else "restore"
        if self.read_only:
            self._reject(actor, action, file, [Problem(file.name, None, "(folder)", SHIPPED_READ_ONLY)])
        text, note = normalise_newlines(text), (note or "").strip()[:MAX_NOTE] or None
        checked = self.check(file, text, live=True)
        if checked.errors:
            self._reject(actor, action, file, checked.errors)
        with _folder_lock(file.path.parent):
            current = self.read(file)
            if base is not None and base != fingerprint(current):
                raise Conflict(current, self.latest_version(file))
            if text == current:
                return Saved(None, checked)
            self._keep_current(file, current)
            try:
                self._write(file, text)
            except MappingError as error:  # the same check again, without live fields: should not happen
                self._reject(actor, action, file, self._local(error.problems))
            version = self.store.admin.add_mapping_version(file.name, text, unified_diff(current, text, file.name),
                                                     actor, self.clock(), note)
        detail = f"version {version}" + (f" (restored from version {restored_from})" if restored_from else "")
        self.store.admin.audit(actor, action, file.name, detail + (f": {note}" if note else ""), self.clock())
        return Saved(version, checked)

    def restore(self, file: MappingFile, version: int, actor: str) -> Saved:
        """Save an old version's text again as the newest version (checked like any save)."""
        text = self.version_text(file, version)
        if text is None:
            raise LookupError(f"{file.name} has no version {version}")
        return self.save(file, text, actor, note=f"第 {version} 版を復元 / restored version {version}",
                         restored_from=version)

    def _keep_current(self, file: MappingFile, current: str) -> None:
        """Store the text on disk as a version when the history lacks it, so it can be restored."""
        newest = self.latest_version(file)
        if newest is None:
            self.store.admin.add_mapping_version(file.name, current, "", BASELINE_AUTHOR, self.clock(), BASELINE_NOTE)
            return
        known = self.version_text(file, newest) or ""
        if known != current:  # deployed or edited by hand since the last admin save
            self.store.admin.add_mapping_version(file.name, current, unified_diff(known, current, file.name),
                                           BASELINE_AUTHOR, self.clock(), DRIFT_NOTE)

    def _write(self, file: MappingFile, text: str) -> None:
        if file.kind == ROUTE:
            save_mapping(file.path, text, self.settings.env)  # checks once more, then replaces atomically
        else:
            write_atomically(file.path, text)

    def _reject(self, actor: str, action: str, file: MappingFile, problems: list[Problem]) -> NoReturn:
        first = str(problems[0]) if problems else ""
        detail = f"{len(problems)} problem(s); first: {first}"[:500]
        self.store.admin.audit(actor, f"{action}_rejected", file.name, detail, self.clock())
        raise Rejected(problems)

    def _describe(self) -> ConnectorDescriptions | None:
        """Live field checks only when some system has API access; otherwise nothing to ask."""
        connectors = self.connectors
        if not any(c.api_problem() is None for c in connectors.values()):
            return None
        return ConnectorDescriptions(connectors)

    def _local(self, problems: list[Problem]) -> list[Problem]:
        """Problems name the file as the admin knows it, not the server's absolute path."""
        return [replace(p, file=Path(p.file).name) for p in problems]


def _sla_preview(rules: SlaRules, now: datetime, record: Any | None) -> SlaPreview:
    """Every policy's deadline and reminders for the sample handoff times (or a pasted one), in the calendar's zone."""
    calendar = rules.calendar
    handoffs = sample_handoffs(now, calendar.zone) if record is None else (handoff_from(record, calendar.zone),)
    results = []
    for handoff in handoffs:
        times = []
        for policy in rules.policies:
            deadline = calendar.add(handoff.at, policy.first_touch.amount, policy.first_touch.unit)
            reminders = zip(policy.reminders, reminder_times(policy, calendar, deadline), strict=True)
            times.append(PolicyTimes(policy, deadline, tuple(reminders)))
        results.append(HandoffTimes(handoff, calendar.next_opening(handoff.at), tuple(times)))
    year = now.astimezone(calendar.zone).year
    return SlaPreview(str(calendar.zone), tuple(results), year, tuple(calendar.closed_days(year)),
                      sample=record is None)


def _header(text: str) -> dict:
    """The top-level keys of a file, for the list (enabled, description), even when it has errors."""
    return dict(_top_level(text))


@lru_cache(maxsize=32)
def _top_level(text: str) -> tuple[tuple[Any, Any], ...]:
    # parsed once per content, like the checks: the list page shows every file at each view
    try:
        document = load_document(text)
    except Exception:  # broken YAML: the check reports it; the list just shows less
        return ()
    return tuple(document.items()) if isinstance(document, dict) else ()


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """One save at a time per folder, across gunicorn workers too (flock on the folder itself)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock
