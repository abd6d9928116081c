"""Behaviour tests, laid out like the code: ``engine/`` (unit, property, determinism and the
differential test against a naive reference book), ``receipts/`` (warehouse_receipts),
``clearing/`` and ``exchange/`` (the pure core, in process), and ``e2e/`` (marked ``e2e``: a real
``commex serve`` process or the sequencer on a real PostgreSQL). ``support/`` holds helpers shared
across folders; ``conftest.py`` starts PostgreSQL only for tests that ask for it.
``pytest -m "not e2e"`` runs the fast tier alone."""
