"""``strangler compare``: replay recorded or generated traffic against two sides offline.

- ``traffic``: the JSON-lines traffic format (what the facade's recorder writes);
- ``generate``: traffic from the committed pacts or from an OpenAPI document;
- ``replay``: send each request to both sides, compare with ``facade.compare``;
- ``report``: the per-route table and the self-contained HTML report;
- ``export``: one standalone pytest file per mismatch;
- ``cli``: the typer commands.
"""
