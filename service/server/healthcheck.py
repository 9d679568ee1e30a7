"""`python -m service.server.healthcheck`: exit 0 when /health/ready answers 200, 1 otherwise.

For the container HEALTHCHECK (slim images have no curl). Reads HOST/PORT like the server but imports
nothing heavy: it runs every few seconds.
"""

import os
import sys
import urllib.error
import urllib.request

PATH = "/health/ready"


def url() -> str:
    host = os.environ.get("HOST", "127.0.0.1")
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"  # bound to every address: loopback is one of them
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{os.environ.get('PORT', '8000')}{PATH}"


def main() -> int:
    try:
        with urllib.request.urlopen(url(), timeout=float(os.environ.get("HEALTHCHECK_TIMEOUT", "3"))) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"{url()}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
