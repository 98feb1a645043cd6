"""The ranker's features: one definition, for training and for serving, with a schema hash.

Every feature of an (enterprise, policy, time) triple is named in :data:`FEATURES`, in order, grouped by where
it comes from: the graph (``graph.features``), the enterprise's profile, the policy, the rule progress
(``matcher.progress.progress_columns``), the amount, the text, past engagement and the communities of
taste (``models.taste``). :func:`engagement` and
:func:`text_similarity` are computed here; the others are passed in by the caller (``service.ranking``), and
:func:`assemble` puts them in the schema's order, refusing a missing one. :data:`SCHEMA_HASH` changes when the
list or this file's definitions change, and a model trained on another schema is refused
(``models.registry.load``). Everything is computed as of the query time: engagement counts only events
strictly before it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from graph.features import FEATURES as GRAPH_FEATURES
from models.registry import schema_hash

PROFILE = ("firm_age_years", "log_employees", "log_revenue", "scale_ordinal", "n_qualifications")
POLICY = ("mode_automatic", "mode_instant", "mode_review", "days_to_deadline", "days_in_force")
PROGRESS = ("share_met", "n_unmet", "n_unknown", "outcome_eligible", "outcome_undetermined")
AMOUNT = ("log_amount", "amount_to_revenue")
TEXT = ("scope_similarity",)
# Where the platform showed the policy in its bundle: views fall with the position, whatever the policy. The
# model learns that bias from the logged position and is served every candidate at position 1, so that it
# ranks by what the firm would do, not by where the old ordering put it.
PRESENTATION = ("shown_rank",)
ENGAGEMENT = (
    "firm_pushes",
    "firm_views",
    "firm_applies",
    "firm_view_rate",
    "firm_apply_rate",
    "firm_policy_pushes",
    "firm_department_applies",
    "peers_policy_applies",
    "peers_policy_apply_rate",
    "policy_view_rate",
    "policy_apply_rate",
    "firm_department_views",
    "peers_policy_view_rate",
    "industry_policy_view_rate",
    "district_policy_view_rate",
    "firm_policy_approvals",
    "days_to_application_deadline",
)
# Which community of taste the firm's opened messages place it in, and what that community opens
# (``models.taste``): the preference no field shows.
TASTE = ("community_view_logit", "community_facet_logit", "firm_view_lift")
FEATURES = (*GRAPH_FEATURES, *PROFILE, *POLICY, *PROGRESS, *AMOUNT, *TEXT, *PRESENTATION, *ENGAGEMENT, *TASTE)
SERVED_RANK = 1.0
SCHEMA_HASH = schema_hash(FEATURES, hashlib.sha256(Path(__file__).read_bytes()).hexdigest())
SCALE_ORDER = {"micro": 1.0, "small": 2.0, "medium": 3.0, "large": 4.0}


def assemble(parts: dict[str, np.ndarray], n: int) -> np.ndarray:
    """An ``(n, len(FEATURES))`` float matrix in the schema's order; every feature must be given."""
    missing = [f for f in FEATURES if f not in parts]
    if missing:
        raise ValueError(f"缺少特征：{'、'.join(missing)}")
    out = np.empty((n, len(FEATURES)), dtype=np.float64)
    for j, name in enumerate(FEATURES):
        column = np.asarray(parts[name], dtype=np.float64)
        if column.shape != (n,):
            raise ValueError(f"特征 {name} 的长度为 {column.shape}，应为 {n}")
        out[:, j] = column
    return out


def log1p_or_nan(values) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(x >= 0, np.log1p(np.where(x >= 0, x, 0)), np.nan)


