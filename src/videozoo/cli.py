"""The ``videozoo`` command: a thin layer that parses arguments and calls the library."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

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
    from .weights.convert import convert_file, describe

    if args.tag:  # a catalogue row: its classes and preprocessing travel in the checkpoint
        from .weights.catalogue import get_weights
        from .weights.hub import convert_row_file

        entry = get_weights(args.tag)
        if (entry.source, entry.source_name) != (args.source, args.name):
            raise UsageError(f"{args.tag} is {entry.source} {entry.source_name}, not {args.source} {args.name}")
        model = convert_row_file(entry, args.src, args.dst)
    else:
        model = convert_file(args.source, args.name, args.src, args.dst)
    print(f"wrote {args.dst}: {describe(model)}")


def cmd_export(args: argparse.Namespace) -> None:
    from .engine.export import export_onnx

    report = export_onnx(args.source, args.out, clip=args.clip, dynamic_batch=args.dynamic_batch, opset=args.opset)
    batch = "any" if report.dynamic_batch else "2"
    print(f"wrote {report.path}: input 'clip' (batch {batch}, {'×'.join(map(str, report.input_shape))}), "
          f"ONNX Runtime within {report.max_error:.1e} of PyTorch")


def cmd_weights(args: argparse.Namespace) -> None:
    from .weights import catalogue, hub

    if args.action == "list":
        rows = catalogue.list_weights(args.target)
        if args.target and not rows:
            from .models.registry import get_entry

            get_entry(args.target)  # an unknown model name lists close matches
        if args.json:
            print(json.dumps([_weights_row(r) for r in rows], indent=1))
        elif args.markdown:
            print(catalogue.markdown_table(rows))
        else:
            width = max((len(r.tag) for r in rows), default=0)
            for r in rows:
                acc = f"{r.accuracy.top1:.1f}" if r.accuracy else "  - "
                cached = "cached" if hub.converted_path(r).is_file() or hub.source_path(r).is_file() else ""
                head = f"{r.num_classes:>4} cls" if r.num_classes else "backbone"
                print(f"{r.tag:<{width}}  {r.source:<12} {head:>8}  {'×'.join(map(str, r.clip)):<11} "
                      f"top-1 {acc:>5}  {cached}".rstrip())
        return
    if not args.target:
        raise UsageError("videozoo weights download TAG: name the weights (`videozoo weights list` shows them)")
    path = hub.pretrained_checkpoint(args.target)
    print(f"{args.target}: {hub.source_path(catalogue.get_weights(args.target))} → {path}")


def _weights_row(r) -> dict:
    from dataclasses import asdict

    return {**asdict(r), "model": r.model, "file_format": r.file_format, "sha256_prefix": r.sha256_prefix}


def cmd_bench(args: argparse.Namespace) -> None:
    import torch

    from .benchmark import bench_model

    if args.threads:
        torch.set_num_threads(args.threads)
    result = bench_model(args.name, batch=args.batch, clip=args.clip, iters=args.iters, warmup=args.warmup,
                         device=args.device, compile=args.compile, runtimes=args.runtimes,
                         log=(lambda s: None) if args.json else print)
    if args.json:
        print(json.dumps(result, indent=2))


def cmd_probe(args: argparse.Namespace) -> None:
    from .data.decode import probe

    print(json.dumps(probe(args.video).as_dict(), indent=2))


def cmd_check_data(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .data.check import check_items
    from .data.datasets import load_items
    from .data.index import index_path

    items, classes = load_items(args.data, fmt=args.format, root=args.root, splits_dir=args.splits_dir,
                                split=args.split, subset=args.subset)
    cache = None if args.no_cache else index_path(args.data)
    with tqdm(total=len(items), desc="checking", unit="video", disable=args.quiet, leave=False) as bar:
        problems = check_items(items, full=args.full, progress=lambda done, total: bar.update(done - bar.n),
                               workers=args.workers, cache=cache)
    for problem in problems:
        print(f"UNREADABLE {problem.reason}" if problem.path in problem.reason
              else f"UNREADABLE {problem.path}: {problem.reason}")
    print(f"{len(items) - len(problems)} of {len(items)} videos readable, {len(classes)} classes; "
          f"{len(problems)} unreadable")
    return 1 if problems else 0


def _audio_setting(text: str) -> float | str:
    if text == "av":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1 or 'av', got {text!r}") from None


def cmd_synth(args: argparse.Namespace) -> None:
    from .data.decode import VideoError
    from .data.synthetic import PHOTO_DEFAULTS, SynthConfig, make_synthetic_dataset

    if args.task == "localize":
        return _synth_untrimmed(args)
    if args.task == "detect":
        return _synth_actors(args)
    if args.train_videos is not None:
        raise UsageError("--train-videos: for --task detect (--task classify takes --per-class)")
    av = args.audio == "av"
    source = "photos" if args.images else args.source
    # Sizes left unsaid take the source's defaults (SynthConfig's for shapes, PHOTO_DEFAULTS for photos).
    sizes = {key: getattr(args, key) for key in PHOTO_DEFAULTS if getattr(args, key) is not None}
    if source == "photos":
        sizes = {**PHOTO_DEFAULTS, **sizes}
    try:
        config = SynthConfig(**sizes, audio_informative=0.0 if av else args.audio, motion_informative=args.motion,
                             still=args.still, still_objects=args.still_objects, audio_visual=av, seed=args.seed,
                             source=source, images=args.images, sounds=args.sounds)
        paths = make_synthetic_dataset(args.out, config)
    except (ValueError, FileNotFoundError, VideoError) as e:
        raise SystemExit(f"videozoo synth: {e}") from None
    total = config.classes * (config.per_class + config.val_per_class)
    kind = "(motion, pitch) classes" if av else ("camera motions" if source == "photos" else "motion classes")
    print(f"wrote {total} videos of {config.classes} {kind} to {args.out}: "
          f"{paths['train']}, {paths['val']}, {paths['classes']}")


def _setup_logging() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")


def cmd_configs(args: argparse.Namespace) -> None:
    from .engine.config import config_path, list_recipes

    if args.name:
        print(config_path(args.name).read_text(), end="")
        return
    recipes = list_recipes()
    width = max(map(len, recipes))
    for name, description in recipes.items():
        print(f"{name:<{width}}  {description}")


def cmd_train(args: argparse.Namespace) -> None:
    from .engine.config import load_config
    from .engine.trainer import train

    _setup_logging()
    config, overrides = None, []
    from .engine.config import is_recipe

    for item in args.settings:
        if "=" not in item and (item.endswith((".yaml", ".yml")) or is_recipe(item)) and config is None:
            config = item
        else:
            overrides.append(item)
    quick = {"model.name": args.model, "data.train": args.data, "data.val": args.val, "train.epochs": args.epochs,
             "out": args.out, "train.batch_size": args.batch_size, "optim.lr": args.lr,
             "train.finetune": args.finetune, "data.classes": args.classes, "detect.proposals": args.proposals}
    flags = [f"{k}={v}" for k, v in quick.items() if v is not None]
    if args.freeze_backbone:
        flags.append("optim.freeze_backbone=true")
    if args.no_progress:
        flags.append("train.progress=false")
    if (args.resume or args.auto_resume) and args.out is None and not any(o.startswith("out=") for o in overrides):
        raise UsageError("--resume needs the run folder: --out RUN_DIR")
    cfg = load_config(config, flags + overrides)
    # A restarted job (torchrun --max-restarts, a requeued batch job with --auto-resume) continues its checkpoint.
    restarted = args.auto_resume or int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) > 0
    resume = args.resume or (restarted and (Path(cfg.out) / "last.safetensors").is_file())
    if resume:  # the run's saved config; the epoch count only where given again
        from .engine.trainer import resume_config

        explicit = args.epochs is not None or any(o.startswith("train.epochs=") for o in overrides)
        cfg = resume_config(cfg.out, cfg.train.epochs if explicit else None)
    if args.find_lr is not None:
        if resume:
            raise UsageError("--find-lr runs a range test before training: leave out --resume")
        from .engine.lr_finder import find_lr

        print(find_lr(cfg, steps=args.find_lr).summary())
        return
    if cfg.blend.modalities:
        from .engine.multimodal import train_multimodal

        result = train_multimodal(cfg, resume=resume)
        weights = ", ".join(f"{h} {w:.3f}" for h, w in result["weights"].items())
        print(f"run folder {result['out']}: {len(result['metrics'])} epochs; final blending weights: {weights}; "
              f"predicting with the {result['predict_head']} head")
        return
    result = train(cfg, resume=resume)
    best = "n/a" if result.best_score is None else f"{result.best_score:.3f}"
    print(f"run folder {result.out}: {result.epochs_done} epochs, best {result.measure} {best} at epoch "
          f"{result.best_epoch}; "
          f"{result.skipped} unreadable video(s) skipped")


def _stream_dataset(args, ckpt: str):
    """Model, dataset, input key and input settings of one stream: RGB, optical flow (2 input channels) or
    audio."""
    from .data.datasets import AudioConfig, VideoDataset, data_root_of, load_items
    from .engine.evaluate import load_for_inference
    from .models.registry import get_entry

    model, classes, settings = load_for_inference(ckpt)
    items, _ = load_items(args.data, fmt=args.format, root=args.root, classes=classes, splits_dir=args.splits_dir,
                          split=args.split, subset="test")
    if model.modalities:  # a late-fusion net (a G-Blend run): every head, on the modalities it was trained on
        from .engine.evaluate import audio_settings_of
        from .engine.inputs import multimodal_dataset

        if "flow" in model.modalities and not args.flow_root:
            raise UsageError(f"{ckpt} takes optical flow ({', '.join(model.modalities)}): give --flow-root")
        dataset = multimodal_dataset(items, classes, settings, model.modalities, train=False, num_clips=args.clips,
                                     crops=args.crops, audio=audio_settings_of(ckpt), flow_root=args.flow_root,
                                     data_root=data_root_of(args.data, args.root))
        return model, dataset, "multimodal", settings
    family = get_entry(model.arch).family
    if family == "audio":  # each clip's sound is a view
        dataset = VideoDataset(items, classes, settings.sampling, settings.transform(1), train=False,
                               num_clips=args.clips, audio=AudioConfig())
        return model, dataset, "audio", settings
    if settings.modality == "flow" or (model.in_channels == 2 and not settings.flow_from_frames):
        if not args.flow_root:
            raise UsageError(f"{ckpt} is a flow model (2 input channels): give --flow-root")
        from dataclasses import replace

        transform = replace(settings.transform(args.crops), normalization="flow")
        dataset = VideoDataset(items, classes, settings.sampling, transform, train=False, num_clips=args.clips,
                               modality="flow", flow_root=args.flow_root, data_root=data_root_of(args.data, args.root))
        return model, dataset, "video", settings
    dataset = VideoDataset(items, classes, settings.sampling, settings.transform(args.crops), train=False,
                           num_clips=args.clips)
    return model, dataset, "video", settings


COMPILE_HELP = ("torch.compile the model (about 1.4× faster once compiled on an AMX CPU or a GPU, about 1.0× on an "
                "AVX-512 EPYC; compiling costs seconds to a minute per input shape, printed): for long runs")


def _predictor(args: argparse.Namespace, model):
    """The Predictor of an inference command: its precision, backend and ``--compile``."""
    from .engine.predictor import Predictor

    if getattr(args, "compile", False) and args.backend != "pytorch":
        raise UsageError("--compile compiles the PyTorch path; --backend openvino compiles with OpenVINO")
    return Predictor(model, precision=args.precision, backend=args.backend, compile=getattr(args, "compile", False))


def _report_compilations(predictor) -> None:
    for compilation in predictor.compilations.values():
        print(compilation, file=sys.stderr)


def cmd_eval(args: argparse.Namespace) -> None:
    from .engine.evaluate import evaluate, evaluate_multimodal, fuse_streams, resolve_checkpoint

    results, heads = {}, None
    for ckpt in args.checkpoint:
        model, dataset, key, _ = _stream_dataset(args, ckpt)
        name = f"{Path(ckpt).name}" if Path(ckpt).is_dir() else Path(ckpt).stem
        predictor = _predictor(args, model)
        options = {"batch_size": args.batch_size, "num_workers": args.workers, "progress": not args.json}
        if key == "multimodal":
            heads = evaluate_multimodal(predictor, dataset, **options)
            results[name] = heads[model.predict_head]  # the run's prediction; in a score fusion, its stream
        else:
            results[name] = evaluate(predictor, dataset, input_key=key, **options)
        _report_compilations(predictor)
    if len(results) > 1:
        _print_fusion(args, results, fuse_streams)
        return
    (name, result), = results.items()
    ckpt = args.checkpoint[0]
    out = args.out
    if out is None and Path(ckpt).is_dir():
        out = Path(ckpt) / f"eval_{Path(args.data).stem}"
    metrics = result.as_dict()
    if heads is not None:  # the prediction head's metrics at the top (as any run's), every head's under "heads"
        metrics["heads"] = {h: {k: r.as_dict()[k] for k in ("clip_top1", "clip_top5", "video_top1", "video_top5",
                                                            "video_map") if k in r.as_dict()}
                            for h, r in heads.items()}
        metrics["predict_head"] = model.predict_head
    if out is not None:
        result.write(out)
        (Path(out) / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if args.json:
        print(json.dumps(metrics))
        return
    print(f"{resolve_checkpoint(ckpt)} on {args.data}: {result.num_videos} videos "
          f"({args.clips} clips × {args.crops} crops each), {result.num_skipped} unreadable skipped")
    if heads is not None:
        print(f"  predictions come from the {model.predict_head} head (chosen on the run's held-out split)")
    for head, r in (heads or {"": result}).items():
        label = f"{head} head: " if head else ""
        kind = "hit" if r.multilabel else "top"  # multi-label: a top class among the video's
        print(f"  {label}clip  {kind}-1 {r.clip_top1:.4f}  {kind}-5 {r.clip_top5:.4f}")
        print(f"  {label}video {kind}-1 {r.video_top1:.4f}  {kind}-5 {r.video_top5:.4f}")
        if r.multilabel:
            scored = sum(v is not None for v in r.per_class.values())
            print(f"  {label}video mAP {r.video_map:.4f} over the {scored} classes with a video")
    if out is not None:
        what = "per-class AP" if result.multilabel else "per-class accuracy, confusion matrix (CSV and PNG)"
        print(f"  {what} in {out}")


def _print_fusion(args: argparse.Namespace, results: dict, fuse_streams) -> None:
    """Score fusion of the streams of ``results`` (name → EvalResult), printed or as JSON."""
    if args.stream_weights and len(args.stream_weights) != len(results):
        raise UsageError(f"--stream-weights needs one weight per checkpoint ({len(results)})")
    weights = dict(zip(results, args.stream_weights, strict=True)) if args.stream_weights else None
    fused = fuse_streams(results, weights)
    if args.json:
        print(json.dumps(fused))
        return
    print(f"score fusion of {len(results)} streams on {args.data} ({fused['num_videos']} videos):")
    for name, m in [*fused["streams"].items(), ("fused", fused["fused"])]:
        map_ = f"  mAP {m['video_map']:.4f}" if "video_map" in m else ""
        print(f"  {name:<30} video top-1 {m['video_top1']:.4f}  top-5 {m['video_top5']:.4f}{map_}")


def _checkpoint_or_pretrained(args: argparse.Namespace) -> str:
    """``--checkpoint``, or the weights tag that ``--model NAME --pretrained TAG`` names."""
    if args.pretrained:
        if not args.model or args.checkpoint:
            raise UsageError("--pretrained TAG goes with --model NAME, instead of --checkpoint")
        from .weights.catalogue import get_weights

        return get_weights(args.pretrained, args.model).tag
    if not args.checkpoint:
        raise UsageError("give --checkpoint CKPT_OR_RUN_DIR_OR_TAG, or --model NAME --pretrained TAG")
    return args.checkpoint


def _refuse_classify_options(args: argparse.Namespace, task: str, takes: str, extra: dict | None = None) -> None:
    """A one-line usage error when ``--task task`` is given options of the classification set only."""
    classify_only = {"--source photos": args.source != "shapes", "--images": args.images, "--audio": args.audio,
                     "--sounds": args.sounds, "--motion": args.motion != 1.0, "--still": args.still,
                     "--still-objects": args.still_objects,
                     "--val-per-class": args.val_per_class is not None, **(extra or {})}
    if any(classify_only.values()):
        raise UsageError(f"{', '.join(k for k, v in classify_only.items() if v)}: for --task classify; --task "
                         f"{task} takes {takes}")


def _synth_untrimmed(args: argparse.Namespace) -> None:
    from .data.untrimmed import UntrimmedConfig, make_untrimmed_dataset

    _refuse_classify_options(args, "localize", "--classes, --per-class, --frames, --val-videos, --seconds, --size, "
                                               "--fps", {"--train-videos": args.train_videos is not None})
    given = {"classes": args.classes, "per_class": args.per_class, "clip_frames": args.frames,
             "val_videos": args.val_videos, "seconds": args.seconds, "size": args.size, "fps": args.fps}
    try:
        config = UntrimmedConfig(**{k: v for k, v in given.items() if v is not None}, seed=args.seed)
        paths = make_untrimmed_dataset(args.out, config)
    except ValueError as e:
        raise SystemExit(f"videozoo synth: {e}") from None
    print(f"wrote {config.per_class * (config.classes + 1)} training clips ({config.classes} motions and "
          f"background) and {config.val_videos} untrimmed videos of {config.seconds:g} s to {args.out}: "
          f"{paths['train']}, {paths['annotations']} (the videos' action segments), {paths['val']} (their segments "
          f"and the background between), {paths['classes']}")


def _synth_actors(args: argparse.Namespace) -> None:
    from .data.actors import ActorsConfig, make_actors_dataset

    _refuse_classify_options(args, "detect", "--classes, --train-videos, --val-videos, --frames, --size, --fps",
                             {"--per-class": args.per_class is not None, "--seconds": args.seconds is not None})
    given = {"classes": args.classes, "train_videos": args.train_videos, "val_videos": args.val_videos,
             "frames": args.frames, "fps": args.fps}
    if args.size is not None:  # the frame's height; 4:3 as UCF101-24's 320×240
        given.update(height=args.size, width=args.size * 4 // 3 // 2 * 2)
    try:
        config = ActorsConfig(**{k: v for k, v in given.items() if v is not None}, seed=args.seed)
        paths = make_actors_dataset(args.out, config)
    except ValueError as e:
        raise SystemExit(f"videozoo synth: {e}") from None
    print(f"wrote {config.train_videos} training and {config.val_videos} validation videos of actors doing "
          f"{config.classes} actions to {args.out}: {paths['train_boxes']} and {paths['val_boxes']} (their boxes), "
          f"{paths['proposals']} (a person detector's boxes), {paths['classes']}")


VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v")


def _video_files(paths: list[str]) -> list[str]:
    """The given videos, a folder standing for the video files in it."""
    out = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(str(p) for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise UsageError(f"{path} holds no video files ({', '.join(VIDEO_SUFFIXES)})")
            out += found
        else:
            out.append(given)
    return out


def _inference_model(args: argparse.Namespace):
    """Model, classes, input settings and spectrogram settings of ``--checkpoint`` (or ``--model --pretrained``),
    for commands that read videos' frames (and sound), not precomputed flow."""
    from .engine.evaluate import audio_settings_of, load_for_inference

    args.checkpoint = _checkpoint_or_pretrained(args)
    model, classes, settings = load_for_inference(args.checkpoint)
    if (settings.modality == "flow" or (model.in_channels == 2 and not settings.flow_from_frames)
            or (model.modalities and "flow" in model.modalities)):
        raise UsageError(f"{args.checkpoint} takes optical flow, not RGB frames: score it with "
                         "`videozoo eval --checkpoint ... --flow-root FLOW`")
    # A G-Blend run predicts with its prediction head, from the frames and the sound.
    audio = audio_settings_of(args.checkpoint) if model.modalities else None
    return model, classes, settings, audio


