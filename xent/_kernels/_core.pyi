"""Types of the compiled kernels' entry points (_core.pyx)."""

from collections.abc import Callable
from typing import Any

import numpy as np

LSE: int
SOFTMAX: int
LOG_SOFTMAX: int
SPARSE: int
CATEGORICAL: int
STATE: int
STATE_LEN: int
SMALL: float

def variants() -> list[tuple[str, bool]]: ...
def fused(variant: str | None = None) -> bool: ...
def in_registers(variant: str | None = None) -> bool: ...
def get_variant() -> str: ...
def set_variant(name: str | None = None) -> None: ...
def scratch_len(C: int) -> int: ...
def softmax_block(
    mode: int,
    x: np.ndarray,
    out: np.ndarray | None,
    t: np.ndarray | None,
    labels: np.ndarray | None,
    row_weight: np.ndarray | None,
    cw: np.ndarray | None,
    cw_others: np.ndarray | None,
    cw_sum: float,
    eps: float,
    grad_div: float,
    row_out: np.ndarray | None,
    scratch: np.ndarray | None = None,
    from_logits: bool = True,
    z_loss: float = 0.0,
    gamma: float = 0.0,
    state: np.ndarray | None = None,
    block_rows: int = 0,
    check: tuple[np.ndarray | None, float, bool, bool, np.ndarray, np.ndarray] | None = None,
    id_limit: int = 0,
) -> list[tuple[float, float]]: ...
def state_merge(
    acc: np.ndarray, chunk: np.ndarray, w_acc: float, w_chunk: float, smooth: bool
) -> None: ...
def state_finish(
    state: np.ndarray,
    C: int,
    labels: np.ndarray | None,
    row_weight: np.ndarray | None,
    cw: np.ndarray | None,
    cw_sum: float,
    eps: float,
    grad_div: float,
    z_loss: float,
    row_out: np.ndarray | None,
) -> tuple[float, float]: ...
def binary_block(
    x: np.ndarray,
    y: np.ndarray,
    pw: np.ndarray | None,
    sw: np.ndarray | None,
    grad: np.ndarray | None,
    loss_out: np.ndarray | None,
    eps: float,
    grad_div: float,
    from_logits: bool,
    gamma: float = 0.0,
    alpha: float = -1.0,
) -> tuple[float, float, float, float, bool, float, float]: ...
def stats_block(
    t: np.ndarray,
    cw: np.ndarray | None,
    sums: np.ndarray,
    wsums: np.ndarray | None,
    hot: np.ndarray | None = None,
    rtol: float = ...,
    row_weight: np.ndarray | None = None,
) -> tuple[float, float, bool, bool, float, bool]: ...
def stats_span(
    t: np.ndarray,
    block_rows: int,
    check: tuple[np.ndarray | None, float, bool, bool, np.ndarray, np.ndarray],
    row_weight: np.ndarray | None = None,
) -> int: ...
def kl_scratch_len(C: int) -> int: ...
def kl_block(
    p: np.ndarray,
    q: np.ndarray,
    grad: np.ndarray | None,
    row_weight: np.ndarray | None,
    row_out: np.ndarray | None,
    temperature: float,
    grad_div: float,
    p_logits: bool,
    q_logits: bool,
    scratch: np.ndarray,
) -> tuple[float, float, bool]: ...
def softplus_block(x: np.ndarray, out: np.ndarray, negate: bool) -> None: ...
def exp(x: np.ndarray, variant: str | None = None, vector: bool = False) -> np.ndarray: ...
def log(x: np.ndarray, variant: str | None = None, vector: bool = False) -> np.ndarray: ...
def expm1(x: np.ndarray, variant: str | None = None, vector: bool = False) -> np.ndarray: ...
def log1p(x: np.ndarray, variant: str | None = None, vector: bool = False) -> np.ndarray: ...
def expf(x: np.ndarray, variant: str | None = None) -> np.ndarray: ...
def exp_short(x: np.ndarray, variant: str | None = None) -> np.ndarray: ...
def log1p_short(x: np.ndarray, variant: str | None = None) -> np.ndarray: ...
def log_short(x: np.ndarray, variant: str | None = None) -> np.ndarray: ...
def expm1_short(x: np.ndarray, variant: str | None = None) -> np.ndarray: ...
def log1p_exp_short(x: np.ndarray, variant: str | None = None, exp: bool = False) -> np.ndarray: ...
def expf_hilo(x: np.ndarray, variant: str | None = None) -> np.ndarray: ...

