# PyTorch -> Sinter: trains the DESIGN LeNet in PyTorch for 300 steps (SGD lr 0.01, momentum 0.9,
# batch 64, the trainer's [-1, 1] normalization) on DATA_DIR's training images, writes its
# state_dict as safetensors (the ten tensors under PyTorch's names, nothing else), and prints its
# test accuracy; torch_load.sh then evaluates that file with the Sinter-built LeNet.
# usage: torch_train.py DATA_DIR OUT.safetensors
import os, sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import gen  # noqa: E402
from torch_load import read_idx  # noqa: E402


def images(path):
    return read_idx(path).float().div(255).sub(0.5).div(0.5).unsqueeze(1)


def main():
    data, out = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = gen.LeNet()
    x, y = images(f"{data}/train-images-idx3-ubyte.gz"), read_idx(f"{data}/train-labels-idx1-ubyte.gz").long()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    order = torch.randperm(len(y))
    for step in range(300):
        idx = order[(step * 64) % len(y):][:64]
        opt.zero_grad()
        _, loss = model({"image": x[idx], "label": y[idx]})
        loss.backward()
        opt.step()
    tx, ty = images(f"{data}/t10k-images-idx3-ubyte.gz"), read_idx(f"{data}/t10k-labels-idx1-ubyte.gz").long()
    model.eval()
    with torch.no_grad():
        outputs, _ = model({"image": tx, "label": ty})
        acc = 100.0 * (outputs["probs"].argmax(1) == ty).float().mean().item()
    gen.st_write(out, {k: v.detach().numpy() for k, v in model.state_dict().items()}, {})
    print(f"{acc:.2f}")


main()
