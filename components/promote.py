def promote(config_json: str, version: str) -> str:
    """Move alias 'champion' to `version` (runs only under dsl.If(gate_passed); re-checks the gate)."""
    from pathreasoner.config import config_from_json
    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.stages import promote as run

    configure_logging()
    return run(config_from_json(config_json), version).line()