def cmd_localize(args: argparse.Namespace) -> None:
    from .data.decode import VideoError
    from .data.segments import write_predictions
    from .engine.localize import LocalizeConfig, localize_video
    from .engine.predictor import Predictor

    model, classes, settings, audio = _inference_model(args)
    config = LocalizeConfig(stride=args.stride, nms=args.nms, min_score=args.min_score, top=args.top,
                            background=args.background, num_workers=args.workers)
    predictor = Predictor(model, precision=args.precision)
    predictions, failed = {}, 0
    for video in _video_files(args.videos):
        try:
            segments, scores = localize_video(predictor, video, classes, settings, config, audio)
        except VideoError as e:  # one broken file does not end a long run
            print(f"{video}: skipped: {e}", file=sys.stderr)
            failed += 1
            continue
        predictions[Path(video).stem] = segments
        if args.json:
            print(json.dumps({"video": video, "segments": [{"start": s.start, "end": s.end, "label": s.label,
                                                            "score": s.score} for s in segments]}))
            continue
        print(f"{video} ({scores.duration:.1f} s, {len(scores.starts)} windows of {scores.length:.2f} s)")
        for s in segments[:args.show]:
            print(f"  {s.start:8.2f} – {s.end:8.2f} s  {s.label:24s} {s.score:.3f}")
    if args.out:
        write_predictions(args.out, predictions)
        print(f"wrote {args.out}: {sum(len(s) for s in predictions.values())} segments of {len(predictions)} "
              f"videos{f'; {failed} unreadable video(s) skipped' if failed else ''}", file=sys.stderr)
    if failed and not predictions:
        raise VideoError(f"none of the {failed} videos could be read")


