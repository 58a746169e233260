"""`wmnet model ...`: train and evaluate the reference world model.

worldmodel (and so torch) is imported inside each command, keeping `wmnet --help` fast.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import typer

from wmnet.neurons.output import fail

app = typer.Typer(no_args_is_help=True)


@app.command("train")
def train_cmd(
    out: Path = typer.Option(Path(".wmnet/checkpoints"), help="Directory for the checkpoint."),
    env: str = typer.Option("ballworld", help="ballworld, or atari[:game] (needs wmnet[atari])."),
    resolution: int = typer.Option(32, help="Frame side in pixels."),
    downsample: int = typer.Option(4, help="Autoencoder downsampling factor (power of 2)."),
    d_model: int = typer.Option(64, help="Transformer width."),
    layers: int = typer.Option(4, help="Transformer layers."),
    heads: int = typer.Option(4, help="Attention heads."),
    ae_steps: int = typer.Option(400, help="Autoencoder steps (phase 1)."),
    dyn_steps: int = typer.Option(500, help="Dynamics steps (phase 2)."),
    batch: int = typer.Option(8, help="Sequences per dynamics batch."),
    seq_len: int = typer.Option(8, help="Frames per training sequence."),
    episodes: int = typer.Option(256, help="Training episodes to generate."),
    lr: float = typer.Option(2e-3, help="Peak learning rate."),
    seed: int = typer.Option(0, help="Seed for data, init and batches."),
    init: str = typer.Option(
        "", help="Fine-tune: start from this model id (its config wins over the shape options)."
    ),
    init_dir: list[Path] = typer.Option(
        [], "--init-dir", help="Extra directories to find --init in."
    ),
    unroll: int = typer.Option(0, help="Open-loop passes per dynamics step (learn to undo drift)."),
    open_loop: int = typer.Option(
        0,
        help="Frames at the end of each window predicted open loop, with gradients through "
        "the rollout (0: teacher forcing; needs seq-len > open-loop).",
    ),
    prior: str = typer.Option(
        "",
        help="What the dynamics' output corrects: 'last' (z_t) or 'velocity' "
        "(2 z_t - z_{t-1}). Default: 'last', or the --init model's.",
    ),
    episode_len: int = typer.Option(24, help="Steps per generated training episode."),
    latent_noise: float = typer.Option(0.03, help="Gaussian noise on the dynamics' input latents."),
    sparse_prob: float = typer.Option(0.5, help="Share of dynamics steps with sparse attention."),
    frame_loss_weight: float = typer.Option(
        1.0, help="Weight of the decoded-frame loss next to the latent loss (0: latents only)."
    ),
    ghost_weight: float = typer.Option(
        0.0,
        help="Extra frame-loss weight where the prediction paints an object the true frame "
        "lacks (0: none; the object weight is 20).",
    ),
    log_step_loss: bool = typer.Option(
        False, help="Open-loop loss as the mean of each step's log loss (steps count alike)."
    ),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    name: str = typer.Option("", help="Checkpoint name prefix (default: the env)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Train a world model (resumable: re-run the same command to continue)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from wmnet.worldmodel.checkpoint import save_checkpoint
    from wmnet.worldmodel.config import ModelConfig
    from wmnet.worldmodel.data import make_episodes
    from wmnet.worldmodel.train import TrainConfig, train

    n_actions = make_episodes(env, 1, 1, seed, resolution).n_actions
    start = None
    if init:
        from wmnet.worldmodel.checkpoint import CheckpointError, ModelRegistry

        try:
            start = ModelRegistry([*init_dir] or None).load(init)
        except CheckpointError as error:
            fail(str(error))
    try:  # ModelConfig checks its fields (an unknown --prior among them)
        if start is not None:
            mcfg = start.cfg if not prior else replace(start.cfg, prior=prior)
        else:
            mcfg = ModelConfig(
                env=env,
                resolution=resolution,
                n_actions=n_actions,
                downsample=downsample,
                d_model=d_model,
                n_layers=layers,
                n_heads=heads,
                prior=prior or "last",
            )
    except ValueError as error:
        fail(f"invalid model settings: {error}")
    tcfg = TrainConfig(
        seed=seed,
        n_episodes=episodes,
        seq_len=seq_len,
        batch=batch,
        ae_steps=ae_steps,
        dyn_steps=dyn_steps,
        lr=lr,
        device=device,
        unroll=unroll,
        open_loop=open_loop,
        episode_len=episode_len,
        latent_noise=latent_noise,
        sparse_prob=sparse_prob,
        frame_loss_weight=frame_loss_weight,
        ghost_weight=ghost_weight,
        log_step_loss=log_step_loss,
    )
    out.mkdir(parents=True, exist_ok=True)
    state = out / f"train-state-{name or env.replace(':', '-')}-seed{seed}.pt"
    with Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.5f}"),
        TimeRemainingColumn(),
        disable=as_json,
    ) as progress:
        task = progress.add_task("train", total=tcfg.total_steps, loss=float("nan"))
        try:
            result = train(
                mcfg,
                tcfg,
                state_path=state,
                init=start,
                on_step=lambda s, n, loss: progress.update(task, completed=s, loss=loss),
            )
        except ValueError as error:
            # A state file from other settings: say so, and how to proceed.
            fail(
                f"{error}. Re-run with the same options to resume that run, "
                f"or choose another --out (or --seed) to start a new one."
            )
    info = save_checkpoint(result.model.cpu(), out, name or env.replace(":", "-"))
    summary = {
        "model_id": info.model_id,
        "path": str(info.path),
        "steps": result.steps,
        "resumed_from": result.resumed_from,
        "final_loss": result.losses[-1] if result.losses else None,
    }
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        for k, v in summary.items():
            typer.echo(f"{k}: {v}")


@app.command("eval")
def eval_cmd(
    model_id: str = typer.Option("", "--model", help="Model id (default: the shipped one)."),
    checkpoint_dir: list[Path] = typer.Option([], "--dir", help="Extra checkpoint directories."),
    episodes: int = typer.Option(256, help="Held-out episodes (seeds never trained on)."),
    context: int = typer.Option(4, help="Context frames."),
    horizon: int = typer.Option(12, help="Predicted frames."),
    dense: bool = typer.Option(False, help="Dense attention instead of sparse."),
    precision: str = typer.Option("fp32", help="fp32, bf16 or int8."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Frame MSE/PSNR and object-position error vs copy-last and constant velocity."""
    from wmnet.worldmodel.checkpoint import ModelRegistry, default_model_id
    from wmnet.worldmodel.evaluate import evaluate
    from wmnet.worldmodel.quant import quantize
    from wmnet.worldmodel.rollout import RolloutOptions

    mid = model_id or default_model_id()
    model = quantize(ModelRegistry(list(checkpoint_dir)).load(mid), precision)
    res = evaluate(
        model,
        n_episodes=episodes,
        context=context,
        horizon=horizon,
        options=RolloutOptions(sparse=not dense),
    )
    out = {"model_id": mid, "precision": precision, "sparse": not dense, **res.to_dict()}
    if as_json:
        typer.echo(json.dumps(out))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"model {mid[:12]} on {episodes} held-out episodes "
        "(CV = constant velocity, copy = copy-last frame)"
    )
    for col in ("step", "MSE", "CV MSE", "copy MSE", "PSNR", "pos px", "CV pos px", "copy pos px"):
        table.add_column(col, justify="right")

    def cell(values: list[float] | None, t: int, fmt: str) -> str:
        return "-" if values is None else format(values[t], fmt)

    for t in range(horizon):
        table.add_row(
            str(t + 1),
            cell(res.mse, t, ".5f"),
            cell(res.constant_velocity_mse, t, ".5f"),
            cell(res.baseline_mse, t, ".5f"),
            cell(res.psnr, t, ".2f"),
            cell(res.pos_err_px, t, ".2f"),
            cell(res.constant_velocity_pos_err_px, t, ".2f"),
            cell(res.baseline_pos_err_px, t, ".2f"),
        )
    Console().print(table)
    typer.echo(
        f"mean MSE {res.mean_mse:.5f} vs copy-last {res.mean_baseline_mse:.5f}; "
        f"beats copy-last: {res.beats_baseline}"
    )
    if res.mean_constant_velocity_mse is not None:
        typer.echo(
            f"mean MSE vs constant velocity {res.mean_constant_velocity_mse:.5f}; "
            f"beats constant velocity at every step (MSE and position): "
            f"{res.beats_constant_velocity}"
        )
