#!/usr/bin/python3
"""Generate PyTorch reference values for Sinter's gradient and optimizer tests.

Run from the repository root with Debian's interpreter (it has torch and numpy):

    /usr/bin/python3 tests/reference/gen.py            # regenerate everything + self-check
    /usr/bin/python3 tests/reference/gen.py --check    # only re-read and verify the committed files

For every model (tests/reference/models/*.nn and examples/{mlp,lenet,cifar_cnn}.nn) this script
builds the equivalent PyTorch module BY HAND (state-dict names equal Sinter's parameter names),
draws weights and inputs from a fixed seed (rounded to float32), and computes in float64:

    data/<model>.weights.safetensors   F32 parameters and buffers (the starting point)
    data/<model>.inputs.safetensors    F32 inputs / I32 labels, by input name
    data/<model>.train.safetensors     F64 training-mode outputs, `loss`, `<param>.grad`
    data/<model>.eval.safetensors      F64 eval-mode outputs and `loss`
    data/<model>.steps.safetensors     F64 `step{k}.<name>` after k = 1, 2, 3 optimizer steps
                                       (the opt_* models)

See tests/reference/README.md for the conventions.
"""

import json
import math
import os
import re
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS_DIR = os.path.join(HERE, "models")
DATA_DIR = os.path.join(HERE, "data")
EXAMPLES_DIR = os.path.join(ROOT, "examples")

DROPOUT_SEED = 0   # Sinter's dropout seed used for every reference (key[0])
DROPOUT_STEP = 0   # Sinter's step counter used for every reference (counter[1])
N_STEPS = 3

torch.set_num_threads(1)           # deterministic reductions
torch.use_deterministic_algorithms(True)

# ----------------------------------------------------------------------------------------------
# safetensors writer / reader (no `safetensors` package available)
# ----------------------------------------------------------------------------------------------

_DT_TO_NP = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I32": np.dtype("<i4"),
             "I64": np.dtype("<i8")}
_NP_TO_DT = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int32"): "I32",
             np.dtype("int64"): "I64"}


