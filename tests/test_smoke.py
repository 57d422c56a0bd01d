"""A first end-to-end check that the app answers over HTTP on both databases."""


def test_create_and_read_user(rfc):
    """RFC 7644 §3.3 create, §3.4.1 read back by id."""
    user = rfc.create_user("smoke.user")
    r = rfc.get(f"/Users/{user['id']}")
    assert r.status_code == 200
    assert r.json()["userName"] == "smoke.user"


def test_healthz(http):
    assert http.get("/healthz").status_code == 200
