from typing import List  # noqa: UP035 (KFP parses typing.List)


def shard_slides(config_json: str, slides: str, n_shards: int) -> List[str]:  # noqa: UP006
    """Split the slides (folder, file or s3:// prefix) into shards for parallel tiling tasks."""
    import json

    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.stages import shard_slides as run

    configure_logging()
    return [json.dumps(group) for group in run(slides, n_shards)]
