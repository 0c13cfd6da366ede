"""``/docs`` and ``/redoc`` render in Chromium with the network cut: every asset comes from the service."""

from __future__ import annotations

from urllib.parse import urlsplit


def _offline_context(browser, live_server, outside: list[str]):
    context = browser.new_context()

    def route(request_route) -> None:
        host = urlsplit(request_route.request.url).hostname
        if host == "127.0.0.1":
            request_route.continue_()
        else:  # the network is cut: nothing beyond the service answers
            outside.append((request_route.request.resource_type, request_route.request.url))
            request_route.abort("internetdisconnected")

    context.route("**/*", route)
    return context


def test_swagger_ui_renders_offline(browser, live_server):
    outside: list[str] = []
    page = _offline_context(browser, live_server, outside).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15000)
    assert "bcp-service" in page.locator(".swagger-ui .info .title").inner_text()
    page.wait_for_selector(".opblock", timeout=15000)
    assert page.locator(".opblock").count() > 50  # the operations themselves, from /openapi.json
    assert outside == [] and errors == []


def test_redoc_renders_offline(browser, live_server):
    outside: list[str] = []
    page = _offline_context(browser, live_server, outside).new_page()
    page.goto(f"{live_server.url}/redoc")
    page.wait_for_selector("h1", timeout=20000)
    assert "bcp-service" in page.locator("h1").first.inner_text()
    assert page.locator(".menu-content li").count() > 20  # the operations, from /openapi.json
    page.wait_for_selector('img[alt="redocly logo"]', timeout=5000)  # the footer's logo, now served by us
    assert outside == []
