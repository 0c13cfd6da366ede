"""Screenshots for README: the board (desktop) and the nurse page (360 px), from the Chiba demo data.

    .venv/bin/python -m tests.browser.make_screenshots [--out docs/screenshots] [--patients 3000]

Builds a throw-away SQLite database with the Chiba structure, the demo accounts and synthetic
patients, starts a drill round for the prefecture, answers part of it (answer times spread over the
last 45 minutes so the chart has a shape), and photographs the pages in Debian's chromium.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlmodel import Session, select

from bcp_service import migrations
from bcp_service.answers.service import record_answer
from bcp_service.config import Settings
from bcp_service.db import make_engine
from bcp_service.demo.accounts import create_demo_accounts, demo_password
from bcp_service.demo.chiba import load_chiba
from bcp_service.demo.synthetic import seed_patients
from bcp_service.models import CheckAnswer, Patient, SafetyCheck, SafetyRound, User
from bcp_service.models.base import utcnow
from bcp_service.rounds.service import Actor, start_round
from bcp_service.rounds.targets import RoundTarget
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.server import LiveServer


def build(engine, patients: int, settings: Settings) -> tuple[int, int]:
    migrations.upgrade(engine)
    with Session(engine) as session:
        structure = load_chiba(session)
        create_demo_accounts(session)
        session.commit()
    seed_patients(engine, patients, seed=7, prefecture_id=structure.prefecture_id)
    rng = random.Random(7)
    with Session(engine) as session:
        safety_round, _ = start_round(
            session=session, actor=Actor.system("demo"), target=RoundTarget(prefecture_id=structure.prefecture_id),
            reason="manual", drill=True, settings=settings, title="千葉県 総合防災訓練（停電想定）",
        )
        session.commit()
        rows = list(session.exec(
            select(SafetyCheck.id, Patient.uses_ventilator).join(Patient, Patient.id == SafetyCheck.patient_id)
            .where(SafetyCheck.round_id == safety_round.id, SafetyCheck.state == "no_answer")
        ).all())
        rng.shuffle(rows)
        now = utcnow()
        started = now - timedelta(minutes=48)
        session.execute(update(SafetyRound).where(SafetyRound.id == safety_round.id).values(started_at=started))
        chosen = [row for row in rows if rng.random() < 0.62]
        # Most people answer in the first minutes (the 2018 drill's mode was two minutes): answer
        # times spread like that, in the order the answers are recorded.
        offsets = sorted(min(46.0, 1 + rng.expovariate(1 / 6.0)) for _ in chosen)
        for (check_id, ventilator), offset in zip(chosen, offsets, strict=True):
            roll = rng.random()
            state, hours = "safe", None
            if roll < 0.04:
                state = "needs_help"
            elif roll < 0.12 or (ventilator and roll < 0.35):
                state, hours = "power_out", rng.choice([1, 1.5, 2, 3, 4, 5, 6, 8]) * 1.0
            elif roll < 0.15:
                state = "needs_transport"
            elif roll < 0.17:
                state = "unreachable"
            at = started + timedelta(minutes=offset)
            answer, _ = record_answer(session=session, check_id=check_id, state=state, observed_at=at,
                                      channel=rng.choice(["link", "link", "link", "sms", "voice"]), hours_left=hours)
            session.execute(update(CheckAnswer).where(CheckAnswer.id == answer.id).values(received_at=at))
        session.commit()
        nurse = session.exec(select(User).where(User.username == "chiba-nurse")).one()
        return safety_round.id, nurse.scope_id


def shoot(out: Path, patients: int) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.sqlite3"
        settings = Settings(environment="development", database_url=url)
        engine = make_engine(url)
        round_id, _station = build(engine, patients, settings)
        server = LiveServer(settings, engine).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                desk = browser.new_context(viewport={"width": 1440, "height": 1700}, locale="ja-JP")
                page = desk.new_page()
                _log_in(page, server.url, "chiba-pref", f"/board/rounds/{round_id}")
                page.wait_for_selector("#live-status.on", timeout=10000)
                page.wait_for_timeout(500)
                page.screenshot(path=str(out / "board.png"))
                # 360 px wide as a phone; tall enough to show the queue, a waiting result and an open form.
                phone = browser.new_context(viewport={"width": 360, "height": 1800}, device_scale_factor=2,
                                            is_mobile=True, has_touch=True, locale="ja-JP")
                nurse = phone.new_page()
                _log_in(nurse, server.url, "chiba-nurse", "/nurse")
                phone.set_offline(True)
                card = nurse.locator("article.pt").nth(1)
                card.locator("summary").click()
                card.locator('input[name="hours"]').fill("2")
                card.locator('button[value="power_out"]').click()
                nurse.wait_for_selector("#queue:not([hidden])")
                nurse.locator("article.pt").nth(2).locator("summary").click()
                nurse.evaluate("window.scrollTo(0, 140)")
                nurse.screenshot(path=str(out / "nurse-360.png"))
                phone.set_offline(False)
                browser.close()
        finally:
            server.stop()
            engine.dispose()


def _log_in(page, base: str, username: str, path: str) -> None:
    page.goto(f"{base}{path}")
    page.fill("#username", username)
    page.fill("#password", demo_password(username))
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{path}*")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--patients", type=int, default=3000)
    args = parser.parse_args()
    shoot(args.out, args.patients)
    print(f"written: {args.out}/board.png, {args.out}/nurse-360.png")
