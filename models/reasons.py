"""Reason codes: the features that pushed an applicant's PD up, in plain language.

Contributions are LightGBM TreeSHAP values (``pred_contrib``) on the log-odds scale; a
positive value is adverse (it raises the PD above the portfolio's expected value). We
return at most four adverse reasons, the largest first, with the catalogue's text, which
is what adverse-action notices need. Features that lowered the PD are never "reasons".
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
from numpy.typing import NDArray

MAX_REASONS = 4


class Reason(TypedDict):
    code: str
    feature: str
    text: str
    contribution: float


def reason_code(feature: str) -> str:
    """Stable code derived from the feature name, e.g. ``bureau_score`` → ``RC_BUREAU_SCORE``."""
    return "RC_" + feature.upper()


def top_adverse(contributions: NDArray[np.float64], k: int = MAX_REASONS) -> NDArray[np.int64]:
    """Per row, the indices of up to ``k`` largest positive contributions, largest first.

    ``contributions`` is (n, p) without the bias column; entries are -1 where a row has
    fewer than ``k`` adverse features. Ties keep feature order (stable sort).
    """
    contrib = np.atleast_2d(np.asarray(contributions, dtype=np.float64))
    n, p = contrib.shape
    k_eff = min(k, p)
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :k_eff]
    picked = np.take_along_axis(contrib, order, axis=1)
    out = np.where(picked > 0, order, -1).astype(np.int64)
    if k_eff < k:
        out = np.hstack([out, np.full((n, k - k_eff), -1, dtype=np.int64)])
    return out


def reasons_for_rows(
    contributions: NDArray[np.float64],
    feature_names: Sequence[str],
    describe: Mapping[str, str] | Callable[[str], str],
    k: int = MAX_REASONS,
) -> list[list[Reason]]:
    """Reasons for each row of a (n, p) or (n, p + 1) contribution matrix (bias column dropped)."""
    contrib = np.atleast_2d(np.asarray(contributions, dtype=np.float64))
    p = len(feature_names)
    if contrib.shape[1] == p + 1:
        contrib = contrib[:, :p]
    if contrib.shape[1] != p:
        raise ValueError(f"contributions have {contrib.shape[1]} columns for {p} features")
    lookup = describe if callable(describe) else (lambda name: describe.get(name, name))
    idx = top_adverse(contrib, k)
    out: list[list[Reason]] = []
    for row, chosen in enumerate(idx):
        out.append(
            [
                Reason(
                    code=reason_code(feature_names[j]),
                    feature=feature_names[j],
                    text=lookup(feature_names[j]),
                    contribution=float(contrib[row, j]),
                )
                for j in chosen
                if j >= 0
            ]
        )
    return out


# --------------------------------------------------------------------------------------------
# Exact TreeSHAP from a per-leaf precomputation (the FastTreeSHAP v2 idea, in numpy)
#
# LightGBM's ``pred_contrib`` is path-dependent TreeSHAP: for a leaf l with value v_l whose
# path splits on the distinct features P_l (d of them), feature j of P_l has a "zero
# fraction" z_j (the product of child/parent data counts along the path's splits on j) and a
# "one fraction" o_j(x) (1 when x follows every split on j of the path, else 0); the leaf adds
#     phi_j += v_l (o_j - z_j) sum_s s!(d-s-1)!/d! [t^s] prod_{k in P_l, k != j} (z_k + o_k t).
# That depends on x only through the d bits o(x), so every leaf gets a table of its
# contributions for all 2^d bit patterns at load time; per request the work is one
# vectorised pass over the split decisions and a gather. Exact in real arithmetic; the
# parity gate (``treeshap_parity``) checks it against ``pred_contrib`` before it is used.

MAX_TABLE_ENTRIES = 8_000_000
"""64 MB of float64 per model at most; deeper models keep the native path (the gate says so)."""
_ZERO_THRESHOLD = float(np.float32(1e-35))  # LightGBM's kZeroThreshold: |x| <= it is read as 0
PARITY_TOLERANCE = 1e-9


class TreeShapUnsupported(ValueError):
    """The booster has something the tables do not model (linear trees, multiclass, depth)."""


@dataclass
class _Nodes:
    feature: list[int]
    threshold: list[float]
    default_left: list[bool]
    missing: list[int]  # 0 None, 1 Zero, 2 NaN
    categories: list[frozenset[int] | None]  # categorical split: the categories going left


@dataclass
class _Leaves:
    value: list[float]
    features: list[list[int]]  # distinct path features, first-appearance order
    zero: list[list[float]]  # per distinct feature: product of count ratios
    pnode: list[int]  # the leaf's position among all tree nodes (``_Steps``)


@dataclass
class _Steps:
    """Every parent -> child edge of every tree, for the level-by-level pass over the paths.

    A node's "broken" bits say which of its path's features x does not follow on the way
    from the root; a feature keeps the bit of its first appearance on the path, so a child
    is its parent's bits plus (maybe) one more.
    """

    n_pnodes: int
    depth: list[int]
    child: list[int]
    parent: list[int]
    node: list[int]  # the split node deciding the edge
    left: list[bool]
    bit: list[int]


_MISSING = {"None": 0, "Zero": 1, "NaN": 2}


def _split(node: Mapping[str, Any], nodes: _Nodes) -> int:
    """Append one split node's decision parameters; return its index."""
    nodes.feature.append(int(node["split_feature"]))
    nodes.default_left.append(bool(node["default_left"]))
    nodes.missing.append(_MISSING[str(node["missing_type"])])
    if node["decision_type"] == "==":
        nodes.categories.append(frozenset(int(c) for c in str(node["threshold"]).split("||")))
        nodes.threshold.append(0.0)
    else:
        nodes.categories.append(None)
        # dump_model writes the +-inf thresholds (NaN-only splits) as +-1e300
        threshold = float(node["threshold"])
        nodes.threshold.append(threshold if abs(threshold) < 1e300 else math.copysign(math.inf, threshold))
    return len(nodes.feature) - 1


