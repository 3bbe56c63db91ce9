# A Sinter checkpoint in PyTorch: the parameters load into the equivalent nn.Module with
# load_state_dict(strict=True) and give the test accuracy Sinter printed.
# usage: torch_load.py lenet|mlp CHECKPOINT DATA_DIR SINTER_ACCURACY_PERCENT
import gzip, json, struct, sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    dtypes = {"F32": torch.float32, "I32": torch.int32, "I64": torch.int64, "F64": torch.float64}
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        lo, hi = t["data_offsets"]
        data = bytearray(blob[8 + n + lo:8 + n + hi])
        out[name] = torch.frombuffer(data, dtype=dtypes[t["dtype"]]).reshape(t["shape"]).clone()
    return out


def read_idx(path):
    with gzip.open(path, "rb") as f:
        blob = f.read()
    ndim = blob[3]
    dims = struct.unpack(">" + "I" * ndim, blob[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(blob[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


class LeNet(nn.Module):  # examples/lenet.nn
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc3(F.relu(self.fc2(x)))


class Mlp(nn.Module):  # examples/mlp.nn
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc3(F.relu(self.fc2(x)))


def main():
    kind, ckpt, data, sinter_acc = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    model = {"lenet": LeNet, "mlp": Mlp}[kind]()
    tensors = read_safetensors(ckpt)
    state = {k: v for k, v in tensors.items() if k in model.state_dict()}
    model.load_state_dict(state, strict=True)  # raises on a missing or misshapen parameter
    images = read_idx(f"{data}/t10k-images-idx3-ubyte.gz").float().div(255).sub(0.5).div(0.5).unsqueeze(1)
    labels = read_idx(f"{data}/t10k-labels-idx1-ubyte.gz").long()
    with torch.no_grad():
        acc = 100.0 * (model(images).argmax(1) == labels).float().mean().item()
    # float32 sums in a different order can flip a near-tie: allow 2 images in 2000 (0.1 point).
    print(f"PyTorch test acc {acc:.2f}% (Sinter {sinter_acc:.2f}%), {len(state)} tensors loaded")
    sys.exit(0 if abs(acc - sinter_acc) <= 0.1 + 1e-9 else 1)


main()
