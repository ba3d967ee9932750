from kfp.dsl import Dataset, Output


def tile_slides(config_json: str, slides: str, tiles: Output[Dataset]) -> str:
    """Tile every slide under `slides` into the `tiles` dataset (index, shards, views, QC)."""
    from pathreasoner.config import config_from_json
    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.stages import tile_slides as run

    configure_logging()
    return run(config_from_json(config_json), slides, tiles.path).line()
