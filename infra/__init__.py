"""The Pulumi program of the data centre (`__main__.py`), its components and policy pack."""
