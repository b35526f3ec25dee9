"""Principles as critique/revision request pairs (SL-CAI), with optional few-shot chats.

A principle pair is what the critique-revision loop asks the model, once per round: a *critique
request* ("point out anything harmful in your last answer") and the matching *revision request*
("rewrite the answer without it"). Three JSON layouts load unchanged:

- the public Hugging Face recipe (llm-swarm `examples/constitutional-ai/*.json`):
  `{"constitutions": [{"critic": str, "revision": str}, ...], "system_chat": [[{role, content}, ...], ...]}`;
  `system_chat` (optional) holds worked few-shot chats, flattened into one chat prefix in file order;
- its older bare list (llm-swarm `examples/hh/constitution.json`): `[{"critic": str, "revision": str}, ...]`;
- Anthropic's `CritiqueRevisionInstructions.json`: `{"<name>": {"prompt": ["\\n\\nCritiqueRequest: ...\\n\\nCritique:"],
  "edit_request": "\\n\\nRevisionRequest: ...\\n\\nRevision:"}, ...}`; the `CritiqueRequest:` / `Critique:` and
  `RevisionRequest:` / `Revision:` markers are stripped, since our chats carry the turns as messages.

An entry may also carry `name` (shown in records; default: its index) and `principle` (the broad
principle it serves, e.g. `harm_prevention`; used for per-principle tables). Any other key, an empty
request or a malformed few-shot chat is a `DataError` naming the file and the entry
(`constitutions[3].revision`), never skipped. The bundled set (`demalign/data/constitution/principles.json`,
our own wording) has 16 pairs, four for each of harm prevention, truthfulness, helpfulness and fairness.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from demalign.errors import ConfigError, DataError

PRINCIPLES = ("harm_prevention", "truthfulness", "helpfulness", "fairness")
ENTRY_KEYS = {"critic", "revision", "name", "principle"}
CHAT_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class PrinciplePair:
    """One critique request and its revision request; `index` is the entry's position in the file."""

    index: int
    name: str
    critic: str
    revision: str
    principle: str | None = None


@dataclass(frozen=True)
class PrincipleSet:
    """The pairs of one file, its few-shot chats (each a list of messages) and the layout it was read as."""

    source: Path
    layout: str  # hf | hf_list | anthropic
    pairs: tuple[PrinciplePair, ...]
    few_shot: tuple[tuple[dict[str, str], ...], ...] = ()

    def few_shot_prefix(self) -> list[dict[str, str]]:
        """The few-shot chats flattened into one chat prefix (the public recipe's `system_chat` use)."""
        return [dict(message) for chat in self.few_shot for message in chat]


def default_principles_path() -> Path:
    return Path(str(resources.files("demalign") / "data" / "constitution" / "principles.json"))


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: expected a non-empty string, got {value!r}")
    return value.strip()


def _hf_entry(path: Path, index: int, entry: Any, where: str) -> PrinciplePair:
    if not isinstance(entry, dict):
        raise DataError(
            f'{path}: {where}: expected an object {{"critic": ..., "revision": ...}}, got {entry!r}'
        )
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        raise DataError(f"{path}: {where}: unknown key(s) {unknown}; an entry has {sorted(ENTRY_KEYS)}")
    for key in ("critic", "revision"):
        if key not in entry:
            raise DataError(f"{path}: {where}: missing `{key}`")
    name = _text(entry["name"], f"{path}: {where}.name") if "name" in entry else str(index)
    principle = _text(entry["principle"], f"{path}: {where}.principle") if "principle" in entry else None
    return PrinciplePair(
        index, name, _text(entry["critic"], f"{path}: {where}.critic"),
        _text(entry["revision"], f"{path}: {where}.revision"), principle,
    )  # fmt: skip


def _few_shot(path: Path, chats: Any) -> tuple[tuple[dict[str, str], ...], ...]:
    if not isinstance(chats, list):
        raise DataError(
            f"{path}: system_chat: expected a list of chats (lists of {{role, content}} messages)"
        )
    parsed = []
    for c, chat in enumerate(chats):
        if not isinstance(chat, list) or not chat:
            raise DataError(
                f"{path}: system_chat[{c}]: expected a non-empty list of {{role, content}} messages"
            )
        messages = []
        for m, message in enumerate(chat):
            where = f"{path}: system_chat[{c}][{m}]"
            if not isinstance(message, dict) or set(message) != {"role", "content"}:
                raise DataError(f"{where}: expected exactly {{role, content}}, got {message!r}")
            if message["role"] not in CHAT_ROLES:
                raise DataError(f"{where}.role={message['role']!r}; expected one of {list(CHAT_ROLES)}")
            messages.append(
                {"role": message["role"], "content": _text(message["content"], f"{where}.content")}
            )
        if messages[-1]["role"] != "assistant":
            raise DataError(f"{path}: system_chat[{c}]: a few-shot chat must end with an assistant turn")
        parsed.append(tuple(messages))
    return tuple(parsed)


