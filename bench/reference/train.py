"""The PyTorch script a user would write for the job segtune's trainer does
in bench/train_throughput: train a segmentation model on in-memory data with
SGD, evaluating mean IoU on the validation split after every epoch.

It trains on the data segtune_bench_train_throughput --dump-data wrote (the
same bytes the C++ trainer trains on), with the same model (models.py, the
twin of segtune's networks), normalization, optimizer, loss, batch size and
thread count, and measures what the C++ program measures, the same way:

  images_per_second  training images / seconds of the training phases
  epoch_seconds      training, evaluation and metrics
  model_seconds      zero_grad, forward, loss, loss.item() and backward in
                     training; forward and loss in evaluation
  optimizer_seconds  optimizer.step()
  data_wait_seconds  gathering each batch from the in-memory tensors
  checkpoint_seconds torch.save of the model's and optimizer's state after
                     each epoch (into memory: segtune's worker checkpoints
                     every epoch, and so would a user who wants to resume)
  outside_share      1 - model_seconds / epoch_seconds
  startup_seconds    from the trial function's start (data already on disk,
                     torch imported) to the first training batch

No DataLoader: the whole dataset sits in memory as normalized tensors, the
fastest plain approach at this size. Prints one JSON document.

--channels-last is not what the comparison runs: it stores the model's
weights and the images channels-last (PyTorch's channels_last tutorial),
as segtune's trainer does on the CPU, to show what that layout alone is
worth in Python.

  /usr/bin/python3 bench/reference/train.py --data DIR --arch unet --threads 1
"""
import argparse
import io
import json
import math
import os
import sys
import time

import numpy
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import make_model  # noqa: E402

# The C++ program's training.seed (model initialization and batch order).
TRAINING_SEED = 0