def st_write(path, tensors, metadata):
    """tensors: {name: np.ndarray} (F32/F64/I32/I64). Tensors are laid out sorted by name."""
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        dt = _NP_TO_DT[arr.dtype]
        raw = np.ascontiguousarray(arr, dtype=_DT_TO_NP[dt]).tobytes()
        header[name] = {"dtype": dt, "shape": [int(d) for d in arr.shape],
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hb = json.dumps(header, separators=(",", ":"), sort_keys=False).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def st_read(path):
    """Returns ({name: np.ndarray}, metadata). Validates the layout strictly."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0, f"{path}: header length {n} not a multiple of 8"
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    spans = []
    for name, h in header.items():
        dt = _DT_TO_NP[h["dtype"]]
        b, e = h["data_offsets"]
        count = int(np.prod(h["shape"], dtype=np.int64)) if h["shape"] else 1
        assert e - b == count * dt.itemsize, f"{path}:{name}: size mismatch"
        out[name] = np.frombuffer(body[b:e], dtype=dt).reshape(h["shape"]).copy()
        spans.append((b, e))
    spans.sort()
    pos = 0
    for b, e in spans:
        assert b == pos, f"{path}: gap or overlap in data"
        pos = e
    assert pos == len(body), f"{path}: trailing bytes"
    return out, meta


# ----------------------------------------------------------------------------------------------
# Philox4x32-10 (Random123) and Sinter's dropout mask
# ----------------------------------------------------------------------------------------------

_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK = 0xFFFFFFFF


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Vectorised Philox4x32-10. Arguments: uint64 arrays/ints holding 32-bit values."""
    mask = np.uint64(_MASK)
    c0, c1, c2, c3 = (np.asarray(v, dtype=np.uint64) & mask for v in (c0, c1, c2, c3))
    k0 = np.asarray(k0, dtype=np.uint64) & mask
    k1 = np.asarray(k1, dtype=np.uint64) & mask
    m0, m1 = np.uint64(_M0), np.uint64(_M1)
    s32 = np.uint64(32)
    for r in range(10):
        if r > 0:
            k0 = (k0 + np.uint64(_W0)) & mask
            k1 = (k1 + np.uint64(_W1)) & mask
        p0 = m0 * c0            # < 2^64: no overflow
        p1 = m1 * c2
        hi0, lo0 = p0 >> s32, p0 & mask
        hi1, lo1 = p1 >> s32, p1 & mask
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def philox_self_test():
    kat = [((0, 0, 0, 0), (0, 0), (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
           ((_MASK,) * 4, (_MASK, _MASK), (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
           ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
            (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1))]
    for ctr, key, want in kat:
        got = tuple(int(v) for v in philox4x32_10(*ctr, *key))
        assert got == want, f"Philox KAT failed: {ctr} {key}: {[hex(v) for v in got]}"


def dropout_keep(shape, p, salt, seed=DROPOUT_SEED, step=DROPOUT_STEP):
    """Boolean keep-mask of Sinter's dropout for a tensor of `shape` at dropout site `salt`."""
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.uint64)
    out0, _, _, _ = philox4x32_10(i, step, 0, 0, seed, salt)
    u = (out0 >> np.uint64(8)).astype(np.float64) * 2.0 ** -24
    return (u >= p).reshape(shape)


# ----------------------------------------------------------------------------------------------
# Model building blocks
# ----------------------------------------------------------------------------------------------

def l1(x):
    return x.abs().sum()


def l2(x):
    return (x * x).sum()


def xent(logits, labels):
    # mean over the batch of -log_softmax(logits)[label]
    return -F.log_softmax(logits, dim=-1).gather(1, labels.long().unsqueeze(1)).mean()


class Base(nn.Module):
    """forward(inputs: dict) -> (outputs: dict, loss). self.training selects train/eval mode."""

    def __init__(self):
        super().__init__()
        self._salt = 0
        self.dropout_sites = []  # p of each site, in order of appearance (salt order)
        self.probe = {}          # intermediate tensors for the self-checks

    def dropout(self, x, p):
        salt = self._salt
        self._salt += 1
        if not self.training:
            return x
        keep = dropout_keep(tuple(x.shape), p, salt)
        scale = torch.from_numpy(keep.astype(np.float64) / (1.0 - p)).to(x.dtype)
        return x * scale

    def run(self, inputs):
        self._salt = 0
        return self.forward(inputs)


class OpsElementwise(Base):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(4))
        self.v = nn.Parameter(torch.zeros(1, 4))
        self.fc = nn.Linear(4, 4)

    def forward(self, I):
        x, w, v = I["x"], self.w, self.v
        a = x * w + v
        b = a - 2.0 * x / (1.5 + torch.sigmoid(a))
        n = -b
        e = torch.exp(n * 0.5)
        lg = torch.log(e + 1.0)
        sq = torch.sqrt(torch.sigmoid(a) + 0.25)
        p3 = torch.pow(lg, 3)
        ph = torch.pow(e, 0.5)
        th = torch.tanh(a)
        rl = torch.relu(b)
        lk = F.leaky_relu(n, negative_slope=0.1)
        q = rl / (w * w + 1.0)
        r = v - x
        h = th * p3 + q / sq - lk + ph * r + 1.0 - torch.sigmoid(lg)
        fc = self.fc(h)
        loss = F.mse_loss(fc, I["target"]) + 0.01 * l1(w) + 0.001 * l2(self.fc.weight) \
            + 0.05 * l2(v)
        return {"y": fc, "gate": torch.sigmoid(fc)}, loss


class OpsShape(Base):
    def __init__(self):
        super().__init__()
        self.m = nn.Parameter(torch.zeros(12, 6))
        self.fc1 = nn.Linear(14, 5, bias=False)
        self.fc2 = nn.Linear(24, 5)

    def forward(self, I):
        x = I["x"]
        B = x.shape[0]
        h = torch.tanh(x @ self.m)
        g = h @ self.m.permute(1, 0)
        r = g.reshape(B, 2, 6)
        rt = r.permute(0, 2, 1)
        f = rt.flatten(1)
        c = torch.cat([f, x], dim=1)
        s = c[:, 1:3]
        c3 = c.reshape(B, 4, 6)
        s3 = c3[:, :, 2:5]
        fc1 = self.fc1(torch.cat([s, s3.flatten(1)], dim=1))
        fc2 = self.fc2(c)
        logits = fc1 + fc2
        return {"logits": logits}, xent(logits, I["label"])


class OpsReduce(Base):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(5))

    def forward(self, I):
        x = I["x"]
        z = x * self.w
        s = z.sum(dim=2)
        mu = z.mean(dim=1, keepdim=True)
        d = z - mu
        mx = torch.amax(d, dim=-1)
        mk = torch.amax(z, dim=1, keepdim=True)
        sk = (z - mk).sum(dim=-1, keepdim=True)
        var = (d * d).mean()
        tot = z.sum()
        top = torch.amax(z)
        logits = s + mx + sk.flatten(1)
        sm = F.softmax(logits, dim=-1)
        ls = F.log_softmax(logits, dim=-1)
        sz = F.softmax(z, dim=1)
        mz = (sz * x).mean(dim=0)
        loss = xent(logits, I["label"]) + 0.1 * var + 0.05 * top - 0.01 * tot + l2(sm) \
            - 0.1 * ls.mean() + mz.sum()
        return {"probs": sm, "logp": ls, "spread": var}, loss


class ConvVariants(Base):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2, bias=False)
        self.c3 = nn.Conv2d(6, 4, 2, stride=2, groups=2)
        self.c4 = nn.Conv2d(6, 4, 3, stride=2, padding=1, dilation=2, groups=2, bias=False)
        self.c5 = nn.Conv2d(4, 2, 1)
        self.fc = nn.Linear(66, 5)

    def forward(self, I):
        img = I["image"]
        c1 = torch.relu(self.c1(img))
        c2 = torch.relu(self.c2(img))
        c3 = torch.tanh(self.c3(c2))
        c4 = self.c4(c1)
        c5 = self.c5(c3)
        assert c4.shape[1:] == (4, 2, 2) and c5.shape[1:] == (2, 5, 5)
        fc = self.fc(torch.cat([c5.flatten(1), c4.flatten(1)], dim=1))
        return {"probs": F.softmax(fc, dim=-1)}, xent(fc, I["label"])


