"""Calls to any chat API through litellm (OpenAI, Anthropic, ..., or an OpenAI-compatible server
such as vLLM or llama.cpp via `base_url`).

litellm is imported lazily (its import takes seconds) with `LITELLM_LOCAL_MODEL_COST_MAP=True`, so
runs never fetch its price map from the internet and prices are reproducible. Retries are ours (see
`llm.execute`), so litellm's and the OpenAI client's own retries are switched off. The API key is
read from the environment variable the config names and is scrubbed from any error text we keep.
"""

from __future__ import annotations

import email.utils
import os
import time
from typing import Any

from demalign.errors import ConfigError
from demalign.llm.calls import CallFailed, ChatCall, Completion, TransientError

# Placeholder key for self-hosted OpenAI-compatible servers that ignore keys.
NO_KEY = "not-needed"


def import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def litellm_model_id(model: str, base_url: str | None) -> str:
    """The id litellm routes on: a bare name served at `base_url` speaks the OpenAI protocol, so it
    gets the `openai/` prefix; anything else is passed as given ("gpt-5.2", "anthropic/claude-...")."""
    if base_url and "/" not in model:
        return f"openai/{model}"
    return model


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or an HTTP date), else None.
    E.g. {"retry-after": "2"} -> 2.0; {"retry-after-ms": "250"} -> 0.25."""
    if not headers:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return float(milliseconds) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def completion_arguments(call: ChatCall) -> dict[str, Any]:
    """The call's settings as completion arguments (None = the provider's default, not sent). The
    n-th sample of a request (judge k of n, candidate k of N) asks with seed + n: with one seed for
    all, a provider that honours seeds would return the same text N times."""
    arguments = {name: value for name, value in call.settings.items() if value is not None}
    if "seed" in arguments:
        arguments["seed"] = int(arguments["seed"]) + call.sample
    return arguments


class LiteLLMBackend:
    """Async chat completions through litellm. `call.settings` are passed as completion arguments
    (temperature, max_tokens, seed, ...); a parameter the provider does not support is dropped."""

    def __init__(
        self, model: str, base_url: str | None, api_key_env: str | None, timeout: float, config_key: str
    ) -> None:
        self.model = litellm_model_id(model, base_url)
        self.base_url = base_url
        self.timeout = timeout
        key = os.environ.get(api_key_env) if api_key_env else None
        if api_key_env and not key and not base_url:
            raise ConfigError(
                f"{config_key}.api_key_env: environment variable {api_key_env} is not set; export your "
                f"API key in it (keys never go in config files), or set {config_key}.api_key_env=null to "
                "let litellm use the provider's default variable"
            )
        self._api_key = key or (NO_KEY if base_url else None)
        self._litellm = import_litellm()

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key and self._api_key != NO_KEY else text

    async def acomplete(self, call: ChatCall) -> Completion:
        litellm = self._litellm
        try:
            response = await litellm.acompletion(
                model=self.model,
                messages=call.messages,
                api_base=self.base_url,
                api_key=self._api_key,
                timeout=self.timeout,
                max_retries=0,
                num_retries=0,
                drop_params=True,
                **completion_arguments(call),
            )
        except (
            litellm.RateLimitError,
            litellm.Timeout,
            litellm.APIConnectionError,
            litellm.InternalServerError,
            litellm.ServiceUnavailableError,
            litellm.BadGatewayError,
        ) as err:
            headers = getattr(err, "litellm_response_headers", None) or getattr(
                getattr(err, "response", None), "headers", None
            )
            raise TransientError(
                self._scrub(f"{type(err).__name__}: {err}"), parse_retry_after(headers)
            ) from None
        except litellm.AuthenticationError as err:
            raise ConfigError(f"{self.model}: the API rejected the key ({self._scrub(str(err))})") from None
        except litellm.APIError as err:
            if getattr(err, "status_code", 0) >= 500:
                raise TransientError(self._scrub(f"{type(err).__name__}: {err}")) from None
            raise CallFailed(self._scrub(f"{type(err).__name__}: {err}")) from None
        except (litellm.BadRequestError, litellm.NotFoundError) as err:
            raise CallFailed(self._scrub(f"{type(err).__name__}: {err}")) from None
        usage = getattr(response, "usage", None)
        return Completion(
            text=response.choices[0].message.content or "",
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            cost=self._cost(response),
        )

    @staticmethod
    def _cost(response: Any) -> float | None:
        """litellm prices every response once, in its hidden params; None there means the model has
        no known price (a self-hosted model), and asking `completion_cost` again would only repeat
        that failed lookup (about 1 ms of CPU per call, see tests/bench/bench_judging.py)."""
        cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
        return float(cost) if cost is not None else None


def expected_cost(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Dollars for these token counts at litellm's (bundled) price for `model`, or None if unknown."""
    litellm = import_litellm()
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    except Exception:  # litellm raises assorted errors for models without a known price
        return None
    return float(prompt_cost + completion_cost)
