import ast
import logging
from pathlib import Path

import pytest

import notifiers
from notifiers import (
    NOTIFIERS,
    ConsoleNotifier,
    FakeNotifier,
    PermanentSendError,
    SmsNotifier,
    TimedNotifier,
    TransientSendError,
    TwilioNotifier,
    VoiceNotifier,
    get_notifier,
)

PATIENT = "+819012345678"
OTHER = "+819087654321"


async def test_fake_records_sends_and_calls():
    fake = FakeNotifier()
    first = await fake.send_sms(to=PATIENT, body="hello", status_callback="https://x/cb")
    second = await fake.send_sms(to=OTHER, body="again")
    call = await fake.place_call(to=PATIENT, twiml_url="https://x/voice")
    assert first.provider_id != second.provider_id
    assert [(m.to, m.body, m.status_callback) for m in fake.sent] == [
        (PATIENT, "hello", "https://x/cb"),
        (OTHER, "again", None),
    ]
    assert fake.sent[0].provider_id == first.provider_id
    assert fake.sent[0].at.tzinfo is not None
    assert fake.calls[0].twiml_url == "https://x/voice"
    assert fake.calls[0].provider_id == call.provider_id
    assert isinstance(fake, SmsNotifier) and isinstance(fake, VoiceNotifier)


async def test_fake_fail_next_counts_down():
    fake = FakeNotifier()
    fake.fail_next(TransientSendError(code="20429"), times=2)
    for _ in range(2):
        with pytest.raises(TransientSendError):
            await fake.send_sms(to=PATIENT, body="x")
    await fake.send_sms(to=PATIENT, body="x")
    assert len(fake.sent) == 1
    assert len(fake.failures) == 2
    assert fake.attempts == 3


async def test_fake_queued_failures_apply_in_order():
    fake = FakeNotifier()
    fake.fail_next(TransientSendError(code="20429"))
    fake.fail_next(PermanentSendError(code="21211", bad_contact=True))
    with pytest.raises(TransientSendError):
        await fake.send_sms(to=PATIENT, body="x")
    with pytest.raises(PermanentSendError):
        await fake.place_call(to=PATIENT, twiml_url="https://x")
    await fake.send_sms(to=PATIENT, body="x")


async def test_fake_fail_for_one_number():
    fake = FakeNotifier()
    fake.fail_for(PATIENT, PermanentSendError(code="21614", bad_contact=True))
    with pytest.raises(PermanentSendError):
        await fake.send_sms(to=PATIENT, body="x")
    with pytest.raises(PermanentSendError):
        await fake.send_sms(to=PATIENT, body="x")
    await fake.send_sms(to=OTHER, body="x")
    assert [m.to for m in fake.sent] == [OTHER]
    fake.clear_failures()
    await fake.send_sms(to=PATIENT, body="x")
    await fake.aclose()
    assert fake.closed


def test_fail_next_needs_a_positive_count():
    with pytest.raises(ValueError):
        FakeNotifier().fail_next(TransientSendError(), times=0)


async def test_console_prints_and_sends_nothing(capsys):
    result = await ConsoleNotifier().send_sms(to=PATIENT, body="テスト")
    assert result.provider_id.startswith("CONSOLE-")
    assert len(result.provider_id) == len("CONSOLE-") + 32
    out = capsys.readouterr().out
    assert result.provider_id in out and "テスト" in out
    assert out.count("\n") == 1


def test_registry_names():
    assert set(NOTIFIERS) == {"console", "fake", "twilio"}
    assert isinstance(get_notifier("console"), ConsoleNotifier)
    assert isinstance(get_notifier("fake"), FakeNotifier)
    twilio = get_notifier("twilio", account_sid="ACx", auth_token="t", from_number="+1500")
    assert isinstance(twilio, TwilioNotifier)


def test_registry_refuses_unknown_names():
    with pytest.raises(ValueError) as caught:
        get_notifier("carrier-pigeon")
    message = str(caught.value)
    assert "carrier-pigeon" in message
    for name in ("console", "fake", "twilio"):
        assert name in message


def test_registry_passes_options_through():
    with pytest.raises(ValueError):
        get_notifier("twilio", account_sid="ACx", auth_token="t")


def test_notifiers_never_import_bcp_service():
    package = Path(notifiers.__file__).parent
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name.split(".")[0] == "bcp_service" for name in names), source


def _logged_values(records) -> str:
    return " ".join(str(value) for record in records for value in vars(record).values())


async def test_timed_logs_success_without_personal_data(caplog):
    caplog.set_level(logging.INFO, logger="notifiers")
    timed = TimedNotifier(FakeNotifier())
    result = await timed.send_sms(to=PATIENT, body="秘密の本文")
    (record,) = [r for r in caplog.records if r.getMessage() == "notifier.sent"]
    assert record.provider_id == result.provider_id
    assert record.channel == "sms"
    assert record.notifier == "fake"
    assert record.duration_ms >= 0
    assert PATIENT not in _logged_values(caplog.records)
    assert "秘密の本文" not in _logged_values(caplog.records)


async def test_timed_logs_failure_and_reraises(caplog):
    caplog.set_level(logging.INFO, logger="notifiers")
    fake = FakeNotifier()
    fake.fail_next(PermanentSendError("twilio error 21211", code="21211", bad_contact=True))
    timed = TimedNotifier(fake)
    with pytest.raises(PermanentSendError):
        await timed.send_sms(to=PATIENT, body="x")
    (record,) = [r for r in caplog.records if r.getMessage() == "notifier.failed"]
    assert record.error_code == "21211"
    assert record.error_kind == "permanent"
    assert record.bad_contact is True
    assert record.levelno == logging.ERROR
    assert PATIENT not in _logged_values(caplog.records)


async def test_timed_transient_failures_are_warnings(caplog):
    caplog.set_level(logging.INFO, logger="notifiers")
    fake = FakeNotifier()
    fake.fail_next(TransientSendError(code="20429", retry_after=1.0))
    with pytest.raises(TransientSendError):
        await TimedNotifier(fake).place_call(to=PATIENT, twiml_url="https://x")
    (record,) = [r for r in caplog.records if r.getMessage() == "notifier.failed"]
    assert record.levelno == logging.WARNING
    assert record.channel == "voice"
    assert record.retry_after == 1.0


async def test_timed_refuses_calls_when_inner_cannot():
    class SmsOnly:
        name = "sms-only"

        async def send_sms(self, *, to, body, status_callback=None, validity_period=None):
            raise AssertionError

        async def aclose(self):
            return None

    timed = TimedNotifier(SmsOnly())
    assert not timed.supports_voice
    with pytest.raises(TypeError):
        await timed.place_call(to=PATIENT, twiml_url="https://x")
    await timed.aclose()