_CRITIQUE_MARKERS = (re.compile(r"^\s*CritiqueRequest:\s*"), re.compile(r"\s*Critique:\s*$"))
_REVISION_MARKERS = (re.compile(r"^\s*RevisionRequest:\s*"), re.compile(r"\s*Revision:\s*$"))


def _strip_markers(text: str, markers: tuple[re.Pattern[str], ...]) -> str:
    for marker in markers:
        text = marker.sub("", text)
    return text.strip()


def _anthropic_entry(path: Path, index: int, name: str, entry: Any) -> PrinciplePair:
    where = f"{path}: {name}"
    if not isinstance(entry, dict) or set(entry) != {"prompt", "edit_request"}:
        raise DataError(f'{where}: expected {{"prompt": ["...CritiqueRequest..."], "edit_request": "..."}}')
    prompt = entry["prompt"]
    if not isinstance(prompt, list) or len(prompt) != 1:
        raise DataError(f"{where}.prompt: expected a list holding one critique request, got {prompt!r}")
    critic = _strip_markers(_text(prompt[0], f"{where}.prompt[0]"), _CRITIQUE_MARKERS)
    revision = _strip_markers(_text(entry["edit_request"], f"{where}.edit_request"), _REVISION_MARKERS)
    return PrinciplePair(
        index, name, _text(critic, f"{where}.prompt[0]"), _text(revision, f"{where}.edit_request")
    )


def parse_principles(path: Path, document: Any) -> PrincipleSet:
    """The pairs of a parsed JSON document (see the module docstring for the layouts)."""
    if isinstance(document, list):
        pairs = [_hf_entry(path, i, entry, f"[{i}]") for i, entry in enumerate(document)]
        layout, few_shot = "hf_list", ()
    elif isinstance(document, dict) and "constitutions" in document:
        unknown = sorted(set(document) - {"constitutions", "system_chat"})
        if unknown:
            raise DataError(
                f"{path}: unknown top-level key(s) {unknown}; expected constitutions, system_chat"
            )
        entries = document["constitutions"]
        if not isinstance(entries, list):
            raise DataError(f"{path}: constitutions: expected a list of {{critic, revision}} entries")
        pairs = [_hf_entry(path, i, e, f"constitutions[{i}]") for i, e in enumerate(entries)]
        layout, few_shot = "hf", _few_shot(path, document.get("system_chat", []))
    elif isinstance(document, dict) and document and all(isinstance(v, dict) for v in document.values()):
        pairs = [_anthropic_entry(path, i, str(name), e) for i, (name, e) in enumerate(document.items())]
        layout, few_shot = "anthropic", ()
    else:
        raise DataError(
            f'{path}: not a principle file; expected {{"constitutions": [{{"critic", "revision"}}, ...], '
            '"system_chat": [...]}, a list of {critic, revision}, or Anthropic\'s {"<name>": {"prompt", "edit_request"}}'
        )
    if not pairs:
        raise DataError(f"{path}: no principle pairs")
    names = [p.name for p in pairs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"{path}: entry name(s) {repeated} appear more than once")
    return PrincipleSet(path, layout, tuple(pairs), few_shot)


def load_principles(path: str | Path | None) -> PrincipleSet:
    """The principle pairs of `path` (a JSON file), or of the bundled set when `path` is None."""
    resolved = Path(path).expanduser() if path else default_principles_path()
    if not resolved.is_file():
        raise ConfigError(
            f"constitution.principles: {resolved} does not exist; give a JSON principle-pair file or null for "
            "the bundled set"
        )
    try:
        document = json.loads(resolved.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{resolved}:{err.lineno}: not valid JSON ({err.msg})") from None
    return parse_principles(resolved, document)


def principle_counts(principles: PrincipleSet) -> dict[str, int]:
    """Pairs per broad principle (`unlabelled` for entries without one), in file order."""
    counts: dict[str, int] = {}
    for pair in principles.pairs:
        key = pair.principle or "unlabelled"
        counts[key] = counts.get(key, 0) + 1
    return counts
