"""Helpers for the differential, concurrency and leak tests.

* :mod:`.scenario` — plain data describing a randomized sequence of Bedrock calls (what to send,
  what the fake server answers, what the application then does with the result);
* :mod:`.strategies` — hypothesis strategies producing those scenarios;
* :mod:`.runner` — executes a scenario against a fake server, instrumented or not, and returns the
  application-visible transcript (normalised) plus what the telemetry invariants need;
* :mod:`.flavours` — the application's SDK: boto3, or aiobotocore (with how sync-only behaviours map to
  async ones);
* :mod:`.transport` — an in-process canned botocore transport (``before-send``) for fast loops.
"""
