"""Cross-check (not a test; needs torch): the engine's lstm and gru against torch.nn.LSTM / nn.GRU
with an nn.Linear readout on the same float64 weights, for the loss and every gradient.

Run: PYTHONPATH=. python benchmarks/check_gated_torch.py   (prints the max abs and rel differences)
"""

import numpy as np
import torch

from rnninit.core.engine import bptt
from rnninit.core.inits import init_params


def torch_params(cell, p, H):
    """The engine's parameters as PyTorch's: bh -> bias_ih, bias_hh zeros except the GRU's b_hn."""
    b_hh = np.zeros_like(p["bh"])
    if cell == "gru":
        b_hh[2 * H :] = p["bhn"]
        b_ih = p["bh"]
    else:
        b_ih = p["bh"]
    return p["Wxh"], p["Whh"], b_ih, b_hh


def run(cell, loss, tokens, masked, states, seed=0, T=7, B=3, I=5, H=6, O=4):
    rng = np.random.default_rng(seed)
    p = init_params(I, H, O, init="xavier", rng=rng, cell=cell)
    for k in p:
        p[k] = p[k] + 0.3 * rng.standard_normal(p[k].shape)  # nonzero biases too
    x = rng.integers(0, I, size=(T, B)) if tokens else rng.standard_normal((T, B, I))
    y = rng.integers(0, O, size=(T, B)) if loss == "xent" else rng.standard_normal((T, B, O))
    mask = rng.integers(0, 3, size=(T, B)).astype(float) if masked else None
    if masked:
        mask[-1, 0] = 1.0
    h0 = rng.standard_normal((B, H)) if states else None
    c0 = rng.standard_normal((B, H)) if states and cell == "lstm" else None
    res = bptt(p, x, y, mask=mask, h0=h0, c0=c0, loss=loss, cell=cell, stats=False)

    mod = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(I, H).double()
    lin = torch.nn.Linear(H, O).double()
    Wih, Whh, b_ih, b_hh = torch_params(cell, p, H)
    with torch.no_grad():
        mod.weight_ih_l0.copy_(torch.from_numpy(Wih))
        mod.weight_hh_l0.copy_(torch.from_numpy(Whh))
        mod.bias_ih_l0.copy_(torch.from_numpy(b_ih))
        mod.bias_hh_l0.copy_(torch.from_numpy(b_hh))
        lin.weight.copy_(torch.from_numpy(p["Why"]))
        lin.bias.copy_(torch.from_numpy(p["by"]))
    xt = torch.from_numpy(np.eye(I)[x] if tokens else x)
    h0t = torch.from_numpy(h0 if h0 is not None else np.zeros((B, H)))[None].requires_grad_()
    c0t = torch.from_numpy(c0 if c0 is not None else np.zeros((B, H)))[None].requires_grad_()
    out, _ = mod(xt, (h0t, c0t) if cell == "lstm" else h0t)
    o = lin(out)  # (T, B, O)
    if loss == "xent":
        per = torch.nn.functional.cross_entropy(o.reshape(T * B, O), torch.from_numpy(y).reshape(-1),
                                                reduction="none").reshape(T, B)  # fmt: skip
    else:
        per = ((o - torch.from_numpy(y)) ** 2).mean(-1)
    m = torch.from_numpy(mask if mask is not None else np.ones((T, B)))
    L = (m * per).sum() / m.sum()
    L.backward()
    g = {"Wxh": mod.weight_ih_l0.grad, "Whh": mod.weight_hh_l0.grad, "Why": lin.weight.grad,
         "bh": mod.bias_ih_l0.grad, "by": lin.bias.grad}  # fmt: skip
    # bh = b_ih + b_hh (the GRU's r, z blocks only): the summed bias has the gradient of either
    summed = slice(0, 2 * H) if cell == "gru" else slice(None)
    assert torch.allclose(mod.bias_ih_l0.grad[summed], mod.bias_hh_l0.grad[summed], rtol=1e-12)
    if cell == "gru":
        g["bhn"] = mod.bias_hh_l0.grad[2 * H :]
    diffs = {"loss": abs(res.loss - L.item())}
    for k, v in g.items():
        diffs[k] = float(np.max(np.abs(res.grads[k] - v.numpy())))
    if states:
        diffs["dh0"] = float(np.max(np.abs(res.dh0 - h0t.grad[0].numpy())))
        if cell == "lstm":
            diffs["dc0"] = float(np.max(np.abs(res.dc0 - c0t.grad[0].numpy())))
    scale = max(float(np.max(np.abs(v.numpy()))) for v in g.values())
    return diffs, scale


def main():
    worst = {}
    for cell in ("lstm", "gru"):
        for loss, tokens in (("xent", True), ("mse", False)):
            for masked in (False, True):
                for states in (False, True):
                    d, scale = run(cell, loss, tokens, masked, states, seed=len(worst))
                    worst[(cell, loss, masked, states)] = (max(d.values()), scale, d)
    for key, (m, scale, d) in worst.items():
        print(key, f"max |diff| {m:.2e} (largest gradient {scale:.2e})",
              " ".join(f"{k}={v:.1e}" for k, v in d.items()))  # fmt: skip
    print("overall max |diff|:", f"{max(v[0] for v in worst.values()):.2e}")


if __name__ == "__main__":
    main()
