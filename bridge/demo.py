"""`bridge demo`: the sandbox and the real service on loopback, a realistic set of leads driven
through real HTTP (signed HubSpot webhooks and /api/activities), then a report of what happened."""

from __future__ import annotations

import math
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import requests

from bridge.config import API_TOKENS, SHIPPED_MAPPINGS
from bridge.demo_reconcile import reconcile_story
from bridge.demo_way_back import DEMO_SLA, way_back
from bridge.kernel.clock import parse_iso
from bridge.mapping.names import join_name
from bridge.store import Store
from connectors.sandbox import RunningSandbox, Sandbox, serve

#: Settings of the user's shell that must not leak into the demo's service.
OWN_PREFIXES = ("BRIDGE_", "HUBSPOT_", "SALESFORCE_", "KINTONE_", "SLACK_")


@dataclass(frozen=True)
class DemoLead:
    """A contact as it is in HubSpot, what it then does, and what the shipped rules should decide."""

    lastname: str
    firstname: str
    company: str
    jobtitle: str
    industry: str
    numemployees: str | None
    email: str
    activities: tuple[str, ...]
    expect: str  # handoff | not yet | excluded
    note: str
    by_email: bool = True  # the website tag knows the email; a webinar tool may send the HubSpot id


# The worked example and its neighbours: just below a threshold, exactly on one, excluded personas,
# Japanese and English titles (full-width ＣＥＯ included), free-text industries in both languages.
DEMO_LEADS: tuple[DemoLead, ...] = (
    DemoLead("山田", "太郎", "株式会社サンプル", "営業部長", "SaaS", "100-500", "t.yamada@sample.example",
             ("whitepaper_download", "whitepaper_download", "pricing_page_visit"), "handoff",
             "the worked example: 45 + 70 = 115 with a pricing visit"),
    DemoLead("佐藤", "花子", "株式会社ミライソフト", "情報システム部長", "ソフトウェア", "100-500",
             "hanako.sato@mirai-soft.example",
             ("whitepaper_download", "whitepaper_download"), "not yet",
             "the worked example without the pricing visit: 85"),
    DemoLead("Carter", "Emily", "Northwind Cloud Inc.", "VP of Sales", "Cloud Software", "500-1000",
             "emily.carter@northwind.example", ("seminar_attended", "whitepaper_download"), "handoff",
             "seminar attendee at 105", by_email=False),
    DemoLead("鈴木", "一郎", "東洋精密工業株式会社", "生産管理課長", "製造業", "50-100", "suzuki@toyo-seimitsu.example",
             ("pricing_page_visit", "whitepaper_download", "email_click", "email_open", "email_open"), "not yet",
             "just below: 95 with a pricing visit"),
    DemoLead("高橋", "美咲", "株式会社ネクストクラウド", "マーケティング担当", "クラウド", "25-50",
             "misaki.takahashi@nextcloud.example",
             ("pricing_page_visit", "whitepaper_download", "whitepaper_download", "email_click"), "handoff",
             "exactly on the threshold: 100"),
    DemoLead("伊藤", "健", "伊藤商店", "取締役", "SaaS", "100-500", "ken.ito1975@gmail.com",
             ("pricing_page_visit", "seminar_attended", "whitepaper_download"), "excluded", "free-mail address"),
    DemoLead("渡辺", "翔太", "東京工科大学", "大学院生", "情報通信", None, "watanabe@tokyo-koka.example",
             ("seminar_attended", "pricing_page_visit", "whitepaper_download", "whitepaper_download"), "excluded",
             "a student"),
    DemoLead("Miller", "James", "Competitor Corp", "Director of Product", "SaaS", "1000+",
             "james.miller@competitor.example", ("pricing_page_visit", "pricing_page_visit", "whitepaper_download"),
             "excluded", "a competitor's domain"),
    DemoLead("中村", "由美", "株式会社さくら銀行", "経営企画部 部長", "金融", "1000+",
             "yumi.nakamura@sakura-bank.example",
             ("seminar_attended",), "not yet", "seminar attendee just below 80: 75"),
    DemoLead("小林", "直樹", "株式会社アオバ広告", "営業マネージャー", "広告", "100-500", "kobayashi@aoba-ad.example",
             ("seminar_attended", "email_click", "product_page_visit", "product_page_visit"), "handoff",
             "seminar attendee at 90", by_email=False),
    DemoLead("Johnson", "Sarah", "Acme Analytics", "Data Analyst", "Software", "50-100", "sarah.johnson@acme.example",
             ("email_open", "email_open", "email_open"), "not yet", "only opened emails: 45"),
    DemoLead("加藤", "さくら", "株式会社ひかりソフト", "ＣＥＯ", "ソフトウェア", "5-25", "kato@hikari-soft.example",
             ("whitepaper_download", "pricing_page_visit", "product_page_visit", "product_page_visit"), "handoff",
             "full-width ＣＥＯ is a CEO: 100"),
    DemoLead("吉田", "大輔", "株式会社ミドリ商事", "営業", "卸売", "25-50", "d.yoshida@midori-shoji.example",
             ("pricing_page_visit",), "not yet", "one pricing visit, nothing else: 30"),
    DemoLead("Brown", "Michael", "Globex Manufacturing", "Plant Manager", "Manufacturing", "500-1000",
             "m.brown@globex.example", ("pricing_page_visit", "whitepaper_download", "whitepaper_download",
                                        "email_click"), "handoff", "adjacent industry, 105"),
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Stack:
    """A running sandbox and a running `bridge serve` (gunicorn + worker) pointed at each other."""

    sandbox: RunningSandbox
    url: str
    folder: Path
    api_tokens: dict[str, str]  # one per API: "activities", "leads", "admin"
    admin_password: str
    store: Store
    log_path: Path
    posted: dict[str, datetime] = field(default_factory=dict)  # activity id -> when Bridge accepted it
    env: dict[str, str] = field(default_factory=dict, repr=False)  # the settings `bridge serve` runs with

    def command(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run `bridge ARGS…` with the stack's settings, as an admin at the same machine would."""
        return subprocess.run([sys.executable, "-m", "bridge", *args], cwd=self.folder, env=self.env,  # noqa: S603
                              capture_output=True, text=True, timeout=timeout, check=False)

    def create_contacts(self, records: list[dict]) -> list[str]:
        """Create contacts in the sandbox's HubSpot as a user would: it sends signed creation webhooks."""
        reply = requests.post(f"{self.sandbox.base_url}/_sandbox/hubspot/contacts", json={"records": records},
                              timeout=30)
        reply.raise_for_status()
        return reply.json()["ids"]

    def post_activities(self, items: list[dict]) -> None:
        for start in range(0, len(items), 1000):
            batch = items[start:start + 1000]
            reply = requests.post(f"{self.url}/api/activities", json=batch, timeout=30,
                                  headers={"Authorization": f"Bearer {self.api_tokens['activities']}"})
            if reply.status_code != 202:
                raise RuntimeError(f"/api/activities answered {reply.status_code}: {reply.text[:300]}")
            accepted = datetime.now(UTC)
            self.posted.update({item["id"]: accepted for item in batch})

    def busy(self) -> bool:
        """Whether anything is still queued: webhooks in the sandbox, events, evaluations or writes in Bridge."""
        self.sandbox.sandbox.flush(timeout=10)
        inbox, outbox = self.store.inbox.counts(), self.store.outbox.counts()
        return bool(inbox["pending"] or inbox["processing"] or outbox["pending"] or outbox["processing"]
                    or self.store.leads.dirty(1))

    def settle(self, timeout: float = 60.0) -> None:
        """Wait until nothing is queued anywhere twice in a row (a write-back's webhooks come after it)."""
        deadline, quiet = time.monotonic() + timeout, 0
        while quiet < 2:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Bridge did not settle within {timeout:.0f} s; see {self.log_path}")
            quiet = 0 if self.busy() else quiet + 1
            time.sleep(0.2)


def copy_mappings(folder: Path, kintone: bool, sla: str | None = None) -> Path:
    """The shipped mappings copied into `folder`, with the kintone route enabled when `kintone`."""
    target = folder / "mappings"
    shutil.copytree(SHIPPED_MAPPINGS, target)
    if sla is not None:  # the demo's policy in seconds instead of business days
        (target / "sla.yaml").write_text(sla, encoding="utf-8")
    if kintone:  # the demo shows both targets; a real installation usually enables one
        route = target / "hubspot-contact-to-kintone.yaml"
        route.write_text(re.sub(r"^enabled: false", "enabled: true", route.read_text(encoding="utf-8"), flags=re.M),
                         encoding="utf-8")
    return target


@contextmanager
def running_stack(folder: Path, kintone: bool = True, extra_env: dict[str, str] | None = None,
                  port: int | None = None, sla: str | None = None) -> Iterator[Stack]:
    """Start the sandbox in this process and `bridge serve` as a child process, both on loopback."""
    with serve(Sandbox()) as sandbox:
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        api_tokens, admin_password = {api: secrets.token_urlsafe(24) for api in API_TOKENS}, secrets.token_urlsafe(12)
        env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
        env.update(sandbox.sandbox.env())
        env.update({
            "BRIDGE_DB": str(folder / "bridge.db"), "BRIDGE_MAPPINGS": str(copy_mappings(folder, kintone, sla)),
            **{API_TOKENS[api]: token for api, token in api_tokens.items()}, "BRIDGE_ADMIN_PASSWORD": admin_password,
            "HUBSPOT_WEBHOOK_URL": f"{url}/webhooks/hubspot", "BRIDGE_LOG_LEVEL": "INFO",
            # the counters' folder lives in ours, so it goes with it even if `bridge serve` has to be killed
            "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="metrics-", dir=folder),
            **(extra_env or {}),
        })
        log_path = folder / "bridge.log"
        with log_path.open("wb") as log:
            child = subprocess.Popen([sys.executable, "-m", "bridge", "serve", "--bind", f"127.0.0.1:{port}"],  # noqa: S603
                                     cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(url, child, log_path)
            sandbox.sandbox.send_webhooks_to(url)
            yield Stack(sandbox, url, folder, api_tokens, admin_password, Store(folder / "bridge.db"), log_path,
                        env=env)
        finally:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()


def _wait_ready(url: str, child: subprocess.Popen, log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise click.ClickException(f"bridge serve exited with {child.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or a worker still booting
            pass
        time.sleep(0.1)
    raise click.ClickException(f"bridge serve was not ready within {timeout:.0f} s; see {log_path}")


def activities_of(leads: tuple[DemoLead, ...], ids: list[str], now: datetime) -> list[dict]:
    """Each lead's activities over the last days, keyed by email (website tag) or HubSpot id (webinar tool)."""
    items = []
    for lead, contact_id in zip(leads, ids, strict=True):
        key = {"email": lead.email.upper() if "@" in lead.email else lead.email} if lead.by_email \
            else {"hubspot_id": contact_id}
        for n, kind in enumerate(lead.activities):
            when = now - timedelta(days=len(lead.activities) - n, minutes=n)
            items.append({"id": f"demo-{contact_id}-{n}", "type": kind, "occurred_at": when.isoformat(), **key})
    return items


def _minimum_calls(contacts: int, handoffs: int, kintone: bool) -> dict[str, int]:
    return {
        "hubspot.batch_read": math.ceil(contacts / 100),
        "salesforce.upsert": math.ceil(handoffs / 200),
        "kintone.records_update": math.ceil(handoffs / 100) if kintone else 0,
        "hubspot.batch_update": math.ceil(handoffs / 100),
    }


def report(stack: Stack, leads: tuple[DemoLead, ...], ids: list[str], kintone: bool) -> list[str]:
    """The demo's findings, line by line."""
    lines: list[str] = []
    rows, mismatches, handed = [], [], []
    for lead, contact_id in zip(leads, ids, strict=True):
        row = stack.store.leads.find(hubspot_id=contact_id) or {}
        outcome = "excluded" if row.get("excluded") else "handoff" if row.get("handed_off_at") else "not yet"
        if outcome != lead.expect:
            mismatches.append(f"{join_name(lead.lastname, lead.firstname)}: expected {lead.expect}, got {outcome}")
        if outcome == "handoff":
            handed.append((lead, row))
        mark = {"handoff": "→ SFA", "not yet": "  wait", "excluded": "  excl"}[outcome]
        rows.append(f"  {mark}  {join_name(lead.lastname, lead.firstname)} ({lead.company}) {row.get('score', '?')} "
                    f"{row.get('stage', '?')}/{row.get('temperature', '?')} — {lead.note}\n"
                    f"          {row.get('handoff_reason') or row.get('summary') or '(not evaluated)'}")
    lines.append(f"Leads: {len(leads)} — handed off {len(handed)}, not yet "
                 f"{sum(1 for r in rows if '  wait' in r)}, excluded {sum(1 for r in rows if '  excl' in r)}")
    lines += rows
    sf = list(stack.sandbox.sandbox.salesforce.store.all())
    lines.append(f"\nSalesforce sandbox: {len(sf)} Lead(s) created, upserted on HubSpot_Contact_Id__c")
    for record in sf[:3]:
        lines.append(f"  {record['Id']}  {join_name(record.get('LastName') or '', record.get('FirstName') or '')} / "
                     f"{record.get('Company')}  score {record.get('Bridge_Score__c')}")
    if kintone:
        records = requests.get(f"{stack.sandbox.base_url}/_sandbox/kintone/apps/1/records", timeout=10).json()
        count = len(records if isinstance(records, list) else records.get("records", []))
        lines.append(f"kintone sandbox: {count} record(s) in app 1, upserted on the HubSpot id field")
    written = [stack.store.leads.find(hubspot_id=i) for i in ids]
    back = sum(1 for r in written if r and r.get("handed_off_at"))
    lines.append(f"HubSpot write-back: {back} contact(s) set to lifecyclestage=marketingqualifiedlead with "
                 "bridge_score/stage/temperature and the new record ids")
    echoes = stack.store.changes.count("echo")
    lines.append(f"Echoes ignored: {echoes} webhook event(s) caused by Bridge's own write-back triggered nothing")
    calls = stack.sandbox.sandbox.calls
    minimum = _minimum_calls(len(ids), len(handed), kintone)
    used = {endpoint: calls.count(endpoint) for endpoint in minimum}
    lines.append(f"\nAPI calls (excluding token requests): {sum(used.values())} used, {sum(minimum.values())} "
                 "minimum with full batches")
    lines += [f"  {endpoint:<26} {used[endpoint]:>3}  (minimum {minimum[endpoint]})" for endpoint in minimum]
    latencies = []
    for _lead, row in handed:
        record = next((r for r in sf if r.get("HubSpot_Contact_Id__c") == row.get("hubspot_id")), None)
        accepted = [stack.posted[key] for key in stack.posted if key.startswith(f"demo-{row.get('hubspot_id')}-")]
        if record and accepted:
            latencies.append((parse_iso(str(record["CreatedDate"])) - max(accepted)).total_seconds() * 1000)
    if latencies:
        lines.append(f"\nLatency, activities accepted → Salesforce Lead created: median "
                     f"{statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms, {len(latencies)} lead(s)")
    if mismatches:
        lines.append("\nUNEXPECTED: " + "; ".join(mismatches))
    return lines


@contextmanager
def scratch_folder() -> Iterator[Path]:
    """The demo's temporary folder (database, mappings, log): removed when the demo ends, by Ctrl-C or SIGTERM
    too; kept and named when the demo fails, since its bridge.log says why."""
    folder = Path(tempfile.mkdtemp(prefix="bridge-demo-"))

    def stop(*_: object) -> None:
        raise KeyboardInterrupt  # SIGTERM ends the demo like Ctrl-C, through the clean-up below

    previous = signal.signal(signal.SIGTERM, stop) if threading.current_thread() is threading.main_thread() else None
    try:
        yield folder
    except Exception:
        click.echo(f"the demo failed; its files are kept in {folder} (see bridge.log there)", err=True)
        raise
    except BaseException:  # Ctrl-C, SIGTERM, exit: nothing worth keeping
        shutil.rmtree(folder, ignore_errors=True)
        raise
    else:
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@click.command()
@click.option("--keep", is_flag=True, help="keep the sandbox and the service running to explore (Ctrl-C stops)")
@click.option("--no-kintone", is_flag=True, help="hand off to Salesforce only")
def demo(keep: bool, no_kintone: bool) -> None:
    """Run Bridge end to end against the local sandbox: no accounts, nothing left behind."""
    kintone = not no_kintone
    with scratch_folder() as folder, running_stack(folder, kintone=kintone, sla=DEMO_SLA) as stack:
        click.echo(f"sandbox {stack.sandbox.base_url} · bridge serve {stack.url} · {folder}")
        leads = DEMO_LEADS
        ids = stack.create_contacts([
            {k: v for k, v in {"lastname": lead.lastname, "firstname": lead.firstname, "company": lead.company,
                               "jobtitle": lead.jobtitle, "industry": lead.industry,
                               "numemployees": lead.numemployees, "email": lead.email}.items() if v}
            for lead in leads])
        click.echo(f"created {len(ids)} HubSpot contacts; the sandbox sends signed webhooks …")
        stack.settle()
        stack.post_activities(activities_of(leads, ids, datetime.now(UTC)))
        click.echo("posted their activities to /api/activities …")
        stack.settle()
        click.echo("\n".join(["", *report(stack, leads, ids, kintone)]))
        handed = [i for i in ids if (stack.store.leads.find(hubspot_id=i) or {}).get("handed_off_at")]
        click.echo("\n".join(way_back(stack, handed)))
        stack.settle()
        click.echo("\n".join(reconcile_story(stack, kintone)))
        if keep:
            click.echo(f"\nStill running. Admin pages: {stack.url}/admin (password {stack.admin_password})\n"
                       + "".join(f"{API_TOKENS[api]}={token}\n" for api, token in stack.api_tokens.items())
                       + f"Sandbox control API: {stack.sandbox.base_url}/_sandbox\n"
                       f"Ctrl-C stops both and removes {folder}.")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                click.echo(f"\nstopped; removing {folder}")
