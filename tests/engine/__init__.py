"""Engine tests: the unit and property tests run against both ``engine.Engine`` and the naive
``ReferenceBook``; determinism (Engine only) and the differential test between the two."""