def _walk(tree: Mapping[str, Any], nodes: _Nodes, leaves: _Leaves, steps: _Steps) -> None:
    """Depth-first over one tree: its split nodes, its edges and its leaves' paths."""
    root = steps.n_pnodes
    steps.n_pnodes += 1
    stack: list[tuple[Mapping[str, Any], int, list[int], list[float], int]] = [(tree, root, [], [], 0)]
    while stack:
        node, pnode, features, zero, depth = stack.pop()
        if "leaf_index" in node:
            leaves.value.append(float(node["leaf_value"]))
            leaves.features.append(features)
            leaves.zero.append(zero)
            leaves.pnode.append(pnode)
            continue
        index = _split(node, nodes)
        feature = nodes.feature[index]
        count = float(node["internal_count"])
        for child, left in ((node["left_child"], True), (node["right_child"], False)):
            child_count = float(child["leaf_count"] if "leaf_index" in child else child["internal_count"])
            ratio = child_count / count
            if feature in features:
                pos = features.index(feature)
                child_features, child_zero = features, list(zero)
                child_zero[pos] *= ratio
            else:
                pos = len(features)
                child_features, child_zero = [*features, feature], [*zero, ratio]
            child_id = steps.n_pnodes
            steps.n_pnodes += 1
            steps.depth.append(depth + 1)
            steps.child.append(child_id)
            steps.parent.append(pnode)
            steps.node.append(index)
            steps.left.append(left)
            steps.bit.append(1 << pos)
            stack.append((child, child_id, child_features, child_zero, depth + 1))


def _shapley_weights(d: int) -> NDArray[np.float64]:
    return np.array(
        [math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d) for s in range(d)],
        dtype=np.float64,
    )


def _leaf_tables(zero: NDArray[np.float64], value: NDArray[np.float64]) -> NDArray[np.float64]:
    """Contributions of G leaves sharing d path features, for all 2^d one-fraction patterns.

    ``zero``: (G, d); ``value``: (G,). Returns (G, 2^d, d): entry [g, m, j] is what leaf g
    adds to its j-th path feature when bit k of m says whether x follows the splits on k.
    """
    g, d = zero.shape
    masks = np.arange(2**d, dtype=np.int64)
    one = ((masks[:, None] >> np.arange(d)) & 1).astype(np.float64)  # (M, d)
    weights = _shapley_weights(d)
    out = np.empty((g, 2**d, d), dtype=np.float64)
    for j in range(d):
        poly = np.zeros((g, 2**d, d), dtype=np.float64)  # coefficients of t^0..t^(d-1)
        poly[..., 0] = 1.0
        for k in range(d):
            if k == j:
                continue
            shifted = poly[..., :-1] * one[None, :, k, None]
            poly *= zero[:, None, k, None]
            poly[..., 1:] += shifted
        out[..., j] = (poly @ weights) * (one[None, :, j] - zero[:, None, j]) * value[:, None]
    return out


