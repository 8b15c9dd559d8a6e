"""Benchmark: tokens per second of the `local` chat model adapter's `stream` against
llama-cpp-python generating the same prompt directly, in the same process and run.

The issue's target (>= 0.9) is for the whole `/execute` streaming path; this measures the
adapter's share of it (worker thread, queue hand-off to the event loop, stop criterion,
whitespace trimming). Another contender — e.g. HTTP `/execute` with `stream: true` — is a
class with `name` and `async run(case) -> Sample`, appended to `contenders()`.

Fairness: both use the same GGUF, the same prompt tokens (the adapter's own plain prompt),
the same sampling parameters, stop sequences and thread count; greedy decoding
(temperature 0), so both must produce the same text, which is checked. Each contender has
its own llama.cpp context (the file is memory-mapped once). Rounds alternate the order
(ABBA), after one unscored warm-up run each.

    .venv/bin/python -m bench --only local_model [--rounds 4] [--max-tokens 128] [--threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import llama_cpp

from bench._server import Server
from codexos_server.llm import _local_prompt as prompts
from codexos_server.llm.local_llama import LocalChatModel, model_file
from codexos_server.llm.port import ProviderSettings
from codexos_server.llm.types import ChatMessage, ChatRequest

TARGET_RATIO = 0.9
N_CTX = 2048
MESSAGES = (
    ChatMessage("system", "You are a storyteller."),
    ChatMessage("user", "Write a long story about a dragon who learns to fly."),
)


@dataclass(frozen=True)
class Case:
    """What every contender generates."""

    gguf: Path
    messages: tuple[ChatMessage, ...]
    max_tokens: int
    threads: int | None


@dataclass(frozen=True)
class Sample:
    tokens: int
    seconds: float
    text: str


class Contender(Protocol):
    name: str

    async def run(self, case: Case) -> Sample: ...


class Direct:
    """llama-cpp-python on its own: `create_completion(stream=True)`, consumed in place."""

    name = "llama-cpp-python"

    def __init__(self, case: Case) -> None:
        self.llama = llama_cpp.Llama(
            model_path=str(case.gguf), n_ctx=N_CTX, n_threads=case.threads, verbose=False
        )

    async def run(self, case: Case) -> Sample:
        prompt = prompts.plain_prompt(case.messages, ())
        tokens = self.llama.tokenize(prompt.encode(), add_bos=True, special=False)
        started = time.perf_counter()
        text = ""
        for chunk in self.llama.create_completion(
            prompt=tokens,
            max_tokens=case.max_tokens,
            temperature=0.0,
            stop=list(prompts.PLAIN_STOP),
            repeat_penalty=prompts.PLAIN_REPEAT_PENALTY,
            stream=True,
        ):
            text += chunk["choices"][0]["text"]
        seconds = time.perf_counter() - started
        # Sampled tokens: those evaluated after the prompt, plus the last one (never evaluated).
        return Sample(self.llama.n_tokens - len(tokens) + 1, seconds, text.strip())

    def close(self) -> None:
        self.llama.close()


class Adapter:
    """Our `local` ChatModel's `stream`, consumed on the event loop."""

    name = "adapter.stream"

    def __init__(self, case: Case) -> None:
        extra: dict[str, Any] = {
            "model_path": str(case.gguf),
            "data_dir": str(case.gguf.parent),
            "n_ctx": N_CTX,
            "n_threads": case.threads,
            "concurrency": 1,
        }
        self.model = LocalChatModel(ProviderSettings("local", extra=extra))

    async def run(self, case: Case) -> Sample:
        request = ChatRequest(case.messages, "gemma-3-270m", 0.0, case.max_tokens)
        started = time.perf_counter()
        result = None
        async for chunk in self.model.stream(request):
            result = chunk.result or result
        seconds = time.perf_counter() - started
        assert result is not None
        return Sample(result.usage.completion_tokens, seconds, result.content)

    async def close(self) -> None:
        await self.model.close()


