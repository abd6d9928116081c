"""The exchange core as a pure state machine: market information."""
