"""Screenshots of the operations pages for README (rounds, schedules, triggers, review; the board at 360 px).

    .venv/bin/python -m tests.browser.shots_operations [--out docs/screenshots] [--patients 800]

The same throw-away Chiba demo database as ``tests.browser.make_screenshots`` (a drill round for the
prefecture, part answered), plus escalation steps taken for the silent, an SMS reply the parser could
not read, a monthly schedule with one missed firing and two earthquake reports (one above the
threshold, one below). Everything is synthetic.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlmodel import Session, select

from bcp_service.auth.principal import Principal
from bcp_service.auth.roles import Role
from bcp_service.config import Settings
from bcp_service.db import make_engine
from bcp_service.demo.accounts import demo_password
from bcp_service.models import (
    CheckEvent,
    HomeCareRegion,
    PatientContact,
    SafetyCheck,
    SafetyRound,
    ScheduleFiring,
    UnmatchedReply,
    User,
)
from bcp_service.models.base import utcnow
from bcp_service.rounds.targets import RoundTarget
from bcp_service.schedules.schemas import ScheduleCreate
from bcp_service.schedules.service import create_schedule
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.make_screenshots import _log_in, build
from tests.browser.server import LiveServer


def decorate(engine, round_id: int, settings: Settings) -> int:
    """Escalation, a reply to review and a schedule; returns a region id for the new-round preview."""
    with Session(engine) as session:
        safety_round = session.get(SafetyRound, round_id)
        started = safety_round.started_at.replace(tzinfo=UTC)
        silent = session.exec(
            select(SafetyCheck).where(SafetyCheck.round_id == round_id, SafetyCheck.state == "no_answer")
        ).all()
        for n, check in enumerate(silent):
            session.add(
                CheckEvent(
                    check_id=check.id,
                    round_id=round_id,
                    kind="escalation",
                    step=1,
                    action="resend",
                    at=started + timedelta(minutes=30, seconds=n % 50),
                    messages=1,
                    actor_name="system",
                )
            )
            if n % 3 == 0:
                session.add(
                    CheckEvent(
                        check_id=check.id,
                        round_id=round_id,
                        kind="escalation",
                        step=2,
                        action="family",
                        at=started + timedelta(minutes=45, seconds=n % 40),
                        messages=1,
                        actor_name="system",
                    )
                )
        check = silent[0]
        phone = session.exec(select(PatientContact.phone).where(PatientContact.patient_id == check.patient_id)).first()
        session.add(
            UnmatchedReply(
                from_number=phone,
                body="ぶじです　でもでんちがあと２じかんくらい",
                reason="ambiguous:state_and_hours",
                parsed_state="power_out",
                parsed_hours=2,
                candidate_check_id=check.id,
                provider_message_id="SMdemo0001",
                received_at=utcnow() - timedelta(minutes=7),
            )
        )
        officer = session.exec(select(User).where(User.username == "chiba-pref")).one()
        principal = Principal(
            user_id=officer.id, username=officer.username, role=Role.prefecture, scope_id=officer.scope_id
        )
        region = session.exec(select(HomeCareRegion).order_by(HomeCareRegion.id)).first()
        schedule = create_schedule(
            session=session,
            principal=principal,
            settings=settings,
            data=ScheduleCreate(
                name="毎月の安否確認訓練（人工呼吸器）",
                cron="0 10 1 * *",
                target=RoundTarget(prefecture_id=officer.scope_id, therapies=["ventilator"]),
                drill=True,
                deadline_hours=24,
            ),
        )
        session.add(
            ScheduleFiring(
                schedule_id=schedule.id,
                fire_time=datetime(2026, 11, 1, 1, tzinfo=UTC),
                outcome="missed",
                instance_id="demo",
            )
        )
        session.commit()
        return region.id


def report_quakes(base: str) -> None:
    token = httpx.post(
        f"{base}/api/v1/auth/token", data={"username": "jma-feed", "password": demo_password("jma-feed")}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    now = datetime.now(UTC)
    for severity, codes, title in (
        ("4", ["122173"], "千葉県北西部 震度4"),
        ("5+", ["121002", "122041", "122076"], "千葉県北西部 震度5強"),
    ):
        httpx.post(
            f"{base}/api/v1/triggers",
            headers=headers,
            json={
                "hazard": "earthquake",
                "municipalities": codes,
                "severity": severity,
                "title": title,
                "occurred_at": (now - timedelta(minutes=2)).isoformat(),
            },
        ).raise_for_status()


def shoot(out: Path, patients: int) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.sqlite3"
        settings = Settings(environment="development", database_url=url)
        engine = make_engine(url)
        round_id, _station = build(engine, patients, settings)
        region_id = decorate(engine, round_id, settings)
        server = LiveServer(settings, engine).start()
        try:
            report_quakes(server.url)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                desk = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="ja-JP")
                page = desk.new_page()
                _log_in(page, server.url, "chiba-pref", "/rounds")
                for name, path in (
                    ("rounds-list", "/rounds"),
                    ("round-detail", f"/rounds/{round_id}"),
                    ("schedules", "/schedules"),
                    ("triggers", "/triggers"),
                ):
                    page.goto(f"{server.url}{path}")
                    page.screenshot(path=str(out / f"{name}.png"), full_page=name != "schedules")
                phone = browser.new_context(
                    viewport={"width": 360, "height": 1300},
                    device_scale_factor=2,
                    is_mobile=True,
                    has_touch=True,
                    locale="ja-JP",
                )
                small = phone.new_page()
                _log_in(small, server.url, "chiba-pref", "/rounds/new")
                small.goto(
                    f"{server.url}/rounds/new?preview=1&drill=1&reason=manual&region_id={region_id}"
                    "&therapy=ventilator&deadline_hours=72"
                )
                small.locator("#preview").scroll_into_view_if_needed()
                small.screenshot(path=str(out / "round-new-360.png"))
                small.goto(f"{server.url}/review")
                small.screenshot(path=str(out / "review-360.png"))
                small.goto(f"{server.url}/board/rounds/{round_id}")
                small.wait_for_selector("#live-status.on", timeout=10000)
                small.screenshot(path=str(out / "board-360.png"))
                browser.close()
        finally:
            server.stop()
            engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--patients", type=int, default=800)
    args = parser.parse_args()
    shoot(args.out, args.patients)
    print(
        f"written: {args.out}/"
        + ", ".join(
            f"{n}.png"
            for n in (
                "rounds-list",
                "round-detail",
                "round-new-360",
                "schedules",
                "triggers",
                "review-360",
                "board-360",
            )
        )
    )
