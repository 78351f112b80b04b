"""The fake Bedrock server as a child process for the loopback benchmarks.

Prints ``READY <endpoint url>``, then reads one command per line from stdin and answers ``OK``:

``reset``                       forget queued replies and recorded requests
``converse-stream N``           queue N ConverseStream replies of the benchmark's long stream
``invoke-stream N``             queue N InvokeModelWithResponseStream replies of it
``big SIZE``                    queue one small then one SIZE-byte Anthropic InvokeModel reply
``quit``                        stop
"""

from __future__ import annotations

import argparse
import sys
from typing import List

from bedrock_otel.testing.fake_server import FakeBedrock, Reply

from . import payloads


def _headers_without_length(headers: dict) -> dict:
    return {k: v for k, v in headers.items() if k not in ("content-length", "content-type")}


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server")
    parser.add_argument("--events", type=int, default=payloads.STREAM_EVENTS)
    args = parser.parse_args(argv)
    converse = Reply.events(payloads.converse_stream_frames(args.events))
    invoke = Reply.events(payloads.invoke_stream_frames(args.events))
    fake = FakeBedrock().start()
    print(f"READY {fake.endpoint_url}", flush=True)
    try:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            command, rest = words[0], words[1:]
            if command == "quit":
                print("OK", flush=True)
                break
            if command == "reset":
                fake.reset()
            elif command in ("converse-stream", "invoke-stream"):
                fake.reset()
                fake.enqueue(*([converse if command == "converse-stream" else invoke] * int(rest[0])))
            elif command == "big":
                fake.reset()
                small = payloads.anthropic_body()
                big = payloads.big_anthropic_body(int(rest[0]))
                fake.enqueue(
                    Reply.raw(200, small, _headers_without_length(payloads.invoke_headers(len(small)))),
                    Reply.raw(200, big, _headers_without_length(payloads.invoke_headers(len(big)))),
                )
                del big
            else:
                print(f"unknown command {command!r}", flush=True)
                continue
            print("OK", flush=True)
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
