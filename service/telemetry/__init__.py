"""What the service tells operators: Prometheus metrics (requests, batches, loads, per label), the request record,
the access log and the log format."""
