"""Speed of the diffusion family, on the CPU.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/diffusion_speed.py [--reps 15] [--threads 1] \
        [--variants eager channels_last compile]

One DDPM training step (loss, backward, Adam) of the genzoo UNet against diffusers' `UNet2DModel` built as
the same architecture: channels (32, 64, 64), one res block per level (two on the way up), attention at the
7x7 level and in the middle with 8 heads of 8 channels (diffusers' default head size), group norm with 8 groups
everywhere, scale-shift time conditioning (diffusers `resnet_time_scale_shift="scale_shift"`), 28x28, batch 64.
The match is checked, not assumed: diffusers' weights are copied into the genzoo net and both must compute the
same function (max |difference| recorded) with the same parameter count. The two steps run interleaved
(A, B, A, B, ...) so both see the same machine load; medians of wall time and of process CPU time (the CPU is
shared with other jobs; CPU time is the less noisy of the two). genzoo's step is the library's own path
(`ddpm` model, DDPM.loss); diffusers' is its training-example path (DDPMScheduler.add_noise, UNet, MSE).
diffusers is optional (the `bench` extra). genzoo's fast paths are timed as variants of its side only, each against
the same diffusers step (eager, torch's default Adam, as its examples run): `eager`, `channels_last` (the UNet's
conv weights in NHWC memory, TrainConfig.channels_last) and `compile` (torch.compile of DDPM.loss with inductor,
TrainConfig.compile; its compilation is timed once and reported, not counted in the step). Ratios are per
repetition (diffusers' CPU time / genzoo's, both measured back to back), reported as min / median / max.
DDIM-50 against DDPM-1000 is measured on the trained MNIST model by benchmarks/diffusion_mnist.py (mnist.json).
Writes docs/results/diffusion/speed.json with machine, command and date.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "diffusion"
CHANNELS = (32, 64, 64)


def build_diffusers():
    from diffusers import UNet2DModel

    return UNet2DModel(sample_size=28, in_channels=1, out_channels=1, block_out_channels=CHANNELS,
                       layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"), norm_num_groups=8,
                       attn_norm_num_groups=8, attention_head_dim=8, resnet_time_scale_shift="scale_shift")


def build_genzoo():
    """The `ddpm` model whose network is the same UNet (its loss, L_simple on eps, is what the step runs)."""
    from genzoo.models import create

    return create("ddpm", data_shape=(1, 28, 28), channels=CHANNELS, num_res_blocks=1, attention=(False, False, True),
                  heads=8, norm_groups=8, timesteps=1000)


def copy_diffusers_into_genzoo(ref, ours) -> None:
    """Load diffusers' weights into the genzoo UNet (module by module), so the two can be compared as functions."""
    from genzoo.nn.unet import AttnBlock, ResBlock, _Upsample

    def res(dst: ResBlock, src):
        pairs = [("norm1", "norm1"), ("conv1", "conv1"), ("temb", "time_emb_proj"), ("norm2", "norm2"),
                 ("conv2", "conv2")] + ([("skip", "conv_shortcut")] if src.conv_shortcut is not None else [])
        for a, b in pairs:
            getattr(dst, a).load_state_dict(getattr(src, b).state_dict())

    def attn(dst: AttnBlock, src):
        dst.norm.load_state_dict(src.group_norm.state_dict())
        dst.qkv.weight.copy_(torch.cat([src.to_q.weight, src.to_k.weight, src.to_v.weight]))
        dst.qkv.bias.copy_(torch.cat([src.to_q.bias, src.to_k.bias, src.to_v.bias]))
        dst.proj.load_state_dict(src.to_out[0].state_dict())

    def blocks(ours_list, ref_blocks, sampler_name):
        it = iter(ours_list)
        for b in ref_blocks:
            for j, r in enumerate(b.resnets):
                mods = next(it)
                res(mods[0], r)
                if getattr(b, "attentions", None):
                    attn(mods[1], b.attentions[j])
            samplers = getattr(b, sampler_name, None)
            if samplers:
                dst = next(it)[0]
                (dst.conv if isinstance(dst, _Upsample) else dst).load_state_dict(samplers[0].conv.state_dict())

    with torch.no_grad():
        # diffusers orders the sinusoid (cos, sin) (flip_sin_to_cos), genzoo (sin, cos): swap linear_1's inputs
        w1 = ref.time_embedding.linear_1.weight
        half = w1.shape[1] // 2
        ours.time.mlp[0].weight.copy_(torch.cat([w1[:, half:], w1[:, :half]], 1))
        ours.time.mlp[0].bias.copy_(ref.time_embedding.linear_1.bias)
        ours.time.mlp[2].load_state_dict(ref.time_embedding.linear_2.state_dict())
        ours.conv_in.load_state_dict(ref.conv_in.state_dict())
        blocks(ours.down, ref.down_blocks, "downsamplers")
        res(ours.mid1, ref.mid_block.resnets[0])
        attn(ours.mid_attn, ref.mid_block.attentions[0])
        res(ours.mid2, ref.mid_block.resnets[1])
        blocks(ours.up, ref.up_blocks, "upsamplers")
        ours.norm_out.load_state_dict(ref.conv_norm_out.state_dict())
        ours.conv_out.load_state_dict(ref.conv_out.state_dict())


