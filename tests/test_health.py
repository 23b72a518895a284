"""Liveness and readiness."""

from bridge.app import create_app


def test_healthz(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_when_ready(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "migrations": "ok", "mappings": "ok"}


def test_readyz_names_a_mappings_folder_that_went_missing(make_settings, tmp_path):
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("handoff.yaml", "hubspot-contact-to-salesforce-lead.yaml", "hubspot-contact-to-kintone.yaml"):
        (tmp_path / name).replace(moved / name)
    client = create_app(make_settings(BRIDGE_MAPPINGS=str(moved))).test_client()
    moved.rename(tmp_path / "nowhere")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "moved" in response.json["checks"]["mappings"]


def test_metrics_count_refusals(client):
    client.post("/webhooks/hubspot", data=b"[]")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'bridge_webhook_requests_total{outcome="401",source="hubspot"}' in body


def test_metrics_show_queues_and_leads_from_the_database(client, store):
    from tests.helpers import hubspot_event, post_hubspot

    post_hubspot(client, [hubspot_event(1), hubspot_event(2)])
    body = client.get("/metrics").get_data(as_text=True)
    assert 'bridge_queue_items{queue="inbox",status="pending"} 2.0' in body
    assert 'bridge_queue_items{queue="outbox",status="dead"} 0.0' in body
    assert 'bridge_leads{state="handed_off"} 0.0' in body


def test_unknown_source_is_404_listing_known_ones(client):
    response = client.post("/webhooks/marketo", data=b"{}")
    assert response.status_code == 404 and "hubspot" in response.json["error"]