def maxpool_first(x, k, s, p):
    """Reference max pooling whose gradient goes to the FIRST maximum (row-major window order),
    padding = -inf. Built from differentiable gathers, independent of F.max_pool2d."""
    return _maxpool_pick(x, k, s, p, last=False)


def maxpool_last(x, k, s, p):
    return _maxpool_pick(x, k, s, p, last=True)


def _maxpool_pick(x, k, s, p, last):
    N, C, H, W = x.shape
    xp = F.pad(x, (p, p, p, p), value=-math.inf)
    cols = F.unfold(xp.reshape(N * C, 1, H + 2 * p, W + 2 * p), k, stride=s)  # [NC, k*k, L]
    Ho = (H + 2 * p - k) // s + 1
    Wo = (W + 2 * p - k) // s + 1
    vals = cols.detach().numpy()
    if last:
        idx = k * k - 1 - np.argmax(vals[:, ::-1, :], axis=1)
    else:
        idx = np.argmax(vals, axis=1)   # numpy argmax: first occurrence
    idx = torch.from_numpy(idx).unsqueeze(1)
    return cols.gather(1, idx).reshape(N, C, Ho, Wo)


class PoolPadded(Base):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.fc1 = nn.Linear(150, 4)
        self.fc2 = nn.Linear(75, 4)
        self.maxpool = lambda x, k, s, p: F.max_pool2d(x, k, s, p)

    def forward(self, I):
        mp = self.maxpool
        conv = self.conv(I["image"])
        self.probe["conv"] = conv
        mp1 = mp(conv, 3, 2, 1)
        ap1 = F.avg_pool2d(conv, 3, 2, 1, count_include_pad=True)
        rc = torch.relu(conv)
        self.probe["relu_conv"] = rc
        mp2 = mp(rc, 2, 1, 1)
        self.probe["mp2"] = mp2
        ap2 = F.avg_pool2d(conv, 4, 3, 1, count_include_pad=True)
        mp3 = mp(mp2, 4, 3, 2)
        assert mp1.shape[1:] == (3, 5, 5) and mp2.shape[1:] == (3, 10, 10)
        assert ap2.shape[1:] == (3, 3, 3) and mp3.shape[1:] == (3, 4, 4)
        fc1 = self.fc1(torch.cat([mp1.flatten(1), ap1.flatten(1)], dim=1))
        fc2 = self.fc2(torch.cat([ap2.flatten(1), mp3.flatten(1)], dim=1))
        logits = fc1 + fc2
        return {"logits": logits}, xent(logits, I["label"])


class BatchnormTrain(Base):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4, momentum=0.1, eps=1e-5)
        self.fc1 = nn.Linear(36, 8, bias=False)
        self.bn2 = nn.BatchNorm1d(8, momentum=0.2, eps=1e-3)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, I):
        bn1 = torch.relu(self.bn1(self.c1(I["image"])))
        p1 = F.avg_pool2d(bn1, 2)
        bn2 = torch.tanh(self.bn2(self.fc1(p1.flatten(1))))
        fc2 = self.fc2(bn2)
        return {"probs": F.softmax(fc2, dim=-1), "feat": bn2}, xent(fc2, I["label"])


class Dropout(Base):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(10, 16)
        self.fc2 = nn.Linear(16, 4)
        self.dropout_sites = [0.3, 0.3]

    def forward(self, I):
        fc1 = torch.relu(self.fc1(self.dropout(I["x"], 0.3)))
        h = self.dropout(fc1, 0.3)
        fc2 = self.fc2(h)
        return {"y": fc2}, F.mse_loss(fc2, I["target"])


class OptMLP(Base):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, I):
        fc1 = torch.tanh(self.fc1(I["x"]))
        fc2 = self.fc2(fc1)
        loss = xent(fc2, I["label"]) + 1e-3 * l2(self.fc1.weight)
        return {"probs": F.softmax(fc2, dim=-1)}, loss


class LabelSmoothing(Base):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.fc2 = nn.Linear(8, 5)

    def forward(self, I):
        fc1 = torch.tanh(self.fc1(I["x"]))
        fc2 = self.fc2(fc1)
        loss = F.cross_entropy(fc2, I["label"].long(), label_smoothing=0.1)
        return {"probs": F.softmax(fc2, dim=-1)}, loss


class OptSgdBn(Base):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 3, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(3)
        self.fc1 = nn.Linear(75, 8, bias=False)
        self.bn2 = nn.BatchNorm1d(8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, I):
        bn1 = torch.relu(self.bn1(self.c1(I["image"])))
        bn2 = torch.tanh(self.bn2(self.fc1(bn1.flatten(1))))
        fc2 = self.fc2(bn2)
        return {"probs": F.softmax(fc2, dim=-1)}, xent(fc2, I["label"])


