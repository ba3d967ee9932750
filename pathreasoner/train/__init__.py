"""Training stages: trajectory-masked SFT and GRPO (TRL), their data adapters and reward functions."""
