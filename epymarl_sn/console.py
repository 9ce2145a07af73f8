"""The plugin's own one-line messages, on stderr, marked as the plugin's."""

import sys


def say(message: str) -> None:
    print(f"epymarl-sn: {message}", file=sys.stderr, flush=True)
