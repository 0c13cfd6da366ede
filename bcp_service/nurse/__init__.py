"""Nurses' phone pages: my patients in the running rounds, one-tap calls, results that survive a bad connection."""
