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
from bcp_service.models import CheckAnswer, Institution, Municipality, Patient, SafetyCheck, SafetyRound, User
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
            session=session,
            actor=Actor.system("demo"),
            target=RoundTarget(prefecture_id=structure.prefecture_id),
            reason="manual",
            drill=True,
            settings=settings,
            title="千葉県 総合防災訓練（停電想定）",
        )
        session.commit()
        rows = list(
            session.exec(
                select(SafetyCheck.id, Patient.uses_ventilator)
                .join(Patient, Patient.id == SafetyCheck.patient_id)
                .where(SafetyCheck.round_id == safety_round.id, SafetyCheck.state == "no_answer")
            ).all()
        )
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
            answer, _ = record_answer(
                session=session,
                check_id=check_id,
                state=state,
                observed_at=at,
                channel=rng.choice(["link", "link", "link", "sms", "voice"]),
                hours_left=hours,
            )
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
                phone = browser.new_context(
                    viewport={"width": 360, "height": 1800},
                    device_scale_factor=2,
                    is_mobile=True,
                    has_touch=True,
                    locale="ja-JP",
                )
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
                shoot_pages(browser, server.url, out, engine)
                browser.close()
        finally:
            server.stop()
            engine.dispose()


def shoot_pages(browser, base: str, out: Path, engine) -> None:
    """The registry, import/export, account and audit pages: desktop, and the daily ones at 360 px."""
    import tempfile as _tempfile

    with Session(engine) as session:
        hub_user = session.exec(select(User).where(User.username == "chiba-hub")).one()
        clinic = session.exec(select(Institution).where(Institution.id == hub_user.scope_id)).one()
        patient = session.exec(
            select(Patient)
            .where(Patient.uses_ventilator, Patient.municipality_id == clinic.municipality_id)
            .order_by(Patient.id)
        ).first()
        code = session.exec(select(Municipality.code).where(Municipality.id == clinic.municipality_id)).one()

    def desk_page():
        return browser.new_context(viewport={"width": 1280, "height": 1000}, locale="ja-JP").new_page()

    hub = desk_page()
    _log_in(hub, base, "chiba-hub", "/")
    hub.screenshot(path=str(out / "home.png"))
    hub.goto(f"{base}/registry/patients?q=" + "すずき")
    hub.screenshot(path=str(out / "registry-patients.png"))
    hub.goto(f"{base}/registry/patients/new")
    hub.fill("#f-name", "千葉 花子")
    hub.fill("#f-birth_date", "2999-01-01")
    hub.click("form button[type=submit]:has-text('登録する')")
    hub.screenshot(path=str(out / "registry-patient-new-errors.png"), full_page=True)
    pref = desk_page()
    _log_in(pref, base, "chiba-pref", f"/registry/patients/{patient.id}")
    pref.screenshot(path=str(out / "registry-patient.png"), full_page=True)
    pref.goto(f"{base}/registry/regions")
    pref.screenshot(path=str(out / "registry-regions.png"))
    pref.goto(f"{base}/registry/regions/redraw")  # issue 27.1: the redraw forms under the current map
    pref.screenshot(path=str(out / "registry-regions-redraw.png"))
    pref.goto(f"{base}/registry/institutions?designation=hub")
    pref.screenshot(path=str(out / "registry-institutions.png"))
    pref.goto(f"{base}/registry/institutions/{clinic.id}")
    pref.screenshot(path=str(out / "registry-institution.png"))
    pref.goto(f"{base}/exports")
    pref.screenshot(path=str(out / "exports.png"))
    pref.goto(f"{base}/audit")
    pref.screenshot(path=str(out / "audit.png"))
    with _tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "患者.csv"
        header = "外部ID,氏名,氏名カナ,生年月日,市町村コード,在宅酸素,酸素の種類,ボンベ使用可能時間,連絡先1電話\r\n"
        bad.write_bytes(
            (
                header
                + f"NEW-1,髙橋 一郎,タカハシ イチロウ,1941-02-03,{code},はい,酸素濃縮装置,4,090-5555-6666\r\n"
                + f"NEW-2,齋藤 花,サイトウ ハナ,1950-02-30,{code},はい,酸素濃縮装置,4,090-5555-77\r\n"
            ).encode("cp932")
        )
        hub.goto(f"{base}/imports")
        hub.set_input_files("#file", str(bad))
        hub.click("#check")
        hub.screenshot(path=str(out / "imports-errors.png"))
    admin = desk_page()
    _log_in(admin, base, "admin", "/admin/users")
    admin.click("#create summary")
    admin.screenshot(path=str(out / "admin-users.png"))
    phone = browser.new_context(
        viewport={"width": 360, "height": 900}, device_scale_factor=2, is_mobile=True, has_touch=True, locale="ja-JP"
    )
    small = phone.new_page()
    _log_in(small, base, "chiba-hub", "/registry/patients")
    small.goto(f"{base}/registry/patients?q=" + "ﾀﾅｶ")
    small.screenshot(path=str(out / "registry-patients-360.png"))
    small.goto(f"{base}/registry/patients/{patient.id}")
    small.screenshot(path=str(out / "registry-patient-360.png"))
    phone.close()


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
    print(f"written: {', '.join(sorted(p.name for p in args.out.glob('*.png')))} in {args.out}")
