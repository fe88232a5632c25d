"""`c3t bench figures`: PNG figures from the models `c3t bench paper` stored.

- tsne-latents.png   t-SNE of camera and IMU latents of D_Test (C3T and CA), coloured by
                     class, marker by modality: how well alignment put both in one space
- tsne-head.png      the same for the head's last representation (after HAR training)
- attention.png      C3T's class-token attention over its t_rec steps, clean vs crop-shifted
- confusion.png      C3T IMU confusion matrix on D_Test, summed over the seeds found
- latent.png         where the run has the latent table (latent-seeds.csv): the paper's Figure
                     5, IMU and camera top-1 (mean ± sample std over seeds) against the latent
                     size, each point labelled with the model's parameter count
- tsne-alignment-epochs.png  (--alignment-epochs) the paper's Figure 3: the seed's C3T trained
                     again with its stored configuration, D_Test's camera and IMU latents drawn
                     before training and after epochs 1, 5, 20 and the last, each panel with the
                     mean cosine similarity of a clip's two latents against other clips' pairs
Needs matplotlib and scikit-learn (`pip install -e ".[paper]"`).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.model.folder import METRICS_FILE, SPLIT_FILE

log = logging.getLogger(__name__)


def _imports():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from sklearn.manifold import TSNE
    except ImportError as exc:
        raise C3tError(f"figures need matplotlib and scikit-learn ({exc}): pip install -e \".[paper]\"") from exc
    return plt, TSNE


def _test_data(model_dir: Path, cache):
    from c3t.core.model.folder import load_model, read_json
    from c3t.core.streams.window import InputSpec
    from c3t.training.prepare import prepare

    model, config = load_model(model_dir)
    data = prepare(config["dataset"], config["inputs"]["visual"], config["inputs"]["backbone"], cache,
                   progress=False, spec=InputSpec(**config["inputs"]))
    where = {k: i for i, k in enumerate(data.keys)}
    idx = np.array([where[k] for k in read_json(model_dir / SPLIT_FILE)["test"]])
    return model, config, data.imu[idx], data.visual[idx], data.labels[idx], data


def _latents(model, imu, visual):
    """(IMU latents, camera latents, head representations) of the test clips; of an ensemble,
    its first member's (the single model of the same seed)."""
    import torch

    from c3t.core.model.networks import Ensemble

    model = model.members[0] if isinstance(model, Ensemble) else model
    with torch.no_grad():
        zi, zv = model.encode_imu(torch.from_numpy(imu)), model.encode_visual(torch.from_numpy(visual))
        head = model.h.representation(zi).numpy(), model.h.representation(zv).numpy()
    return (zi.mean(1).numpy(), zv.mean(1).numpy()), head


def _tsne_plot(plt, TSNE, panels, labels, path, title):
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 5.5 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    axes = axes.flatten()
    cmap = plt.get_cmap("tab20" if labels.max() < 20 else "nipy_spectral")
    for ax, (name, (zi, zv)) in zip(axes, panels):
        emb = TSNE(n_components=2, perplexity=min(30, len(zi) - 1), random_state=0, init="pca").fit_transform(np.concatenate([zv, zi]))
        n = len(zv)
        colours = cmap(labels / max(1, labels.max()))
        ax.scatter(emb[:n, 0], emb[:n, 1], c=colours, marker="o", s=28, label="camera", edgecolors="none")
        ax.scatter(emb[n:, 0], emb[n:, 1], c=colours, marker="^", s=32, label="IMU", edgecolors="k", linewidths=0.3)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    log.info("%s written", path)
    plt.close(fig)


SHOWN_EPOCHS = (0, 1, 5, 20)   # Figure 3's panels, and the last epoch


