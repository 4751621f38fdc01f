"""``python -m receivers.s3`` (or ``audittrail-s3-receiver``): serve the receiver app with uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

import uvicorn

from receivers.s3.app import create_app
from receivers.s3.config import ConfigError, load_config


def main(argv: Sequence[str] | None = None) -> int:
    """Read the configuration, then serve until SIGINT/SIGTERM; exit 2 with the reason when it is incomplete."""
    parser = argparse.ArgumentParser(
        prog="audittrail-s3-receiver",
        description="Verify signed audit trail webhooks and write each event to S3. "
        "Configured by AUDITTRAIL_S3_* environment variables (see receivers/s3/config.py).",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("AUDITTRAIL_S3_HOST", "127.0.0.1"),
        help="address to listen on (env AUDITTRAIL_S3_HOST, default 127.0.0.1; 0.0.0.0 in a container)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("AUDITTRAIL_S3_PORT", "8080")),
        help="port to listen on (env AUDITTRAIL_S3_PORT, default 8080)",
    )
    args = parser.parse_args(argv)
    try:
        config = load_config()
    except ConfigError as error:
        print(f"audittrail-s3-receiver: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
