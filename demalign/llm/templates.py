"""Prompt templates as data: one folder per template under `demalign/data/prompts/<name>/`.

A folder holds one text file per part: `system.txt` and `user.txt` become the system and user
messages of `messages()`; other parts (e.g. the labelled-response block of the judges) are rendered
on their own with `render(part, ...)`. Researchers edit prompts there, not in code.

Placeholders use `string.Template` syntax, `${name}` (a literal dollar sign is `$$`), because
prompts often show JSON examples whose braces `str.format` would need doubled. A file's single final
newline is not part of the prompt (editors add one; the prompts themselves end without one), so a
rendered prompt is byte-identical to the text between the file's first byte and that newline; the
call cache keys on those bytes.

Rendering is strict: a placeholder without a value, or a value no part of the template uses (a
misspelt name), is a `ConfigError` naming the template folder and the placeholder.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from demalign.errors import ConfigError

MESSAGE_ROLES = ("system", "user")


def prompts_root() -> Path:
    return Path(str(resources.files("demalign") / "data" / "prompts"))


def _placeholders(template: string.Template) -> set[str]:
    names = set()
    for match in template.pattern.finditer(template.template):
        name = match.group("named") or match.group("braced")
        if name:
            names.add(name)
    return names


@dataclass(frozen=True)
class PromptTemplate:
    """The parts of one template folder, e.g. {"system": ..., "user": ...}."""

    name: str
    folder: Path
    parts: dict[str, string.Template]

    @property
    def placeholders(self) -> set[str]:
        return set().union(*(_placeholders(part) for part in self.parts.values()))

    def _check(self, parts: list[str], values: dict[str, Any]) -> None:
        unused = set(values) - set().union(*(_placeholders(self.parts[p]) for p in parts))
        if unused:
            raise ConfigError(
                f"prompt template {self.folder}: no placeholder ${{{sorted(unused)[0]}}} in "
                f"{', '.join(f'{p}.txt' for p in parts)}; it has {sorted(self.placeholders)}"
            )

    def render(self, part: str, **values: Any) -> str:
        """One part with `values` substituted (each converted with str())."""
        if part not in self.parts:
            raise ConfigError(f"prompt template {self.folder}: no {part}.txt (it has {sorted(self.parts)})")
        self._check([part], values)
        try:
            return self.parts[part].substitute({key: str(value) for key, value in values.items()})
        except KeyError as err:
            raise ConfigError(
                f"prompt template {self.folder / (part + '.txt')}: no value for placeholder ${{{err.args[0]}}}"
            ) from None
        except ValueError as err:  # a lone `$` in the file
            raise ConfigError(
                f"prompt template {self.folder / (part + '.txt')}: {err}; write $$ for a $"
            ) from None

    def messages(self, **values: Any) -> list[dict[str, str]]:
        """The chat messages: `system.txt` (if the folder has one), then `user.txt`."""
        roles = [role for role in MESSAGE_ROLES if role in self.parts]
        if "user" not in roles:
            raise ConfigError(f"prompt template {self.folder}: no user.txt")
        self._check(roles, values)
        placeholders_by_role = {role: _placeholders(self.parts[role]) for role in roles}
        return [
            {
                "role": role,
                "content": self.render(
                    role, **{k: v for k, v in values.items() if k in placeholders_by_role[role]}
                ),
            }
            for role in roles
        ]


@cache
def load_template(name: str, root: Path | None = None) -> PromptTemplate:
    """The template folder `name` under `root` (default: the bundled `demalign/data/prompts`)."""
    folder = (root or prompts_root()) / name
    files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
    if not files:
        raise ConfigError(f"prompt template {name!r}: no .txt files in {folder}")
    parts = {}
    for file in files:
        text = file.read_text(encoding="utf-8")
        parts[file.stem] = string.Template(text[:-1] if text.endswith("\n") else text)
    return PromptTemplate(name, folder, parts)
