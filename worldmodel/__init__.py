"""wmnet worldmodel package."""
