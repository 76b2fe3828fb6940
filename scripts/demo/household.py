#!/usr/bin/env python3
"""One device of the demo household talking to hearth with the official openai SDK.

    household.py --base-url URL --device NAME --model MODEL --requests N
                 [--stream-every K] [--prompt-bytes B] [--max-tokens T]
                 [--until-downgraded] [--local-address ADDR]

Sends up to N chat requests (every K-th one streamed, with usage asked for), prints one line
per request for a person and one JSON line per request (prefixed `@json `) for the demo's
report. With --until-downgraded it stops after the first answer hearth downgraded (the
`X-Hearth-Downgraded` header); N is always the bound. --local-address binds the client to a
source address (the loopback demo tells devices apart by 127.0.0.x). Exit status 0 when every
request got an answer or an OpenAI-shaped error, 1 on a transport failure.
"""

import argparse
import json
import sys

import openai

try:  # newer SDKs are built on httpx2, older ones on httpx
    import httpx2 as httpx
except ImportError:
    import httpx


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--requests", type=int, required=True)
    p.add_argument("--stream-every", type=int, default=0)
    p.add_argument("--prompt-bytes", type=int, default=200)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--until-downgraded", action="store_true")
    p.add_argument("--local-address")
    a = p.parse_args()

    http_client = None
    if a.local_address:
        transport = httpx.HTTPTransport(local_address=a.local_address)
        http_client = openai.DefaultHttpxClient(transport=transport)
    client = openai.OpenAI(
        base_url=a.base_url,
        # The device's own key is not an upstream key: hearth never forwards it.
        api_key="sk-household-device",
        http_client=http_client,
        timeout=30.0,
        max_retries=0,
    )
    homework = ("Explain photosynthesis to a ten-year-old, step by step. " * 64)[: a.prompt_bytes]
    ok = True
    for n in range(1, a.requests + 1):
        stream = a.stream_every > 0 and n % a.stream_every == 0
        row = {"device": a.device, "n": n, "asked": a.model, "stream": stream}
        try:
            kwargs = dict(
                model=a.model,
                messages=[{"role": "user", "content": homework}],
                max_tokens=a.max_tokens,
            )
            if stream:
                raw = client.chat.completions.with_raw_response.create(
                    stream=True, stream_options={"include_usage": True}, **kwargs
                )
                text, usage, model = "", None, None
                for chunk in raw.parse():
                    model = chunk.model or model
                    if chunk.choices and chunk.choices[0].delta.content:
                        text += chunk.choices[0].delta.content
                    if chunk.usage:
                        usage = chunk.usage
            else:
                raw = client.chat.completions.with_raw_response.create(**kwargs)
                done = raw.parse()
                text, usage, model = done.choices[0].message.content or "", done.usage, done.model
            row.update(
                status=raw.status_code,
                endpoint=raw.headers.get("x-hearth-endpoint", "?"),
                model=model,
                downgraded=raw.headers.get("x-hearth-downgraded"),
                prompt_tokens=usage.prompt_tokens if usage else None,
                completion_tokens=usage.completion_tokens if usage else None,
                words=len(text.split()),
            )
        except openai.APIStatusError as e:
            body = e.body if isinstance(e.body, dict) else {}
            row.update(status=e.status_code, error=body.get("code") or str(e)[:120])
        except openai.APIConnectionError as e:
            row.update(status=None, error=f"connection failed: {e}")
            ok = False
        if "error" in row:
            print(f"  {a.device:<7} #{n:<2} {a.model:<12} -> HTTP {row['status']}: {row['error']}")
        else:
            note = f"  downgraded ({row['downgraded']})" if row["downgraded"] else ""
            kind = "stream" if stream else "json  "
            print(
                f"  {a.device:<7} #{n:<2} {a.model:<12} {kind} -> {row['endpoint']:<10} "
                f"{row['model']:<12} {row['prompt_tokens']} in / {row['completion_tokens']} out{note}"
            )
        print("@json " + json.dumps(row), flush=True)
        if a.until_downgraded and row.get("downgraded"):
            break
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