def latent_figure(seeds_csv: Path, out: Path) -> Path:
    """latent.png in `out` (the paper's Figure 5) from a latent table's per-seed file (rows "C3T,
    latent N" and "C3T", which is latent 128): IMU and camera top-1, mean ± sample std over seeds,
    against the latent size (log scale), each IMU point labelled with the parameter count.
    Returns the PNG's path. Raises C3tError when matplotlib is missing."""
    import csv

    plt, _ = _imports()
    rows: dict[int, list[dict]] = {}
    with open(seeds_csv, newline="") as f:
        for r in csv.DictReader(f):
            size = int(r["method"].rsplit(" ", 1)[1]) if "latent" in r["method"] else 128
            rows.setdefault(size, []).append(r)
    sizes = sorted(rows)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for column, marker in (("IMU top-1", "o"), ("camera top-1", "s")):
        v = [[100 * float(r[column]) for r in rows[n]] for n in sizes]
        ax.errorbar(sizes, [np.mean(x) for x in v], [np.std(x, ddof=1) if len(x) > 1 else 0 for x in v], marker=marker,
                    capsize=3, label=f"{column.split()[0]} top-1")
        if column == "IMU top-1":
            for n, x in zip(sizes, v):
                ax.annotate(f"{float(rows[n][0]['parameters']) / 1e6:.2f} M", (n, np.mean(x)), textcoords="offset points",
                            xytext=(6, -14), ha="left", fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.set_xlabel("latent size (parameters of f1 + f2 + h under each IMU point)")
    ax.set_ylabel("D_Test top-1 (%)")
    ax.set_title(f"C3T against latent size, {len(rows[sizes[0]])} seeds (mean ± sample std)")
    ax.legend()
    fig.tight_layout()
    path = out / "latent.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def alignment_over_epochs(config: dict, data, out: Path) -> Path:
    """tsne-alignment-epochs.png (the paper's Figure 3) in `out`: the C3T whose config.json is
    `config` trained again on `data` (its dataset, prepared as it was) with the same training
    configuration and seed (so the same split),
    its D_Test camera and IMU latents (mean over the t_rec steps) drawn with t-SNE before
    training and after SHOWN_EPOCHS and the last epoch. Each panel's title gives the mean
    cosine similarity of a clip's IMU latent with its own camera latent ("pairs") and with the
    other clips' ("others"): alignment pulls the first up, not the second. D_Test's labels only
    colour the points. Returns the PNG's path.

    Raises:
        C3tError: when matplotlib or scikit-learn is missing, or what training raises
    """
    import dataclasses

    import torch

    from c3t.core.options import TrainConfig
    from c3t.training import splits as S
    from c3t.training.pipeline import fit

    plt, TSNE = _imports()
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in config["training"].items() if k in fields})
    test = S.views(data, S.split_for(data, cfg.seed, protocol=cfg.protocol))[3]
    imu, visual = torch.from_numpy(test.imu), torch.from_numpy(test.visual)
    panels = []

    def snapshot(model, report):
        """Keep D_Test's latents at the epochs drawn (and the last), leaving the model in training."""
        epoch, last = report["epoch"], report["epoch"] == report["epochs"]
        if epoch in SHOWN_EPOCHS or last:
            model.eval()
            dev = next(model.parameters()).device
            with torch.no_grad():
                zi = model.encode_imu(imu.to(dev)).mean(1).cpu().numpy()
                zv = model.encode_visual(visual.to(dev)).mean(1).cpu().numpy()
            model.train()
            panels.append((f"{report['phase']}, epoch {epoch}", (zi, zv)))

    fit(data, cfg, on_epoch=snapshot)
    titled = []
    for name, (zi, zv) in panels:
        a = zi / np.linalg.norm(zi, axis=1, keepdims=True)
        b = zv / np.linalg.norm(zv, axis=1, keepdims=True)
        cos = a @ b.T
        others = (cos.sum() - np.trace(cos)) / (cos.size - len(cos))
        titled.append((f"{name}\ncos: pairs {np.trace(cos) / len(cos):.2f}, others {others:.2f}", (zi, zv)))
    path = out / "tsne-alignment-epochs.png"
    _tsne_plot(plt, TSNE, titled, test.labels, path,
               f"C3T ({config['inputs']['visual']} ○, IMU △) D_Test latents as training goes on, colour = class")
    return path