def _box_annotations(args: argparse.Namespace):
    """The annotated videos and classes of ``--annotations`` (its format from its name unless given); their
    files are not looked for (scoring needs none; detect resolves the ones it reads)."""
    from .data.boxes import box_format_of, load_box_annotations

    fmt = args.format or box_format_of(args.annotations)
    if fmt is None:
        raise UsageError(f"{args.annotations}: not a CSV of boxes (video,frame,x1,y1,x2,y2,label) nor an ACT pickle; "
                         "give --format")
    return load_box_annotations(args.annotations, fmt=fmt, root=args.root, split=args.split, subset=args.subset,
                                resolve=False)


def cmd_detect(args: argparse.Namespace) -> None:
    from .data.boxes import resolve_video
    from .engine.detection import DetectOptions, annotated_boxes, detect_actions, proposal_boxes, write_detections
    from .engine.evaluate import load_for_inference
    from .engine.predictor import Predictor

    if bool(args.proposals) == bool(args.annotations):
        raise UsageError("give the boxes to classify: --proposals (a person detector's) or --annotations (the "
                         "annotated actors')")
    model, classes, settings = load_for_inference(args.checkpoint, detector=True)
    actions = classes[:-1]  # the last class is background
    if args.proposals:
        boxes = proposal_boxes(args.proposals)
        root = Path(args.root) if args.root else Path(args.proposals).parent
    else:
        items, _ = _box_annotations(args)
        boxes = annotated_boxes(items)
        root = Path(args.root) if args.root else Path(args.annotations).parent
    wanted = args.videos or sorted(boxes)
    unknown = [v for v in wanted if v not in boxes]
    if unknown:
        raise UsageError(f"no boxes for {len(unknown)} video(s), e.g. {unknown[0]!r}")
    options = DetectOptions(every=args.every, link_iou=args.link_iou, batch_size=args.batch_size)
    predictor = Predictor(model, precision=args.precision)
    failed = []

    def skip(video: str, error: Exception) -> None:  # a missing or broken video does not end the run
        failed.append(video)
        print(f"{video}: skipped: {error}", file=sys.stderr)

    videos = {}
    for video in wanted:
        try:
            videos[video] = resolve_video(root, video)
        except ValueError as e:
            skip(video, e)
    detections, tubes = detect_actions(predictor, videos, boxes, actions, settings, options, on_error=skip)
    if args.out:
        write_detections(args.out, actions, detections, tubes)
    _print_tubes(args, actions, detections, tubes)
    if args.out:
        print(f"wrote {args.out}: {len(detections)} videos{f'; {len(failed)} unreadable skipped' if failed else ''}",
              file=sys.stderr)
    if failed and not detections:
        raise SystemExit(f"videozoo detect: none of the {len(failed)} videos could be read")