def function_match(ref, ours) -> float:
    """Max |genzoo - diffusers| on random inputs after copying diffusers' (re-randomised) weights into genzoo."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in ref.parameters():  # zero-initialised output layers would hide mismatches
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    copy_diffusers_into_genzoo(ref, ours)
    x = torch.randn(4, 1, 28, 28, generator=g)
    t = torch.tensor([1.0, 10.0, 250.0, 999.0])
    with torch.no_grad():
        a, b = ours(x, t), ref(x, t).sample
    return float((a - b).abs().max() / b.abs().max())


def genzoo_step(model, x, variant: str = "eager"):
    """One step of the library's own training path: DDPM.loss (L_simple, eps), backward, Adam; `variant` is
    "eager", "channels_last" (NHWC conv weights, as TrainConfig.channels_last) or "compile" (as
    TrainConfig.compile: torch.compile of the loss, random draws from the eager generator)."""
    from genzoo.models import Batch

    if variant == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    batch = Batch(x)
    loss_fn = model.loss
    if variant == "compile":
        loss_fn = torch.compile(model.loss, options={"fallback_random": True})

    def step():
        loss = loss_fn(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def diffusers_step(unet, x):
    """The same step as diffusers' training examples write it: DDPMScheduler.add_noise, UNet2DModel, MSE on eps."""
    from diffusers import DDPMScheduler

    opt = torch.optim.Adam(unet.parameters(), lr=1e-4)
    sched = DDPMScheduler(num_train_timesteps=1000)
    x = x * 2 - 1

    def step():
        k = torch.randint(0, 1000, (x.shape[0],))
        eps = torch.randn_like(x)
        loss = F.mse_loss(unet(sched.add_noise(x, eps, k), k).sample, eps)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variants", nargs="+", default=["eager", "channels_last"],
                    choices=["eager", "channels_last", "compile"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    res = {
        "machine": f"{platform.machine()}, {platform.processor() or 'CPU'} ({args.threads} torch thread(s), "
                   "2-core machine shared with other jobs)",
        "command": "OMP_NUM_THREADS=1 .venv/bin/python " + " ".join(sys.argv),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "torch": torch.__version__,
    }
    res["genzoo_params"] = sum(p.numel() for p in build_genzoo().parameters())
    x = torch.rand(64, 1, 28, 28)  # a batch of 64 images in [0, 1]
    fns = {}
    for v in args.variants:
        torch.manual_seed(0)
        name = "genzoo" if v == "eager" else f"genzoo-{v}"
        fns[name] = genzoo_step(build_genzoo(), x, v)
        if v == "compile":
            t = time.perf_counter()
            fns[name]()
            res["compile_first_step_wall_s"] = round(time.perf_counter() - t, 1)
    try:
        ref = build_diffusers()
    except ImportError:
        print("diffusers is not installed (optional 'bench' extra); timing genzoo only", file=sys.stderr)
        ref = None
    if ref is not None:
        import diffusers

        res["diffusers"] = diffusers.__version__
        res["diffusers_params"] = sum(p.numel() for p in ref.parameters())
        res["function_match_max_rel_diff"] = function_match(build_diffusers(), build_genzoo().net)
        assert res["function_match_max_rel_diff"] < 1e-4, "the two UNets do not compute the same function"
        fns["diffusers"] = diffusers_step(ref, x)
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for f in fns.values():  # warm-up
        f()
    for _ in range(args.reps):
        for name, f in fns.items():
            t, c = time.perf_counter(), time.process_time()
            f()
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    res["reps"] = args.reps
    for name in fns:
        res[f"train_step_wall_s_{name}"] = round(statistics.median(wall[name]), 4)
        res[f"train_step_cpu_s_{name}"] = round(statistics.median(cpu[name]), 4)
    if "diffusers" in fns:
        res["paired_ratios"] = {}
        for name in fns:
            if name == "diffusers":
                continue
            ratios = sorted(d / g for d, g in zip(cpu["diffusers"], cpu[name]))
            res["paired_ratios"][name] = {"min": round(ratios[0], 3), "median": round(statistics.median(ratios), 3),
                                          "max": round(ratios[-1], 3)}
        if "genzoo" in fns:
            ratios = sorted(d / g for d, g in zip(cpu["diffusers"], cpu["genzoo"]))
            res["speedup_cpu_time"] = round(res["train_step_cpu_s_diffusers"] / res["train_step_cpu_s_genzoo"], 3)
            res["speedup_wall_time"] = round(res["train_step_wall_s_diffusers"] / res["train_step_wall_s_genzoo"], 3)
            res["speedup_cpu_time_pairwise_quartiles"] = [round(ratios[len(ratios) // 4], 3),
                                                          round(ratios[(3 * len(ratios)) // 4], 3)]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "speed.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
