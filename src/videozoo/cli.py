"""The ``videozoo`` command: a thin layer that parses arguments and calls the library."""

from __future__ import annotations

import argparse
import json
import sys

import yaml

from . import __version__


class UsageError(ValueError):
    """A bad command-line value, reported in one line."""


def parse_clip(text: str) -> tuple[int, int, int]:
    """'16,112,112' → (16, 112, 112)."""
    try:
        t, h, w = (int(v) for v in text.replace("x", ",").replace("×", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected T,H,W such as 16,112,112; got {text!r}") from None
    if min(t, h, w) < 1:
        raise argparse.ArgumentTypeError(f"clip sizes must be positive; got {text!r}")
    return t, h, w


def parse_overrides(items: list[str]) -> dict:
    """['bn_eps=1e-3', 'mid_channels=per_block'] → {'bn_eps': 0.001, 'mid_channels': 'per_block'}."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"expected KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def cmd_models(args: argparse.Namespace) -> None:
    from .models import model_card
    from .models.cards import format_table, zoo_rows
    from .models.registry import zoo_order

    names = zoo_order(args.family)
    if args.json:
        print(json.dumps([model_card(n).as_dict() for n in names], indent=2))
    else:
        print(format_table(zoo_rows(names), markdown=args.markdown))


def cmd_flops(args: argparse.Namespace) -> None:
    from .models import get_entry
    from .models.cards import measure

    entry = get_entry(args.name)
    clip = args.clip or entry.default_clip
    overrides = parse_overrides(args.set)
    params, params_no_bn, macs = measure(args.name, clip, args.num_classes, **overrides)
    result = {"model": args.name, "clip": list(clip), "num_classes": args.num_classes, "params": params,
              "params_no_bn": params_no_bn, "gmacs": macs / 1e9, "gflops": 2 * macs / 1e9}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.name} at {'×'.join(map(str, clip))}, {args.num_classes} classes"
          + (f", {overrides}" if overrides else ""))
    print(f"  params        {params:>14,}  ({params / 1e6:.2f}M; {params_no_bn / 1e6:.2f}M without BN)")
    print(f"  GMACs         {macs / 1e9:14.3f}  (multiply-adds, as the papers' 'GFLOPs')")
    print(f"  GFLOPs        {2 * macs / 1e9:14.3f}  (2 per multiply-add, torch.utils.flop_counter)")


def cmd_convert(args: argparse.Namespace) -> None:
    from .convert import convert_file

    model = convert_file(args.source, args.name, args.src, args.dst)
    print(f"wrote {args.dst}: {model.arch} with {model.num_classes} classes"
          + (f" ({model.overrides})" if model.overrides else ""))


def cmd_bench(args: argparse.Namespace) -> None:
    import torch

    from .benchmark import bench_model

    if args.threads:
        torch.set_num_threads(args.threads)
    result = bench_model(args.name, batch=args.batch, clip=args.clip, iters=args.iters, warmup=args.warmup,
                         device=args.device, compile=args.compile, log=(lambda s: None) if args.json else print)
    if args.json:
        print(json.dumps(result, indent=2))


def cmd_demo(args: argparse.Namespace) -> None:
    from .demo import run_demo

    run_demo()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="videozoo", description="Spatiotemporal ConvNets for video classification.")
    parser.add_argument("--version", action="version", version=f"videozoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="list the zoo: params, GMACs, default clip, paper")
    p.add_argument("--family", help="only this family (residual, inception, c3d)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--json", action="store_true", help="print every model card as JSON")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("flops", help="params and GMACs of one model")
    p.add_argument("name")
    p.add_argument("--clip", type=parse_clip, help="T,H,W (default: the model's default clip)")
    p.add_argument("--num-classes", type=int, default=400)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a model override (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_flops)

    p = sub.add_parser("convert", help="convert another library's weights into a videozoo checkpoint")
    p.add_argument("source", choices=["torchvision"])
    p.add_argument("name", help="the source's model name, e.g. r2plus1d_18")
    p.add_argument("src", help="input .pth state dict")
    p.add_argument("dst", help="output .safetensors")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("bench", help="time inference against torchvision's implementation of the same network")
    p.add_argument("name")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--clip", type=parse_clip)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--compile", action="store_true", help="also time the Predictor with torch.compile")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="the demo that `make demo` runs")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as e:  # our errors are one line saying what was expected
        print(f"videozoo {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
