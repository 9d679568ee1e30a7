"""Running the service: the process and its workers, the HTTP protocol, the gRPC server, drain on SIGTERM, and the
`check` and health check commands."""
