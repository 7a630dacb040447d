"""The broadcasts commands, one module per family; the catalog imports every module here."""
