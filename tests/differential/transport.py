"""An in-process Bedrock: a botocore ``before-send`` handler that answers with canned bytes.

botocore runs its whole client stack (parameter validation, serialisation, signing, response parsing,
event-stream decoding, StreamingBody) but no socket is opened, so loops of many thousands of calls
are fast and free of network noise. Answers are fixed per operation (bedrock-runtime model calls, and
an agent run with its trace, Retrieve and InvokeFlow on bedrock-agent-runtime); a model id starting
with ``invalid`` gets a ``ValidationException``.
"""

from __future__ import annotations

import io
import json
from typing import Any, Dict, Iterator, List, Optional, Tuple

from botocore.awsrequest import AWSResponse

from bedrock_otel.testing import agent_runtime
from bedrock_otel.testing.eventstream import chunk_frame, event_frame

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "amazon.nova-lite-v1:0"
EVENTSTREAM = "application/vnd.amazon.eventstream"


class CannedRaw(io.BytesIO):
    """Enough of urllib3's HTTPResponse for botocore: ``stream()``, ``read()``, ``readinto()``, ``close()``."""

    def stream(self, amt: int = 1024, decode_content: Optional[bool] = None) -> Iterator[bytes]:
        while True:
            data = self.read(amt)
            if not data:
                return
            yield data


def _converse_body() -> bytes:
    return json.dumps({
        "output": {"message": {"role": "assistant", "content": [{"text": "canned reply text"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8},
        "metrics": {"latencyMs": 12},
    }).encode()


def _converse_stream_body() -> bytes:
    events: List[Tuple[str, Dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
    events += [("contentBlockDelta", {"delta": {"text": word}, "contentBlockIndex": 0})
               for word in ("canned ", "reply ", "text")]
    events += [("contentBlockStop", {"contentBlockIndex": 0}), ("messageStop", {"stopReason": "end_turn"}),
               ("metadata", {"usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8},
                             "metrics": {"latencyMs": 12}})]
    return b"".join(event_frame(name, payload) for name, payload in events)


def _claude_body() -> bytes:
    return json.dumps({
        "id": "msg_bdrk_0123456789abcdef01234567", "type": "message", "role": "assistant",
        "model": "claude-3-haiku-20240307", "content": [{"type": "text", "text": "canned reply text"}],
        "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 3},
    }).encode()


def _claude_stream_body() -> bytes:
    chunks: List[Dict[str, Any]] = [
        {"type": "message_start", "message": {"id": "msg_bdrk_0123456789abcdef01234567", "type": "message",
                                              "role": "assistant", "model": "claude-3-haiku-20240307",
                                              "usage": {"input_tokens": 5, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    chunks += [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}}
               for word in ("canned ", "reply ", "text")]
    chunks += [{"type": "content_block_stop", "index": 0},
               {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
               {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
                   "inputTokenCount": 5, "outputTokenCount": 3, "invocationLatency": 20, "firstByteLatency": 5}}]
    return b"".join(chunk_frame(chunk) for chunk in chunks)


AGENT = {"agentId": "AGENT12345", "agentAliasId": "TSTALIASID", "sessionId": "session-1",
         "inputText": "What is the weather in Paris?", "enableTrace": True}
KNOWLEDGE_BASE = "KB12345678"
FLOW = {"flowIdentifier": "FLOW123456", "flowAliasIdentifier": "ALIAS12345", "enableTrace": True,
        "inputs": [{"nodeName": "FlowInputNode", "nodeOutputName": "document", "content": {"document": "hi"}}]}


def _agent_stream_body() -> bytes:
    """A traced agent run: model call, action group, model call, answer (child spans while it streams)."""
    events = agent_runtime.agent_events(AGENT, session_id=AGENT["sessionId"], region="us-east-1",
                                        agent_id=AGENT["agentId"], alias_id=AGENT["agentAliasId"])
    return b"".join(agent_runtime.encode_event(event) for event in events)


def _flow_stream_body() -> bytes:
    return b"".join(agent_runtime.encode_event(event) for event in agent_runtime.flow_events(FLOW))


_JSON = {"content-type": "application/json"}
_INVOKE_HEADERS = {**_JSON, "x-amzn-bedrock-input-token-count": "5", "x-amzn-bedrock-output-token-count": "3",
                   "x-amzn-bedrock-invocation-latency": "20"}
CANNED: Dict[str, Tuple[Dict[str, str], bytes]] = {
    "Converse": (_JSON, _converse_body()),
    "ConverseStream": ({"content-type": EVENTSTREAM}, _converse_stream_body()),
    "InvokeModel": (_INVOKE_HEADERS, _claude_body()),
    "InvokeModelWithResponseStream": ({"content-type": EVENTSTREAM,
                                       "x-amzn-bedrock-content-type": "application/json"}, _claude_stream_body()),
    "InvokeAgent": ({"content-type": EVENTSTREAM, "x-amz-bedrock-agent-session-id": AGENT["sessionId"]},
                    _agent_stream_body()),
    "Retrieve": (_JSON, json.dumps(agent_runtime.retrieve_body({"retrievalQuery": {"text": "weather"}},
                                                               KNOWLEDGE_BASE)).encode()),
    "InvokeFlow": ({"content-type": EVENTSTREAM, "x-amz-bedrock-flow-execution-id": "execution-1"},
                   _flow_stream_body()),
}
_ERROR = ({**_JSON, "x-amzn-ErrorType": "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"},
          json.dumps({"message": "The provided model identifier is invalid."}).encode())


def answer(request: Any, event_name: str = "", **kwargs: Any) -> AWSResponse:
    """The ``before-send`` handler: a canned response for the operation named by the event."""
    operation = event_name.rsplit(".", 1)[-1]
    headers, body = _ERROR if "/model/invalid" in request.url else CANNED[operation]
    status = 400 if headers is _ERROR[0] else 200
    headers = {**headers, "x-amzn-requestid": "00000000-0000-0000-0000-000000000000",
               "content-length": str(len(body))}
    return AWSResponse(request.url, status, headers, CannedRaw(body))


def attach(client: Any) -> Any:
    """Route ``client``'s requests (bedrock-runtime or bedrock-agent-runtime) to the canned answers."""
    client.meta.events.register("before-send.bedrock-runtime", answer)
    client.meta.events.register("before-send.bedrock-agent-runtime", answer)
    return client
