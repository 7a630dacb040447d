"""The programs commands, one module per family; the catalog imports every module here."""
