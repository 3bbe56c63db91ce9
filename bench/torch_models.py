"""The example models (examples/mlp.nn, examples/lenet.nn, examples/cifar_cnn.nn, examples/resnet20.nn) and their
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
        # pool, then dense 256 + relu, dense 10
        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                    nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                    nn.MaxPool2d(2)]
        net = nn.Sequential(*block(3, 32), *block(32, 64), *block(64, 128), nn.Flatten(),
                            nn.Linear(128 * 4 * 4, 256), nn.ReLU(), nn.Linear(256, 10))
        return net, torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    if model == "resnet20":
        net = ResNet20()
        return net, torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    sys.exit(f"error: unknown model '{model}' (expected mlp, lenet, cifar_cnn or resnet20)")


# The input image shape of each model, [C, H, W].
IMAGE_SHAPES = {"mlp": (1, 28, 28), "lenet": (1, 28, 28), "cifar_cnn": (3, 32, 32), "resnet20": (3, 32, 32)}


class Basic(nn.Module):
    """examples/resnet20.nn's `basic` block, and its `down` block (stride 2, the shortcut subsampled
    and padded with zero channels: option A of He et al. 2016). Submodule names are the .nn's."""

    def __init__(self, cin, filters, down):
        super().__init__()
        self.down = down
        self.c1 = nn.Conv2d(cin, filters, 3, stride=2 if down else 1, padding=1, bias=False)
        self.n1 = nn.BatchNorm2d(filters)
        self.c2 = nn.Conv2d(filters, filters, 3, padding=1, bias=False)
        self.n2 = nn.BatchNorm2d(filters)

    def forward(self, x):
        y = self.n2(self.c2(nn.functional.relu(self.n1(self.c1(x)))))
        if self.down:
            sub = x[:, :, ::2, ::2]
            x = torch.cat([sub, torch.zeros_like(sub)], dim=1)
        return nn.functional.relu(y + x)


class Stage(nn.Module):
    def __init__(self, cin, filters):
        super().__init__()
        self.b1 = Basic(cin, filters, True)
        self.b2 = Basic(filters, filters, False)
        self.b3 = Basic(filters, filters, False)

    def forward(self, x):
        return self.b3(self.b2(self.b1(x)))


class ResNet20(nn.Module):
    """examples/resnet20.nn: state-dict names equal Sinter's parameter names (s2.b1.c1.weight)."""

    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.n0 = nn.BatchNorm2d(16)
        self.s1a = Basic(16, 16, False)
        self.s1b = Basic(16, 16, False)
        self.s1c = Basic(16, 16, False)
        self.s2 = Stage(16, 32)
        self.s3 = Stage(32, 64)
        self.fc = nn.Linear(64, 10)

    def forward(self, image):
        x = nn.functional.relu(self.n0(self.c0(image)))
        x = self.s3(self.s2(self.s1c(self.s1b(self.s1a(x)))))
        return self.fc(x.mean(dim=(2, 3)))


def train_step(net, optimizer, x, y):
    """One training step as the Sinter plan's train_step does it: forward, mean cross-entropy,
    backward, optimizer update. Returns the loss tensor."""
    optimizer.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(net(x), y)
    loss.backward()
    optimizer.step()
    return loss