def _tables(leaves: _Leaves) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """All leaves' tables in one flat array (grouped by path length to vectorise), and offsets."""
    d_of = np.array([len(f) for f in leaves.features], dtype=np.int64)
    sizes = 2**d_of * d_of
    if int(sizes.sum()) > MAX_TABLE_ENTRIES:
        raise TreeShapUnsupported(f"paths too deep: tables would hold {int(sizes.sum()):,} values")
    offsets = np.zeros(len(d_of), dtype=np.int64)
    offsets[1:] = np.cumsum(sizes)[:-1]
    table = np.empty(int(sizes.sum()), dtype=np.float64)
    values = np.asarray(leaves.value, dtype=np.float64)
    for d in np.unique(d_of):
        group = np.flatnonzero(d_of == d)
        zero = np.array([leaves.zero[i] for i in group], dtype=np.float64).reshape(len(group), int(d))
        spans = offsets[group, None] + np.arange(2**d * d)[None, :]
        table[spans] = _leaf_tables(zero, values[group]).reshape(len(group), -1)
    return table, offsets


def _flatten(leaves: _Leaves, steps: _Steps) -> dict[str, Any]:
    """The per-request arrays: levels of edges (children renumbered so each level is one
    contiguous slice), leaves, and slots (one per leaf and path feature) into the tables."""
    table, offsets = _tables(leaves)
    d_of = np.array([len(f) for f in leaves.features], dtype=np.int64)
    depth = np.asarray(steps.depth, dtype=np.int64)
    order = np.argsort(depth, kind="stable")
    n_roots = steps.n_pnodes - len(depth)
    renumber = np.empty(steps.n_pnodes, dtype=np.int64)
    is_root = np.ones(steps.n_pnodes, dtype=bool)
    is_root[steps.child] = False
    renumber[is_root] = np.arange(n_roots)
    renumber[np.asarray(steps.child, dtype=np.int64)[order]] = n_roots + np.arange(len(order))
    levels = []
    for k in np.unique(depth):
        pick = order[depth[order] == k]
        first = n_roots + int(np.searchsorted(depth[order], k))
        levels.append(
            (
                slice(first, first + len(pick)),
                renumber[np.asarray(steps.parent, dtype=np.int64)[pick]],
                np.asarray(steps.node, dtype=np.int64)[pick],
                np.asarray(steps.left, dtype=bool)[pick],
                np.asarray(steps.bit, dtype=np.int64)[pick],
            )
        )
    slot_leaf = np.repeat(np.arange(len(d_of)), d_of)
    slot_pos = np.concatenate([np.arange(d) for d in d_of])
    return {
        "table": table,
        "n_pnodes": steps.n_pnodes,
        "levels": levels,
        "leaf_pnode": renumber[np.asarray(leaves.pnode, dtype=np.int64)],
        "leaf_full": (1 << d_of) - 1,
        "leaf_d": d_of,
        "slot_leaf": slot_leaf,
        "slot_base": offsets[slot_leaf] + slot_pos,
        "slot_feature": np.array([f for per_leaf in leaves.features for f in per_leaf], dtype=np.int64),
    }


