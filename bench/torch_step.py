"""Times one PyTorch training step of an example model on random data (the counterpart of
step_bench). Prints `torch[_compile] VERSION MODEL threads=T batch=B us_per_step=X rss_mb=M` for bench/step.sh.
    /usr/bin/python3 bench/torch_step.py mlp|lenet|cifar_cnn [--threads 1] [--batch 64] [--seconds 2] [--compile]
--compile (PyTorch 2.x) wraps the network in torch.compile; the warm-up absorbs the compilation."""
import argparse
import time

from torch_models import IMAGE_SHAPES, build, torch, train_step  # first: exits clearly where torch is missing
from step_timing import time_and_report  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", choices=sorted(IMAGE_SHAPES))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seconds", type=float, default=2.0, help="how long to time, after the warm-up")
    p.add_argument("--compile", action="store_true", help="torch.compile the network (PyTorch 2.x)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net, optimizer = build(a.model)
    if a.compile:
        net = torch.compile(net)
    # The same inputs as step_bench: images uniform in [-1, 1], labels in [0, 10), fixed across steps.
    x = torch.rand(a.batch, *IMAGE_SHAPES[a.model]) * 2 - 1
    y = torch.randint(0, 10, (a.batch,))

    def run(n):
        start = time.perf_counter()
        for _ in range(n):
            train_step(net, optimizer, x, y)
        return time.perf_counter() - start

    label = f"torch{'_compile' if a.compile else ''} {torch.__version__}"
    time_and_report(run, a.seconds, 10, label, a.model, a.threads, a.batch)


if __name__ == "__main__":
    main()
