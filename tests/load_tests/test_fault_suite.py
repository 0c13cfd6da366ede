"""The fault suite's verdict (load_tests/faults/harness.count) on a tiny round, without processes."""

from sqlalchemy import text

from load_tests.faults.harness import count, seed, start_round


class StubSim:
    def __init__(self, messages):
        self.messages = messages

    def call(self, method, path, **kwargs):
        assert (method, path) == ("GET", "/_sim/messages")
        return {"messages": self.messages}


def test_the_verdict_counts_twice_missed_bad_numbers_receipts_and_checks(tmp_path):
    engine = seed(f"sqlite:///{tmp_path / 'bcp.sqlite3'}", 5)
    start_round(engine)
    with engine.begin() as connection:
        rows = connection.execute(text("SELECT id, to_number, check_id FROM outbox_message ORDER BY id")).all()
        sid = {row.id: f"SM{row.id:032d}" for row in rows}
        for row in rows[:3]:
            connection.execute(
                text("UPDATE outbox_message SET state = 'delivered', provider_message_id = :p WHERE id = :i"),
                {"p": sid[row.id], "i": row.id},
            )
        connection.execute(
            text("UPDATE outbox_message SET state = 'failed', last_error_code = '21211' WHERE id = :i"),
            {"i": rows[3].id},
        )
    messages = [{"sid": sid[r.id], "to": r.to_number, "status": "delivered"} for r in rows[:3]]
    messages[2]["status"] = "undelivered"  # the provider knows better than the database: a receipt lost
    messages.append({"sid": "SMdup", "to": rows[0].to_number, "status": "delivered"})
    verdict = count(engine, StubSim(messages))
    assert verdict == {
        "patients": 5,
        "sent": 3,
        "sent_twice": 1,
        "missed": 1,
        "bad_numbers": 1,
        "receipts_behind": 1,
        "checks_wrong": 1,
    }
