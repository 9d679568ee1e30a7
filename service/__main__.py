"""`python -m service`: see service/server/process.py."""

from .server.process import main

if __name__ == "__main__":
    main()