def _print_tubes(args: argparse.Namespace, actions: list[str], detections: dict, tubes: dict) -> None:
    """Each video's best ``--show`` tubes, as text or (``--json``) one JSON line per video."""
    for video in detections:
        best = sorted(tubes[video], key=lambda t: -t.score)[:args.show]
        if args.json:
            print(json.dumps({"video": video, "frames": len(detections[video]),
                              "tubes": [{"label": actions[t.label], "score": t.score, "first": int(t.frames[0]),
                                         "last": int(t.frames[-1])} for t in best]}))
            continue
        print(f"{video}: {len(detections[video])} frames, {len(tubes[video])} tubes")
        for t in best:
            print(f"  {actions[t.label]:20s} {t.score:.3f}  frames {t.frames[0]}–{t.frames[-1]}")


def cmd_eval_detection(args: argparse.Namespace) -> None:
    from .engine.box_metrics import detection_map
    from .engine.detection import read_detections

    items, classes = _box_annotations(args)
    found, detections, tubes = read_detections(args.detections)
    missing = [c for c in classes if c not in found]
    if missing:
        raise UsageError(f"{args.detections} scores no {', '.join(missing[:3])} (classes of {args.annotations})")
    order = [found.index(c) for c in classes]  # the annotations' class order
    for frames in detections.values():
        for d in frames:
            d.scores = d.scores[:, order]
    for ts in tubes.values():
        for t in ts:
            t.label = classes.index(found[t.label]) if found[t.label] in classes else -1
    result = detection_map(detections, tubes, {item.video: item for item in items}, classes, args.iou,
                           tuple(args.video_iou))
    if args.out:
        Path(args.out).write_text(json.dumps(result.as_dict(), indent=2))
    if result.missing_videos:
        print(f"{len(result.missing_videos)} annotated video(s) have no detections, counted as missed (e.g. "
              f"{result.missing_videos[0]})", file=sys.stderr)
    if args.json:
        print(json.dumps(result.as_dict()))
        return
    print(f"{result.num_videos} videos, {len(classes)} classes")
    print(f"frame-mAP@{args.iou:g}  {result.frame_map:.3f}")
    for t, m in zip(result.video_thresholds, result.video_map, strict=True):
        print(f"video-mAP@{t:g}  {m:.3f}")


def cmd_eval_localization(args: argparse.Namespace) -> None:
    from .data.segments import read_predictions, read_segments
    from .engine.segment_metrics import localization_map

    result = localization_map(read_predictions(args.predictions), read_segments(args.annotations, args.subset),
                              tuple(args.tiou))
    if args.out:
        Path(args.out).write_text(json.dumps(result.as_dict(), indent=2))
    if result.unmatched_videos:
        print(f"{len(result.unmatched_videos)} predicted video(s) are not in the annotations, left out "
              f"(e.g. {result.unmatched_videos[0]})", file=sys.stderr)
    if args.json:
        print(json.dumps(result.as_dict()))
        return
    print(f"{result.num_videos} videos, {result.num_instances} action instances of {len(result.per_class)} "
          f"classes, {result.num_predictions} predicted segments")
    print("tIoU  " + "  ".join(f"{t:>5g}" for t in result.thresholds) + "   average")
    print("mAP   " + "  ".join(f"{m:5.3f}" for m in result.mAP) + f"   {result.average_mAP:.3f}")


def cmd_predict(args: argparse.Namespace) -> None:
    from .engine.evaluate import predict_video

    model, classes, settings, audio = _inference_model(args)
    predictor = _predictor(args, model)
    for video in args.videos:
        top = predict_video(predictor, video, classes, settings, clips=args.clips, top=args.top, audio=audio)
        if args.json:
            print(json.dumps({"video": video, "top": [{"class": c, "probability": p} for c, p in top]}))
        else:
            print(video)
            for name, p in top:
                print(f"  {p:7.2%}  {name}")
    _report_compilations(predictor)


def cmd_extract(args: argparse.Namespace) -> None:
    from .data.datasets import VideoDataset, data_root_of, load_items
    from .engine.evaluate import audio_settings_of, load_for_inference
    from .engine.features import extract_features, finish_parts
    from .engine.inputs import multimodal_dataset, resolve_inputs
    from .models.registry import create_model

    if (args.checkpoint is None) == (args.model is None):
        raise UsageError("give --checkpoint CKPT_OR_RUN_DIR or --model NAME (random weights)")
    classes = None
    if args.checkpoint:
        model, classes, settings = load_for_inference(args.checkpoint, classify=False)
        classes = classes or None  # a backbone without a classifier: the data set's own labels
    items, found = load_items(args.data, fmt=args.format, root=args.root, classes=classes, splits_dir=args.splits_dir,
                              split=args.split, subset=args.subset)
    if args.model:
        from .engine.config import DataConfig

        model = create_model(args.model)
        t, h, _ = model_entry_clip(args.model)
        settings = resolve_inputs(DataConfig(num_frames=args.frames or t, crop=args.crop or h), args.model, items)
    if model.modalities:  # each clip's frames with its own sound (and flow)
        needs = [args.modality] if args.modality in model.modalities else model.modalities  # else: fused
        if "flow" in needs and not args.flow_root:
            raise UsageError(f"{args.checkpoint} takes optical flow ({', '.join(needs)}): give --flow-root")
        dataset = multimodal_dataset(items, classes, settings, needs, train=False, num_clips=args.clips,
                                     crops=args.crops, audio=audio_settings_of(args.checkpoint),
                                     flow_root=args.flow_root, data_root=data_root_of(args.data, args.root))
    else:
        dataset = VideoDataset(items, classes or found, settings.sampling, settings.transform(args.crops),
                               train=False, num_clips=args.clips)
    out = Path(args.out)
    parts = out.with_name(out.name + ".parts")
    feats = extract_features(model, dataset, args.layer, modality=args.modality, average=args.average, l2=args.l2,
                             batch_size=args.batch_size, num_workers=args.workers, precision=args.precision,
                             parts=parts, progress=not args.quiet, backend=args.backend)
    feats.save(out)
    finish_parts(parts)
    skipped = len(feats.info["skipped"])
    print(f"wrote {out} ({len(feats)} rows × {feats.features.shape[1]} of {args.layer}, "
          f"{feats.info['num_videos']} videos, {skipped} unreadable skipped) and its index {out.with_suffix('.csv')}")


def model_entry_clip(name: str) -> tuple[int, int, int]:
    from .models.registry import get_entry

    return get_entry(name).default_clip


def cmd_linear_eval(args: argparse.Namespace) -> None:
    from .engine.features import Features
    from .engine.linear import linear_eval, linear_eval_cv

    if (args.test is None) == (args.cv is None):
        raise UsageError("give a test feature file, or --cv loo|K to cross-validate on the one file")
    if args.cv is not None:
        if args.cv != "loo" and not args.cv.isdigit():
            raise UsageError(f"--cv takes loo or a number of folds, got {args.cv!r}")
        folds = args.cv if args.cv == "loo" else int(args.cv)
        cv = linear_eval_cv(Features.load(args.train), folds, classifier=args.classifier, pca=args.pca, C=args.C)
        if args.json:
            print(json.dumps(cv.as_dict()))
            return
        print(f"{cv.classifier} on {cv.dims} dims, {cv.folds} folds over {cv.num_videos} videos: clip top-1 "
              f"{cv.clip_top1:.4f}, video top-1 {cv.video_top1:.4f} (fold std {cv.as_dict()['fold_std']:.4f})")
        return
    result = linear_eval(Features.load(args.train), Features.load(args.test), classifier=args.classifier,
                         pca=args.pca, C=args.C)
    if args.json:
        print(json.dumps(result.as_dict()))
        return
    what = f"{result.classifier} on {result.dims} dims" + (" (PCA)" if result.pca else "")
    print(f"{what}: clip top-1 {result.clip_top1:.4f}, video top-1 {result.video_top1:.4f} "
          f"({result.num_test_videos} test videos, {result.num_train} training rows)")


