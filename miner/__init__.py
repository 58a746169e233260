"""wmnet miner package."""
