# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The CIFAR-10-style CNN of the manual guide and a synthetic CIFAR-shaped data set.

Nothing is downloaded: every site makes its own images (3x32x32, 10 classes) from a seed derived
from its site name, so a site always trains on the same data and two sites on different data. All
sites share the ten class prototypes (one fixed seed), so they learn one task and FedAvg helps.
"""

import zlib

import torch
from torch import nn
from torch.nn import functional as F

NUM_CLASSES = 10
IMAGE_SHAPE = (3, 32, 32)
PROTOTYPE_SEED = 2017
PROTOTYPE_GRID = 8  # prototypes are smooth: random 8x8 colour patterns scaled up to 32x32
SIGNAL = 0.5  # prototype amplitude against unit Gaussian pixel noise: learnable, not solved in one round


class CifarNet(nn.Module):
    """The classic two-convolution CIFAR-10 network (about 62k parameters, fits a Jetson Nano)."""

    def __init__(self, seed=0):
        super().__init__()
        # the same initial weights on every run (the server builds the initial global model from this
        # class), without touching the caller's random state
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, NUM_CLASSES)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def site_seed(site_name, split):
    """A seed that depends only on the site name and the split (stable across runs and hosts)."""
    return zlib.crc32(("%s/%s" % (site_name, split)).encode("utf-8"))


def synthetic_cifar(site_name, split, size):
    """(images, labels) for one site: class prototype * SIGNAL + N(0, 1) noise, deterministic."""
    coarse = torch.randn(
        (NUM_CLASSES, IMAGE_SHAPE[0], PROTOTYPE_GRID, PROTOTYPE_GRID), generator=torch.Generator().manual_seed(PROTOTYPE_SEED)
    )
    prototypes = F.interpolate(coarse, size=IMAGE_SHAPE[1:], mode="bilinear", align_corners=False)
    gen = torch.Generator().manual_seed(site_seed(site_name, split))
    labels = torch.randint(0, NUM_CLASSES, (size,), generator=gen)
    images = prototypes[labels] * SIGNAL + torch.randn((size,) + IMAGE_SHAPE, generator=gen)
    return images, labels
