#!/usr/bin/env python3
"""Route prompts with knn-llm-router from Python's standard library alone.

    ROUTER_URL=http://localhost:8888 python3 docs/examples/route.py "write a haiku about rain"

Prints the targets ranked for the prompt, then what a refusal looks like. It only reads: it changes
nothing on the router, whatever token the environment holds. With --write (and ADMIN_TOKEN set) it
first stores one labelled example, python-example-1, scoring gpt-4o and gpt-4o-mini (PUT
/admin/examples/{id}: create or replace, so re-running it changes nothing; targets the router does
not have yet are created).
"""
import argparse
import json
import os
import urllib.error
import urllib.request


class RouterError(Exception):
    """A refusal of the service: its HTTP status and its error envelope's code, message, request id."""

    def __init__(self, status, error):
        super().__init__(f"{status} {error['code']}: {error['message']}")
        self.status = status
        self.code = error["code"]
        self.details = error.get("details", [])
        self.request_id = error.get("requestId")


def call(base, method, path, body=None, token=None, timeout=10):
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response) if response.status != 204 else None
    except urllib.error.HTTPError as refusal:
        raise RouterError(refusal.code, json.load(refusal)["error"]) from None


def rank(base, query, **options):
    """POST /rank: {"hits": [...], "scores": [{"target", "score", "support", "confidence"}, ...], ...}"""
    return call(base, "POST", "/rank", {"query": query, **options})


def main():
    parser = argparse.ArgumentParser(description="Rank a prompt on knn-llm-router (read-only unless --write).")
    parser.add_argument("prompt", nargs="?", default="write a haiku about rain")
    parser.add_argument(
        "--write",
        action="store_true",
        help="first store the example python-example-1 (needs ADMIN_TOKEN; creates gpt-4o and gpt-4o-mini if absent)",
    )
    args = parser.parse_args()
    base = os.environ.get("ROUTER_URL", "http://localhost:8888").rstrip("/")
    token = os.environ.get("ADMIN_TOKEN")
    prompt = args.prompt

    if args.write:
        if not token:
            parser.error("--write needs ADMIN_TOKEN in the environment")
        example = {
            "text": "Write a SQL query that lists the ten customers who spent the most last month",
            "category": "coding",
            "scores": {"gpt-4o": 0.92, "gpt-4o-mini": 0.81},
        }
        stored = call(base, "PUT", "/admin/examples/python-example-1", example, token=token)
        print(f"stored example {stored['id']} (scores {', '.join(sorted(stored['scores']))})")
    else:
        print("read-only: nothing is written (--write stores an example)")

    answer = rank(base, prompt, k=3)
    print(f"{prompt!r}: {len(answer['hits'])} neighbours, fallback={answer['fallback']}")
    for row in answer["scores"]:
        print(f"  {row['target']:<28} score {row['score']:.4f}  support {row['support']}")

    try:
        rank(base, "   ")
    except RouterError as refusal:
        print(f"refused: {refusal} (request {refusal.request_id})")
        for detail in refusal.details:
            print(f"  {detail['path']}: {detail['message']}")


if __name__ == "__main__":
    main()
