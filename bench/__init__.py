"""wmnet bench package."""
