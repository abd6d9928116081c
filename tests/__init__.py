"""Behaviour tests: unit, property, differential (against a naive reference book) and, once
the gateway exists, end-to-end tests against a real server and a real PostgreSQL."""
