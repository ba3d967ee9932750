from kfp.dsl import Dataset, Output


def tile_slides(config_json: str, slides: str, tiles: Output[Dataset]) -> str:
    """Tile a shard of slides (a shard from shard-slides, a JSON list of paths/URIs, or a folder) into `tiles`."""
    from pathreasoner.config import config_from_json
    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.stages import slide_shard_items
    from pathreasoner.stages import tile_slides as run

    configure_logging()
    return run(config_from_json(config_json), slide_shard_items(slides), tiles.path).line()
