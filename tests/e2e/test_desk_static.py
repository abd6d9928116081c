"""The desk's files over HTTP, no signature needed: the page, its modules with a JavaScript type,
a strict Content-Security-Policy, nothing outside ``gateway/desk/``, and /docs as Swagger UI."""

import http.client

import pytest


def get(server, path: str) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_the_desk_is_served_at_the_root_with_a_strict_policy(server) -> None:
    status, headers, body = get(server, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b'<script type="module" src="/desk/app.js">' in body
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/desk/app.js", "/desk/views/trader.js",
                                  "/desk/vendor/lightweight-charts/lightweight-charts.standalone.production.mjs"])
def test_modules_are_javascript(server, path: str) -> None:
    status, headers, body = get(server, path)
    assert status == 200 and headers["content-type"].startswith("text/javascript") and body


@pytest.mark.parametrize("path", ["/desk/../app.py", "/desk/%2e%2e/app.py", "/desk/nothing.js", "/desk/",
                                  "/desk/vendor/swagger-ui-dist/LICENSE"])
def test_nothing_else_is_served(server, path: str) -> None:
    assert get(server, path)[0] == 404


def test_docs_is_swagger_ui_over_the_servers_document(server) -> None:
    status, headers, body = get(server, "/docs")
    assert status == 200 and b"/desk/vendor/swagger-ui-dist/swagger-ui-bundle.js" in body
    assert b"/openapi.json" in get(server, "/desk/docs.js")[2]
