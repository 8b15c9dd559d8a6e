"""The ASGI entry point uvicorn imports: the app built from the environment's Settings."""

from codexos_server.app import create_app

app = create_app()
