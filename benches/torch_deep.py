#!/usr/bin/env python3
"""PyTorch's side of `cargo bench --bench deep`: training speed on the CPU.

The bench times ser's burn training of its deep models; this script trains
the same architectures (stages/deep/src/net.rs) in PyTorch with the same
batch size, thread count, optimiser and loss, on random data, so the two
throughputs (samples/s) can be put side by side.

    python3 benches/torch_deep.py --model cnn2d --threads 2
    python3 benches/torch_deep.py --model lstm --threads 1 --json
    python3 benches/torch_deep.py --model gru
    python3 benches/torch_deep.py --model mlp --frames 1 --dims 1290 --examples 4096
    python3 benches/torch_deep.py --model lstm --ser-structure   # built as ser builds it, for information

Needs torch (CPU build is enough): `bash scripts/bench-deps.sh`.

Training matches ser's loop: shuffled mini-batches, AdamW (lr 1e-3, weight
decay 1e-2), cross-entropy, gradient-norm clipping at 5.0, model.train() so
dropout and batch-norm statistics are live. One warm-up batch runs before the
clock starts, so one-off costs (allocator, kernel selection) are not timed.
"""

import argparse
import json
import time

import torch
from torch import nn

DROPOUT = 0.3
HIDDEN = 128


def head(d_in: int, classes: int) -> nn.Sequential:
    """ser's Head: hidden ReLU layer with dropout, then the classes."""
    hidden = nn.Linear(d_in, HIDDEN)
    # ser initialises the ReLU-fed hidden layer with He (Kaiming) normal.
    nn.init.kaiming_normal_(hidden.weight, nonlinearity="relu")
    return nn.Sequential(hidden, nn.ReLU(), nn.Dropout(DROPOUT), nn.Linear(HIDDEN, classes))