def cmd_similarity(args: argparse.Namespace) -> None:
    from .engine.features import Features
    from .engine.similarity import read_pairs, similarity_eval

    result = similarity_eval(read_pairs(args.pairs), [Features.load(f) for f in args.features], C=args.C,
                             folds=args.folds)
    if args.json:
        print(json.dumps(result.as_dict()))
        return
    print(f"same / not-same on {result.num_pairs} pairs, {len(result.fold_accuracy)} folds, {result.dims} distances: "
          f"accuracy {result.accuracy:.4f} ± {result.accuracy_std:.4f}, ROC AUC {result.auc:.4f}")


def cmd_flow(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .data.datasets import data_root_of, load_items
    from .data.flow import make_flows

    items, _ = load_items(args.data, fmt=args.format, root=args.root)
    data_root = data_root_of(args.data, args.root)
    with tqdm(total=len(items), desc="optical flow", unit="video", disable=args.quiet, leave=False) as bar:
        written, failures = make_flows([i.path for i in items], data_root, args.out, args.method,
                                       progress=lambda done, total: bar.update(1))
    for path, error in failures.items():
        print(f"FAILED {error}" if path in error else f"FAILED {path}: {error}")
    print(f"flow of {len(items) - len(failures)} of {len(items)} videos in {args.out} ({written} computed now, "
          f"the rest already there); index {Path(args.out) / 'flows.csv'}")
    return 1 if failures else 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .data.datasets import data_root_of, load_items
    from .data.prepare import PrepareOptions, prepare_dataset

    options = PrepareOptions(args.short_side, args.gop, args.fps, args.crf)
    items, classes = load_items(args.data, fmt=args.format, root=args.root, splits_dir=args.splits_dir,
                                split=args.split, subset=args.subset)
    source = Path(args.data)
    name = source.with_suffix(".csv").name if source.is_file() else "videos.csv"
    videos = len({item.path for item in items})
    with tqdm(total=videos, desc="prepare", unit="video", disable=args.quiet, leave=False) as bar:
        report = prepare_dataset(items, classes, data_root_of(args.data, args.root), args.out, options,
                                 workers=args.workers, list_name=name, progress=bar.update)
    for path, reason in sorted(report.failed.items()):
        print(f"FAILED {reason}" if path in reason else f"FAILED {path}: {reason}")
    print(f"prepared {report.prepared} videos ({report.already_done} already done), {len(report.failed)} unreadable "
          f"(listed in {Path(args.out) / 'failed.csv'}); the new list: {report.list_path}")
    return 0 if videos > len(report.failed) else 1


def cmd_shard(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .data.datasets import load_items
    from .data.index import index_path
    from .data.shards import parse_size, write_shards

    try:
        size = parse_size(args.shard_size)
    except ValueError as e:
        raise UsageError(str(e)) from None
    items, classes = load_items(args.data, fmt=args.format, root=args.root, splits_dir=args.splits_dir,
                                split=args.split, subset=args.subset)
    bars: dict = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage) or bars.setdefault(stage, tqdm(total=total, desc=stage, unit="video",
                                                              disable=args.quiet, leave=False))
        bar.update(done - bar.n)

    try:
        desc = write_shards(items, classes, args.out, size, workers=args.workers, index_cache=index_path(args.data),
                            progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    packed = len(desc["samples"])
    failed = len({item.path for item in items}) - packed
    total = sum(s["filesize"] for s in desc["shardlist"])
    print(f"packed {packed} videos into {len(desc['shardlist'])} shards ({total / 1e6:.1f} MB) in {args.out}; "
          f"{failed} unreadable (listed in {Path(args.out) / 'failed.csv'}); train with --data {args.out}")
    return 0


def cmd_explain(args: argparse.Namespace) -> None:
    from .engine.explain import explain_video

    result = explain_video(_checkpoint_or_pretrained(args), args.video, args.out, args.target, args.layer,
                           args.method)
    what = "Guided Grad-CAM" if result.method == "guided" else "Grad-CAM"
    print(f"{args.out}: {what} of {result.name!r} (p = {result.probability:.3f}) at {result.layer}")


def cmd_serve(args: argparse.Namespace) -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ModuleNotFoundError as e:
        raise UsageError(f"videozoo serve needs {e.name}: pip install 'videozoo[serve]'") from None
    from .serve import VideoService, serve

    if args.max_mb <= 0 or args.max_clips < 2 or args.top < 1:
        raise UsageError("--max-mb must be positive, --max-clips at least 2 and --top at least 1")
    model, classes, settings, audio = _inference_model(args)
    service = VideoService(model, classes, settings, audio, precision=args.precision, top=args.top,
                           max_clips=args.max_clips, cam=not args.no_cam, cam_method=args.cam_method,
                           name=str(args.checkpoint))
    print(f"serving {args.checkpoint} on http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
    serve(service, args.host, args.port, args.max_mb)


def cmd_zoo_plot(args: argparse.Namespace) -> None:
    from .zoo_plot import ZooPoint, format_points, plot, published_points, time_clip

    points = published_points()
    if args.measure:
        from .weights.catalogue import get_weights

        for p in points:
            recipe = get_weights(p.label).recipe
            p.ms = time_clip(recipe.arch, p.clip, recipe.overrides)
    if args.checkpoints:
        if not args.data:
            raise UsageError("--checkpoints are scored on a data list: give --data LIST")
        from .engine.evaluate import evaluate
        from .engine.predictor import Predictor
        from .models.cards import count_macs

        for ckpt in args.checkpoints:
            model, dataset, key, settings = _stream_dataset(args, ckpt)  # the checkpoint read once
            if key != "video":
                raise UsageError(f"{ckpt}: zoo-plot scores single-stream RGB models")
            result = evaluate(Predictor(model), dataset, input_key=key, progress=False)
            clip = (settings.num_frames, settings.crop, settings.crop)
            points.append(ZooPoint(model.arch, str(ckpt), clip, count_macs(model, clip) / 1e9,
                                   100 * result.video_top1, "measured"))
    print(format_points(points))
    print(f"wrote {plot(points, args.out)}")


def cmd_demo(args: argparse.Namespace) -> None:
    from .demo import run_demo

    run_demo()


def _list_options() -> argparse.ArgumentParser:
    """The options that say how to read a data list, shared by every command that reads one."""
    from .engine.config import FORMATS

    lists = argparse.ArgumentParser(add_help=False)
    lists.add_argument("--format", default="auto", choices=FORMATS)
    lists.add_argument("--root", help="folder that relative paths start from (default: the list's folder)")
    lists.add_argument("--splits-dir", help="UCF101 / HMDB51: the folder of the split files")
    lists.add_argument("--split", type=int, default=1, help="UCF101 / HMDB51: the split (1-3)")
    return lists


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="videozoo", description="Spatiotemporal ConvNets for video classification.")
    parser.add_argument("--version", action="version", version=f"videozoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    lists = _list_options()
    _add_zoo_commands(sub)
    _add_data_commands(sub, lists)
    _add_train_command(sub)
    _add_inference_commands(sub, lists)
    _add_feature_commands(sub, lists)
    _add_transfer_commands(sub)
    _add_detection_commands(sub)
    return parser


def _add_zoo_commands(sub) -> None:
    """The zoo and its weights: models, flops, convert, weights, bench, configs."""
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

    from .weights.convert import SOURCES

    p = sub.add_parser("convert", help="convert another library's weights into a videozoo checkpoint")
    p.add_argument("source", choices=list(SOURCES))
    p.add_argument("name", help="the source's model name, e.g. r2plus1d_18 (docs/weights.md lists them)")
    p.add_argument("src", help="input file: a .pth / .pyth state dict, or a Caffe2 .pkl for vmz-caffe2")
    p.add_argument("dst", help="output .safetensors")
    p.add_argument("--tag", help="the catalogue row the file is (MODEL.PRETRAINING): its class names and "
                                 "preprocessing go into the checkpoint")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("export", help="export a model or checkpoint to ONNX (checked against ONNX Runtime)")
    p.add_argument("source", help="a zoo model name (random weights), a checkpoint, a run folder or a weights tag")
    p.add_argument("out", help="output .onnx")
    p.add_argument("--clip", type=parse_clip, help="T,H,W of the input (default: the checkpoint's or the model's)")
    p.add_argument("--dynamic-batch", action="store_true", help="leave the batch size free (else it is 2)")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("weights", help="published weights: list the catalogue, download and convert by tag")
    p.add_argument("action", choices=["list", "download"])
    p.add_argument("target", nargs="?", help="list: a zoo model (default: all); download: a tag MODEL.PRETRAINING")
    p.add_argument("--json", action="store_true", help="list: every row as JSON")
    p.add_argument("--markdown", action="store_true", help="list: a Markdown table")
    p.set_defaults(func=cmd_weights)

    p = sub.add_parser("bench", help="time inference against torchvision's implementation of the same network")
    p.add_argument("name")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--clip", type=parse_clip)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--compile", action="store_true", help="also time the Predictor with torch.compile")
    p.add_argument("--runtimes", action="store_true",
                   help="also time ONNX Runtime and (where installed) OpenVINO on the model's ONNX export (CPU), each "
                        "in a process of its own")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("configs", help="list the papers' recipes shipped with videozoo (or print one)",
                       description="videozoo configs [NAME]: the recipes `videozoo train NAME` takes by name")
    p.add_argument("name", nargs="?", help="print this recipe's YAML")
    p.set_defaults(func=cmd_configs)


def _add_data_commands(sub, lists: argparse.ArgumentParser) -> None:
    """Data: probe, check-data, synth, flow."""
    p = sub.add_parser("probe", help="a video's metadata as JSON (frames counted, not read from the header)")
    p.add_argument("video")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("check-data", parents=[lists], help="list the videos of a data set that cannot be read, and why")
    p.add_argument("data", help="a CSV (path,label[,start,end]), a Kinetics CSV, or a folder per class")
    p.add_argument("--subset", default="train", choices=["train", "test"])
    p.add_argument("--full", action="store_true", help="decode every frame, not only first, middle and last")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes reading the videos")
    p.add_argument("--no-cache", action="store_true",
                   help="read every video again (default: reuse LIST.index.jsonl's answers for unchanged files)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_check_data)

    p = sub.add_parser("synth", help="write a synthetic motion data set (mp4 with audio, train/val CSVs)")
    p.add_argument("out")
    p.add_argument("--source", choices=["shapes", "photos"], default="shapes",
                   help="shapes: striped objects moving (default); photos: a camera panning, tilting, zooming or "
                        "rolling over real photographs (scikit-image's, or --images)")
    p.add_argument("--images", metavar="DIR", help="a folder of photographs to film (implies --source photos)")
    p.add_argument("--classes", type=int, help="motion classes (2-10 shapes, default 6; 2-8 photos, default 8)")
    p.add_argument("--per-class", type=int, help="training videos per class (default 24; photos 30)")
    p.add_argument("--val-per-class", type=int, help="validation videos per class (default 8; photos 10)")
    p.add_argument("--frames", type=int, help="frames per video (default 32; photos 24)")
    p.add_argument("--size", type=int, help="frame side in pixels (default 64; photos 96)")
    p.add_argument("--fps", type=int, help="frames per second (default 16; photos 12)")
    p.add_argument("--audio", type=_audio_setting, default=0.0, metavar="P|av",
                   help="a share P of videos whose audio tone encodes the class (default 0: uninformative), or "
                        "'av': the Gradient-Blending set (classes = motion × low/high pitch, audio with per-video "
                        "fingerprints that overfit fast; see docs/multimodal.md)")
    p.add_argument("--sounds", metavar="DIR|music",
                   help="real sound: each video gets a stretch of its own of these recordings (a folder of sound "
                        "files, or 'music': the tracks the arcade package ships); with --audio P a share P also "
                        "carries the class tone")
    p.add_argument("--motion", type=float, default=1.0, metavar="Q",
                   help="the share Q of videos that move their class's way (default 1); the rest move the way of a "
                        "class drawn at random")
    p.add_argument("--still", type=float, default=0.0, metavar="S",
                   help="the share S of videos whose objects stand still (default 0): their picture says nothing "
                        "of the class, without showing another class's motion")
    p.add_argument("--still-objects", type=int, default=0, metavar="N",
                   help="N striped bystanders standing still behind the moving objects (shapes): what moves tells "
                        "the class, not what is there")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--task", choices=["classify", "localize", "detect"], default="classify",
                   help="localize: untrimmed videos (still objects, moving during action segments) with their "
                        "segments in ActivityNet's JSON, to train and test temporal localisation; detect: actors "
                        "doing actions, their boxes on every frame, to train and test action detection")
    p.add_argument("--val-videos", type=int, help="--task localize: untrimmed validation videos (default 4; "
                                                   "--per-class: trimmed training clips, default 20, --frames their "
                                                   "length, default 24); --task detect: validation videos "
                                                   "(default 32)")
    p.add_argument("--train-videos", type=int, help="--task detect: training videos (default 128; --size the "
                                                     "frame height, default 64, 4:3; --frames default 24)")
    p.add_argument("--seconds", type=float, help="--task localize: each video's length (default 10)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("flow", help="precompute optical flow (OpenCV) of a data set's videos")
    p.add_argument("data", help="a CSV or a folder per class")
    p.add_argument("out", help="folder for the flow videos (mirrors the videos' paths)")
    p.add_argument("--format", default="auto", choices=["auto", "csv", "folder", "kinetics", "ssv2"])
    p.add_argument("--root", help="folder the videos' relative paths start from (default: the list's folder)")
    p.add_argument("--method", default="farneback",
                   help="farneback, farneback_vmz (Caffe2's parameters, as VMZ), or tvl1 where OpenCV's contrib "
                        "is installed")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_flow)

    p = sub.add_parser("prepare", parents=[lists],
                       help="re-encode a data set for training: short side, a keyframe every --gop frames, AAC audio; "
                            "parallel and resumable; writes the new list")
    p.add_argument("data", help="a CSV (path,label[,start,end]), a Kinetics CSV, a folder per class, or UCF101 / "
                                "HMDB51")
    p.add_argument("out", help="folder for the prepared videos (mirrors the videos' paths), the new list, classes.txt "
                              "and failed.csv")
    p.add_argument("--short-side", type=int, default=256, help="scale the short side down to this (default 256; "
                                                               "never up)")
    p.add_argument("--gop", type=int, default=16, help="frames between keyframes (default 16)")
    p.add_argument("--fps", type=float, help="resample to this frame rate (default: keep every frame)")
    p.add_argument("--crf", type=int, default=23, help="x264's quality (0 lossless … 51; default 23)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: one per core)")
    p.add_argument("--subset", default="train", choices=["train", "test"], help="UCF101 / HMDB51: which list")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("shard", parents=[lists],
                       help="pack a data set's encoded videos (no re-encode) with their labels into tar shards "
                            "(WebDataset) to train from with --data OUT")
    p.add_argument("data", help="any data list (a CSV, Kinetics, AudioSet, … or a folder per class)")
    p.add_argument("out", help="folder for shard-000000.tar …, shards.json, classes.txt and failed.csv")
    p.add_argument("--shard-size", default="1GB", help="bytes per shard (default 1GB; 500MB, 2GiB …)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes reading the videos first (answers cached in LIST.index.jsonl)")
    p.add_argument("--subset", default="train", choices=["train", "test"], help="UCF101 / HMDB51: which list")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_shard)


def _add_train_command(sub) -> None:
    """Training: train."""
    p = sub.add_parser("train", help="train a model: a YAML config (or a recipe's name) and/or quick flags, "
                                     "dotted overrides",
                       description="videozoo train [CONFIG.yaml | RECIPE] [KEY=VALUE ...] [flags]; e.g. "
                                   "videozoo train r2plus1d_18_synth optim.lr=0.05, or "
                                   "videozoo train --model r2plus1d_18 --data train.csv --val val.csv --epochs 10 "
                                   "--out runs/x")
    p.add_argument("settings", nargs="*", help="a YAML config file or a recipe's name (`videozoo configs`) and/or "
                                               "dotted overrides like optim.lr=0.05")
    p.add_argument("--model")
    p.add_argument("--data", help="training list (CSV, Kinetics CSV) or a folder per class; a CSV of actor boxes "
                                  "(video,frame,x1,y1,x2,y2,label) or an ACT pickle trains an action detector")
    p.add_argument("--val", help="validation list")
    p.add_argument("--classes", help="classes.txt fixing the class order")
    p.add_argument("--proposals", help="action detection (--data a CSV of boxes): a person detector's boxes on the "
                                       "training videos; those on no actor teach the background class")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--out", help="run folder")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--auto-resume", action="store_true",
                   help="continue --out's run when it has a checkpoint, else start it (for jobs that get restarted; "
                        "implied when torchrun restarts the workers)")
    p.add_argument("--finetune", metavar="CKPT",
                   help="start from this checkpoint's (or weights tag's, MODEL.PRETRAINING) backbone, new head")
    p.add_argument("--freeze-backbone", action="store_true", help="with --finetune: train the head only")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--find-lr", nargs="?", const=100, type=int, metavar="STEPS",
                   help="instead of training: a learning-rate range test of STEPS steps (default 100) from 1e-7 "
                        "to 10; plots the loss against the lr (OUT/lr_find.png) and prints the suggested lr")
    p.set_defaults(func=cmd_train)