class MLP(Base):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, I):
        fc1 = torch.relu(self.fc1(I["image"].flatten(1)))
        fc2 = torch.relu(self.fc2(fc1))
        fc3 = self.fc3(fc2)
        return {"probs": F.softmax(fc3, dim=-1)}, xent(fc3, I["label"])


class LeNet(Base):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, I):
        conv1 = F.max_pool2d(torch.relu(self.conv1(I["image"])), 2)
        conv2 = F.max_pool2d(torch.relu(self.conv2(conv1)), 2)
        fc1 = torch.relu(self.fc1(conv2.flatten(1)))
        fc2 = torch.relu(self.fc2(fc1))
        fc3 = self.fc3(fc2)
        return {"probs": F.softmax(fc3, dim=-1)}, xent(fc3, I["label"])


class CifarCNN(Base):
    def __init__(self):
        super().__init__()
        chans = [(3, 32), (32, 32), (32, 64), (64, 64), (64, 128), (128, 128)]
        for i, (ci, co) in enumerate(chans, 1):
            setattr(self, f"conv{i}", nn.Conv2d(ci, co, 3, padding=1, bias=False))
            setattr(self, f"bn{i}", nn.BatchNorm2d(co))
        self.fc1 = nn.Linear(2048, 256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, I):
        x = I["image"]
        for blk in range(3):
            for j in (2 * blk + 1, 2 * blk + 2):
                x = torch.relu(getattr(self, f"bn{j}")(getattr(self, f"conv{j}")(x)))
            x = F.max_pool2d(x, 2)
        fc1 = torch.relu(self.fc1(x.flatten(1)))
        fc2 = self.fc2(fc1)
        return {"probs": F.softmax(fc2, dim=-1)}, xent(fc2, I["label"])


# ----------------------------------------------------------------------------------------------
# Model table: name -> source file, module, inputs (shape without batch, kind), batch, seed
# ----------------------------------------------------------------------------------------------

def _m(path):
    return os.path.join(MODELS_DIR, path)


OPT_NAMES = ["opt_sgd", "opt_sgd_momentum", "opt_sgd_nesterov", "opt_adam", "opt_adam_custom",
             "opt_adamw"]

MODELS = [
    # name, source, class, inputs {name: (shape, kind)}, batch, steps?
    ("ops_elementwise", _m("ops_elementwise.nn"), OpsElementwise,
     {"x": ((4,), "normal"), "target": ((4,), "normal")}, 5, False),
    ("ops_shape", _m("ops_shape.nn"), OpsShape,
     {"x": ((12,), "normal"), "label": ((), ("label", 5))}, 5, False),
    ("ops_reduce", _m("ops_reduce.nn"), OpsReduce,
     {"x": ((3, 5), "normal"), "label": ((), ("label", 3))}, 5, False),
    ("conv_variants", _m("conv_variants.nn"), ConvVariants,
     {"image": ((4, 11, 11), "normal"), "label": ((), ("label", 5))}, 5, False),
    ("pool_padded", _m("pool_padded.nn"), PoolPadded,
     {"image": ((2, 9, 9), ("int", 0, 3)), "label": ((), ("label", 4))}, 5, False),
    ("batchnorm_train", _m("batchnorm_train.nn"), BatchnormTrain,
     {"image": ((3, 6, 6), "normal"), "label": ((), ("label", 3))}, 5, False),
    ("dropout", _m("dropout.nn"), Dropout,
     {"x": ((10,), "normal"), "target": ((4,), "normal")}, 5, False),
] + [
    (n, _m(n + ".nn"), OptMLP, {"x": ((6,), "normal"), "label": ((), ("label", 3))}, 5, True)
    for n in OPT_NAMES
] + [
    ("opt_sgd_bn", _m("opt_sgd_bn.nn"), OptSgdBn,
     {"image": ((2, 5, 5), "normal"), "label": ((), ("label", 3))}, 5, True),
    ("mlp", os.path.join(EXAMPLES_DIR, "mlp.nn"), MLP,
     {"image": ((1, 28, 28), "uniform01"), "label": ((), ("label", 10))}, 1, False),
    ("lenet", os.path.join(EXAMPLES_DIR, "lenet.nn"), LeNet,
     {"image": ((1, 28, 28), "uniform01"), "label": ((), ("label", 10))}, 3, False),
    # The examples get no steps files (size: mlp's would be 2.6 MB; the opt_* models cover the
    # optimizers; cifar_cnn's train block also has a one-cycle schedule). cifar_cnn's gradients are stored as F32 to keep the data small (README).
    ("cifar_cnn", os.path.join(EXAMPLES_DIR, "cifar_cnn.nn"), CifarCNN,
     {"image": ((3, 32, 32), "normal"), "label": ((), ("label", 10))}, 3, False),
    # Appended (a model's seed is its index: earlier ones keep theirs).
    ("label_smoothing", _m("label_smoothing.nn"), LabelSmoothing,
     {"x": ((6,), "normal"), "label": ((), ("label", 5))}, 5, False),
] + [
    # Appended: rmsprop, adagrad and adadelta on the opt_* MLP.
    (n, _m(n + ".nn"), OptMLP, {"x": ((6,), "normal"), "label": ((), ("label", 3))}, 5, True)
    for n in ("opt_rmsprop", "opt_rmsprop_plain", "opt_adagrad", "opt_adadelta")
]