class Cnn2d(nn.Module):
    """ser's Cnn2d: three 3x3 conv blocks (32, 64, 128 channels) on the
    (time x bins) map, mean over bins then over time, dense head."""

    def __init__(self, classes: int):
        super().__init__()
        blocks, c_in = [], 1
        for c_out in (32, 64, 128):
            conv = nn.Conv2d(c_in, c_out, 3, padding="same", bias=True)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            # Same as ser's ConvBlock2d: conv, BN, ReLU, pool (no dropout
            # inside the stack since 2026-12-04; the head has it).
            blocks += [conv, nn.BatchNorm2d(c_out, eps=1e-5, momentum=0.1), nn.ReLU(),
                       nn.MaxPool2d(2, 2)]
            c_in = c_out
        self.convs = nn.Sequential(*blocks)
        self.head = head(c_in, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h = self.convs(x.reshape(b, 1, t, d))  # (B, 128, T', D')
        # All sequences are full length here, so ser's masked mean over time
        # is a plain mean.
        return self.head(h.mean(dim=3).mean(dim=2))


class BiRnn(nn.Module):
    """ser's Rnn (LSTM or GRU, 2 layers, bidirectional, hidden 128), built
    the way ser builds it: per layer, two separate unidirectional cells, the
    backward one reading the time-reversed input, its output reversed back
    and concatenated with the forward one; dropout between layers."""

    def __init__(self, dims: int, classes: int, cell=nn.LSTM, layers: int = 2):
        super().__init__()
        self.fwd = nn.ModuleList()
        self.bwd = nn.ModuleList()
        for layer in range(layers):
            d_in = dims if layer == 0 else 2 * HIDDEN
            self.fwd.append(cell(d_in, HIDDEN, batch_first=True))
            self.bwd.append(cell(d_in, HIDDEN, batch_first=True))
        self.dropout = nn.Dropout(DROPOUT)
        self.head = head(2 * HIDDEN, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer, (fwd, bwd) in enumerate(zip(self.fwd, self.bwd)):
            # Full-length sequences: ser's reverse_within is a plain flip.
            back = bwd(torch.flip(x, dims=[1]))[0]
            x = torch.cat([fwd(x)[0], torch.flip(back, dims=[1])], dim=2)
            if layer + 1 < len(self.fwd):
                x = self.dropout(x)
        return self.head(x.mean(dim=1))


class BuiltinBiRnn(nn.Module):
    """The same network as PyTorch users write it: one nn.LSTM (or nn.GRU)
    with num_layers=2, bidirectional=True and dropout between layers, on
    PyTorch's fused kernels. The default for the comparison."""

    def __init__(self, dims: int, classes: int, cell=nn.LSTM):
        super().__init__()
        self.rnn = cell(dims, HIDDEN, num_layers=2, bidirectional=True,
                        dropout=DROPOUT, batch_first=True)
        self.head = head(2 * HIDDEN, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0].mean(dim=1))


class Mlp(nn.Module):
    """ser's Mlp as pipeline.yaml's `mlp` sets it: two ReLU layers of 256
    (He-initialised), dropout 0.5 after each, then the classes."""

    def __init__(self, dims: int, classes: int, hidden: int = 256, layers: int = 2,
                 dropout: float = 0.5):
        super().__init__()
        blocks, d = [], dims
        for _ in range(layers):
            linear = nn.Linear(d, hidden)
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            blocks += [linear, nn.ReLU(), nn.Dropout(dropout)]
            d = hidden
        self.body = nn.Sequential(*blocks, nn.Linear(d, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.reshape(x.shape[0], -1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["cnn2d", "lstm", "gru", "mlp"], default="cnn2d")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--dims", type=int, default=64)
    ap.add_argument("--classes", type=int, default=8)
    ap.add_argument("--examples", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ser-structure", action="store_true",
                    help="lstm/gru: build the network as ser does (two unidirectional modules per "
                         "layer, flips) instead of one bidirectional module; for information")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    args = ap.parse_args()
    if args.ser_structure and args.model in ("cnn2d", "mlp"):
        ap.error("--ser-structure applies to --model lstm and gru")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    x = torch.randn(args.examples, args.frames, args.dims)
    y = torch.randint(0, args.classes, (args.examples,))
    cell = nn.GRU if args.model == "gru" else nn.LSTM
    if args.model == "cnn2d":
        model = Cnn2d(args.classes)
    elif args.model == "mlp":
        model = Mlp(args.frames * args.dims, args.classes)
    elif args.ser_structure:
        model = BiRnn(args.dims, args.classes, cell)
    else:
        model = BuiltinBiRnn(args.dims, args.classes, cell)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    loss_fn = nn.CrossEntropyLoss()

    def step(idx: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x[idx]), y[idx]).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    step(torch.arange(min(args.batch, args.examples)))  # warm-up, untimed

    start = time.perf_counter()
    for _ in range(args.epochs):
        order = torch.randperm(args.examples)
        for i in range(0, args.examples, args.batch):
            step(order[i:i + args.batch])
    seconds = time.perf_counter() - start

    samples_per_s = args.examples * args.epochs / seconds
    name = args.model + (" (ser's structure)" if args.ser_structure else "")
    if args.json:
        record = {
            "model": args.model, "batch": args.batch, "frames": args.frames,
            "dims": args.dims, "threads": args.threads, "examples": args.examples,
            "epochs": args.epochs, "seconds": seconds, "samples_per_s": samples_per_s,
        }
        # Which network PyTorch ran, so a record is never mistaken for the other.
        record["structure"] = "ser" if args.ser_structure else "builtin_bidirectional"
        record["torch_threads"] = torch.get_num_threads()
        print(json.dumps(record))
    else:
        print(f"torch {torch.__version__} {name}: {args.examples} x {args.epochs} epochs, "
              f"batch {args.batch}, {args.frames} x {args.dims}, {args.threads} threads: "
              f"{seconds:.2f} s, {samples_per_s:.1f} samples/s")


if __name__ == "__main__":
    main()