class HttpExecute:
    """The whole path: `POST /api/v1/agents/{id}/execute` with `stream: true` on a real
    server (uvicorn, SQLite, auth, run and step records, events, SSE), read to the end."""

    name = "HTTP /execute stream"

    def __init__(self, case: Case) -> None:
        env = {
            "CODEXOS_LLM_PROVIDER": "local",
            "CODEXOS_LOCAL_MODEL_PATH": str(case.gguf),
            "CODEXOS_LOCAL_MODEL_CONTEXT": str(N_CTX),
        }
        if case.threads:
            env["CODEXOS_LOCAL_MODEL_THREADS"] = str(case.threads)
        self.server = Server(env).__enter__()
        key = self.server.api_key(["agents:*"])
        self.http = httpx.AsyncClient(
            base_url=self.server.base, headers={"Authorization": f"Bearer {key}"}, timeout=300
        )
        system, user = case.messages
        self.input = user.content
        agent = {
            "name": "storyteller",
            "instructions": system.content,
            "model": {"provider": "local", "temperature": 0.0, "max_tokens": case.max_tokens},
        }
        self.agent = (
            httpx.post(
                f"{self.server.base}/agents", json=agent, headers=self.http.headers, timeout=30
            )
            .raise_for_status()
            .json()
        )

    async def run(self, case: Case) -> Sample:
        url = f"/agents/{self.agent['id']}/execute"
        started = time.perf_counter()
        final: dict[str, Any] = {}
        async with self.http.stream(
            "POST", url, json={"input_data": self.input, "stream": True}
        ) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    if event["type"].startswith("run."):
                        final = event["data"]
        seconds = time.perf_counter() - started
        assert final.get("status") == "succeeded", final
        return Sample(int(final["usage"]["completion_tokens"]), seconds, str(final["output"]))

    async def close(self) -> None:
        await self.http.aclose()
        self.server.__exit__(None, None, None)


def contenders(case: Case) -> list[Any]:
    return [Direct(case), Adapter(case), HttpExecute(case)]


async def measure(case: Case, rounds: int) -> dict[str, Any]:
    players = contenders(case)
    for player in players:  # warm-up: loads the model, fills caches
        await player.run(case)
    samples: dict[str, list[Sample]] = {p.name: [] for p in players}
    for i in range(rounds):
        order = players if i % 2 == 0 else list(reversed(players))
        for player in order:
            sample = await player.run(case)
            samples[player.name].append(sample)
            print(
                f"  round {i + 1} {player.name:<18} {sample.tokens:4d} tokens "
                f"{sample.seconds:6.3f} s  {sample.tokens / sample.seconds:6.1f} tok/s",
                flush=True,
            )
    for player in players:
        closing = player.close()
        if asyncio.iscoroutine(closing):
            await closing
    texts = {s.text for group in samples.values() for s in group}
    rates = {
        name: sum(s.tokens for s in group) / sum(s.seconds for s in group)
        for name, group in samples.items()
    }
    baseline = players[0].name
    return {
        "rates": rates,
        "ratios": {name: rate / rates[baseline] for name, rate in rates.items()},
        "same_text": len(texts) == 1,
        "samples": {name: [asdict(s) | {"text": None} for s in g] for name, g in samples.items()},
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_local_model")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument(
        "--threads", type=int, default=None, help="llama.cpp threads (default: its own)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "codexos-bench-models"
    )
    parser.add_argument("--json", type=Path, default=None)
    args, _ = parser.parse_known_args(argv)

    gguf = model_file(None, str(args.data_dir))
    case = Case(gguf, MESSAGES, args.max_tokens, args.threads)
    print(
        f"local model: {gguf.name}, {args.max_tokens} tokens greedy, {args.rounds} rounds (ABBA), "
        f"threads={args.threads or 'llama.cpp default'}, {platform.processor() or platform.machine()}",
        flush=True,
    )
    report = asyncio.run(measure(case, args.rounds))
    for name, rate in report["rates"].items():
        print(f"{name:<18} {rate:6.1f} tok/s  ratio {report['ratios'][name]:.3f}")
    ratio = report["ratios"][HttpExecute.name]
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(f"/execute streaming / direct ratio {ratio:.3f} ({verdict} the >= {TARGET_RATIO} target)")
    if not report["same_text"]:
        print("WARNING: the contenders generated different text; the comparison is unsound")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if report["same_text"] else 1
