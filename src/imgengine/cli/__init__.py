"""Command-line interface: parses and prints only; the work lives in core/, analyzers/, processors/."""
