"""egov-dc: the data centre of the City of Bengkulu as code."""

__version__ = "0.1.0"
