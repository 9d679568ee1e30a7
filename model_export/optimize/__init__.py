"""int8, float16 and graph-optimized variants of an exported model, proven per label and timed against float32."""