class ClassIdsOutOfRange(Exception): ...

def pool_supported() -> bool: ...
def pool_helper(index: int) -> None: ...
def pool_reset() -> None: ...

class SharedBlocks:
    def __init__(
        self,
        mode: int,
        x: np.ndarray,
        out: np.ndarray | None,
        labels: np.ndarray | None,
        row_weight: np.ndarray | None,
        cw: np.ndarray | None,
        cw_others: np.ndarray | None,
        cw_sum: float,
        eps: float,
        grad_div: float,
        row_out: np.ndarray | None,
        from_logits: bool,
        z_loss: float,
        gamma: float,
        block_rows: int,
        id_limit: int,
        t: np.ndarray | None = None,
        check: tuple[np.ndarray | None, float, bool, bool, np.ndarray, np.ndarray] | None = None,
        stats_only: bool = False,
    ) -> None: ...
    def run_pooled(self, helpers: int) -> bool: ...
    def run(self, lead: bool) -> None: ...
    def failed(self) -> bool: ...
    def results(self) -> list[tuple[float, float]]: ...

class _SharedRun:
    def run_pooled(self, helpers: int) -> bool: ...
    def run(self, lead: bool) -> None: ...
    def failed(self) -> bool: ...
    def results(self) -> list[tuple[float, float]]: ...

class SharedBinary(_SharedRun):
    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        grad: np.ndarray | None,
        eps: float,
        grad_div: float,
        from_logits: bool,
        gamma: float,
        alpha: float,
        bounds: np.ndarray,
        pw: np.ndarray | None = None,
        sw: np.ndarray | None = None,
    ) -> None: ...
    def ranges(self) -> list[tuple[float, float, bool, float, float]]: ...

class SharedKL(_SharedRun):
    def __init__(
        self,
        p: np.ndarray,
        q: np.ndarray,
        grad: np.ndarray | None,
        row_weight: np.ndarray | None,
        row_out: np.ndarray | None,
        temperature: float,
        grad_div: float,
        p_logits: bool,
        q_logits: bool,
        block_rows: int,
    ) -> None: ...
    def target_nan(self) -> bool: ...

def exact_sum(values: list[float]) -> float: ...
def id_range(y: np.ndarray, skip: int | None = None) -> tuple[int, int, int] | None: ...
def sparse_one_block(
    y_true: object,
    y_pred: object,
    axis: object,
    reduction: object,
    label_smoothing: object,
    z_loss: object,
    focal_gamma: object,
    return_grad: bool,
    block_bytes: int,
    min_rows: int,
    new_array: Callable[[Any, Any], np.ndarray],
    min_out_bytes: int,
    run_job: Callable[[SharedBlocks, int], bool] | None = None,
) -> Any: ...
def rows_one_block(
    mode: int,
    a: object,
    axis: object,
    keepdims: bool,
    block_bytes: int,
    min_rows: int,
    new_array: Callable[[Any, Any], np.ndarray],
    min_out_bytes: int,
    run_job: Callable[[SharedBlocks, int], bool] | None = None,
) -> Any: ...
def categorical_one_block(
    y_true: object,
    y_pred: object,
    axis: object,
    reduction: object,
    label_smoothing: object,
    z_loss: object,
    focal_gamma: object,
    return_grad: bool,
    rtols: tuple[float, float],
    block_bytes: int,
    min_rows: int,
    new_array: Callable[[Any, Any], np.ndarray],
    min_out_bytes: int,
    run_job: Callable[[SharedBlocks, int], bool] | None = None,
) -> Any: ...
def binary_one_tile(
    y_true: object,
    y_pred: object,
    from_logits: bool,
    reduction: object,
    label_smoothing: object,
    focal_gamma: object,
    focal_alpha: object,
    return_grad: bool,
    block_bytes: int,
    new_array: Callable[[Any, Any], np.ndarray],
    min_out_bytes: int,
) -> Any: ...
def kl_one_block(
    y_true: object,
    y_pred: object,
    axis: object,
    temperature: object,
    reduction: object,
    return_grad: bool,
    block_bytes: int,
    min_rows: int,
    new_array: Callable[[Any, Any], np.ndarray],
    min_out_bytes: int,
) -> Any: ...
