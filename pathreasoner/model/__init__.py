"""Base-model factory (tiny offline Qwen2.5-VL | local dir | HF id | s3://), prompts, and greedy inference."""
