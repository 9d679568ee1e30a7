"""The Open Inference Protocol v2 (KServe, Triton): REST with Triton's binary tensors, extensions and repository
control, and gRPC; tensors (de)coded here, inference in the core."""