def load_split(data_dir, header, name, memory_format):
    """The split as normalized float images [N, 3, H, W] in memory_format and
    int64 masks [N, H, W]."""
    split = header["splits"][name]
    count, height, width = split["shape"]
    images = numpy.fromfile(os.path.join(data_dir, split["images"]), dtype=numpy.uint8)
    masks = numpy.fromfile(os.path.join(data_dir, split["masks"]), dtype=numpy.uint8)
    images = torch.from_numpy(images).view(count, height, width, 3)
    masks = torch.from_numpy(masks).view(count, height, width)
    mean = torch.tensor(header["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(header["std"]).view(1, 3, 1, 1)
    images = (images.permute(0, 3, 1, 2).float() / 255 - mean) / std
    images = images.contiguous(memory_format=memory_format)
    return images, masks.long()


def train_epoch(model, optimizer, images, masks, batch_size, ignore_index, generator, timing,
                on_first_batch):
    """One pass over the training split in a fresh random order; the mean loss."""
    model.train()
    order = torch.randperm(len(images), generator=generator)
    loss_sum = 0.0
    for first in range(0, len(images), batch_size):
        data_start = time.perf_counter()
        indices = order[first:first + batch_size]
        batch_images, batch_masks = images[indices], masks[indices]
        model_start = time.perf_counter()
        timing["data_wait_seconds"] += model_start - data_start
        on_first_batch()

        optimizer.zero_grad()
        loss = F.cross_entropy(model(batch_images), batch_masks, ignore_index=ignore_index)
        loss_value = loss.item()
        loss.backward()
        step_start = time.perf_counter()
        optimizer.step()
        timing["model_seconds"] += step_start - model_start
        timing["optimizer_seconds"] += time.perf_counter() - step_start

        if not math.isfinite(loss_value):
            raise RuntimeError(f"train_loss is {loss_value}")
        loss_sum += loss_value * len(indices)
    return loss_sum / len(images)


def evaluate(model, images, masks, batch_size, num_classes, ignore_index, timing):
    """Mean IoU over the classes present in truth or prediction, and the mean loss."""
    model.eval()
    counts = torch.zeros(num_classes * num_classes, dtype=torch.long)
    loss_sum = 0.0
    with torch.inference_mode():
        for first in range(0, len(images), batch_size):
            data_start = time.perf_counter()
            batch_images = images[first:first + batch_size]
            batch_masks = masks[first:first + batch_size]
            model_start = time.perf_counter()
            timing["data_wait_seconds"] += model_start - data_start
            logits = model(batch_images)
            loss_sum += F.cross_entropy(logits, batch_masks,
                                        ignore_index=ignore_index).item() * len(batch_masks)
            timing["model_seconds"] += time.perf_counter() - model_start
            cells = batch_masks * num_classes + logits.argmax(1)
            if not 0 <= ignore_index < num_classes:
                cells = cells[batch_masks != ignore_index]
            counts += torch.bincount(cells.flatten(), minlength=num_classes * num_classes)
    confusion = counts.view(num_classes, num_classes).double()
    intersection = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - intersection
    present = union > 0
    miou = (intersection[present] / union[present]).mean().item() if present.any() else 0.0
    return miou, loss_sum / len(images)


def run_trial(args):
    """Trains args.epochs epochs; returns the figures train_throughput.cc prints."""
    trial_start = time.perf_counter()
    with open(os.path.join(args.data, "data.json")) as f:
        header = json.load(f)
    _check_workload(args, header)
    num_classes, ignore_index = header["num_classes"], header["ignore_index"]
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    train_images, train_masks = load_split(args.data, header, "train", memory_format)
    val_images, val_masks = load_split(args.data, header, "val", memory_format)

    torch.manual_seed(TRAINING_SEED)
    model = make_model(args.arch, num_classes, args.base_channels, args.depth)
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    generator = torch.Generator().manual_seed(TRAINING_SEED)

    startup = {}

    def on_first_batch():
        if "seconds" not in startup:
            startup["seconds"] = time.perf_counter() - trial_start

    epochs = []
    for epoch in range(1, args.epochs + 1):
        timing = {"model_seconds": 0.0, "optimizer_seconds": 0.0, "data_wait_seconds": 0.0}
        epoch_start = time.perf_counter()
        train_loss = train_epoch(model, optimizer, train_images, train_masks, args.batch_size,
                                 ignore_index, generator, timing, on_first_batch)
        train_seconds = time.perf_counter() - epoch_start
        miou, val_loss = evaluate(model, val_images, val_masks, args.batch_size, num_classes,
                                  ignore_index, timing)
        metrics = {"train_loss": train_loss, "val_loss": val_loss, "val_miou": miou,
                   "images_per_second": len(train_images) / train_seconds}
        checkpoint_start = time.perf_counter()
        torch.save({"epoch": epoch, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict()}, io.BytesIO())
        timing["checkpoint_seconds"] = time.perf_counter() - checkpoint_start
        epoch_seconds = time.perf_counter() - epoch_start
        epochs.append(dict(
            epoch=epoch, images_per_second=metrics["images_per_second"],
            train_seconds=train_seconds, epoch_seconds=epoch_seconds,
            other_seconds=epoch_seconds - sum(timing.values()),
            outside_share=1 - timing["model_seconds"] / epoch_seconds,
            train_loss=train_loss, val_miou=miou, **timing))
    return {"program": "python", "arch": args.arch,
            "parameters": sum(p.numel() for p in model.parameters()), "threads": args.threads,
            "startup_seconds": startup["seconds"], "epochs": epochs,
            "totals": _totals(epochs, len(train_images))}


def _totals(epochs, train_images):
    keys = ["train_seconds", "epoch_seconds", "model_seconds", "optimizer_seconds",
            "data_wait_seconds", "checkpoint_seconds", "other_seconds"]
    totals = {key: sum(epoch[key] for epoch in epochs) for key in keys}
    totals["images_per_second"] = train_images * len(epochs) / totals["train_seconds"]
    totals["outside_share"] = 1 - totals["model_seconds"] / totals["epoch_seconds"]
    return totals


def _check_workload(args, header):
    """The flags must describe the data that was dumped."""
    count = header["splits"]["train"]["shape"][0]
    val_count = header["splits"]["val"]["shape"][0]
    wanted = {"--image-size": (args.image_size, header["image_size"]),
              "--classes": (args.classes, header["num_classes"]),
              "--train-size": (args.train_size, count),
              "--val-size": (args.val_size, val_count)}
    for flag, (given, dumped) in wanted.items():
        if given != dumped:
            sys.exit(f"{flag} {given} does not match the dumped data's {dumped}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the directory --dump-data wrote")
    parser.add_argument("--arch", default="unet", choices=["unet", "lraspp"])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--train-size", type=int, default=256)
    parser.add_argument("--val-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--base-channels", type=int, default=16)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--channels-last", action="store_true",
                        help="weights and images channels-last (not the compared script)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    print(json.dumps(run_trial(args)), flush=True)


if __name__ == "__main__":
    main()
