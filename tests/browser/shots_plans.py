"""Screenshots of the BCP plan pages for README (issue 27.8): a clinic's draft and its finished plan at
360 px, the prefecture's coverage with finished plans counted apart from drafts.

    .venv/bin/python -m tests.browser.shots_plans [--out docs/screenshots] [--patients 400]

A throw-away Chiba demo database (synthetic patients); the clinic clerk (chiba-clinic) makes a draft
and uploads a small PDF as its finished plan through the pages.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from sqlmodel import Session, select

from bcp_service import migrations
from bcp_service.config import Settings
from bcp_service.db import make_engine
from bcp_service.demo.accounts import create_demo_accounts, demo_password
from bcp_service.demo.chiba import load_chiba
from bcp_service.demo.synthetic import seed_patients
from bcp_service.models import User
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.server import LiveServer

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def _log_in(page, base: str, username: str, path: str) -> None:
    page.goto(f"{base}{path}")
    page.fill("#username", username)
    page.fill("#password", demo_password(username))
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{path}*")


def shoot(out: Path, patients: int) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.sqlite3"
        settings = Settings(environment="development", database_url=url)
        engine = make_engine(url)
        migrations.upgrade(engine)
        with Session(engine) as session:
            structure = load_chiba(session)
            create_demo_accounts(session)
            session.commit()
        seed_patients(engine, patients, seed=7, prefecture_id=structure.prefecture_id)
        with Session(engine) as session:
            clinic_id = session.exec(select(User.scope_id).where(User.username == "chiba-clinic")).one()
        server = LiveServer(settings, engine).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                phone = browser.new_context(
                    viewport={"width": 360, "height": 1100},
                    device_scale_factor=2,
                    is_mobile=True,
                    has_touch=True,
                    locale="ja-JP",
                )
                page = phone.new_page()
                _log_in(page, server.url, "chiba-clinic", f"/bcp/institutions/{clinic_id}")
                page.click("button:has-text('草案を作成する')")
                page.wait_for_selector("text=章ごとの記入状況")
                page.locator("h3:has-text('安否確認の順番')").scroll_into_view_if_needed()
                page.screenshot(path=str(out / "bcp-draft-call-list-360.png"))
                page.click("text=完成した計画の登録・一覧")
                final = Path(tmp) / "BCP_最終版.pdf"
                final.write_bytes(PDF)
                page.set_input_files("#plan_file", str(final))
                page.fill("#plan_note", "院内会議で承認")
                page.click("button:has-text('完成した計画として登録する')")
                page.wait_for_selector("text=第1版を登録しました")
                page.locator("#plans").scroll_into_view_if_needed()
                page.screenshot(path=str(out / "bcp-plan-360.png"))
                desk = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ja-JP").new_page()
                _log_in(desk, server.url, "chiba-pref", "/bcp/coverage")
                desk.screenshot(path=str(out / "bcp-coverage.png"))
                browser.close()
        finally:
            server.stop()
            engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--patients", type=int, default=400)
    args = parser.parse_args()
    shoot(args.out, args.patients)
