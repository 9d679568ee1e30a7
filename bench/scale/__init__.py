"""`make scale-test`: the scale-out kit (deploy/haproxy) under steady load, tested the way it is meant to be run.

Three `python -m service` replicas (1 worker each), each in its own network namespace on its own address where the
machine allows it (network.py), share one model repository behind Debian's haproxy running the shipped
deploy/haproxy/haproxy.cfg, and Debian's Prometheus scrapes them with the shipped configuration and rules. wrk
(REST) and h2load (gRPC) load the balancer at once, paced, through five cases:

1. a rolling restart with the Deployment's drain sequence: 0 failed on both protocols (gated);
2. a new version published to the shared repository: every replica serves it, 0 failed, and the window in which
   old and new answers interleave, against its bound (gated);
3. a corrupt new version: every replica keeps the previous one, 0 failed, SigmoidServeModelLoadFailed fires (gated);
4. `kill -9` of a replica: what fails, and that nothing fails once haproxy has marked it down (reported);
5. a CPU-starved replica: p99 with leastconn against roundrobin (reported).

Each case reports requests sent, failed and retried (haproxy's counters) and p99 per protocol; the table goes to
bench/results/scale-latest.md. It lives in bench/ beside the soak because it is a measurement with a results table
that reuses the bench's bodies and load generators (bench/load.py, bench/grpc_load.py, bench/soak.lua); what users
deploy stays in deploy/. The whole run takes a few minutes on 2 cores: each phase lasts seconds.
"""
