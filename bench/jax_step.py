"""Times one JAX (jax.jit, XLA on the CPU) training step of an example model on random data, the
counterpart of step_bench and torch_step.py: the same layers, optimizer and batch. Prints
`jax VERSION MODEL threads=T batch=B us_per_step=X rss_mb=M` for bench/step.sh.
    VENV/bin/python bench/jax_step.py mlp|lenet|cifar_cnn [--threads 1] [--batch 64] [--seconds 2]
The process is pinned to `--threads` cores before JAX starts (XLA sizes its pools from them)."""
import argparse
import os
import sys
import time

from step_timing import time_and_report


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", choices=["cifar_cnn", "lenet", "mlp"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seconds", type=float, default=2.0)
    a = p.parse_args()
    os.sched_setaffinity(0, set(range(a.threads)))
    if a.threads == 1:
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    try:
        import jax
        import jax.numpy as jnp
        from jax import lax
    except ImportError as e:
        sys.exit(f"error: {sys.executable} cannot import jax ({e}); install jax in a virtual environment")

    keys = iter(jax.random.split(jax.random.PRNGKey(0), 64))

    def dense(i, o):  # PyTorch's default: uniform(+-1/sqrt(fan_in)) for weight and bias
        bound = 1 / i ** 0.5
        return {"w": jax.random.uniform(next(keys), (o, i), minval=-bound, maxval=bound),
                "b": jax.random.uniform(next(keys), (o,), minval=-bound, maxval=bound)}

    def conv(cin, cout, k, bias=True):
        bound = 1 / (cin * k * k) ** 0.5
        layer = {"w": jax.random.uniform(next(keys), (cout, cin, k, k), minval=-bound, maxval=bound)}
        if bias:
            layer["b"] = jax.random.uniform(next(keys), (cout,), minval=-bound, maxval=bound)
        return layer

    def conv2d(x, layer, pad):
        y = lax.conv_general_dilated(x, layer["w"], (1, 1), [(pad, pad), (pad, pad)], dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + layer["b"][None, :, None, None] if "b" in layer else y

    def maxpool(x):
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def linear(x, layer):
        return x @ layer["w"].T + layer["b"]

    relu = jax.nn.relu
    if a.model == "mlp":
        params = {"fc1": dense(784, 128), "fc2": dense(128, 64), "fc3": dense(64, 10)}

        def forward(params, x, key):
            h = relu(linear(x.reshape(x.shape[0], -1), params["fc1"]))
            return linear(relu(linear(h, params["fc2"])), params["fc3"])
    elif a.model == "lenet":
        params = {"c1": conv(1, 6, 5), "c2": conv(6, 16, 5), "fc1": dense(400, 120), "fc2": dense(120, 84), "fc3": dense(84, 10)}

        def forward(params, x, key):
            h = maxpool(relu(conv2d(x, params["c1"], 2)))
            h = maxpool(relu(conv2d(h, params["c2"], 0))).reshape(x.shape[0], -1)
            return linear(relu(linear(relu(linear(h, params["fc1"])), params["fc2"])), params["fc3"])
    else:
        widths = [(3, 32), (32, 32), (32, 64), (64, 64), (64, 128), (128, 128)]
        params = {f"c{i}": conv(cin, cout, 3, bias=False) for i, (cin, cout) in enumerate(widths)}
        params.update({f"bn{i}": {"g": jnp.ones(cout), "b": jnp.zeros(cout)} for i, (_, cout) in enumerate(widths)})
        params.update({"fc1": dense(128 * 4 * 4, 256), "fc2": dense(256, 10)})

        def batchnorm(x, layer):  # training mode: the batch's statistics
            mean = x.mean((0, 2, 3), keepdims=True)
            var = ((x - mean) ** 2).mean((0, 2, 3), keepdims=True)
            return (x - mean) * lax.rsqrt(var + 1e-5) * layer["g"][None, :, None, None] + layer["b"][None, :, None, None]

        def dropout(x, p, key):
            return jnp.where(jax.random.bernoulli(key, 1 - p, x.shape), x / (1 - p), 0)

        def forward(params, x, key):
            h = x
            for i in range(6):
                h = relu(batchnorm(conv2d(h, params[f"c{i}"], 1), params[f"bn{i}"]))
                if i % 2 == 1:
                    h = maxpool(h)
            k1, k2 = jax.random.split(key)
            h = relu(linear(dropout(h.reshape(x.shape[0], -1), 0.25, k1), params["fc1"]))
            return linear(dropout(h, 0.5, k2), params["fc2"])

    def loss_fn(params, x, y, key):
        logp = jax.nn.log_softmax(forward(params, x, key))
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    # The optimizers of the train blocks, as torch.optim computes them.
    if a.model == "mlp":  # Adam, lr 0.001
        state = {"m": zeros, "v": zeros, "t": jnp.zeros(())}

        def update(params, g, s):
            t = s["t"] + 1
            m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, s["m"], g)
            v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, s["v"], g)
            step = lambda p, m, v: p - 0.001 * (m / (1 - 0.9 ** t)) / (jnp.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
            return jax.tree_util.tree_map(step, params, m, v), {"m": m, "v": v, "t": t}
    else:  # SGD with momentum 0.9 (lenet: lr 0.01; cifar_cnn: lr 0.05, nesterov, weight decay 5e-4)
        lr, wd, nesterov = (0.01, 0.0, False) if a.model == "lenet" else (0.05, 5e-4, True)
        state = zeros

        def update(params, g, buf):
            g = jax.tree_util.tree_map(lambda g, p: g + wd * p, g, params)
            buf = jax.tree_util.tree_map(lambda b, g: 0.9 * b + g, buf, g)
            d = jax.tree_util.tree_map(lambda g, b: g + 0.9 * b, g, buf) if nesterov else buf
            return jax.tree_util.tree_map(lambda p, d: p - lr * d, params, d), buf

    @jax.jit
    def train_step(params, state, x, y, key):
        loss, g = jax.value_and_grad(loss_fn)(params, x, y, key)
        params, state = update(params, g, state)
        return params, state, loss

    shape = (3, 32, 32) if a.model == "cifar_cnn" else (1, 28, 28)
    x = jax.random.uniform(next(keys), (a.batch, *shape), minval=-1, maxval=1)
    y = jax.random.randint(next(keys), (a.batch,), 0, 10)
    key = next(keys)

    def run(n):
        nonlocal params, state
        start = time.perf_counter()
        for _ in range(n):
            params, state, loss = train_step(params, state, x, y, key)
        loss.block_until_ready()
        return time.perf_counter() - start

    run(1)  # compile
    time_and_report(run, a.seconds, 5, f"jax {jax.__version__}", a.model, a.threads, a.batch)


if __name__ == "__main__":
    main()
