"""Telemetry vocabulary (attribute and metric names) and the per-call telemetry core."""
