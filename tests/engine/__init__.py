"""Engine tests: unit, property, determinism and the differential test against the naive
``ReferenceBook``."""
