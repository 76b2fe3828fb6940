#!/usr/bin/env python3
"""A real client of hearth's LLM balancer: the official `openai` Python SDK.

Usage: openai_client.py BASE_URL   (e.g. http://127.0.0.1:8080/v1)

Run by tests/tests/openai_sdk.rs against hearth in front of fake upstreams. It expects the
balancer to serve the chat model `gpt-4o-mini` and the embeddings model
`text-embedding-3-small`, and no model called `no-such-model`. It does what an application
does with the SDK -- list models, a chat completion, a streamed one without and with
`stream_options={"include_usage": True}`, embeddings, and a call to an unknown model -- checks
what the SDK returns, prints ONE line of JSON summarising what it saw, and exits 1 if anything
was not as an OpenAI-compatible server must answer (the reasons are in the summary's
"problems" list), 2 on bad usage.
"""

import json
import sys

import openai
from openai import OpenAI

CHAT_MODEL = "gpt-4o-mini"
EMBEDDING_MODEL = "text-embedding-3-small"
UNKNOWN_MODEL = "no-such-model"
MESSAGES = [{"role": "user", "content": "Say hello."}]


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: openai_client.py BASE_URL", file=sys.stderr)
        return 2
    # No retries: a failure must show, not be papered over by the SDK's own retry loop.
    client = OpenAI(base_url=sys.argv[1], api_key="unused", max_retries=0, timeout=30.0)
    summary = {"sdk_version": openai.__version__}
    problems = []

    def check(ok, what):
        if not ok:
            problems.append(what)

    # GET /models
    models = sorted(m.id for m in client.models.list())
    summary["models"] = models
    check(CHAT_MODEL in models and EMBEDDING_MODEL in models, "models.list() misses a model")

    # A plain chat completion.
    chat = client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    summary["chat"] = {
        "content": chat.choices[0].message.content,
        "finish_reason": chat.choices[0].finish_reason,
        "usage": [chat.usage.prompt_tokens, chat.usage.completion_tokens]
        if chat.usage
        else None,
    }
    check(bool(chat.choices[0].message.content), "chat: no content")
    check(chat.usage is not None, "chat: no usage")

    # A stream, without asking for usage: no chunk may carry it.
    content, chunks, usage_seen, empty_choices = "", 0, False, 0
    for chunk in client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True):
        chunks += 1
        if chunk.usage is not None:
            usage_seen = True
        if not chunk.choices:
            empty_choices += 1
            continue
        content += chunk.choices[0].delta.content or ""
    summary["stream"] = {
        "chunks": chunks,
        "content": content,
        "usage_seen": usage_seen,
        "empty_choices": empty_choices,
    }
    check(bool(content), "stream: no content")
    check(not usage_seen and empty_choices == 0, "stream: usage chunk although not asked")

    # A stream asking for usage: it comes in the last chunk, which has no choices.
    content, last = "", None
    for chunk in client.chat.completions.create(
        model=CHAT_MODEL,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    ):
        last = chunk
        if chunk.choices:
            content += chunk.choices[0].delta.content or ""
    last_usage = last.usage if last is not None else None
    summary["stream_with_usage"] = {
        "content": content,
        "last_chunk_choices": len(last.choices) if last is not None else None,
        "usage": [last_usage.prompt_tokens, last_usage.completion_tokens]
        if last_usage
        else None,
    }
    check(last_usage is not None, "stream_with_usage: no usage in the last chunk")
    check(last is not None and not last.choices, "stream_with_usage: last chunk has choices")

    # Embeddings.
    emb = client.embeddings.create(model=EMBEDDING_MODEL, input=["first", "second"])
    summary["embeddings"] = [len(d.embedding) for d in emb.data]
    check(len(emb.data) == 2 and all(len(d.embedding) > 0 for d in emb.data), "embeddings")

    # An unknown model: the SDK must raise its typed 404.
    try:
        client.chat.completions.create(model=UNKNOWN_MODEL, messages=MESSAGES)
        summary["not_found"] = None
        problems.append("unknown model: no error")
    except openai.NotFoundError as e:
        body = e.body if isinstance(e.body, dict) else {}
        code = getattr(e, "code", None) or body.get("code")
        summary["not_found"] = {"status": e.status_code, "code": code}
    except openai.APIError as e:
        summary["not_found"] = {"unexpected": type(e).__name__}
        problems.append(f"unknown model: {type(e).__name__} instead of NotFoundError")

    summary["problems"] = problems
    print(json.dumps(summary, sort_keys=True))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
