"""`python -m pathreasoner.serve [--config params.yaml] [--model-uri URI] [--host H] [--port N]` (container entry)."""

from __future__ import annotations

import argparse
import sys

from pathreasoner.config import load_config
from pathreasoner.errors import PathReasonerError
from pathreasoner.logging_setup import configure_logging


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pathreasoner.serve", description=__doc__, allow_abbrev=False
    )
    parser.add_argument("--config", default=None, help="params.yaml (default: built-in defaults)")
    parser.add_argument(
        "--model-uri",
        default=None,
        help="models:/<name>@<alias>, models:/<name>/<version>, or a local checkpoint dir "
        "(default: serving.model_uri)",
    )
    parser.add_argument("--host", default=None, help="bind address (default: serving.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: serving.port)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="config override, repeatable",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = list(args.overrides)
    if args.host:
        overrides.append(f"serving.host={args.host}")
    if args.port is not None:
        overrides.append(f"serving.port={args.port}")
    try:
        cfg = load_config(args.config, overrides) if args.config else load_config(None, overrides)
        configure_logging(cfg.project.log_level)
        from pathreasoner.serve.server import serve

        serve(cfg, args.model_uri)
    except PathReasonerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
