"""The FastAPI app's HTTP layer: the front door (every request's way in and out, and the lean routes' dispatch),
API keys, error handlers, the /metrics endpoint and the offline API docs with the OpenAPI document they read."""
