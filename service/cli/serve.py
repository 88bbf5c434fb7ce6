"""`onemap serve`."""

from __future__ import annotations

import typer

from service.cli import app, console


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
) -> None:
    """Serve the one map over HTTP (features, tiles, analysis, the map page)."""
    import uvicorn

    from service.app import create_app
    from service.settings import Settings

    settings = Settings()
    console.print(f"serving on http://{host}:{port}  (Ctrl-C stops)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
