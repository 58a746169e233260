"""wmnet ledger package."""
