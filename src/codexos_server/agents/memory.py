"""Conversation memory: the last N messages verbatim plus a rolling summary of older ones,
folded in when the context window would overflow (tokens counted by the model's tokenizer
where the adapter has one)."""

from __future__ import annotations

from sqlalchemy import select, update

from codexos_server.agents.models import Conversation, Message
from codexos_server.db.database import Database
from codexos_server.llm.providers import ResolvedModel
from codexos_server.llm.types import ChatMessage, ChatRequest

SUMMARY_PROMPT = (
    "Summarize the conversation below in a few sentences. Keep names, numbers, decisions "
    "and open questions; drop pleasantries.\n\n"
)


class ConversationMemory:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def context(
        self,
        conversation_id: str,
        model: ResolvedModel,
        system: ChatMessage,
        user: ChatMessage,
        max_messages: int,
        summarize: bool,
        reply_tokens: int,
    ) -> list[ChatMessage]:
        """The messages to send: system, summary, recent history, the new user message."""
        async with self.db.read() as session:
            conversation = await session.get_one(Conversation, conversation_id)
            summary, folded = conversation.summary, conversation.summarized_messages
            rows = (
                await session.scalars(
                    select(Message)
                    .where(Message.conversation_id == conversation_id, Message.position >= folded)
                    .order_by(Message.position.desc())
                    .limit(max_messages)
                )
            ).all()
        recent = [ChatMessage(role=r.role, content=r.content) for r in reversed(rows)]  # type: ignore[arg-type]
        first_position = rows[-1].position if rows else folded
        budget = model.chat.context_window(model.model) - reply_tokens

        def assemble() -> list[ChatMessage]:
            memory = (
                [ChatMessage("system", f"Summary of the earlier conversation: {summary}")]
                if summary
                else []
            )
            return [system, *memory, *recent, user]

        messages = assemble()
        while recent and await model.chat.count_tokens(tuple(messages), model.model) > budget:
            fold = recent[: max(1, len(recent) // 2)]
            recent = recent[len(fold) :]
            first_position += len(fold)
            if summarize:
                summary = await self._summarize(model, summary, fold)
                await self._save_summary(conversation_id, summary, first_position)
            messages = assemble()
        return messages

    async def _summarize(
        self, model: ResolvedModel, summary: str | None, fold: list[ChatMessage]
    ) -> str:
        transcript = "\n".join(f"{m.role}: {m.content}" for m in fold)
        earlier = f"Earlier summary: {summary}\n\n" if summary else ""
        result = await model.chat.complete(
            ChatRequest(
                messages=(ChatMessage("user", SUMMARY_PROMPT + earlier + transcript),),
                model=model.model,
                temperature=0.2,
                max_tokens=256,
            )
        )
        return result.content.strip() or (summary or "")

    async def _save_summary(self, conversation_id: str, summary: str, folded: int) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(summary=summary, summarized_messages=folded)
            )

    async def append(self, conversation_id: str, run_id: str, turns: list[tuple[str, str]]) -> None:
        """Add messages at the end; positions are allocated atomically so concurrent runs in
        one conversation never collide."""
        async with self.db.transaction() as session:
            end = await session.scalar(
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(message_count=Conversation.message_count + len(turns))
                .returning(Conversation.message_count)
            )
            if end is None:  # the conversation was deleted meanwhile
                return
            start = int(end) - len(turns)
            for offset, (role, content) in enumerate(turns):
                session.add(
                    Message(
                        conversation_id=conversation_id,
                        run_id=run_id,
                        position=start + offset,
                        role=role,
                        content=content,
                    )
                )
