"""The board's area and hub tables at 1366 px (a prefecture officer's laptop): names read as words, not one
character per line (issue 27.9), and the hub table names a hub for everyone in a covered municipality."""

from __future__ import annotations

from tests.board.builders import build_round
from tests.browser.pages import log_in
from tests.factories import create_user

MEASURE = """() => [...document.querySelectorAll('#sec-areas table.areas')].map(table => ({
  caption: table.querySelector('caption').innerText,
  heads: [...table.querySelectorAll('thead th')].map(th => th.getBoundingClientRect().height),
  names: [...table.querySelectorAll('tbody th')].map(th => {
    const style = getComputedStyle(th);
    const box = th.getBoundingClientRect();
    const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
    return {text: th.innerText, width: box.width, font: parseFloat(style.fontSize),
            lines: Math.round((box.height - padding) / parseFloat(style.lineHeight))};
  }),
}))"""


def test_area_tables_keep_names_readable_at_1366(browser, live_server, committed):
    scene = build_round(committed, live_server.settings)
    scene.area.hub.name = "【デモ】茂原市長生郡医師会（在宅医療連携拠点）"  # the demo's longest hub name
    scene.area.region.name = "茂原市長生郡在宅医療圏"
    committed.add_all([scene.area.hub, scene.area.region])
    admin = create_user(committed, "admin")
    committed.commit()

    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ja-JP")
    page = context.new_page()
    log_in(page, live_server.url, admin.username, f"/board/rounds/{scene.round.id}")
    page.wait_for_selector("#sec-areas table.areas")
    tables = page.evaluate(MEASURE)
    assert [t["caption"] for t in tables] == ["在宅医療圏", "市町村", "連携拠点"]
    for table in tables:
        assert max(table["heads"]) == min(table["heads"]), table  # every heading on one line
        for name in table["names"]:
            assert name["width"] >= 7 * name["font"], name  # room for seven characters at least
            assert name["lines"] <= max(1, len(name["text"]) // 7 + 1), name
    hubs = [n["text"] for n in tables[2]["names"]]
    assert hubs == ["【デモ】茂原市長生郡医師会（在宅医療連携拠点）", "（連携拠点なし）"]
    context.close()