def make_figures(args) -> int:
    """`c3t bench figures`: write tsne-latents.png, tsne-head.png, attention.png and
    confusion.png, and with `args.alignment_epochs` tsne-alignment-epochs.png (see the module
    docstring) into `args.out` (default RUN/figures) from the
    models `c3t bench paper` stored under `args.run`/models, for seed `args.seed`, with camera
    inputs cached in `args.cache`. Returns 0 (the exit status).

    Raises:
        C3tError: when matplotlib or scikit-learn is missing, or no C3T model of that seed is there
    """
    import json

    import torch

    from c3t.training.augment import apply_noise

    plt, TSNE = _imports()
    run = Path(args.run)
    out = Path(args.out) if args.out else run / "figures"
    out.mkdir(parents=True, exist_ok=True)
    models = {}
    for name, prefix in (("C3T", "c3t-combined-attention"), ("CA", "ca-combined")):
        found = sorted((run / "models").glob(f"{prefix}-e*-s{args.seed}"))
        if found:
            models[name] = found[0]
    if "C3T" not in models:
        raise C3tError(f"no C3T model for seed {args.seed} under {run / 'models'}: run `c3t bench paper` first")
    latent_panels, head_panels = [], []
    for name, folder in models.items():
        model, config, imu, visual, labels, data = _test_data(folder, args.cache)
        lat, head = _latents(model, imu, visual)
        latent_panels.append((f"{name}: encoder latents", lat))
        head_panels.append((f"{name}: head representation", head))
        if name == "C3T":
            c3t, c3t_data = (model, config, imu, visual, labels), data
    visual_name = c3t[1]["inputs"]["visual"]
    _tsne_plot(plt, TSNE, latent_panels, c3t[4], out / "tsne-latents.png", f"D_Test latents after alignment ({visual_name} ○, IMU △), colour = class")
    _tsne_plot(plt, TSNE, head_panels, c3t[4], out / "tsne-head.png", f"D_Test head representation after HAR training ({visual_name} ○, IMU △)")

    model, config, imu, visual, labels = c3t
    noisy_imu, _ = apply_noise(imu, visual, "crop", seed=args.seed)
    with torch.no_grad():
        p_clean, a_clean = model(imu=torch.from_numpy(imu))
        p_noisy, a_noisy = model(imu=torch.from_numpy(noisy_imu))
    show = np.linspace(0, len(labels) - 1, min(12, len(labels))).astype(int)  # spread over classes
    fig, axes = plt.subplots(1, 2, figsize=(11, 5), sharey=True)
    lo = float(min(a_clean[show].min(), a_noisy[show].min()))
    hi = float(max(a_clean[show].max(), a_noisy[show].max()))
    for ax, att, p, title in ((axes[0], a_clean, p_clean, "clean"), (axes[1], a_noisy, p_noisy, "crop (60%, shifted)")):
        image = ax.imshow(att[show].numpy(), aspect="auto", cmap="viridis", vmin=lo, vmax=hi)
        ok = (p[show].argmax(1).numpy() == labels[show])
        ax.set_yticks(range(len(show)), [f"{labels[i] + 1}. {config['classes'][labels[i]][:28]} {'✓' if k else '✗'}" for i, k in zip(show, ok)], fontsize=7)
        ax.set_xlabel("C3T time step (t_rec)")
        ax.set_title(f"IMU attention, {title}")
    fig.colorbar(image, ax=axes, label="attention weight")
    fig.savefig(out / "attention.png", dpi=120, bbox_inches="tight")
    plt.close(fig)

    conf = None
    for folder in sorted((run / "models").glob("c3t-combined-attention-e*-s*")):
        m = json.loads((folder / METRICS_FILE).read_text())["test"]["imu"]["confusion"]
        conf = np.array(m) if conf is None else conf + np.array(m)
    fig, ax = plt.subplots(figsize=(9, 8))
    ax.imshow(conf, cmap="Blues")
    k = len(config["classes"])
    ax.set_xticks(range(k), [str(i + 1) for i in range(k)], fontsize=7)
    ax.set_yticks(range(k), [f"{i + 1} {c[:24]}" for i, c in enumerate(config["classes"])], fontsize=7)
    ax.set_xlabel("predicted (class number)")
    ax.set_title(f"C3T {visual_name} -> IMU, D_Test, all seeds ({int(conf.sum())} clips)")
    for (i, j), v in np.ndenumerate(conf):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=6, color="white" if v > conf.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(out / "confusion.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    names = ["tsne-latents.png", "tsne-head.png", "attention.png", "confusion.png"]
    if (run / "latent-seeds.csv").is_file():
        names.append(latent_figure(run / "latent-seeds.csv", out).name)
    if getattr(args, "alignment_epochs", False):
        names.append(alignment_over_epochs(c3t[1], c3t_data, out).name)   # the data read once, above
    print(f"figures written to {out}: {', '.join(names)}")
    return 0
