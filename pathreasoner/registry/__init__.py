"""MLflow tracking and model registry: log, register, aliases, promotion gate, rollback, lineage."""
