"""The network face of the exchange, and all its I/O: Sanic HTTP blueprints and the
WebSocket API, authentication, rate limits, the sequencer that applies commands to the pure
state machine (``exchange``) and writes each batch in one PostgreSQL statement (group commit)
before acknowledging it, journal replay on start, metrics, the demo and the ``commex`` CLI."""
