"""Operations: health that proves the work, metrics, the operator's page, backups and restore."""
