"""See ../shared/DESIGN.md for this package's role; filled in by later issues."""
