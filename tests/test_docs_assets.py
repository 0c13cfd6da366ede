"""``/docs`` and ``/redoc`` send the browser nowhere but the service (issue 27.9): every address in the
pages, and every image or stylesheet address the ReDoc script itself loads, is on our host."""

from __future__ import annotations

import re

import pytest

# What a browser would fetch: src/href attributes in the HTML, and in the script the addresses of images,
# stylesheets and fonts (links the reader may follow, and JSON-schema ids, are not requests).
ATTRIBUTE = re.compile(r'(?:src|href)\s*=\s*["\']([^"\']+)["\']', re.IGNORECASE)
FETCHED = re.compile(r'https?://[^"\'\s)]+\.(?:svg|png|gif|jpe?g|webp|ico|css|woff2?|ttf)\b', re.IGNORECASE)


def _ours(address: str) -> bool:
    return address.startswith("/") and not address.startswith("//")


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_reference_only_our_host(anon_client, path):
    page = anon_client.get(path)
    assert page.status_code == 200
    addresses = ATTRIBUTE.findall(page.text)
    assert addresses and [a for a in addresses if not _ours(a)] == []
    assert "fonts.googleapis" not in page.text and "cdn." not in page.text
    for address in addresses:
        asset = anon_client.get(address)
        assert asset.status_code == 200, address
        if address.endswith((".js", ".css")):
            assert FETCHED.findall(asset.text) == [], address


def test_redoc_script_shows_our_icon_instead_of_the_cdn_logo(anon_client):
    script = anon_client.get("/redoc/redoc.standalone.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "cdn.redoc.ly" not in script.text and 'src:"/static-docs/favicon.png"' in script.text
    assert anon_client.get("/static-docs/favicon.png").status_code == 200
