"""Bulk supply's journal schema in one place: every command and every clock timer it adds."""

from clearing.auctions import AuctionCommand, AuctionDue
from clearing.escrow import SetBuyerCategory, SetSupplyFee
from clearing.listings import CounterDue, ListingCommand

SupplyCommand = AuctionCommand | ListingCommand | SetSupplyFee | SetBuyerCategory
SupplyTimer = AuctionDue | CounterDue
