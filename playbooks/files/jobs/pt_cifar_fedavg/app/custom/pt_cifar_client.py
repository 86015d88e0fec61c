# Copyright (c) edgefl.nvflare contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Client side of the pt_cifar_fedavg job (NVFLARE Client API).

Each round: receive the global model, evaluate it on the site's held-out data, train locally
(CUDA when torch sees a GPU, CPU otherwise) and send the weights back with the metrics. One line
per round, "pt_cifar site=... round=... device=... loss_before=... loss_after=... accuracy=...",
lands in the site's job log so the loss can be followed on every host.
"""

import argparse

import torch
from pt_cifar_net import CifarNet, site_seed, synthetic_cifar
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nvflare.client as flare


def evaluate(model, loader, device, loss_fn):
    model.eval()
    total = correct = 0
    loss_sum = 0.0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            outputs = model(images)
            loss_sum += loss_fn(outputs, labels).item() * labels.size(0)
            correct += (outputs.argmax(1) == labels).sum().item()
            total += labels.size(0)
    return loss_sum / total, 100.0 * correct / total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-size", type=int, default=512)
    parser.add_argument("--eval-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.01)
    args = parser.parse_args()

    flare.init()
    site = flare.get_site_name()
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)

    train_set = TensorDataset(*synthetic_cifar(site, "train", args.train_size))
    eval_set = TensorDataset(*synthetic_cifar(site, "eval", args.eval_size))
    train_loader = DataLoader(
        train_set, batch_size=args.batch_size, shuffle=True, generator=torch.Generator().manual_seed(site_seed(site, "shuffle"))
    )
    eval_loader = DataLoader(eval_set, batch_size=args.batch_size)

    model = CifarNet().to(device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)

    while flare.is_running():
        input_model = flare.receive()
        model.load_state_dict(input_model.params)
        loss_before, accuracy = evaluate(model, eval_loader, device, loss_fn)

        model.train()
        for _epoch in range(args.epochs):
            for images, labels in train_loader:
                images, labels = images.to(device), labels.to(device)
                optimizer.zero_grad()
                loss = loss_fn(model(images), labels)
                loss.backward()
                optimizer.step()
        loss_after, accuracy_after = evaluate(model, eval_loader, device, loss_fn)
        print(
            "pt_cifar site=%s round=%s device=%s loss_before=%.4f loss_after=%.4f accuracy=%.1f accuracy_after=%.1f"
            % (site, input_model.current_round, device.type, loss_before, loss_after, accuracy, accuracy_after),
            flush=True,
        )

        flare.send(
            flare.FLModel(
                params={k: v.detach().cpu() for k, v in model.state_dict().items()},
                metrics={"accuracy": accuracy, "loss": loss_before},
                meta={"NUM_STEPS_CURRENT_ROUND": args.epochs * len(train_loader)},
            )
        )


if __name__ == "__main__":
    main()
