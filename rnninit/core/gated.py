"""The gated cells of DESIGN section 2: ``lstm`` and ``gru``, in PyTorch's layout.

Gate order and layout are ``nn.LSTM`` / ``nn.GRU``'s (LSTM blocks i, f, g, o; GRU blocks r, z, n),
with PyTorch's two biases per gate summed into ``bh``, except the GRU's ``b_hn``, which sits inside
the reset product and is kept apart as ``bhn``. The same weights give the same numbers in both::

    LSTM  a = x Wxh^T + h_{t-1} Whh^T + bh                    (B, 4H), blocks i, f, g, o
          i, f, o = sigma(a_i, a_f, a_o); g = tanh(a_g)
          c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)
    GRU   r = sigma(x W_ir^T + b_r + h_{t-1} W_hr^T);  z likewise
          n = tanh(x W_in^T + b_n + r * (h_{t-1} W_hn^T + bhn))
          h_t = (1 - z) * n + z * h_{t-1}

Their nonlinearities are fixed (sigma gates, tanh candidate): ``model.nonlinearity`` must be
``tanh``. The per-timestep statistics read the candidate's pre-activation (LSTM a_g, GRU the full
pre-activation of n) as ``preact`` and h_t as ``act``; saturation is tanh's rule on h_t (|h| > 0.99),
since h_t is tanh-bounded in both. The state of the LSTM is (h, c), of size 2H: its one-step
Jacobian acts on rows [h, c] (B, 2H); the GRU's state is h (B, H). No mean-field theory.

The engine's cache holds ``A`` (T, B, G*H) with the full pre-activations after the forward pass
and the cells add, in ``cache.extra``: ``gates`` (T, B, G*H) the gate values (sigma or tanh of A),
and for the LSTM ``cs`` (T+1, B, H) c_0..c_T and ``tcs`` (T, B, H) tanh(c_t); for the GRU ``hn``
(T, B, H) = h_{t-1} W_hn^T + bhn. NumPy only, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import RnnInitError
from .cellbase import Cache, Cell, ParamSpec, StepJacobian, slope_buffer, slope_chunks
from .stats import gate_stats, var_over_steps


def _gate_affine(gates: tuple[str, ...], B: int, H: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(scale, offset) (B, G*H) with gate = scale * tanh(scale * a) + offset for a (B, G*H) row,
    i.e. sigma(a) = tanh(a / 2) / 2 + 1/2 for a sigmoid gate and tanh(a) for the candidate (scale
    1, offset 0: exact). One tanh call over the whole row, no exp overflow. A full (B, G*H) array
    rather than a (G*H,) row: NumPy runs an operation on two whole arrays as one flat loop."""
    tanh_gate = np.repeat([g in GatedCell.tanh_gates for g in gates], H)
    scale = np.where(tanh_gate, 1.0, 0.5).astype(dtype)
    offset = np.where(tanh_gate, 0.0, 0.5).astype(dtype)
    return np.tile(scale, (B, 1)), np.tile(offset, (B, 1))


def _rows(arr: np.ndarray, ndim: int) -> np.ndarray:
    """A per-sequence (B, n) array, as (B, 1, n) against a block of K vectors (B, K, n)."""
    return arr[:, None, :] if ndim == 3 else arr


def _blocks(arr: np.ndarray, k: int, H: int) -> np.ndarray:
    """The first k blocks of H columns of (..., G*H) as a (..., k, H) view (written through)."""
    return arr[..., : k * H].reshape(*arr.shape[:-1], k, H)


class GatedCell(Cell):
    """What the LSTM and the GRU share: fixed nonlinearities, no mean-field theory."""

    has_mean_field = False
    tanh_gates = ("g", "n")  # the candidates (LSTM g, GRU n); every other gate is a sigmoid

    @property
    def stat_columns(self) -> tuple[str, ...]:
        gates = tuple(f"gate_{g}_{s}" for g in self.gates for s in ("mean", "sat"))
        return ("cell_var", *gates, "cell_grad_var") if "c" in self.state_names else gates

    def cell_stats(self, cache: Cache) -> dict[str, np.ndarray]:
        """Each gate's mean and saturation (``stats.gate_stats``); for a cell with a cell state
        c (the LSTM) also Var(c_t) and Var(dL/dc_t), the total gradient into c_t."""
        out = gate_stats(cache.extra["gates"], self.gates, self.tanh_gates)
        if "c" in self.state_names:
            out["cell_var"] = var_over_steps(cache.extra["cs"][1:])
            out["cell_grad_var"] = var_over_steps(cache.dextra["dC"])
        return out

    def check_nonlinearity(self, nonlinearity: str, where: str = "model.nonlinearity") -> None:
        if nonlinearity != "tanh":
            raise RnnInitError(
                f"{where}: the {self.name} cell's nonlinearities are fixed (sigmoid gates, tanh "
                f"candidate), got {nonlinearity!r}; allowed: tanh"
            )

    def _gate_array(self, cache: Cache) -> np.ndarray:
        gates = cache.empty("gates", cache.A.shape, cache.A.dtype)  # (T, B, G*H)
        cache.extra["gates"] = gates
        return gates


