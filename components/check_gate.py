def check_gate(config_json: str, version: str) -> bool:
    """Dry-run the promotion gate (registry.gate: minimums, items, chance, non-inferiority) for `version`.

    A single bool output: kfp.local resolves `<task>-Output` channels inside dsl.If conditions,
    but not named outputs of a multi-output task.
    """
    from pathreasoner.config import config_from_json
    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.registry.mlflow_registry import check_gate as run

    configure_logging()
    decision = run(config_from_json(config_json), version)
    print(decision.line())
    return bool(decision.promoted)