SEED_BASE = 1000
GRAD_F32 = {"cifar_cnn"}


# ----------------------------------------------------------------------------------------------
# .nn cross-check (regex level: names, shapes, layers, dropout sites, optimizer)
# ----------------------------------------------------------------------------------------------

def read_nn(path):
    with open(path) as f:
        lines = [ln.split("#", 1)[0].rstrip() for ln in f]
    text = "\n".join(lines)
    info = {"model": None, "inputs": {}, "outputs": [], "params": {}, "layers": {},
            "dropout_p": [], "optimizer": None}
    mm = re.search(r"^\s*model\s+(\w+)\s*\{", text, re.M)
    info["model"] = mm.group(1)
    for ln in lines:
        m = re.match(r"^\s*input\s+(\w+)\s*:\s*(\w+)\[(.*)\]\s*$", ln)
        if m:
            dims = [d.strip() for d in m.group(3).split(",")]
            info["inputs"][m.group(1)] = (m.group(2), dims)
            continue
        m = re.match(r"^\s*output\s+(\w+)", ln)
        if m:
            info["outputs"].append(m.group(1))
            continue
        m = re.match(r"^\s*param\s+(\w+)\s*:\s*f32\[(.*?)\]", ln)
        if m:
            info["params"][m.group(1)] = [int(d) for d in m.group(2).split(",")]
            continue
        m = re.match(r"^\s*(\w+)\s*=\s*(.*)$", ln)
        if m:
            kinds = re.findall(r"\b(dense|conv2d|batchnorm)\s*\(", m.group(2))
            assert len(kinds) <= 1, f"{path}: two parametric layers in binding {m.group(1)}"
            if kinds:
                info["layers"][m.group(1)] = kinds[0]
        for pm in re.finditer(r"\bdropout\s*\(.*?p\s*=\s*([0-9.eE+-]+)", ln):
            info["dropout_p"].append(float(pm.group(1)))
        m = re.match(r"^\s*optimizer\s+(\w+)\s*\((.*)\)\s*$", ln)
        if m:
            info["optimizer"] = (m.group(1), parse_kwargs(m.group(2)))
    return info


def parse_kwargs(s):
    out = {}
    for part in re.split(r",\s*(?![^\[]*\])", s.strip()):
        if not part:
            continue
        k, v = (t.strip() for t in part.split("=", 1))
        if v.startswith("["):
            items = [t.strip() for t in v.strip("[]").split(",")]
            out[k] = [t if re.fullmatch(r"[A-Za-z_]\w*", t) else float(t) for t in items]
        elif v in ("true", "false"):
            out[k] = v == "true"
        else:
            out[k] = float(v)
    return out


def cross_check(name, path, model, inputs_spec, outputs):
    info = read_nn(path)
    assert info["model"] == name, f"{path}: model name {info['model']} != {name}"
    assert set(info["inputs"]) == set(inputs_spec), f"{name}: inputs {info['inputs']}"
    for iname, (shape, kind) in inputs_spec.items():
        dt, dims = info["inputs"][iname]
        want_dt = "i32" if isinstance(kind, tuple) and kind[0] == "label" else "f32"
        assert dt == want_dt and dims == ["B"] + [str(d) for d in shape], \
            f"{name}: input {iname}: {dt}{dims} vs {want_dt}{shape}"
    assert sorted(info["outputs"]) == sorted(outputs), f"{name}: outputs {info['outputs']}"
    mods = {n: m for n, m in model.named_children()}
    kind_of = {nn.Linear: "dense", nn.Conv2d: "conv2d", nn.BatchNorm2d: "batchnorm",
               nn.BatchNorm1d: "batchnorm"}
    assert {n: kind_of[type(m)] for n, m in mods.items()} == info["layers"], \
        f"{name}: layers {info['layers']} vs module {list(mods)}"
    direct = {n: list(p.shape) for n, p in model.named_parameters(recurse=False)}
    assert direct == info["params"], f"{name}: params {info['params']} vs {direct}"
    assert info["dropout_p"] == model.dropout_sites, f"{name}: dropout {info['dropout_p']}"
    return info


# ----------------------------------------------------------------------------------------------
# Data generation
# ----------------------------------------------------------------------------------------------

def state_names(model):
    return [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]