def _add_inference_commands(sub, lists: argparse.ArgumentParser) -> None:
    """Using a model: eval, predict (and :func:`_add_visual_commands`)."""
    from .engine.config import CROPS, PRECISIONS  # the config's choices, declared once
    from .engine.predictor import BACKENDS

    p = sub.add_parser("eval", parents=[lists],
                       help="clip and video accuracy (N clips × M crops), per class, confusion matrix")
    p.add_argument("--checkpoint", required=True, action="append",
                   help="a .safetensors checkpoint, a run folder (its best) or a weights tag MODEL.PRETRAINING; "
                        "give it twice or more to fuse the "
                        "scores of separately trained streams (RGB, flow, audio)")
    p.add_argument("--stream-weights", type=float, nargs="+", help="one weight per --checkpoint for the fusion")
    p.add_argument("--flow-root", help="for flow models: the folder `videozoo flow` wrote")
    p.add_argument("--data", required=True, help="a CSV, Kinetics CSV or folder per class")
    p.add_argument("--clips", type=int, default=10, help="uniformly spaced clips per video (papers: 10)")
    p.add_argument("--crops", type=int, default=3, choices=CROPS, help="views per clip (papers: 3)")
    p.add_argument("--batch-size", type=int, default=4, help="videos per batch")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--precision", default="auto", choices=PRECISIONS)
    p.add_argument("--out", help="folder for metrics.json, per_class.csv, confusion.csv/png "
                                 "(default: RUN_DIR/eval_<data> when --checkpoint is a run folder)")
    p.add_argument("--backend", default="pytorch", choices=BACKENDS,
                   help="openvino: run the model exported to ONNX through OpenVINO (CPU; faster there)")
    p.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("predict", help="top classes of videos, with probabilities")
    p.add_argument("videos", nargs="+")
    p.add_argument("--checkpoint", help="a checkpoint, a run folder or a weights tag MODEL.PRETRAINING")
    p.add_argument("--model", help="with --pretrained: the zoo model")
    p.add_argument("--pretrained", metavar="TAG", help="published weights of --model (`videozoo weights list`)")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--clips", type=int, default=3)
    p.add_argument("--precision", default="auto", choices=PRECISIONS)
    p.add_argument("--backend", default="pytorch", choices=BACKENDS,
                   help="openvino: run the model exported to ONNX through OpenVINO (CPU; faster there)")
    p.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    _add_visual_commands(sub, lists)


