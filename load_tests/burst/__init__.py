"""The disaster-burst load harness (python -m load_tests.run)."""
