"""wmnet protocol package."""