def _add_visual_commands(sub, lists: argparse.ArgumentParser) -> None:
    """Looking at models: zoo-plot, explain, serve."""
    from .engine.config import PRECISIONS
    from .engine.explain import CAM_METHODS

    p = sub.add_parser("zoo-plot", parents=[lists],
                       help="the zoo's GMACs against Kinetics-400 accuracy (published; --checkpoints: measured on "
                            "--data)")
    p.add_argument("--out", default="zoo_plot.png", help="the PNG to write (default zoo_plot.png)")
    p.add_argument("--measure", action="store_true", help="also time one clip through each model on this machine")
    p.add_argument("--checkpoints", nargs="+", help="checkpoints or run folders to add at their accuracy on --data")
    p.add_argument("--data", help="the data list the checkpoints are scored on")
    p.add_argument("--clips", type=int, default=10)
    p.add_argument("--crops", type=int, default=1)
    p.add_argument("--flow-root")
    p.set_defaults(func=cmd_zoo_plot)

    p = sub.add_parser("explain", help="temporal Grad-CAM of a video's centre clip, drawn over its frames")
    p.add_argument("video")
    p.add_argument("--checkpoint", help="a checkpoint, a run folder or a weights tag MODEL.PRETRAINING")
    p.add_argument("--model", help="with --pretrained: the zoo model")
    p.add_argument("--pretrained", metavar="TAG", help="published weights of --model (`videozoo weights list`)")
    p.add_argument("--class", dest="target", help="the class to explain, by name or index (default: the top one)")
    p.add_argument("--layer", help="the module whose map is weighed (default: the last stage, e.g. layer4)")
    p.add_argument("--method", default="gradcam", choices=CAM_METHODS,
                   help="gradcam: the layer's map (coarse, smooth); guided: Guided Grad-CAM, pixel-fine")
    p.add_argument("--out", required=True, help="OUT.mp4 or OUT.gif")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("serve", help="a local web page (and JSON endpoint) that classifies and explains uploaded "
                                     "videos")
    p.add_argument("--checkpoint", help="a checkpoint, a run folder or a weights tag MODEL.PRETRAINING")
    p.add_argument("--model", help="with --pretrained: the zoo model")
    p.add_argument("--pretrained", metavar="TAG", help="published weights of --model (`videozoo weights list`)")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to bind (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the network)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-mb", type=float, default=200.0, help="the largest upload accepted, in MB (default 200)")
    p.add_argument("--max-clips", type=int, default=32,
                   help="clips along the timeline at most (back to back; spread over longer videos)")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--no-cam", action="store_true", help="skip Grad-CAM (faster answers)")
    p.add_argument("--cam-method", default="gradcam", choices=CAM_METHODS, help="as explain's --method")
    p.add_argument("--precision", default="auto", choices=PRECISIONS)
    p.set_defaults(func=cmd_serve)


