"""``python -m strangler``: the same CLI as the ``strangler`` command."""

from strangler.cli import app

app(prog_name="strangler")
