"""wmnet validator package."""
