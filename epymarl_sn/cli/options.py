"""Options that several subcommands share."""

import argparse


def add_store_option(parser: argparse.ArgumentParser) -> None:
    """--store, shared by the commands that read runs."""
    parser.add_argument(
        "--store",
        metavar="URL_OR_DIR",
        help="a mongodb:// URL (database $SACRED_MONGO_DB, default epymarl) "
        "or a Sacred file-storage directory (default: $SACRED_MONGO_URL if "
        "set, else ./results/sacred)",
    )
