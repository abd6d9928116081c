"""Clearing: the double-entry ledger (accounts, immutable transfers, pending transfers for
holds), pre-trade cash holds, delivery versus payment of fills, commission, funding,
end-of-day settlement reports and trade financing against pledged warehouse receipts. Pure
and deterministic: the exchange state machine calls it for each journal entry. (Forward
margin and mark-to-market are not built yet: the ``margin:M`` accounts exist and stay empty.)"""
