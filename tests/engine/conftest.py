"""The engine's unit and property tests run twice: against ``engine.Engine`` and against the
naive ``ReferenceBook`` (through ``ReferenceEngine``). Session-scoped, so hypothesis tests can use
them; both hand out factories, never a shared engine."""

from functools import partial

import pytest

from tests.engine import engine_helpers


@pytest.fixture(scope="session", params=sorted(engine_helpers.IMPLEMENTATIONS))
def new_engine(request: pytest.FixtureRequest):
    """Makes an empty engine: ``Engine()`` or ``ReferenceEngine()``."""
    return engine_helpers.IMPLEMENTATIONS[request.param]


@pytest.fixture(scope="session")
def engine_in(new_engine):
    """``engine_helpers.engine_in`` for the implementation under test."""
    return partial(engine_helpers.engine_in, new_engine=new_engine)
