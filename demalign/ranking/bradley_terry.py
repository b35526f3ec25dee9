"""Bradley-Terry maximum likelihood on win-count matrices (never on one row per judgement).

Model: P(i beats j) = σ(θ_i − θ_j). The log-likelihood depends on the data only through the
win-count matrix W (W[i, j] = judgements preferring i over j), so every fit works on W — or on a
batch of B matrices at once for the bootstrap. Ties either count half a win each way (`half`) or
follow Davidson (1970): P(i) ∝ π_i, P(j) ∝ π_j, P(tie) ∝ ν√(π_i π_j).

Identifiability: θ is defined up to a common shift (we return it centred, mean 0), and the MLE
exists only when the "beat" graph is strongly connected (every model won and lost against a
chain reaching every other). `prior` adds a Gaussian ridge λ/2·|θ|² — a tiny one (the config
default 0.01, i.e. a N(0, 100) prior on logits) keeps perfectly separated or disconnected data
finite while moving well-determined scores by far less than their confidence intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import connected_components

from demalign.ranking.newton import minimise

TIE_MODELS = ("half", "davidson")


@dataclass(frozen=True)
class BradleyTerryFit:
    theta: np.ndarray  # (B, M) centred log-strengths
    log_nu: np.ndarray | None  # (B,) Davidson tie parameter (−inf where a resample has no ties)
    coefficients: np.ndarray | None  # (B, F) style coefficients (style control only)
    converged: np.ndarray  # (B,) bool


def pair_incidence(n_models: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper-triangle pairs (I, J) and the (P, M) incidence matrix with +1 at I, −1 at J.

    Worked example, 3 models: pairs (0,1), (0,2), (1,2); rows [1,−1,0], [1,0,−1], [0,1,−1]."""
    first, second = np.triu_indices(n_models, 1)
    incidence = np.zeros((first.size, n_models))
    incidence[np.arange(first.size), first] = 1.0
    incidence[np.arange(first.size), second] = -1.0
    return first, second, incidence


