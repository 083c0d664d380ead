"""What the timing probes share (``ab_probe.py``, ``fp16_probe.py``, ``odd_m_probe.py``): their
command-line lists, one case's weights and activations with the float32 reference, and
(from ``bench/bench_gemm.py``, which ``bench/baseline_probe.py`` shares too) the ``NxK:M``
case list and the alternating rounds of timing."""

from __future__ import annotations

import ast
import contextlib
import sys
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from mxfp8_marlin import configs

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from bench_gemm import check_rounds, parse_cases, timed_rounds  # noqa: E402  (shared with bench/)
from gluon_validate import bound, case_weights  # noqa: E402  (tools/: this module's own directory)


def parse_set(spec: str, flag: str = "--set") -> dict:
    """``field=value,...`` over ``configs.Config``'s fields (values as Python literals)."""
    names = sorted(f.name for f in fields(configs.Config))
    return _literals(spec, flag, names.__contains__, f"a Config field ({', '.join(names)})",
                     "split_skew=0, decode='cvt'")


# The table before rounds 35-45's rules (configs.PINGPONG_FILL_EXP, DEQUANT_MIN_K,
# UNDER_HALF_DEQUANT_SPLITS, TILE128_COST, PINGPONG_WHOLE_MIN_K_TILES; splits_256 and
# launch_fill only refine the first): before round 39 TILE128_COST did not exist and was 0,
# before round 45 PINGPONG_WHOLE_MIN_K_TILES was 64. ``--a-table old`` (device_steps.sh's
# old_table) and round36/fit_fill.py.
OLD_TABLE = {"PINGPONG_FILL_EXP": 0.0, "DEQUANT_MIN_K": 1 << 30, "UNDER_HALF_DEQUANT_SPLITS": (), "TILE128_COST": 0.0,
             "PINGPONG_WHOLE_MIN_K_TILES": 64}


def parse_constants(spec: str, flag: str) -> dict:
    """``NAME=value,...`` over the table's module constants (``configs.PINGPONG_FILL_EXP``...;
    values as Python literals), or ``old``: ``OLD_TABLE``."""
    if spec == "old":
        return dict(OLD_TABLE)
    return _literals(spec, flag, lambda name: name.isupper() and hasattr(configs, name),
                     "a constant of mxfp8_marlin.configs", "PINGPONG_FILL_EXP=0")


def _literals(spec: str, flag: str, known, what: str, example: str) -> dict:
    out = {}
    for item in spec.split(","):
        name, _, value = item.partition("=")
        if not known(name):
            raise SystemExit(f"{flag}: {name!r} is not {what}")
        try:
            out[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise SystemExit(f"{flag}: {name}={value!r} is not a Python literal (e.g. {example})") from None
    return out


@contextlib.contextmanager
def table_constants(values: dict):
    """The table (``configs``) with ``values`` for its constants meanwhile (``choose``'s cache
    emptied on the way in and out: it would keep configs of the other table)."""
    unknown = [name for name in values if not (name.isupper() and hasattr(configs, name))]
    if unknown:  # setattr would add them unread, and the table would be the same
        raise ValueError(f"not constants of mxfp8_marlin.configs: {', '.join(unknown)}")
    saved = {name: getattr(configs, name) for name in values}
    configs.choose.cache_clear()
    for name, value in values.items():
        setattr(configs, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(configs, name, value)
        configs.choose.cache_clear()


def int_list(flag: str, spec: str) -> list[int]:
    """``a,b,...`` -> ``[a, b, ...]`` (empty for an empty string)."""
    try:
        return [int(v) for v in spec.split(",") if v]
    except ValueError:
        raise SystemExit(f"{flag}: {spec!r} is not a comma-separated list of integers (e.g. 0,64)") from None


@dataclass
class Case:
    """An ``[n, k]`` MXFP8 weight (float ``randn * 0.02``), packed, and ``m`` bf16 activation
    rows; ``ref`` the float32 dequantize-then-matmul result, ``wb`` the original weight in
    bf16 (cuBLAS's operand), ``tol`` the plugin's error bound."""

    packed: tuple
    x: torch.Tensor
    ref: torch.Tensor
    wb: torch.Tensor
    tol: float

    @classmethod
    def make(cls, n: int, k: int, m: int) -> "Case":
        w = torch.randn(n, k, device="cuda") * 0.02
        p, w32 = case_weights(w)
        x = torch.randn(m, k, device="cuda").to(torch.bfloat16)
        return cls((p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"]), x, x.float() @ w32.T,
                   w.to(torch.bfloat16), bound(torch.bfloat16, n, k))

    @property
    def tile_k(self) -> int:
        return self.packed[0].shape[2]

    def error(self, y: torch.Tensor, what: str) -> float:
        """``y``'s relative error against the reference; over the bound: exit, naming ``what``."""
        err = float((y.float() - self.ref).norm() / self.ref.norm())
        if err > self.tol:
            raise SystemExit(f"{what}: error {err:.2e} over the bound {self.tol:.2e}")
        return err


__all__ = ["Case", "check_rounds", "int_list", "parse_cases", "parse_constants", "parse_set", "table_constants",
           "timed_rounds"]
