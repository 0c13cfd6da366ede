"""Answers to safety checks from every channel, and the one-tap answer page at /a/{token}."""
