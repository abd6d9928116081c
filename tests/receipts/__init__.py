"""Warehouse receipts: grading tables and the receipt registry, in process."""
