"""The reference e-government service (see app.py)."""
