"""Commands of the capability hub: the demo's stub department system."""

from __future__ import annotations

from typing import Annotated

import typer

from cityhub.kit.settings import get_settings


def register(app: typer.Typer) -> None:
    """`cityhub compute …`."""
    compute_app = typer.Typer(help="算 Compute: the capability hub.", no_args_is_help=True)
    app.add_typer(compute_app, name="compute")

    @compute_app.command("demo-upstream")
    def demo_upstream(port: Annotated[int | None, typer.Option(
            help="Port on 127.0.0.1 (default CITYHUB_COMPUTE_DEMO_UPSTREAM_PORT).")] = None) -> None:
        """Serve the demo's stub licence registry (made-up records), the upstream of `licence-registry`."""
        import uvicorn

        listen = port or get_settings().compute_demo_upstream_port
        uvicorn.run("cityhub.compute.stub:app", host="127.0.0.1", port=listen, log_level="warning", access_log=False)
