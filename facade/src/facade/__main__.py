"""``python -m facade``: uvicorn with the settings a transparent proxy needs."""

from __future__ import annotations

import os

import uvicorn


def main() -> None:
    uvicorn.run(
        "facade.app:create_app",
        factory=True,
        host=os.environ.get("FACADE_HOST", "0.0.0.0"),  # noqa: S104 - a proxy listens
        port=int(os.environ.get("FACADE_PORT", "8080")),
        loop="uvloop",
        http="httptools",
        # The upstream's Server and Date headers pass through; uvicorn must not add its own,
        # and X-Forwarded-* are the facade's to set, not uvicorn's to trust.
        server_header=False,
        date_header=False,
        proxy_headers=False,
        access_log=False,
        timeout_keep_alive=int(os.environ.get("FACADE_KEEPALIVE", "75")),
    )


if __name__ == "__main__":
    main()
