"""Polling the Agency's Atom feeds and handing each new bulletin to the trigger decision path."""