def draw_weights(name, model, rng):
    """F32 numpy arrays for every parameter and buffer, in state-dict order."""
    out = {}
    owners = dict(model.named_modules())
    for key, t in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        shape = tuple(t.shape)
        owner_name, _, leaf = key.rpartition(".")
        owner = owners.get(owner_name)
        if name == "pool_padded" and owner_name == "conv":
            # integer weights -> integer conv outputs -> exact ties in the pools
            if leaf == "weight":
                v = rng.integers(-1, 2, size=shape)
            else:
                v = rng.integers(0, 2, size=shape)
        elif isinstance(owner, (nn.Linear, nn.Conv2d)):
            fan_in = int(np.prod(owner.weight.shape[1:]))
            bound = 1.0 / math.sqrt(fan_in)   # PyTorch's default bound for weight and bias
            v = rng.uniform(-bound, bound, size=shape)
        elif isinstance(owner, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if leaf == "weight":
                v = rng.uniform(0.5, 1.5, size=shape)
            elif leaf == "bias":
                v = rng.normal(0.0, 0.2, size=shape)
            elif leaf == "running_mean":
                v = rng.normal(0.0, 0.2, size=shape)
            elif leaf == "running_var":
                v = rng.uniform(0.5, 2.0, size=shape)
            else:
                raise KeyError(key)
        else:  # explicit `param`
            v = rng.normal(0.0, 0.5, size=shape)
        out[key] = np.asarray(v, dtype=np.float32)
    return out


def draw_inputs(spec, batch, rng):
    out = {}
    for iname, (shape, kind) in spec.items():
        full = (batch,) + tuple(shape)
        if kind == "normal":
            out[iname] = rng.normal(0.0, 1.0, size=full).astype(np.float32)
        elif kind == "uniform01":
            out[iname] = rng.uniform(0.0, 1.0, size=full).astype(np.float32)
        elif kind[0] == "int":
            out[iname] = rng.integers(kind[1], kind[2] + 1, size=full).astype(np.float32)
        elif kind[0] == "label":
            out[iname] = rng.integers(0, kind[1], size=full).astype(np.int32)
        else:
            raise ValueError(kind)
    return out


def build(cls, weights):
    model = cls().double()
    sd = model.state_dict()
    for k in sd:
        if k.endswith("num_batches_tracked"):
            continue
        sd[k] = torch.from_numpy(weights[k].astype(np.float64))
    model.load_state_dict(sd)
    return model


def to_torch(inputs, dtype=torch.float64):
    return {k: torch.from_numpy(v.astype(np.int64) if v.dtype == np.int32 else v).to(
        dtype if v.dtype != np.int32 else torch.int64) for k, v in inputs.items()}


def np64(t):
    return t.detach().to(torch.float64).numpy().copy()


def run_pass(cls, weights, inputs, train, grads, dtype=torch.float64, patch=None):
    model = build(cls, weights).to(dtype)
    if patch:
        patch(model)
    model.train(train)
    model.zero_grad()
    outs, loss = model.run(to_torch(inputs, dtype))
    res = {k: np64(v) for k, v in outs.items()}
    res["loss"] = np64(loss)
    if grads:
        loss.backward()
        for pname, p in model.named_parameters():
            res[pname + ".grad"] = np64(p.grad)
    return res, model


# The keyword arguments make_optimizer passes on, per optimizer: any other in a train block would
# silently be left at PyTorch's default here, so it is an error.
OPTIMIZER_ARGS = {
    "sgd": {"lr", "momentum", "nesterov", "weight_decay"},
    "adam": {"lr", "betas", "eps", "weight_decay"},
    "adamw": {"lr", "betas", "eps", "weight_decay"},
    "rmsprop": {"lr", "alpha", "eps", "weight_decay", "momentum", "centered"},
    "adagrad": {"lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"},
    "adadelta": {"lr", "rho", "eps", "weight_decay"},
}


def make_optimizer(kind, kw, params):
    unknown = set(kw) - OPTIMIZER_ARGS[kind]
    assert not unknown, f"{kind}: arguments {sorted(unknown)} are not passed to torch.optim"
    if kind == "sgd":
        return torch.optim.SGD(params, lr=kw["lr"], momentum=kw.get("momentum", 0.0),
                               dampening=0.0, nesterov=kw.get("nesterov", False),
                               weight_decay=kw.get("weight_decay", 0.0), foreach=False)
    if kind in ("adam", "adamw"):
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        default_wd = 0.0 if kind == "adam" else 0.01
        return cls(params, lr=kw["lr"], betas=tuple(kw.get("betas", (0.9, 0.999))),
                   eps=kw.get("eps", 1e-8), weight_decay=kw.get("weight_decay", default_wd),
                   amsgrad=False, foreach=False)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=kw.get("lr", 0.01), alpha=kw.get("alpha", 0.99),
                                   eps=kw.get("eps", 1e-8), weight_decay=kw.get("weight_decay", 0.0),
                                   momentum=kw.get("momentum", 0.0),
                                   centered=kw.get("centered", False), foreach=False)
    if kind == "adagrad":
        return torch.optim.Adagrad(params, lr=kw.get("lr", 0.01), lr_decay=kw.get("lr_decay", 0.0),
                                   weight_decay=kw.get("weight_decay", 0.0),
                                   initial_accumulator_value=kw.get("initial_accumulator_value", 0.0),
                                   eps=kw.get("eps", 1e-10), foreach=False)
    if kind == "adadelta":
        return torch.optim.Adadelta(params, lr=kw.get("lr", 1.0), rho=kw.get("rho", 0.9),
                                    eps=kw.get("eps", 1e-6), weight_decay=kw.get("weight_decay", 0.0),
                                    foreach=False)
    raise ValueError(kind)


