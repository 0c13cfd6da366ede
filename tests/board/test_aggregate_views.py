"""The aggregate role gets one view of a round's counts (issue 23 item 6): suppression holds within a view,
so filtered views would let a small count be had by subtracting one from the whole."""

from __future__ import annotations

import re


def counts(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-state="(\w+)">([\d,]+|[^<]*)<', html))


def test_filters_do_not_make_a_second_view_for_the_aggregate_role(client_as, client, scene):
    viewer = client_as("aggregate")
    url = f"/board/rounds/{scene.round.id}"
    whole = viewer.get(url)
    assert whole.status_code == 200
    for query in ("?therapy=ventilator", "?risk_tier=critical", "?therapy=oxygen&risk_tier=standard"):
        assert counts(viewer.get(url + query).text) == counts(whole.text), query
        areas = viewer.get(f"{url}/export.csv?kind=areas&{query[1:]}").text
        assert areas == viewer.get(f"{url}/export.csv?kind=areas").text, query
    # The control: the same filter narrows an identified reader's view.
    assert counts(client.get(url + "?therapy=ventilator").text) != counts(client.get(url).text)
