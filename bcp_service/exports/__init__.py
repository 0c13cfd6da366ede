"""CSV exports for Excel: UTF-8 with a BOM, formula-looking cells neutralised, Japanese headers."""