def _as_batch(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    return matrix[None] if matrix.ndim == 2 else matrix


def _outer_rows(design: np.ndarray) -> np.ndarray:
    """(R, D) → (R, D·D): row r holds x_r x_rᵀ flattened, so Σ_r h_r x_r x_rᵀ is one matmul."""
    return (design[:, :, None] * design[:, None, :]).reshape(design.shape[0], -1)


def _logistic_objective(design: np.ndarray, wins_for: np.ndarray, wins_against: np.ndarray, prior: float):
    """Negative log-likelihood of binomial counts under logit = design @ params, plus λ/2·|params|².

    Row r contributes a·softplus(−d) + b·softplus(d) with d = x_r·params; its derivatives in d are
    n·σ(d) − a and n·σ(d)σ(−d), with n = a + b."""
    totals = wins_for + wins_against
    outer = _outer_rows(design)
    dim = design.shape[1]

    def objective(params: np.ndarray, derivatives: bool):
        logits = params @ design.T
        value = (wins_for * np.logaddexp(0.0, -logits) + wins_against * np.logaddexp(0.0, logits)).sum(1)
        value += 0.5 * prior * (params**2).sum(1)
        if not derivatives:
            return value, None, None
        prob = 0.5 * (1.0 + np.tanh(0.5 * logits))  # σ(d), overflow-free
        grad = (totals * prob - wins_for) @ design + prior * params
        hess = ((totals * prob * (1.0 - prob)) @ outer).reshape(-1, dim, dim) + prior * np.eye(dim)
        return value, grad, hess

    return objective


def _davidson_objective(incidence: np.ndarray, wins_for, wins_against, tie_counts, prior: float):
    """Davidson's tie model in (θ, φ = log ν). With a = e^{d/2}, b = e^{−d/2}, D = a + b + ν:
    P(i) = a/D, P(j) = b/D, P(tie) = ν/D, and log D is a log-sum-exp (convex), so Newton is safe.
    Resamples without any tie keep ν = 0 (the plain Bradley-Terry likelihood) and a frozen φ."""
    n_models = incidence.shape[1]
    totals = wins_for + wins_against + tie_counts
    has_ties = tie_counts.sum(1) > 0
    outer = _outer_rows(incidence)

    def objective(params: np.ndarray, derivatives: bool):
        theta, phi = params[:, :n_models], params[:, n_models]
        half = 0.5 * (theta @ incidence.T)
        log_tie = np.where(has_ties, phi, -np.inf)[:, None]
        log_denominator = np.logaddexp(np.logaddexp(half, -half), log_tie)
        value = (totals * log_denominator - (wins_for - wins_against) * half).sum(1)
        value -= np.where(has_ties, (tie_counts * phi[:, None]).sum(1), 0.0)
        value += 0.5 * prior * (theta**2).sum(1)
        if not derivatives:
            return value, None, None
        p_i, p_j = np.exp(half - log_denominator), np.exp(-half - log_denominator)
        p_tie = np.exp(log_tie - log_denominator)
        grad_d = totals * (p_i - p_j) / 2 - (wins_for - wins_against) / 2
        hess_dd = totals * ((p_i + p_j) / 4 - (p_i - p_j) ** 2 / 4)
        hess_dphi = -totals * (p_i - p_j) / 2 * p_tie
        grad = np.concatenate(
            [grad_d @ incidence + prior * theta, (totals * p_tie - tie_counts).sum(1)[:, None]], 1
        )
        hess = np.zeros((params.shape[0], n_models + 1, n_models + 1))
        hess[:, :n_models, :n_models] = (hess_dd @ outer).reshape(-1, n_models, n_models) + prior * np.eye(
            n_models
        )
        hess[:, :n_models, n_models] = hess[:, n_models, :n_models] = hess_dphi @ incidence
        # frozen φ (no ties): a unit curvature keeps the system solvable and its step zero
        hess[:, n_models, n_models] = np.where(has_ties, (totals * (p_tie - p_tie**2)).sum(1), 1.0)
        return value, grad, hess

    return objective


def fit_bradley_terry(
    wins: np.ndarray,
    ties: np.ndarray | None = None,
    tie_model: str = "half",
    prior: float = 0.0,
    init: np.ndarray | None = None,
) -> BradleyTerryFit:
    """Fit one (M, M) or a batch (B, M, M) of win-count matrices; ties (same shape, symmetric).

    Worked example: two models, 3 wins to 1 → θ_0 − θ_1 = ln 3 ≈ 1.0986, so θ = (+0.549, −0.549).
    With 2 ties as half-wins (4 to 2) the gap becomes ln 2 ≈ 0.693."""
    wins = _as_batch(wins)
    ties = np.zeros_like(wins) if ties is None else _as_batch(ties)
    if tie_model not in TIE_MODELS:
        raise ValueError(f"tie_model must be one of {TIE_MODELS}, got {tie_model!r}")
    batch, n_models, _ = wins.shape
    first, second, incidence = pair_incidence(n_models)
    wins_for, wins_against, tie_counts = (
        wins[:, first, second],
        wins[:, second, first],
        ties[:, first, second],
    )
    theta0 = (
        np.zeros((batch, n_models))
        if init is None
        else np.broadcast_to(init[..., :n_models], (batch, n_models))
    )
    theta0 = theta0 - theta0.mean(1, keepdims=True)
    if tie_model == "half":
        objective = _logistic_objective(
            incidence, wins_for + tie_counts / 2, wins_against + tie_counts / 2, prior
        )
        result = minimise(objective, theta0, gauge=np.ones(n_models))
        return BradleyTerryFit(_centre(result.params), None, None, result.converged)
    tie_rate = tie_counts.sum(1) / np.maximum((wins_for + wins_against + tie_counts).sum(1), 1.0)
    tie_rate = np.clip(tie_rate, 1e-6, 1 - 1e-6)
    phi0 = np.log(2 * tie_rate / (1 - tie_rate))  # ν that matches the tie rate when all θ are equal
    objective = _davidson_objective(incidence, wins_for, wins_against, tie_counts, prior)
    gauge = np.append(np.ones(n_models), 0.0)
    result = minimise(objective, np.concatenate([theta0, phi0[:, None]], 1), gauge=gauge)
    log_nu = np.where(tie_counts.sum(1) > 0, result.params[:, n_models], -np.inf)
    return BradleyTerryFit(_centre(result.params[:, :n_models]), log_nu, None, result.converged)


def fit_bradley_terry_style(
    model_i: np.ndarray,
    model_j: np.ndarray,
    features: np.ndarray,
    wins_i: np.ndarray,
    wins_j: np.ndarray,
    n_models: int,
    prior: float = 0.0,
    init: np.ndarray | None = None,
) -> BradleyTerryFit:
    """Bradley-Terry with style covariates, as Chatbot Arena's style control:
    logit P(i beats j) = θ_i − θ_j + βᵀ f_ij, one row per (question, model pair) group.

    `features` (G, F) are style differences from i's side; `wins_i`/`wins_j` (G,) or (B, G) are
    half-win counts (ties already split). θ is then the strength with style held equal."""
    wins_i, wins_j = np.atleast_2d(wins_i), np.atleast_2d(wins_j)
    design = np.zeros((model_i.size, n_models + features.shape[1]))
    design[np.arange(model_i.size), model_i] += 1.0
    design[np.arange(model_j.size), model_j] -= 1.0
    design[:, n_models:] = features
    start = (
        np.zeros((wins_i.shape[0], design.shape[1]))
        if init is None
        else np.broadcast_to(init, (wins_i.shape[0], design.shape[1]))
    )
    objective = _logistic_objective(design, wins_i, wins_j, prior)
    result = minimise(objective, start, gauge=np.append(np.ones(n_models), np.zeros(features.shape[1])))
    return BradleyTerryFit(
        _centre(result.params[:, :n_models]), None, result.params[:, n_models:], result.converged
    )


def _centre(theta: np.ndarray) -> np.ndarray:
    return theta - theta.mean(1, keepdims=True)


def elo_scores(theta: np.ndarray, anchor: int, scale: float = 400.0, base: float = 1000.0) -> np.ndarray:
    """Log-strengths → Elo-like points: `scale` points per factor 10 in odds, model `anchor` at `base`.

    Worked example: θ gap ln 10 ≈ 2.3026 → 400 points; anchor at 1000, the stronger model at 1400."""
    return base + scale / math.log(10.0) * (theta - theta[..., anchor : anchor + 1])


def strongly_connected(wins: np.ndarray, ties: np.ndarray | None = None) -> tuple[bool, int]:
    """Whether every model beat (or tied) a path to every other — the condition for a finite MLE
    without a prior — and the number of strongly connected components of the beat graph."""
    beats = np.asarray(wins) > 0
    if ties is not None:
        beats |= np.asarray(ties) > 0
    n_components, _ = connected_components(beats, directed=True, connection="strong")
    return n_components == 1, int(n_components)
