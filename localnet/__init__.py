"""wmnet localnet package."""
