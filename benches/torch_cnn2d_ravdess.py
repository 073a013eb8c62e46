"""The issue-27 PyTorch reference for cnn2d at its own budget, on ser's log-mel frames: three
blocks of conv 3x3 + batch norm + ReLU + max-pool 2 (16/32/64 channels), global average pooling,
dropout 0.3, linear; 300 x 64 log-mel frames centre-cropped and padded after the utterance with
its minimum; one mean and standard deviation over the training fold; AdamW (lr 1e-3, weight decay
1e-4), cosine schedule over the epochs, batch 32, 25 epochs, no augmentation, no early stopping;
emobox_6fold. Prints each fold's UA and WA, and their means over the folds (as `ser metrics`).

    python3 benches/torch_cnn2d_ravdess.py [--pipeline pipeline.yaml]
        [--cache-dir .ser] [--seed N] [--epochs 25] [--threads 2]

Run from the project root after a `ser run` that extracted `logmel` with frames (pipeline.yaml
does). Both sides read the same frames, so what differs is the network and its training, which is
what docs/performance.md's "cnn2d accuracy at PyTorch's budget" compares with ser's
`torch_like_25` models (benches/cnn2d_variants.yaml). Needs torch, numpy and pyarrow
(scripts/bench-deps.sh installs them).
"""
import argparse
import json
import os
import subprocess
import time

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn as nn

FRAMES, BANDS = 300, 64


def load(pipeline, cache_dir):
    listing = subprocess.run(["target/release/ser", "outputs", "extract:logmel", "-p", pipeline,
                              "--cache-dir", cache_dir],
                             capture_output=True, text=True, check=True).stdout
    path = [line.split("\t")[2] for line in listing.splitlines()
            if line.split("\t")[1] == "frames"][0]
    table = pq.read_table(path).to_pydict()
    objects = os.path.join(cache_dir, "objects")
    inputs = []
    for name in table["tensor"]:
        x = np.load(os.path.join(objects, name[:2], name))
        if len(x) > FRAMES:  # the middle 300 frames
            start = (len(x) - FRAMES) // 2
            x = x[start:start + FRAMES]
        elif len(x) < FRAMES:  # the utterance's minimum after it
            x = np.concatenate([x, np.full((FRAMES - len(x), BANDS), x.min(), np.float32)])
        inputs.append(x)
    return (np.stack(inputs), np.array([int(s) for s in table["speaker"]]),
            np.array(table["label"]))


class Net(nn.Module):
    def __init__(self, classes):
        super().__init__()
        layers, cin = [], 1
        for c in (16, 32, 64):
            layers += [nn.Conv2d(cin, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                       nn.MaxPool2d(2)]
            cin = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(cin, classes))

    def forward(self, x):
        return self.head(self.features(x[:, None]).mean((2, 3)))


def ua_wa(truth, predicted, classes):
    recalls = [(predicted[truth == c] == c).mean() for c in range(classes) if (truth == c).any()]
    return float(np.mean(recalls)), float((predicted == truth).mean())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipeline", default="pipeline.yaml")
    parser.add_argument("--cache-dir", default=".ser")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, speakers, labels = load(args.pipeline, args.cache_dir)
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    folds = json.load(open("../shared/protocols/ravdess.json"))["emobox_6fold"]["test_actors"]
    started, uas, was = time.time(), [], []
    for f, test_actors in enumerate(folds):
        torch.manual_seed(args.seed * 100 + f)
        rng = np.random.default_rng(args.seed * 100 + f)
        test = np.isin(speakers, test_actors)
        mean, std = x[~test].mean(), x[~test].std()
        train_x = torch.from_numpy((x[~test] - mean) / std)
        train_y = torch.from_numpy(y[~test])
        net = Net(len(classes))
        optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=args.epochs)
        loss = nn.CrossEntropyLoss()
        for _ in range(args.epochs):
            net.train()
            order = rng.permutation(len(train_y))
            for start in range(0, len(order), 32):
                batch = torch.from_numpy(order[start:start + 32])
                optimiser.zero_grad()
                loss(net(train_x[batch]), train_y[batch]).backward()
                optimiser.step()
            schedule.step()
        net.eval()
        with torch.no_grad():
            test_x = torch.from_numpy((x[test] - mean) / std)
            predicted = torch.cat([net(test_x[i:i + 64]).argmax(1)
                                   for i in range(0, len(test_x), 64)]).numpy()
        ua, wa = ua_wa(y[test], predicted, len(classes))
        uas.append(ua)
        was.append(wa)
        print(f"fold{f + 1} (actors {test_actors}): UA {ua:.4f} WA {wa:.4f} "
              f"({time.time() - started:.0f} s)", flush=True)
    print(f"seed {args.seed}: UA {np.mean(uas):.4f} WA {np.mean(was):.4f} (fold means), "
          f"{time.time() - started:.0f} s on {args.threads} threads")


if __name__ == "__main__":
    main()