def run_steps(cls, weights, inputs, opt, dtype=torch.float64):
    model = build(cls, weights).to(dtype)
    model.train(True)
    optim = make_optimizer(opt[0], opt[1], model.parameters())
    data = to_torch(inputs, dtype)
    res = {}
    for k in range(1, N_STEPS + 1):
        optim.zero_grad()
        _, loss = model.run(data)
        loss.backward()
        optim.step()
        res[f"step{k}.loss"] = np64(loss)   # loss of the forward pass of step k (before update)
        for key, t in model.state_dict().items():
            if not key.endswith("num_batches_tracked"):
                res[f"step{k}.{key}"] = np64(t)
    return res


# ----------------------------------------------------------------------------------------------
# Self-checks
# ----------------------------------------------------------------------------------------------

def check_maxpool_tie_rule(weights, inputs):
    """PyTorch's CPU max_pool2d must send the gradient to the first maximum on our tie data:
    compare the whole pool_padded training pass against a gather-based first-max pooling, and
    show that a last-max rule would give different parameter gradients (the data discriminates)."""
    ref, model = run_pass(PoolPadded, weights, inputs, True, True)
    conv = model.probe["conv"].detach().numpy()
    assert np.all(conv == np.round(conv)), "pool_padded conv output is not integer-valued"

    def count_ties(x, k, s, p):
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
        n = 0
        for i in range(0, xp.shape[2] - k + 1, s):
            for j in range(0, xp.shape[3] - k + 1, s):
                w = xp[:, :, i:i + k, j:j + k].reshape(x.shape[0], x.shape[1], -1)
                n += int(np.sum((w == w.max(axis=2, keepdims=True)).sum(axis=2) > 1))
        return n

    ties = {"mp1": count_ties(conv, 3, 2, 1),
            "mp2": count_ties(model.probe["relu_conv"].detach().numpy(), 2, 1, 1),
            "mp3": count_ties(model.probe["mp2"].detach().numpy(), 4, 3, 2)}

    def patch_first(m):
        m.maxpool = maxpool_first

    def patch_last(m):
        m.maxpool = maxpool_last

    first, _ = run_pass(PoolPadded, weights, inputs, True, True, patch=patch_first)
    last, _ = run_pass(PoolPadded, weights, inputs, True, True, patch=patch_last)
    for k in ref:
        np.testing.assert_allclose(first[k], ref[k], rtol=1e-12, atol=1e-14,
                                   err_msg=f"first-max rule disagrees with torch on {k}")
    differ = [k for k in ref if k.endswith(".grad") and
              not np.allclose(last[k], ref[k], rtol=1e-9, atol=1e-12)]
    assert differ, "tie data does not discriminate the tie rule"
    return ties, differ


def check_batchnorm_semantics(weights, inputs):
    """Running stats after one training pass: momentum blend with the UNBIASED batch variance."""
    _, model = run_pass(BatchnormTrain, weights, inputs, True, False)
    x = to_torch(inputs)["image"]
    c1 = build(BatchnormTrain, weights).c1(x).detach().numpy()
    n = c1.shape[0] * c1.shape[2] * c1.shape[3]
    mean = c1.mean(axis=(0, 2, 3))
    var_u = c1.var(axis=(0, 2, 3)) * n / (n - 1)
    rm = 0.9 * weights["bn1.running_mean"].astype(np.float64) + 0.1 * mean
    rv = 0.9 * weights["bn1.running_var"].astype(np.float64) + 0.1 * var_u
    np.testing.assert_allclose(model.bn1.running_mean.numpy(), rm, rtol=1e-12)
    np.testing.assert_allclose(model.bn1.running_var.numpy(), rv, rtol=1e-12)


def check_dropout_mask(model_cls, weights, inputs):
    """Outputs with dropout active differ from eval and the mask keeps ~(1-p)."""
    keep = dropout_keep((1000,), 0.3, 0)
    assert 0.62 < keep.mean() < 0.78, keep.mean()
    k0, k1 = dropout_keep((64,), 0.3, 0), dropout_keep((64,), 0.3, 1)
    assert not np.array_equal(k0, k1), "salt has no effect"


def rel_err(a, b, floor_frac):
    """max_i |a_i - b_i| / max(|b_i|, floor_frac * max_j |b_j|, 1e-30)"""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    scale = np.maximum(np.abs(b), max(floor_frac * float(np.max(np.abs(b), initial=0.0)), 1e-30))
    return float(np.max(np.abs(a - b) / scale, initial=0.0))


def float32_error_stats(cls, weights, inputs, opt=None):
    """How far a float32 PyTorch training pass lands from the float64 reference (a proxy for
    what Sinter's float32 backends will see); used to choose the recommended tolerance.
    Steps are compared as deltas from the starting weights (step{k}.p - p)."""
    ref, _ = run_pass(cls, weights, inputs, True, True)
    f32, _ = run_pass(cls, weights, inputs, True, True, dtype=torch.float32)
    if opt:
        r = run_steps(cls, weights, inputs, opt)
        f = run_steps(cls, weights, inputs, opt, dtype=torch.float32)
        for k in r:
            base = k.split(".", 1)[1]
            w0 = weights[base].astype(np.float64) if base in weights else 0.0
            ref["delta." + k], f32["delta." + k] = r[k] - w0, f[k] - w0
    return {fl: max((rel_err(f32[k], ref[k], fl), k) for k in ref) for fl in (1e-3, 1e-2, 1.0)}


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------