# ------------------------------------------------------------------------------------------ LSTM


def _lstm_slopes(Z, c_prev, tc, D, K):
    """The local derivatives of one step (B, ...), of a few steps or of every step (T, B, ...).

    Writes D (.., 4H), the factor that turns dL/dc_t into dL/da_t for the blocks i, f, g
    (g i(1-i), c_{t-1} f(1-f), i (1-g^2)) and dL/dh_t into dL/da_o (tanh(c_t) o(1-o)), and
    K (.., H) = o (1 - tanh(c_t)^2) = dh_t/dc_t. Z: the gates; c_prev: c_{t-1}; tc: tanh(c_t).
    Each product is formed as in (g i)(1 - i), so that the numbers do not depend on how many
    steps are done at once.
    """
    H = tc.shape[-1]
    i, f, g, o = (Z[..., k * H : (k + 1) * H] for k in range(4))
    Di, Df, Dg, Do = (D[..., k * H : (k + 1) * H] for k in range(4))
    np.subtract(1.0, Z, out=D)  # 1 - i, 1 - f, (1 - g), 1 - o
    Di *= g * i  # c_t = f c_{t-1} + i g, i = sigma(a_i)
    Df *= c_prev * f  # f = sigma(a_f)
    Do *= tc * o  # h_t = o tanh(c_t), o = sigma(a_o)
    np.multiply(g, g, out=Dg)
    np.subtract(1.0, Dg, out=Dg)
    Dg *= i  # g = tanh(a_g)
    np.multiply(tc, tc, out=K)
    np.subtract(1.0, K, out=K)
    K *= o  # backprop through tanh(c_t)


def _lstm_back(D, K, f, dh, dc_next, da, dc=None, dc_prev=None):
    """Backprop one LSTM step: from dL/dh_t (dh) and dL/dc_t through c_{t+1} (dc_next, or None),
    write dL/da_t into da (blocks i, f, g, o) and return dL/dc_{t-1} through c_t.

    D (B, 4H), K (B, H): ``_lstm_slopes`` at t; f (B, H) the forget gate. dh, dc_next and da may
    carry a block axis of K vectors: (B, K, H) and (B, K, 4H). dc: where to keep the total
    dL/dc_t (through h_t and c_{t+1}), dc_prev: where to write dL/dc_{t-1}; None: new arrays.
    """
    H = K.shape[-1]
    if dh.ndim == 3:
        D, K, f = D[:, None], K[:, None], f[:, None]
    dc = np.multiply(dh, K, out=dc)  # h_t = o tanh(c_t)
    if dc_next is not None:
        dc += dc_next  # c_{t+1} = f c_t + ...: the carried gradient
    np.multiply(_blocks(D, 3, H), dc[..., None, :], out=_blocks(da, 3, H))  # da_i, da_f, da_g
    np.multiply(dh, D[..., 3 * H :], out=da[..., 3 * H :])  # da_o
    return np.multiply(dc, f, out=dc_prev)  # dL/dc_{t-1} through c_t


