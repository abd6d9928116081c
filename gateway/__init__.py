"""The network face of the exchange: Sanic HTTP and WebSocket API, authentication, rate
limits, the sequencer that batches commands into one PostgreSQL transaction each (group
commit) before acknowledging them, journal replay on start, metrics and the ``commex`` CLI."""
