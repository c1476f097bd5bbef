def test_status_after_create(api, connector):
    r = api.get("/api/v1/connector")
    assert r.status_code == 200
    assert r.get_json()["state"] == "paused"
