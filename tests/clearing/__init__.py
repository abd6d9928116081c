"""Clearing: holds, fees, delivery versus payment and trade financing through the in-process
exchange state, counted to the fen."""
