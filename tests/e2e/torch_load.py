# A Sinter checkpoint in PyTorch: the parameters load into the equivalent nn.Module with
# load_state_dict(strict=True) and give the test accuracy Sinter printed.
# usage: torch_load.py lenet|mlp CHECKPOINT DATA_DIR SINTER_ACCURACY_PERCENT
import gzip, os, struct, sys

import torch

# The PyTorch twins of the examples, with the examples' parameter names (tests/reference/gen.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import gen  # noqa: E402


def read_idx(path):
    with gzip.open(path, "rb") as f:
        blob = f.read()
    ndim = blob[3]
    dims = struct.unpack(">" + "I" * ndim, blob[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(blob[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def main():
    kind, ckpt, data, sinter_acc = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    model = {"lenet": gen.LeNet, "mlp": gen.MLP}[kind]()
    tensors, _ = gen.st_read(ckpt)  # validates the file's layout strictly
    state = {k: torch.from_numpy(v) for k, v in tensors.items() if k in model.state_dict()}
    model.load_state_dict(state, strict=True)  # raises on a missing or misshapen parameter
    images = read_idx(f"{data}/t10k-images-idx3-ubyte.gz").float().div(255).sub(0.5).div(0.5).unsqueeze(1)
    labels = read_idx(f"{data}/t10k-labels-idx1-ubyte.gz").long()
    model.eval()
    with torch.no_grad():
        outputs, _ = model({"image": images, "label": labels})
        acc = 100.0 * (outputs["probs"].argmax(1) == labels).float().mean().item()
    # float32 sums in a different order can flip a near-tie: allow 2 images in 2000 (0.1 point).
    print(f"PyTorch test acc {acc:.2f}% (Sinter {sinter_acc:.2f}%), {len(state)} tensors loaded")
    sys.exit(0 if abs(acc - sinter_acc) <= 0.1 + 1e-9 else 1)


if __name__ == "__main__":
    main()
