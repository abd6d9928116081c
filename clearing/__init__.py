"""Clearing: the double-entry ledger (accounts, immutable transfers, holds), pre-trade risk
holds, delivery versus payment of fills, commission, margin, end-of-day settlement and
trade financing against pledged warehouse receipts. Called by the sequencer with each
batch's fills, inside the same database transaction."""