def paths(name):
    return {kind: os.path.join(DATA_DIR, f"{name}.{kind}.safetensors")
            for kind in ("weights", "inputs", "train", "eval", "steps")}


def generate(only=None):
    philox_self_test()
    os.makedirs(DATA_DIR, exist_ok=True)
    written = {}
    report = []
    for idx, (name, src, cls, spec, batch, steps) in enumerate(MODELS):
        if only and name not in only:
            continue
        seed = SEED_BASE + idx
        rng = np.random.default_rng(seed)
        proto = cls()
        weights = draw_weights(name, proto, rng)
        inputs = draw_inputs(spec, batch, rng)
        train, _ = run_pass(cls, weights, inputs, True, True)
        evals, _ = run_pass(cls, weights, inputs, False, False)
        outputs = [k for k in evals if k != "loss"]
        info = cross_check(name, src, proto, spec, outputs)
        for k, v in list(train.items()) + list(evals.items()):
            assert np.all(np.isfinite(v)), f"{name}: non-finite {k}"
            assert np.max(np.abs(v)) > 1e-6, f"{name}: {k} is (nearly) all zero"
        if name in GRAD_F32:
            for k in train:
                if k.endswith(".grad"):
                    train[k] = train[k].astype(np.float32)
        meta = {"model": name, "source": os.path.relpath(src, ROOT),
                "torch": torch.__version__, "numpy": np.__version__, "seed": str(seed),
                "batch": str(batch), "dropout_seed": str(DROPOUT_SEED),
                "dropout_step": str(DROPOUT_STEP), "generator": "tests/reference/gen.py"}
        files = {"weights": (weights, "F32 parameters and buffers"),
                 "inputs": (inputs, "model inputs (F32; labels I32)"),
                 "train": (train, "training mode, float64: outputs, loss, <param>.grad"),
                 "eval": (evals, "eval mode, float64: outputs, loss")}
        if steps:
            assert info["optimizer"], f"{name}: no optimizer in train block"
            files["steps"] = (run_steps(cls, weights, inputs, info["optimizer"]),
                              f"float64, {N_STEPS} steps of "
                              f"{info['optimizer'][0]}({info['optimizer'][1]}) on the same batch")
        p = paths(name)
        for kind, (tensors, what) in files.items():
            m = dict(meta, contents=what)
            if kind == "steps":
                m["optimizer"] = json.dumps([info["optimizer"][0], info["optimizer"][1]])
                m["steps"] = str(N_STEPS)
            st_write(p[kind], tensors, m)
            written[p[kind]] = (tensors, m)
        if name == "pool_padded":
            ties, differ = check_maxpool_tie_rule(weights, inputs)
            report.append(f"pool_padded: tied windows {ties}; last-max rule would change {differ}")
        if name == "batchnorm_train":
            check_batchnorm_semantics(weights, inputs)
        if name == "dropout":
            check_dropout_mask(cls, weights, inputs)
            assert not np.allclose(train["y"], evals["y"])
        if name != "cifar_cnn" or os.environ.get("F32_STATS"):
            stats = float32_error_stats(cls, weights, inputs, info["optimizer"] if steps else None)
            report.append(f"{name}: float32 torch vs float64 reference, max err by floor: " +
                          ", ".join(f"{fl:g}: {e[0]:.2e} ({e[1]})" for fl, e in stats.items()))
        print(f"{name:18s} seed {seed} batch {batch}: " + ", ".join(files), flush=True)
    # re-read everything just written and compare bit for bit
    for path, (tensors, meta) in written.items():
        got, gmeta = st_read(path)
        assert gmeta == meta, path
        assert sorted(got) == sorted(tensors), path
        for k, v in tensors.items():
            v = np.asarray(v)
            assert got[k].dtype == v.dtype and got[k].shape == v.shape, (path, k)
            assert got[k].tobytes() == v.tobytes(), (path, k)
    print(f"self-check: re-read {len(written)} files OK")
    for ln in report:
        print(ln)


def check_committed():
    """Recompute everything in memory and compare with the committed files (no writing)."""
    import tempfile
    global DATA_DIR
    saved = DATA_DIR
    with tempfile.TemporaryDirectory() as tmp:
        DATA_DIR = tmp
        generate()
        DATA_DIR = saved
        bad = []
        for fn in sorted(os.listdir(tmp)):
            a = open(os.path.join(tmp, fn), "rb").read()
            try:
                b = open(os.path.join(saved, fn), "rb").read()
            except FileNotFoundError:
                b = None
            if a != b:
                bad.append(fn)
        extra = sorted(set(os.listdir(saved)) - set(os.listdir(tmp)))
        if bad or extra:
            print("MISMATCH:", bad, "unexpected:", extra)
            sys.exit(1)
        print("committed files are reproduced bit for bit")


if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        check_committed()
    else:
        generate([a for a in sys.argv[1:] if not a.startswith("-")] or None)