def engagement(events: pd.DataFrame, queries: pd.DataFrame) -> dict[str, np.ndarray]:
    """Past engagement of each query's firm, with the policy, with its department, and of its peers.

    ``events``: enterprise, policy, department, group (the firm's peer group: 大类 and district), kind,
    occurred_at; ``queries``: enterprise, policy, department, group, at. Only events strictly before ``at`` count, so a
    query never sees its own outcome."""
    n = len(queries)
    q = queries.reset_index(drop=True).assign(_row=np.arange(n), at=_utc(queries["at"])).sort_values("at")
    events = events.assign(occurred_at=_utc(events["occurred_at"]))
    for frame_ in (q, events):
        group = frame_["group"].astype(str)
        frame_["industry"] = group.str.partition("|")[0] if len(group) else group
        frame_["district"] = group.str.partition("|")[2] if len(group) else group
    out: dict[str, np.ndarray] = {}

    def counted(keys: list[str], kind_mask: pd.Series, name: str) -> None:
        ev = events.loc[kind_mask, [*keys, "occurred_at"]].sort_values("occurred_at")
        ev = ev.assign(_n=ev.groupby(keys, sort=False).cumcount() + 1)
        ev["occurred_at"] = ev["occurred_at"] + pd.Timedelta(microseconds=1)  # strictly before the query
        found = pd.merge_asof(
            q[[*keys, "at", "_row"]], ev, left_on="at", right_on="occurred_at", by=keys, direction="backward"
        )
        values = np.zeros(n)
        values[found["_row"].to_numpy()] = found["_n"].fillna(0).to_numpy()
        out[name] = values

    kind = events["kind"]
    counted(["enterprise"], kind == "push", "firm_pushes")
    counted(["enterprise"], kind == "view", "firm_views")
    counted(["enterprise"], kind == "apply", "firm_applies")
    counted(["enterprise", "policy"], kind == "push", "firm_policy_pushes")
    counted(["enterprise", "department"], kind == "apply", "firm_department_applies")
    counted(["group", "policy"], kind == "apply", "peers_policy_applies")
    counted(["group", "policy"], kind == "push", "_peers_policy_pushes")
    counted(["enterprise", "department"], kind == "view", "firm_department_views")
    counted(["group", "policy"], kind == "view", "_peers_policy_views")
    for part in ("industry", "district"):
        counted([part, "policy"], kind == "push", f"_{part}_pushes")
        counted([part, "policy"], kind == "view", f"_{part}_views")
    counted(["enterprise", "policy"], kind.isin(["approved", "paid"]), "firm_policy_approvals")
    counted(["policy"], kind == "push", "_policy_pushes")
    counted(["policy"], kind == "view", "_policy_views")
    counted(["policy"], kind == "apply", "_policy_applies")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["firm_view_rate"] = np.where(out["firm_pushes"] > 0, out["firm_views"] / out["firm_pushes"], np.nan)
        out["firm_apply_rate"] = np.where(out["firm_pushes"] > 0, out["firm_applies"] / out["firm_pushes"], np.nan)
        pushes = out.pop("_peers_policy_pushes")
        out["peers_policy_apply_rate"] = np.where(pushes > 0, out["peers_policy_applies"] / pushes, np.nan)
        out["peers_policy_view_rate"] = np.where(pushes > 0, out.pop("_peers_policy_views") / pushes, np.nan)
        for part in ("industry", "district"):  # the two halves of the peer group, each with more firms
            pushes = out.pop(f"_{part}_pushes")
            out[f"{part}_policy_view_rate"] = np.where(pushes > 0, out.pop(f"_{part}_views") / pushes, np.nan)
        pushes = out.pop("_policy_pushes")  # the policy's appeal so far, over every firm it was pushed to
        out["policy_view_rate"] = np.where(pushes > 0, out.pop("_policy_views") / pushes, np.nan)
        out["policy_apply_rate"] = np.where(pushes > 0, out.pop("_policy_applies") / pushes, np.nan)
    out["days_to_application_deadline"] = _days_to_deadline(events, q, n)
    return out


def _days_to_deadline(events: pd.DataFrame, q: pd.DataFrame, n: int) -> np.ndarray:
    """Days from the query to the close of the policy's current application period, as the platform's
    latest push of the policy before the query logged it (``payload.deadline``); NaN when none did or it
    has passed. A policy-wide fact, known alike when training and when serving."""
    values = np.full(n, np.nan)
    if "payload" not in events:
        return values
    pushes = events[events["kind"] == "push"]
    logged = pushes["payload"].map(lambda p: p.get("deadline") if isinstance(p, dict) else None)
    deadline = pd.to_datetime(logged, errors="coerce", format="%Y-%m-%d")
    pushes = pushes.assign(deadline=deadline)[deadline.notna()].sort_values("occurred_at")
    pushes = pushes.assign(occurred_at=pushes["occurred_at"] + pd.Timedelta(microseconds=1))  # strictly before
    if pushes.empty:
        return values
    found = pd.merge_asof(
        q[["policy", "at", "_row"]], pushes[["policy", "occurred_at", "deadline"]],
        left_on="at", right_on="occurred_at", by="policy", direction="backward",
    )  # fmt: skip
    close = found["deadline"].dt.tz_localize("UTC")
    days = (close - found["at"].dt.floor("D")).dt.days.to_numpy(dtype=float)
    values[found["_row"].to_numpy()] = np.where(days >= 0, days, np.nan)
    return values


def _utc(times: pd.Series) -> pd.Series:
    """Times in one resolution and zone, so that events and queries compare (merge_asof insists)."""
    return pd.to_datetime(times, utc=True).astype("datetime64[ns, UTC]")


def text_similarity(scopes: list[str], policy_texts: list[str], pairs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Cosine similarity of character 2–3-gram TF-IDF between each pair's business scope and policy text
    (``pairs``: index into ``scopes``, index into ``policy_texts``). Fitted on the texts given, which are
    the scopes and policies of the query time: no label enters it."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer="char", ngram_range=(2, 3), min_df=1, sublinear_tf=True)
    vec.fit(list(policy_texts) + list(scopes))
    s = vec.transform(scopes)
    p = vec.transform(policy_texts)
    a, b = pairs
    return np.asarray(s[a].multiply(p[b]).sum(axis=1)).ravel()