class LSTMJacobian(StepJacobian):
    """J_t = d(h_t, c_t)/d(h_{t-1}, c_{t-1}), (2H, 2H) per sequence; rows v = [v_h, v_c]."""

    def __init__(self, Whh: np.ndarray, cache: Cache) -> None:
        self.Whh = Whh
        self.Z, self.cs, self.tcs = cache.extra["gates"], cache.extra["cs"], cache.extra["tcs"]
        self.H = Whh.shape[1]
        self._slopes = cache.dextra.get("slopes")  # the backward pass's, else on first use

    def apply(self, t: int, v: np.ndarray) -> np.ndarray:
        H, nd = self.H, v.ndim
        vh, vc = v[..., :H], v[..., H:]
        Z = self.Z[t - 1]
        i, f, g, o = (_rows(Z[:, k * H : (k + 1) * H], nd) for k in range(4))
        tc, c_prev = _rows(self.tcs[t - 1], nd), _rows(self.cs[t - 1], nd)
        da = vh @ self.Whh.T  # (B, [K,] 4H): the change of a_t
        di = i * (1.0 - i) * da[..., :H]
        df = f * (1.0 - f) * da[..., H : 2 * H]
        dg = (1.0 - g * g) * da[..., 2 * H : 3 * H]
        do = o * (1.0 - o) * da[..., 3 * H :]
        dc = f * vc + c_prev * df + g * di + i * dg
        dh = tc * do + o * (1.0 - tc * tc) * dc
        return np.concatenate([dh, dc], axis=-1)

    def apply_T(self, t: int, u: np.ndarray) -> np.ndarray:
        H = self.H
        if self._slopes is None:
            D, K = np.empty_like(self.Z), np.empty_like(self.tcs)
            _lstm_slopes(self.Z, self.cs[:-1], self.tcs, D, K)
            self._slopes = D, K
        D, K = self._slopes
        out = np.empty_like(u)
        da = np.empty((*u.shape[:-1], 4 * H), dtype=u.dtype)
        f = self.Z[t - 1][:, H : 2 * H]
        # [dL/dh_{t-1}, dL/dc_{t-1}]: the c part written straight into out, then the h part
        _lstm_back(D[t - 1], K[t - 1], f, u[..., :H], u[..., H:], da, dc_prev=out[..., H:])
        np.matmul(da, self.Whh, out=out[..., :H])
        return out