class TreeShap:
    """Exact path-dependent TreeSHAP of a LightGBM booster from per-leaf tables.

    ``contributions(X)`` returns what ``booster.predict(X, pred_contrib=True)`` returns for a
    binary or regression booster: (n, p + 1), the last column the expected value. Measured on
    the serving champion it is an order of magnitude faster per row than the native walk,
    which re-derives the same Shapley sums for every request.
    """

    def __init__(self, booster: Any) -> None:
        dump = booster.dump_model()
        if int(dump.get("num_tree_per_iteration", 1)) != 1:
            raise TreeShapUnsupported("multiclass boosters are not tabled")
        self.n_features = int(dump["max_feature_idx"]) + 1
        nodes = _Nodes([], [], [], [], [])
        leaves = _Leaves([], [], [], [])
        steps = _Steps(0, [], [], [], [], [], [])
        self.bias = 0.0
        for info in dump["tree_info"]:
            root = info["tree_structure"]
            if "leaf_coeff" in json.dumps(root):
                raise TreeShapUnsupported("linear trees are not tabled")
            if "split_feature" not in root:  # a one-leaf tree: a constant, all of it bias
                self.bias += float(root["leaf_value"])
                continue
            first = len(leaves.value)
            _walk(root, nodes, leaves, steps)
            counts = _leaf_counts(root)
            self.bias += float(np.dot(leaves.value[first:], counts) / float(root["internal_count"]))
        self._nodes(nodes)
        self._arrays = _flatten(leaves, steps) if leaves.value else None

    def _nodes(self, nodes: _Nodes) -> None:
        self.node_feature = np.asarray(nodes.feature, dtype=np.int64)
        self.node_threshold = np.asarray(nodes.threshold, dtype=np.float64)
        self.node_default_left = np.asarray(nodes.default_left, dtype=bool)
        missing = np.asarray(nodes.missing, dtype=np.int8)
        self.node_nan_to_zero = missing != 2
        self.node_missing_zero = missing == 1
        self.node_missing_nan = missing == 2
        cats = [i for i, c in enumerate(nodes.categories) if c is not None]
        self.cat_nodes = np.array(cats, dtype=np.int64)
        top = max((max(c) for c in nodes.categories if c), default=0)
        self.cat_left = np.zeros((len(self.cat_nodes), top + 2), dtype=bool)
        for row, i in enumerate(self.cat_nodes):
            self.cat_left[row, sorted(nodes.categories[i] or ())] = True

    def _go_left(self, X: NDArray[np.float64]) -> NDArray[np.bool_]:
        """LightGBM's NumericalDecision / CategoricalDecision for every split node and row."""
        fval = X[:, self.node_feature]
        fval = np.where(np.abs(fval) <= _ZERO_THRESHOLD, 0.0, fval)  # the predictor drops such values
        nan = np.isnan(fval)
        value = np.where(nan & self.node_nan_to_zero, 0.0, fval)
        is_zero = np.abs(value) <= _ZERO_THRESHOLD
        missing = (self.node_missing_zero & is_zero) | (self.node_missing_nan & nan)
        left = np.where(missing, self.node_default_left, value <= self.node_threshold)
        if len(self.cat_nodes):
            raw = fval[:, self.cat_nodes]
            ok = ~np.isnan(raw) & (raw > -1.0)
            code = np.where(ok, np.trunc(np.nan_to_num(raw, nan=0.0)), 0.0)
            code = np.clip(code, 0, self.cat_left.shape[1] - 1).astype(np.int64)
            inside = self.cat_left[np.arange(len(self.cat_nodes))[None, :], code]
            left[:, self.cat_nodes] = ok & inside & (code < self.cat_left.shape[1] - 1)
        return left

    def contributions(self, X: Any) -> NDArray[np.float64]:
        matrix = np.atleast_2d(np.asarray(X, dtype=np.float64))
        n, p = matrix.shape
        if p != self.n_features:
            raise ValueError(f"the booster has {self.n_features} features, got {p}")
        out = np.zeros((n, p + 1), dtype=np.float64)
        out[:, p] = self.bias
        a = self._arrays
        if a is None:
            return out
        left = self._go_left(matrix)
        for r in range(n):  # one row is the serving case; the gate's batches loop here
            out[r, :p] = self._row(left[r], a, p)
        return out

    @staticmethod
    def _row(left: NDArray[np.bool_], a: dict[str, Any], p: int) -> NDArray[np.float64]:
        broken = np.zeros(a["n_pnodes"], dtype=np.int64)  # bits of the path features x leaves
        for children, parents, nodes, went_left, bits in a["levels"]:
            broken[children] = broken[parents] | (bits * (left[nodes] != went_left))
        mask = a["leaf_full"] ^ broken[a["leaf_pnode"]]
        values = a["table"][a["slot_base"] + (mask * a["leaf_d"])[a["slot_leaf"]]]
        return np.asarray(np.bincount(a["slot_feature"], weights=values, minlength=p), dtype=np.float64)


