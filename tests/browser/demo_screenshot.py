"""The README's demo screenshot: the board of a running demo, mid-round, as the user sees it.

    .venv/bin/bcp-service demo --answer-speed 3 &          # then start a round, wait a minute or two
    .venv/bin/python -m tests.browser.demo_screenshot --base http://127.0.0.1:8000 --round 1

Unlike ``make_screenshots`` (a built scene), this photographs the real demo: its simulator's answers
arriving on their curve, the live stream, the chart.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--round", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots/demo-board.png"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1100}, locale="ja-JP").new_page()
        page.goto(f"{args.base}/login?next=/board/rounds/{args.round}", timeout=60000)
        page.fill("#username", "chiba-pref")
        page.fill("#password", "chiba-pref-demo-pass")
        page.click("button[type=submit]")
        page.wait_for_selector("#live-status.on", timeout=60000)
        page.wait_for_timeout(3000)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=False)
        browser.close()
    print(args.out)


if __name__ == "__main__":
    main()