def _add_transfer_commands(sub) -> None:
    """The papers' transfer tasks beyond clip classification: localize, eval-localization, similarity (and
    :func:`_add_detection_commands`)."""
    from .engine.config import PRECISIONS

    p = sub.add_parser("localize", help="action segments in untrimmed videos (sliding windows, grouping, "
                                        "temporal NMS); --out writes ActivityNet's result JSON")
    p.add_argument("videos", nargs="+", help="video files, or folders of them")
    p.add_argument("--checkpoint", help="a checkpoint, a run folder or a weights tag MODEL.PRETRAINING")
    p.add_argument("--model", help="with --pretrained: the zoo model")
    p.add_argument("--pretrained", metavar="TAG", help="published weights of --model (`videozoo weights list`)")
    p.add_argument("--stride", type=float, help="seconds between windows (default: a quarter of a clip's span)")
    p.add_argument("--nms", type=float, default=0.5, help="tIoU above which NMS drops a segment (default 0.5)")
    p.add_argument("--min-score", type=float, default=0.0, help="drop segments scoring this or less")
    p.add_argument("--top", type=int, default=100, help="segments kept per video (default 100)")
    p.add_argument("--background", default="background",
                   help="the class that is no action, never reported (default 'background')")
    p.add_argument("--show", type=int, default=10, help="segments printed per video (default 10)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--precision", default="auto", choices=PRECISIONS)
    p.add_argument("--out", help="write every video's segments to this JSON (ActivityNet's result format)")
    p.add_argument("--json", action="store_true", help="print one JSON line per video")
    p.set_defaults(func=cmd_localize)

    p = sub.add_parser("eval-localization", help="temporal localisation mAP at tIoU thresholds (THUMOS'14, "
                                                 "ActivityNet)")
    p.add_argument("--annotations", required=True,
                   help="ActivityNet JSON, a THUMOS'14 annotation folder (CLASS_SUBSET.txt) or a CSV "
                        "video,label,start,end")
    p.add_argument("--predictions", required=True, help="ActivityNet's result JSON (`videozoo localize --out`)")
    p.add_argument("--subset", help="ActivityNet: training/validation/testing; THUMOS: the files' suffix (val, test)")
    p.add_argument("--tiou", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6, 0.7],
                   help="thresholds (default THUMOS'14's 0.3 … 0.7; ActivityNet: 0.5 0.55 … 0.95)")
    p.add_argument("--out", help="write the result (mAP per threshold and per class) as JSON")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval_localization)

    p = sub.add_parser("similarity", help="action similarity (ASLAN's protocol): same action or not for pairs of "
                                          "videos, a linear SVM on feature distances, cross-validated")
    p.add_argument("pairs", help="pair list: VIDEO_A VIDEO_B SAME [FOLD] per line (paths as extracted, or stems)")
    p.add_argument("features", nargs="+", help="feature files (.npz from videozoo extract) holding every video of the "
                                               "pairs; several (layers) add their distances side by side")
    p.add_argument("--folds", type=int, default=10, help="random stratified folds when the list gives none")
    p.add_argument("--C", type=float, default=1.0, help="the SVM's inverse regularisation strength")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_similarity)


def _add_detection_commands(sub) -> None:
    """Spatio-temporal action detection: detect, eval-detection."""
    from .engine.config import BOX_FORMATS, PRECISIONS

    p = sub.add_parser("detect", help="spatio-temporal action detection: every box of a person detector (or the "
                                      "annotated actors) classified from the clip around its frame, linked into "
                                      "tubes; --out writes what eval-detection reads")
    p.add_argument("--checkpoint", required=True, help="an action detector's checkpoint (or its run folder)")
    p.add_argument("--proposals", help="a person detector's boxes: CSV video,frame,x1,y1,x2,y2[,score]")
    p.add_argument("--annotations", help="or the annotated actors' boxes (a CSV of boxes or an ACT pickle): "
                                         "the oracle-box protocol")
    p.add_argument("--format", choices=BOX_FORMATS, help="--annotations' format (default: from its name)")
    p.add_argument("--subset", default="test", help="ACT pickle: train or test videos (default test)")
    p.add_argument("--split", type=int, default=1, help="ACT pickle: the split (default 1)")
    p.add_argument("--root", help="folder the videos' ids start from (default: the box file's folder)")
    p.add_argument("--videos", nargs="+", help="only these video ids")
    p.add_argument("--every", type=int, default=1, help="detect on every n-th frame that has boxes (default 1)")
    p.add_argument("--link-iou", type=float, default=0.3, help="box IoU that links two frames' boxes (default 0.3)")
    p.add_argument("--batch-size", type=int, default=8, help="clips per forward pass")
    p.add_argument("--precision", default="auto", choices=PRECISIONS)
    p.add_argument("--show", type=int, default=5, help="tubes printed per video")
    p.add_argument("--out", help="write every frame's scored boxes and the tubes to this JSON")
    p.add_argument("--json", action="store_true", help="print one JSON line per video")
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("eval-detection", help="frame-mAP and video-mAP of `videozoo detect --out` (UCF101-24, "
                                              "JHMDB)")
    p.add_argument("--annotations", required=True, help="a CSV of boxes or an ACT pickle (UCF101v2-GT.pkl …)")
    p.add_argument("--detections", required=True, help="the JSON of `videozoo detect --out`")
    p.add_argument("--format", choices=BOX_FORMATS, help="--annotations' format (default: from its name)")
    p.add_argument("--subset", default="test", help="ACT pickle: train or test videos (default test)")
    p.add_argument("--split", type=int, default=1, help="ACT pickle: the split (default 1)")
    p.add_argument("--root", help=argparse.SUPPRESS)
    p.add_argument("--iou", type=float, default=0.5, help="frame-mAP's box IoU (default 0.5)")
    p.add_argument("--video-iou", type=float, nargs="+", default=[0.2, 0.5],
                   help="video-mAP's spatio-temporal IoUs (default 0.2 0.5)")
    p.add_argument("--out", help="write the result (per class too) as JSON")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval_detection)


def _add_feature_commands(sub, lists: argparse.ArgumentParser) -> None:
    """Features: extract, linear-eval; and the demo."""
    from .engine.config import CROPS, PRECISIONS  # the config's choices, declared once
    from .engine.predictor import BACKENDS

    p = sub.add_parser("extract", parents=[lists],
                       help="per-clip features of a layer, to a .npz (+ index CSV); resumable")
    p.add_argument("--checkpoint", help="a checkpoint, a run folder or a weights tag MODEL.PRETRAINING")
    p.add_argument("--model", help="or a zoo model with random weights")
    p.add_argument("--data", required=True)
    p.add_argument("--subset", default="test", choices=["train", "test"])
    p.add_argument("--layer", default="pooled",
                   help="pooled (forward_features), fc6 / fc7 / pool5 (C3D), or any module name, e.g. layer3")
    p.add_argument("--modality", help="a multi-modal run: fused (default: the backbones' pooled features, "
                                       "concatenated) or one backbone's (rgb, audio, flow; any --layer of it)")
    p.add_argument("--flow-root", help="a multi-modal run with flow: the folder of `videozoo flow` files")
    p.add_argument("--clips", type=int, default=10, help="uniformly spaced clips per video")
    p.add_argument("--crops", type=int, default=1, choices=CROPS, help="views averaged per clip")
    p.add_argument("--frames", type=int, help="with --model: clip length (default: the model's)")
    p.add_argument("--crop", type=int, help="with --model: crop size (default: the model's)")
    p.add_argument("--average", action="store_true", help="one row per video: the mean of its clips")
    p.add_argument("--l2", action="store_true", help="L2-normalise every row")
    p.add_argument("--batch-size", type=int, default=4, help="videos per batch")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="fp32: the unchanged model, features equal a plain forward pass exactly")
    p.add_argument("--backend", default="pytorch", choices=BACKENDS,
                   help="openvino: the pooled features through OpenVINO on the model's ONNX export (CPU; faster "
                        "there)")
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("linear-eval", help="a linear SVM (or logistic regression) on extracted features")
    p.add_argument("train", help="training features (.npz from videozoo extract); with --cv, the one file")
    p.add_argument("test", nargs="?", help="test features")
    p.add_argument("--cv", metavar="loo|K", help="cross-validate on the training file instead: leave-one-video-out "
                                                 "(YUPENN, Dynamic Scenes) or K folds stratified by class")
    p.add_argument("--classifier", default="svm", choices=["svm", "logistic"])
    p.add_argument("--pca", type=int, help="project to this many dimensions first")
    p.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_linear_eval)

    p = sub.add_parser("demo", help="the demo that `make demo` runs")
    p.set_defaults(func=cmd_demo)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except (ValueError, FileNotFoundError) as e:  # our errors are one line saying what was expected
        print(f"videozoo {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
