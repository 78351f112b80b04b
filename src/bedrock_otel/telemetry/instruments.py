"""The metric instruments, created once per meter with the GenAI SIG's advisory buckets."""

from __future__ import annotations

from opentelemetry.metrics import Histogram, Meter

OPERATION_DURATION = "gen_ai.client.operation.duration"
TOKEN_USAGE = "gen_ai.client.token.usage"
TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
TIME_PER_OUTPUT_CHUNK = "gen_ai.client.operation.time_per_output_chunk"
SERVER_REQUEST_DURATION = "gen_ai.server.request.duration"

DURATION_BUCKETS = [0.01 * 2**i for i in range(14)]  # 0.01 … 81.92 s, doubling
TOKEN_BUCKETS = [4**i for i in range(14)]  # 1, 4, 16 … 67108864
CHUNK_BUCKETS = [0.001 * 2**i for i in range(14)]  # 1 ms … 8.2 s: gaps between stream chunks are short


class Instruments:
    """Histograms shared by every invocation that uses the same meter."""

    __slots__ = ("duration", "server_duration", "time_per_output_chunk", "time_to_first_chunk", "token_usage")

    def __init__(self, meter: Meter) -> None:
        self.duration: Histogram = _histogram(meter, OPERATION_DURATION, "s", "GenAI operation duration.",
                                              DURATION_BUCKETS)
        self.token_usage: Histogram = _histogram(meter, TOKEN_USAGE, "{token}",
                                                 "Number of input and output tokens used.", TOKEN_BUCKETS)
        self.time_to_first_chunk: Histogram = _histogram(
            meter, TIME_TO_FIRST_CHUNK, "s",
            "Time from issuing a streaming request to receiving the first content chunk.", DURATION_BUCKETS)
        self.time_per_output_chunk: Histogram = _histogram(
            meter, TIME_PER_OUTPUT_CHUNK, "s",
            "Time between consecutive content chunks of a streamed response.", CHUNK_BUCKETS)
        self.server_duration: Histogram = _histogram(
            meter, SERVER_REQUEST_DURATION, "s",
            "Bedrock's own server-side latency for the request, as reported by Bedrock.", DURATION_BUCKETS)


def _histogram(meter: Meter, name: str, unit: str, description: str, buckets: list) -> Histogram:
    try:
        return meter.create_histogram(name, unit=unit, description=description,
                                      explicit_bucket_boundaries_advisory=buckets)
    except TypeError:  # opentelemetry-api before 1.23 has no advisory parameter
        return meter.create_histogram(name, unit=unit, description=description)
