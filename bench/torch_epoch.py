"""One epoch of PyTorch training on Fashion-MNIST (the counterpart of a Sinter-built trainer's
`train --epochs 1`), then one pass over the test set as the Sinter trainer does after each epoch.
    /usr/bin/python3 bench/torch_epoch.py mlp|lenet [--threads 1] [--data DIR]
Prints `torch MODEL threads=T train_s=X test_s=Y images_per_s=Z rss_mb=M loss=L acc=A` for
bench/epoch.sh: train_s is the epoch loop alone (batch gather included), test_s the test pass."""
import argparse
import gzip
import os
import resource
import time

from torch_models import build, torch, train_step  # first: exits clearly where torch is missing

import numpy as np

BATCH = 64


def load_idx(path, header_bytes):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header_bytes)


def load(data, split):
    """Images as float32 [N, 1, 28, 28] normalized to [-1, 1], labels as int64 [N]."""
    images = load_idx(os.path.join(data, f"{split}-images-idx3-ubyte.gz"), 16).reshape(-1, 1, 28, 28)
    labels = load_idx(os.path.join(data, f"{split}-labels-idx1-ubyte.gz"), 8)
    x = torch.from_numpy(images.astype(np.float32))
    x.div_(255).sub_(0.5).div_(0.5)  # in place: a copy per operation would double the peak RSS
    return x, torch.from_numpy(labels.astype(np.int64))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", choices=["mlp", "lenet"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    # Preloaded up front, outside the timing: the Sinter trainer also reads its data before the epoch.
    train_x, train_y = load(a.data, "train")
    test_x, test_y = load(a.data, "t10k")
    net, optimizer = build(a.model)
    order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(0))

    net.train()
    loss_sum = 0.0
    start = time.perf_counter()
    for first in range(0, len(order), BATCH):
        idx = order[first:first + BATCH]  # the gather is part of a step, as in any data loader
        loss = train_step(net, optimizer, train_x[idx], train_y[idx])
        loss_sum += loss.item() * len(idx)
    train_s = time.perf_counter() - start

    net.eval()
    correct = 0
    start = time.perf_counter()
    with torch.no_grad():
        for first in range(0, len(test_x), BATCH):
            correct += (net(test_x[first:first + BATCH]).argmax(1) == test_y[first:first + BATCH]).sum().item()
    test_s = time.perf_counter() - start

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {a.model} threads={a.threads} train_s={train_s:.3f} test_s={test_s:.3f} "
          f"images_per_s={len(order) / train_s:.0f} rss_mb={rss_mb:.0f} "
          f"loss={loss_sum / len(order):.4f} acc={100 * correct / len(test_x):.2f}")


if __name__ == "__main__":
    main()
