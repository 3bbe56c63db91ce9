"""The example models (examples/mlp.nn, examples/lenet.nn, examples/cifar_cnn.nn) and their
train-block optimizers in PyTorch, for the benchmarks that compare Sinter with PyTorch
(torch_step.py, torch_epoch.py)."""
import sys

try:
    import torch
    from torch import nn
except ImportError as e:
    sys.exit(f"error: {sys.executable} cannot import torch ({e}); install Debian's python3-torch "
             "and libopenblas0-openmp")


def build(model):
    """Returns (network, optimizer) exactly as the .nn file defines them (layers, PyTorch's default
    initializers, the optimizer of its train block)."""
    if model == "mlp":
        # fc1 = relu(dense(flatten(image), 128)); fc2 = relu(dense(fc1, 64)); fc3 = dense(fc2, 10)
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                            nn.Linear(64, 10))
        return net, torch.optim.Adam(net.parameters(), lr=0.001)
    if model == "lenet":
        # conv 5x5 pad 2 -> relu -> maxpool 2, conv 5x5 -> relu -> maxpool 2, flatten, 120, 84, 10
        net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
        return net, torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    if model == "cifar_cnn":
        # three blocks of two 3x3 convs (no bias) + batchnorm + relu, each block ending in a 2x2 max
        # pool, then dropout 0.25, dense 256 + relu, dropout 0.5, dense 10
        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                    nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                    nn.MaxPool2d(2)]
        net = nn.Sequential(*block(3, 32), *block(32, 64), *block(64, 128), nn.Flatten(), nn.Dropout(0.25),
                            nn.Linear(128 * 4 * 4, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10))
        return net, torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sys.exit(f"error: unknown model '{model}' (expected mlp, lenet or cifar_cnn)")


# The input image shape of each model, [C, H, W].
IMAGE_SHAPES = {"mlp": (1, 28, 28), "lenet": (1, 28, 28), "cifar_cnn": (3, 32, 32)}


def train_step(net, optimizer, x, y):
    """One training step as the Sinter plan's train_step does it: forward, mean cross-entropy,
    backward, optimizer update. Returns the loss tensor."""
    optimizer.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(net(x), y)
    loss.backward()
    optimizer.step()
    return loss
