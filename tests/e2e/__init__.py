"""End-to-end tests: a real ``commex serve`` process, or the sequencer against a real
PostgreSQL."""
