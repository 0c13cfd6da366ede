"""The sender: workers claim due outbox messages, send them through a notifier, record the outcome.

See docs/rounds.md for the delivery guarantee (at least once, duplicates bounded by the messages
in flight) and the retry policy.
"""
