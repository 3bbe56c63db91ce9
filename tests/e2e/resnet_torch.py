#!/usr/bin/python3
"""examples/resnet20.nn against ResNet-20 written by hand in PyTorch (He et al. 2016, option A).

Draws weights (batch-norm statistics included) and a batch, writes them as safetensors under
Sinter's names, and compares `sinter run` with PyTorch in float64:
  - training mode (`--grads`): the loss, `probs` and the gradient of every parameter;
  - eval mode: `probs` and the loss with the running statistics;
on the reference evaluator (f64: agreement to 1e-9 relative, only summation order differs) and on
the cpu and dnnl targets (f32: 2e-4 of each tensor's largest magnitude, for float32 rounding
through 20 layers; measured 3e-6 on cpu).
Exits 77 (ctest: skipped) without torch, unless SINTER_REQUIRE_TORCH is set, as torch_load.sh does.
usage: resnet_torch.py SINTER WORK_DIR
"""
import os
import subprocess
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError:
    print("/usr/bin/python3 has no torch (Debian: apt-get install python3-torch, or bash .ci/deps.sh --tests)")
    sys.exit(1 if os.environ.get("SINTER_REQUIRE_TORCH") else 77)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from gen import st_read, st_write  # noqa: E402
from torch_models import ResNet20  # noqa: E402  (the benchmarks' twin of examples/resnet20.nn)

torch.set_num_threads(1)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)}\n{r.stdout}{r.stderr}")


def main():
    sinter, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(20)
    model = ResNet20().double()
    weights = {}
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var") or (name.endswith(".weight") and t.dim() == 1):
                v = rng.uniform(0.5, 1.5, t.shape)        # variances and BN scales near 1
            elif t.dim() == 4:
                v = rng.normal(0, np.sqrt(2.0 / np.prod(t.shape[1:])), t.shape)  # He init
            else:
                v = rng.normal(0, 0.1, t.shape)
            v = v.astype(np.float32)
            weights[name] = v
            t.copy_(torch.from_numpy(v.astype(np.float64)))
    batch = 6
    image = rng.normal(0, 1, (batch, 3, 32, 32)).astype(np.float32)
    label = rng.integers(0, 10, batch).astype(np.int32)
    wpath, ipath = os.path.join(work, "r20.weights.safetensors"), os.path.join(work, "r20.inputs.safetensors")
    st_write(wpath, weights, {})
    st_write(ipath, {"image": image, "label": label}, {})

    x = torch.from_numpy(image.astype(np.float64))
    y = torch.from_numpy(label.astype(np.int64))
    # Eval first: a training-mode pass moves the running statistics.
    model.eval()
    with torch.no_grad():
        logits = model(x)
        want_eval = {"loss": F.cross_entropy(logits, y).numpy(), "probs": F.softmax(logits, -1).numpy()}
    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    want_train = {"loss": loss.detach().numpy(), "probs": F.softmax(logits, -1).detach().numpy()}
    for name, p in model.named_parameters():
        want_train[name + ".grad"] = p.grad.numpy()

    model_path = os.path.join(ROOT, "examples", "resnet20.nn")
    failures = 0
    for target, rtol in (("ref", 1e-9), ("cpu", 2e-4), ("dnnl", 2e-4)):
        for mode, want in (("train", want_train), ("eval", want_eval)):
            out = os.path.join(work, f"r20.{target}.{mode}.safetensors")
            cmd = [sinter, "run", model_path, "--weights", wpath, "--inputs", ipath, "-o", out, "--target", target]
            run(cmd + (["--grads"] if mode == "train" else []))
            got, _ = st_read(out)
            worst = 0.0
            for name, w in want.items():
                if name not in got:
                    print(f"FAIL {target} {mode}: '{name}' missing from sinter's output")
                    failures += 1
                    continue
                scale = max(float(np.max(np.abs(w))), 1e-30)
                err = float(np.max(np.abs(got[name].astype(np.float64) - w))) / scale
                worst = max(worst, err)
                if not err <= rtol:
                    print(f"FAIL {target} {mode}: {name}: max error {err:.3g} of its largest magnitude > {rtol:g}")
                    failures += 1
            print(f"{target:4} {mode:5}: {len(want)} tensors, worst error {worst:.3g} of the largest magnitude (bound {rtol:g})")
    if failures:
        sys.exit(1)
    print("resnet20.nn agrees with PyTorch's ResNet-20")


if __name__ == "__main__":
    main()
