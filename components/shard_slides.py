from typing import List  # noqa: UP035 (KFP parses typing.List)


def shard_slides(config_json: str, slides: str, n_shards: int) -> List[str]:  # noqa: UP006
    """Split the slides (folder, file or s3:// prefix) into shards for parallel tiling tasks.

    Each shard is JSON `{"slides": [...], "content": <fingerprint>}`: the fingerprint (sizes, mtimes or
    S3 ETags) makes tile-slides' cache key follow the slides' content, not only their names.
    """
    import json

    from pathreasoner.logging_setup import configure_logging
    from pathreasoner.stages import content_fingerprint
    from pathreasoner.stages import shard_slides as run

    configure_logging()
    return [
        json.dumps({"slides": group, "content": content_fingerprint(group)})
        for group in run(slides, n_shards)
    ]
