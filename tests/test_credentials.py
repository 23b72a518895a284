"""One credential per purpose: each API opens only with its own token, and start-up refuses shared or retired ones."""

from __future__ import annotations

import pytest

from bridge.app import create_app
from bridge.config import API_TOKENS, SECRET_SETTINGS, load_settings
from bridge.kernel.errors import ConfigError
from tests.admin.conftest import ADMIN_ENV
from tests.conftest import BASE_ENV

#: The blueprint serving each API, so a route added to one is covered here without editing this test.
BLUEPRINTS = {"activities": "activities", "leads": "leads_api", "admin": "admin_api"}
SAMPLE_VALUES = {"name": "hubspot-contact-to-salesforce-lead.yaml", "version": 1, "lead_id": 1}
ACTIVITY = {"id": "web-1", "email": "hanako.sato@example.co.jp", "type": "pricing_page_visit",
            "occurred_at": "2026-11-21T10:00:00+09:00"}


def _routes(app, blueprint: str) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] == blueprint:
            url = rule.build({arg: SAMPLE_VALUES[arg] for arg in rule.arguments})[1]
            found += [(method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    assert found, f"no routes registered for blueprint {blueprint}"
    return found


def _body(api: str, url: str):
    if api == "activities":
        return [ACTIVITY]
    return {"all": True} if url.endswith("/replay") else {"text": "enabled: true\n"}


@pytest.mark.parametrize("holder", list(API_TOKENS))
@pytest.mark.parametrize("api", list(API_TOKENS))
def test_each_api_opens_only_with_its_own_token(make_settings, clock, holder, api):
    """The 3 × 3 pairings: the activities token is refused by the leads and admin APIs and vice versa."""
    app = create_app(make_settings(**ADMIN_ENV), clock=clock)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {BASE_ENV[API_TOKENS[holder]]}"}
    for method, url in _routes(app, BLUEPRINTS[api]):
        response = client.open(url, method=method, headers=headers, json=_body(api, url))
        if holder == api:
            assert response.status_code not in (401, 403, 503), (holder, method, url, response.text)
        else:
            assert response.status_code == 401, (holder, method, url)
            assert API_TOKENS[api] in response.text  # names the setting whose token this API wants
            assert BASE_ENV[API_TOKENS[holder]] not in response.text


@pytest.mark.parametrize("api", list(API_TOKENS))
def test_an_api_without_its_token_is_off_and_names_the_setting(make_settings, api):
    app = create_app(make_settings(**{API_TOKENS[api]: None}, **ADMIN_ENV))
    client = app.test_client()
    for method, url in _routes(app, BLUEPRINTS[api]):
        response = client.open(url, method=method, json=_body(api, url),
                               headers={"Authorization": "Bearer anything-at-all-0123456789"})
        assert response.status_code == 503, (method, url)
        assert API_TOKENS[api] in response.text


def _problems(tmp_path, **env) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE_ENV, "BRIDGE_DB": str(tmp_path / "bridge.db"), **env}, dotenv=None)
    return caught.value.problems


def test_the_retired_all_purpose_token_refuses_start_up_naming_the_replacements(tmp_path):
    retired = "old-all-powerful-token-0123456789"
    [problem] = _problems(tmp_path, BRIDGE_API_TOKEN=retired)
    assert problem.startswith("BRIDGE_API_TOKEN is no longer used")
    assert all(name in problem for name in API_TOKENS.values())
    assert retired not in problem


@pytest.mark.parametrize("other", [name for name in SECRET_SETTINGS if name != "BRIDGE_LEADS_TOKEN"])
def test_a_token_sharing_its_value_with_any_other_secret_refuses_start_up(tmp_path, other):
    shared = "https://hooks.example.invalid/shared-0123456789" if other == "SLACK_WEBHOOK_URL" \
        else "shared-value-0123456789abcdef"
    problems = _problems(tmp_path, BRIDGE_LEADS_TOKEN=shared, **{other: shared})
    reuse = [p for p in problems if "same value" in p]
    assert len(reuse) == 1, problems
    assert "BRIDGE_LEADS_TOKEN" in reuse[0] and other in reuse[0] and "one purpose" in reuse[0]
    assert not any(shared in p for p in problems)


def test_every_pair_of_tokens_must_differ(tmp_path):
    same = "the-same-token-0123456789"
    problems = _problems(tmp_path, **{name: same for name in API_TOKENS.values()})
    assert len(problems) == 3 and all("same value" in p and same not in p for p in problems)


def test_distinct_tokens_start(make_settings):
    settings = make_settings()
    assert settings.api_tokens == {api: BASE_ENV[name] for api, name in API_TOKENS.items()}
    assert not any(token in repr(settings) for token in settings.api_tokens.values())


def test_a_malformed_slack_url_is_reported_without_its_value(tmp_path):
    [problem] = _problems(tmp_path, SLACK_WEBHOOK_URL="hooks.slack.invalid/services/T0/B0/secret-part")
    assert "SLACK_WEBHOOK_URL" in problem and "secret-part" not in problem
