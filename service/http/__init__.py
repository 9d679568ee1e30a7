"""The FastAPI app's HTTP layer: its middlewares (request context, API keys, deadlines, the fast lane), error
handlers, the /metrics endpoint and the offline API docs with the OpenAPI document they read."""