class LSTMCell(GatedCell):
    """PyTorch's LSTM cell (module docstring); state (h, c)."""

    name = "lstm"
    state_names = ("h", "c")
    gates = ("i", "f", "g", "o")

    def param_specs(self, I: int, H: int, O: int) -> tuple[ParamSpec, ...]:
        G = self.gates
        return (
            ParamSpec("Wxh", "input", (4 * H, I), G),
            ParamSpec("Whh", "recurrent", (4 * H, H), G),
            ParamSpec("Why", "output", (O, H)),
            ParamSpec("bh", "bias", (4 * H,), G),
            ParamSpec("by", "bias", (O,)),
        )

    def state_size(self, H: int) -> int:
        return 2 * H

    def projection_weights(self, params: dict) -> tuple[np.ndarray, np.ndarray]:
        """Wxh and bh with the sigmoid gates' rows (i, f, o) halved, exact (a power of 2): the
        input projection holds a / 2 where the step takes sigma(a) = tanh(a/2)/2 + 1/2, and the
        step doubles A[t] back after its tanh (one pass on a hot row instead of halving a into
        the gate row, which measured 5-10% slower over the forward loop; not so for the GRU)."""
        Wxh, bh = params[self.input_weight], params[self.input_bias]
        half = _gate_affine(self.gates, 1, Wxh.shape[0] // len(self.gates), Wxh.dtype)[0][0]
        return Wxh * half[:, None], bh * half

    def init_state(self, cache: Cache, c0=None) -> None:
        T, B, H = cache.A.shape[0], cache.hs.shape[1], cache.hs.shape[2]
        cs = cache.empty("cs", (T + 1, B, H), cache.hs.dtype)
        cs[0] = 0.0 if c0 is None else c0
        cache.extra["cs"] = cs
        cache.extra["tcs"] = cache.empty("tcs", (T, B, H), cache.hs.dtype)

    def forward_step(self, params: dict, cache: Cache) -> Callable[[int], None]:
        A, hs = cache.A, cache.hs  # A: sigmoid columns halved (projection_weights)
        cs, tcs, Zs = cache.extra["cs"], cache.extra["tcs"], self._gate_array(cache)
        B, H = hs.shape[1], hs.shape[2]
        scale, offset = _gate_affine(self.gates, B, H, hs.dtype)
        # (H, 4H), contiguous (BLAS is faster on it), its sigmoid columns halved like A's
        WhhT = np.ascontiguousarray(params["Whh"].T) * scale[0]
        unscale = 1.0 / scale
        R, ig = np.empty((B, 4 * H), dtype=hs.dtype), np.empty((B, H), dtype=hs.dtype)

        def step(t: int) -> None:
            a, Z, c = A[t], Zs[t], cs[t + 1]  # views: the in-place ops below write into them
            np.matmul(hs[t], WhhT, out=R)
            a += R  # a = (x Wxh^T + bh) + h_{t-1} Whh^T, sigmoid columns halved
            np.tanh(a, out=Z)
            a *= unscale  # A[t] = a
            Z *= scale
            Z += offset  # i, f, o = sigma(a_i, a_f, a_o) = tanh(a/2)/2 + 1/2; g = tanh(a_g)
            np.multiply(Z[:, H : 2 * H], cs[t], out=c)  # c_t = f c_{t-1}
            np.multiply(Z[:, :H], Z[:, 2 * H : 3 * H], out=ig)
            c += ig  # ... + i g
            np.tanh(c, out=tcs[t])
            np.multiply(Z[:, 3 * H :], tcs[t], out=hs[t + 1])  # h_t = o tanh(c_t)

        return step

    def backward_step(self, params, cache, dH, dA):
        Whh = params["Whh"]
        cs, tcs, Zs = cache.extra["cs"], cache.extra["tcs"], cache.extra["gates"]
        T, B, H = tcs.shape
        D, K = slope_buffer(cache, "slopes_D", Zs), slope_buffer(cache, "slopes_K", tcs)
        if cache.keep_slopes:
            cache.dextra["slopes"] = D, K  # for the Jacobian probe
        dC = cache.dextra["dC"] = cache.empty("dC", tcs.shape, tcs.dtype)  # dL/dc_t (T, B, H)
        carry = np.empty((B, H), dtype=tcs.dtype)  # dL/dc_t through c_{t+1}, kept between steps
        dnext = np.empty((B, H), dtype=tcs.dtype)  # dL/dh_{t-1} through a_t
        chunks, n = slope_chunks(T, D), len(D)

        def step(t: int, dh_next: np.ndarray | None) -> np.ndarray:
            dh = dH[t]  # a view: dL/dh_t collects the gradient through a_{t+1}
            if dh_next is not None:
                dh += dh_next
            if t in chunks:  # a few steps' local derivatives at once: few calls, in cache
                ts, rows = chunks[t]
                _lstm_slopes(Zs[ts], cs[ts], tcs[ts], D[rows], K[rows])
            j, f = t % n, Zs[t, :, H : 2 * H]
            _lstm_back(D[j], K[j], f, dh, None if t == T - 1 else carry, dA[t], dC[t], carry)
            if t == 0:
                cache.dextra["dc0"] = carry
            return np.matmul(dA[t], Whh, out=dnext)  # dL/dh_{t-1} through a_t

        return step

    def jacobian(self, params: dict, cache: Cache) -> StepJacobian:
        return LSTMJacobian(params["Whh"], cache)

    def stat_arrays(self, cache: Cache) -> tuple[np.ndarray, np.ndarray]:
        H = cache.hs.shape[2]
        return cache.A[:, :, 2 * H : 3 * H], cache.hs[1:]  # (a_g, h_t)


# ------------------------------------------------------------------------------------------- GRU


def _gru_slopes(Z, hn, hs, P):
    """The local derivatives of one step (B, ...), of a few steps or of every step (T, B, ...),
    into P (.., 3H) with blocks hn r(1-r) (dL/da_n -> dL/da_r), (h_{t-1} - n) z(1-z) (dL/dh_t ->
    dL/da_z) and (1-z)(1-n^2) (dL/dh_t -> dL/da_n); hs: h_{t-1}, the state before the step.
    Each product is formed as in (hn r)(1 - r), whatever the number of steps."""
    H = hn.shape[-1]
    r, z, n = (Z[..., k * H : (k + 1) * H] for k in range(3))
    Pr, Pz, Pn = (P[..., k * H : (k + 1) * H] for k in range(3))
    np.subtract(1.0, Z, out=P)  # 1 - r, 1 - z, (1 - n)
    np.multiply(n, n, out=Pn)
    np.subtract(1.0, Pn, out=Pn)
    Pn *= Pz  # h_t = (1 - z) n + ..., n = tanh
    Pr *= hn * r  # a_n = ... + r * hn, r = sigma(a_r)
    Pz *= (hs - n) * z  # h_t = n + z (h_{t-1} - n)


def _gru_back(P, Z, dh, da, dr_rec, direct=None):
    """Backprop one GRU step from dL/dh_t (dh): write dL/da (input side: blocks r, z, n) into da
    and dL/d(h_{t-1} Whh^T) into dr_rec (its n block is r * dL/da_n), return the direct share
    dL/dh_{t-1} = z * dh (the caller adds dr_rec @ Whh), written into ``direct`` if given.

    P (B, 3H): ``_gru_slopes`` at t; Z (B, 3H) the gate values r, z, n. dh, da and dr_rec may
    carry a block axis of K vectors: (B, K, H), (B, K, 3H).
    """
    H = P.shape[-1] // 3
    if dh.ndim == 3:
        P, Z = P[:, None], Z[:, None]
    zn = _blocks(da[..., H:], 2, H)  # da_z, da_n
    np.multiply(_blocks(P[..., H:], 2, H), dh[..., None, :], out=zn)
    np.multiply(da[..., 2 * H :], P[..., :H], out=da[..., :H])  # da_r
    dr_rec[..., : 2 * H] = da[..., : 2 * H]  # r, z: the recurrent term enters a unchanged
    np.multiply(da[..., 2 * H :], Z[..., :H], out=dr_rec[..., 2 * H :])  # r * (h W_hn^T + bhn)
    return np.multiply(dh, Z[..., H : 2 * H], out=direct)  # h_t = ... + z h_{t-1}


class GRUJacobian(StepJacobian):
    """J_t = dh_t/dh_{t-1}, (H, H) per sequence."""

    def __init__(self, Whh: np.ndarray, cache: Cache) -> None:
        self.Whh, self.hs = Whh, cache.hs
        self.Z, self.hn = cache.extra["gates"], cache.extra["hn"]
        self.H = Whh.shape[1]
        self._slopes = cache.dextra.get("slopes")  # the backward pass's, else on first use

    def apply(self, t: int, v: np.ndarray) -> np.ndarray:
        H, nd = self.H, v.ndim
        Z = self.Z[t - 1]
        r, z, n = (_rows(Z[:, k * H : (k + 1) * H], nd) for k in range(3))
        hn, h_prev = _rows(self.hn[t - 1], nd), _rows(self.hs[t - 1], nd)
        dR = v @ self.Whh.T  # (B, [K,] 3H): the change of h_{t-1} Whh^T
        dr = r * (1.0 - r) * dR[..., :H]
        dz = z * (1.0 - z) * dR[..., H : 2 * H]
        dn = (1.0 - n * n) * (dr * hn + r * dR[..., 2 * H :])
        return (1.0 - z) * dn + dz * (h_prev - n) + z * v

    def apply_T(self, t: int, u: np.ndarray) -> np.ndarray:
        if self._slopes is None:
            self._slopes = np.empty_like(self.Z)
            _gru_slopes(self.Z, self.hn, self.hs[:-1], self._slopes)
        shape = (*u.shape[:-1], 3 * self.H)
        da, dr_rec = np.empty(shape, u.dtype), np.empty(shape, u.dtype)
        direct = _gru_back(self._slopes[t - 1], self.Z[t - 1], u, da, dr_rec)
        direct += dr_rec @ self.Whh
        return direct


class GRUCell(GatedCell):
    """PyTorch's GRU cell (module docstring); ``bhn`` is PyTorch's b_hn."""

    name = "gru"
    state_names = ("h",)
    gates = ("r", "z", "n")

    def param_specs(self, I: int, H: int, O: int) -> tuple[ParamSpec, ...]:
        G = self.gates
        return (
            ParamSpec("Wxh", "input", (3 * H, I), G),
            ParamSpec("Whh", "recurrent", (3 * H, H), G),
            ParamSpec("Why", "output", (O, H)),
            ParamSpec("bh", "bias", (3 * H,), G),
            ParamSpec("bhn", "bias", (H,)),
            ParamSpec("by", "bias", (O,)),
        )

    def forward_step(self, params: dict, cache: Cache) -> Callable[[int], None]:
        A, hs = cache.A, cache.hs
        T, B, H = A.shape[0], hs.shape[1], hs.shape[2]
        # W_h{r,z}^T (H, 2H) and W_hn^T (H, H), contiguous: two products, the second straight
        # into hn, measured faster than one (H, 3H) product whose hn block is then copied out
        WhhT = params["Whh"].T
        W_rz, W_n = np.ascontiguousarray(WhhT[:, : 2 * H]), np.ascontiguousarray(WhhT[:, 2 * H :])
        bhn = np.tile(params["bhn"], (B, 1))  # (B, H): one flat loop (see _gate_affine)
        Zs = self._gate_array(cache)
        hns = cache.extra["hn"] = cache.empty("hn", (T, B, H), hs.dtype)
        # r, z and n are worked out in contiguous rows, then copied into A[t] and the gate row:
        # operations on the blocks of a (B, 3H) row loop row by row, and the copies cost less
        # than the operations on blocks they replace (measured 10-15% faster)
        rz, n = np.empty((B, 2 * H), dtype=hs.dtype), np.empty((B, H), dtype=hs.dtype)
        r, z = rz[:, :H], rz[:, H:]

        def step(t: int) -> None:
            a, Z, hn, h = A[t], Zs[t], hns[t], hs[t + 1]  # views, written in place
            np.matmul(hs[t], W_rz, out=rz)
            np.add(rz, a[:, : 2 * H], out=rz)  # a_r, a_z: input side + h_{t-1} W_h{r,z}^T
            a[:, : 2 * H] = rz
            np.multiply(rz, 0.5, out=rz)  # r, z = sigma(.) = tanh(./2)/2 + 1/2
            np.tanh(rz, out=rz)
            np.multiply(rz, 0.5, out=rz)
            np.add(rz, 0.5, out=rz)
            Z[:, : 2 * H] = rz
            np.matmul(hs[t], W_n, out=hn)
            hn += bhn  # hn = h_{t-1} W_hn^T + bhn
            np.multiply(r, hn, out=n)
            np.add(n, a[:, 2 * H :], out=n)  # a_n = x W_in^T + b_n + r * hn
            a[:, 2 * H :] = n
            np.tanh(n, out=n)
            Z[:, 2 * H :] = n
            np.subtract(hs[t], n, out=h)
            h *= z
            h += n  # h_t = n + z (h_{t-1} - n) = (1 - z) n + z h_{t-1}

        return step

    def backward_step(self, params, cache, dH, dA):
        hs, Whh = cache.hs, params["Whh"]
        Zs, hns = cache.extra["gates"], cache.extra["hn"]
        T, B, H = hns.shape
        P = slope_buffer(cache, "slopes_P", Zs)  # the local derivatives
        if cache.keep_slopes:
            cache.dextra["slopes"] = P  # for the Jacobian probe
        dR = cache.dextra["dR"] = cache.empty("dR", dA.shape, dA.dtype)  # dL/d(h Whh^T) (T, B, 3H)
        rec = np.empty((B, H), dtype=hns.dtype)  # dL/dh_{t-1} through h_{t-1} Whh^T
        direct = np.empty((B, H), dtype=hns.dtype)  # dL/dh_{t-1} through h_t = ... + z h_{t-1}
        chunks, n = slope_chunks(T, P), len(P)

        def step(t: int, dh_next: np.ndarray | None) -> np.ndarray:
            dh = dH[t]  # a view: dL/dh_t collects the gradient through step t + 1
            if dh_next is not None:
                dh += dh_next
            if t in chunks:  # a few steps' local derivatives at once: few calls, in cache
                ts, rows = chunks[t]
                _gru_slopes(Zs[ts], hns[ts], hs[ts], P[rows])
            dnext = _gru_back(P[t % n], Zs[t], dh, dA[t], dR[t], direct)
            dnext += np.matmul(dR[t], Whh, out=rec)
            return dnext  # dL/dh_{t-1} through step t

        return step

    def recurrent_grad(self, cache: Cache, dA: np.ndarray) -> np.ndarray:
        return cache.dextra["dR"]

    def extra_grads(self, params: dict, cache: Cache, dA: np.ndarray) -> dict[str, np.ndarray]:
        H = params["bhn"].shape[0]
        return {"bhn": cache.dextra["dR"][:, :, 2 * H :].sum(axis=(0, 1))}  # hn = ... + bhn

    def jacobian(self, params: dict, cache: Cache) -> StepJacobian:
        return GRUJacobian(params["Whh"], cache)

    def stat_arrays(self, cache: Cache) -> tuple[np.ndarray, np.ndarray]:
        H = cache.hs.shape[2]
        return cache.A[:, :, 2 * H :], cache.hs[1:]  # (a_n, h_t)
