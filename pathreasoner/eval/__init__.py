"""Evaluation: metrics, the evaluate stage, report and plots."""
