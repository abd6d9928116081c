"""End-to-end tests, all marked ``e2e``: a real ``commex serve`` process, or the sequencer
against a real PostgreSQL."""
