"""wmnet neurons package."""