def _leaf_counts(root: Mapping[str, Any]) -> list[float]:
    """Leaf data counts in the order ``_walk`` visits the leaves (same stack discipline)."""
    out: list[float] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if "leaf_index" in node:
            out.append(float(node["leaf_count"]))
        else:
            stack.append(node["left_child"])
            stack.append(node["right_child"])
    return out


@dataclass(frozen=True)
class Parity:
    """The gate's verdict: the tables are used only when ``passed``."""

    passed: bool
    rows: int
    max_abs_diff: float
    reasons_equal: bool
    detail: str


def treeshap_parity(
    shap: TreeShap, booster: Any, X: Any, k: int = MAX_REASONS, tolerance: float = PARITY_TOLERANCE
) -> Parity:
    """Same top-``k`` adverse reasons and every contribution within ``tolerance`` of native
    ``pred_contrib`` on the rows ``X`` (the validation set), or not passed."""
    matrix = np.atleast_2d(np.asarray(X, dtype=np.float64))
    if matrix.shape[0] == 0:
        return Parity(False, 0, float("nan"), False, "no rows to check parity on")
    native = np.asarray(booster.predict(matrix, pred_contrib=True, num_threads=1), dtype=np.float64)
    fast = shap.contributions(matrix)
    if native.shape != fast.shape:
        return Parity(False, len(matrix), float("inf"), False, f"shape {fast.shape} != native {native.shape}")
    diff = float(np.max(np.abs(native - fast)))
    p = matrix.shape[1]
    same = bool(np.array_equal(top_adverse(native[:, :p], k), top_adverse(fast[:, :p], k)))
    passed = diff <= tolerance and same
    detail = f"max |diff| {diff:.3g} on {len(matrix)} rows, top-{k} reasons {'equal' if same else 'DIFFER'}"
    return Parity(passed, len(matrix), diff, same, detail)


def probe_rows(shap: TreeShap, n: int = 256, seed: int = 0) -> NDArray[np.float64]:
    """Rows that sit on the splits: each feature at one of its thresholds, just above one,
    at 0 or NaN (missing), so the gate exercises both sides and the missing-value branches."""
    rng = np.random.default_rng(seed)
    out = np.full((n, shap.n_features), np.nan)
    numeric = np.flatnonzero(~np.isin(np.arange(len(shap.node_feature)), shap.cat_nodes))
    for j in range(shap.n_features):
        splits = numeric[shap.node_feature[numeric] == j]
        if not len(splits):
            out[:, j] = rng.choice([0.0, 1.0, np.nan], size=n)
            continue
        thresholds = shap.node_threshold[rng.choice(splits, size=n)]
        choice = rng.integers(0, 4, size=n)
        out[:, j] = np.select(
            [choice == 0, choice == 1, choice == 2],
            [thresholds, np.nextafter(thresholds, np.inf), np.zeros(n)],
            default=np.nan,
        )
    for row, node in enumerate(shap.cat_nodes[:n]):  # categorical splits: a category going left
        out[row, shap.node_feature[node]] = float(np.flatnonzero(shap.cat_left[row])[0])
    return out


class TabledContribBooster:
    """A booster whose ``predict(..., pred_contrib=True)`` reads the TreeSHAP tables; every
    other call (scores, raw margins) goes to the wrapped booster unchanged."""

    def __init__(self, booster: Any, shap: TreeShap) -> None:
        self._booster = booster
        self.treeshap = shap

    def predict(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("pred_contrib") and not args and set(kwargs) <= {"pred_contrib", "num_threads"}:
            return self.treeshap.contributions(data)
        return self._booster.predict(data, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._booster, name)


def parity_tags(booster: Any, rows: Any, max_rows: int = 2000) -> dict[str, str]:
    """The parity gate at registration, as a model-version tag (``reasons_treeshap``): whether
    the TreeSHAP tables reproduce native ``pred_contrib`` on the validation rows and probe rows.
    The service checks again at load (the tag is the record, not the permission)."""
    try:
        shap = TreeShap(booster)
    except TreeShapUnsupported as exc:
        return {"reasons_treeshap": f"unsupported: {exc}"}
    matrix = np.atleast_2d(np.asarray(rows, dtype=np.float64))[:max_rows]
    verdict = treeshap_parity(shap, booster, np.vstack([matrix, probe_rows(shap)]))
    return {"reasons_treeshap": f"{'passed' if verdict.passed else 'failed'}: {verdict.detail}"}
