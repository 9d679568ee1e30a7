"""The API keys and CORS origin of the guarded server (tests/integration/hardening/conftest.py)."""

KEY_IN_ENV = "env-key-0123456789abcdef"
KEYS_IN_FILE = ["file-key-one-0123456789", "file-key-two-9876543210"]
ALLOWED_ORIGIN = "https://app.example.org"
