from kfp.dsl import Dataset, Output


def build_kg(config_json: str, kg: Output[Dataset]) -> str:
    """Build the knowledge graph (nodes/edges parquet + kg_version)."""
    from pathreasoner.config import config_from_json
    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.stages import build_kg as run

    configure_logging()
    return run(config_from_json(config_json), kg.path).line()
