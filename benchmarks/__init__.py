"""Benchmarks: bedrock-otel against uninstrumented boto3 and the upstream Bedrock instrumentations.

Run from the repository root::

    python -m benchmarks            # about 3 minutes on 2 cores
    python -m benchmarks --quick    # about 30 seconds, for a smoke check
    python -m benchmarks --full     # more repetitions, tighter percentiles

It prints a markdown table and writes ``docs/benchmarks.md`` (with a description of the machine)
and ``docs/benchmarks.png``. The peers are optional: a contender that is not installed is reported
as such. Install them with the ``bench`` extra (see ``docs/benchmarks.md``).
"""
