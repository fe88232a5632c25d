"""The networks, in one readable file: encoders f1 (camera) and f2 (IMU), heads h, and the model.

Shapes: IMU (B, steps, 6); camera input per `visual_input`: "sequence" (B, T, C) skeleton,
"frames" (B, T, C, s, s) images for a small CNN, "features" (B, T, D) frozen-backbone features.
Every encoder returns (B, t, latent): t = t_rec for C3T, t = 1 for the pooled methods.
CA and C3T latents are L2-normalised; the head sees the latent (or the sequence of latents).
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from c3t.core.options import HEADS, METHODS  # noqa: F401  (re-exported)


@dataclass
class ModelConfig:
    """The architecture of one model, saved as "model" in config.json: the method (c3t, ca,
    st, fusion-pl, supervised-*), class count, camera input kind and its per-step channels, IMU
    channels (6: accelerometer and gyroscope), latent and hidden widths, t_rec (the number of
    latent time steps C3T keeps), the head and its layers and attention heads, dropout, and the
    number of members of an ensemble (build_model), and the spatial grid the small frame CNN
    keeps (FrameCNN; configs saved before it existed load with 1, the global average)."""

    method: str = "c3t"
    num_classes: int = 27
    visual_input: str = "frames"  # sequence | frames | features
    visual_channels: int = 1  # C of a sequence step, image channels, or feature size
    imu_channels: int = 6
    latent: int = 128
    width: int = 128
    t_rec: int = 8
    head: str = "attention"
    head_layers: int = 2
    head_heads: int = 4
    dropout: float = 0.1
    members: int = 1  # models of this configuration whose probabilities are averaged (Ensemble); 1: one model
    frame_grid: int = 1  # small CNN: its last feature map pooled to frame_grid x frame_grid cells (FrameCNN); 1: global

    @property
    def sequence_latent(self) -> bool:
        """True for C3T, whose encoders keep t_rec latents (B, t_rec, latent); the other
        methods pool to one (B, 1, latent)."""
        return self.method == "c3t"

    def to_dict(self) -> dict:
        """The fields as a plain dict, for config.json."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """A config from `to_dict` output; unknown keys are ignored, missing ones get defaults."""
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def pool_matrix(t_in: int, t_out: int) -> torch.Tensor:
    """Adaptive average pooling from t_in to t_out steps as a (t_in, t_out) matrix, with torch's
    bins. TemporalCNN pools with it so that an ONNX export sees a plain MatMul (the exporter
    refuses adaptive_avg_pool1d when t_out does not divide t_in: 16 frames -> 4 -> t_rec 8).
    A new tensor each call: one made under inference_mode must not reach training."""
    return torch.from_numpy(_pool_bins(t_in, t_out))


@functools.lru_cache(maxsize=32)
def _pool_bins(t_in: int, t_out: int) -> np.ndarray:
    m = np.zeros((t_in, t_out), np.float32)
    for i in range(t_out):
        lo, hi = (i * t_in) // t_out, -((-(i + 1) * t_in) // t_out)
        m[lo:hi, i] = 1.0 / (hi - lo)
    return m


class TemporalCNN(nn.Module):
    """(B, T, C) -> (B, t_out, latent): strided 1D convolutions, pooled to t_rec steps, then an FFN.

    With pool=True the t_rec steps are flattened into one latent (t_out = 1)."""

    def __init__(self, channels: int, width: int, latent: int, t_rec: int, pool: bool, dropout: float):
        super().__init__()

        def block(cin, cout, stride):
            """Conv1d (kernel 5, padding 2) -> BatchNorm -> GELU."""
            return nn.Sequential(nn.Conv1d(cin, cout, 5, stride, 2), nn.BatchNorm1d(cout), nn.GELU())

        self.convs = nn.Sequential(block(channels, width, 1), block(width, width, 2), block(width, width, 1), block(width, width, 2))
        self.t_rec, self.pool = t_rec, pool
        ffn_in = width * t_rec if pool else width
        self.ffn = nn.Sequential(nn.Dropout(dropout), nn.Linear(ffn_in, width), nn.GELU(), nn.Linear(width, latent))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, t_rec, latent), or (B, 1, latent) with pool=True."""
        h = self.convs(x.transpose(1, 2))  # (B, width, T')
        h = (h @ pool_matrix(int(h.shape[-1]), self.t_rec).to(h)).transpose(1, 2)  # (B, t_rec, width)
        if self.pool:
            h = h.flatten(1).unsqueeze(1)
        return self.ffn(h)


class FrameCNN(nn.Module):
    """A small per-frame CNN trained from scratch: (N, C, s, s) -> (N, out). Light enough that
    training on 16 frames per clip stays a matter of minutes on a laptop CPU.

    Three stride-2 convolutions leave an (s/8 x s/8) map of 64 features, average-pooled to
    `grid` x `grid` cells before the linear layer: grid 1 keeps only what moves or shows, grid
    4 (the whole 4 x 4 map of a 32 px frame) also where in the frame it is, which the person-
    centred flow inputs need (an arm raised above the head or lowered to the hip moves alike;
    docs/results.md, "camera input")."""

    def __init__(self, channels: int, out: int, grid: int = 1):
        super().__init__()

        def block(cin, cout, stride):
            """Conv2d (3x3, padding 1) -> BatchNorm -> GELU."""
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=1), nn.BatchNorm2d(cout), nn.GELU())

        self.net = nn.Sequential(block(channels, 16, 2), block(16, 32, 2), block(32, 64, 2), nn.AdaptiveAvgPool2d(grid),
                                 nn.Flatten(), nn.Linear(64 * grid * grid, out))

    def forward(self, x):
        """Images (N, C, s, s) -> features (N, out)."""
        return self.net(x)


class VisualEncoder(nn.Module):
    """f1: per-frame representation (skeleton vector, small CNN, or backbone features), then TemporalCNN."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.kind = cfg.visual_input
        pool = not cfg.sequence_latent
        if self.kind == "frames":
            self.frame = FrameCNN(cfg.visual_channels, cfg.width, cfg.frame_grid)
            per_step = cfg.width
        elif self.kind == "features":
            self.frame = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.visual_channels, cfg.width), nn.GELU())
            per_step = cfg.width
        else:
            self.frame = nn.Identity()
            per_step = cfg.visual_channels
        self.temporal = TemporalCNN(per_step, cfg.width, cfg.latent, cfg.t_rec, pool, cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """A normalised camera window ((B, T, C), (B, T, C, s, s) or (B, T, D) by input kind)
        -> latents (B, t, latent)."""
        b, t = x.shape[:2]
        if self.kind != "sequence":
            x = self.frame(x.flatten(0, 1)).view(b, t, -1)
        return self.temporal(x)


class ImuEncoder(nn.Module):
    """f2: a 1D CNN over (steps, channels), then an FFN."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.temporal = TemporalCNN(cfg.imu_channels, cfg.width, cfg.latent, cfg.t_rec, not cfg.sequence_latent, cfg.dropout)

    def forward(self, x):
        """A normalised IMU window (B, steps, imu_channels) -> latents (B, t, latent)."""
        return self.temporal(x)


class MlpHead(nn.Module):
    """An FFN head on (B, t, latent): t = 1 for pooled methods; C3T's MLP variants sum the
    t_rec latents ("add") or concatenate them ("concat"). No attention to show."""

    def __init__(self, cfg: ModelConfig, reduce: str = "first", in_dim: int | None = None):
        super().__init__()
        self.reduce = reduce
        in_dim = in_dim or (cfg.latent * cfg.t_rec if reduce == "concat" else cfg.latent)
        self.net = nn.Sequential(nn.Linear(in_dim, cfg.width), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.width, cfg.num_classes))

    def _reduce(self, z):
        return {"first": lambda: z[:, 0], "add": lambda: z.sum(1), "concat": lambda: z.flatten(1)}[self.reduce]()

    def representation(self, z):
        """The hidden layer the classifier reads (for t-SNE figures)."""
        return self.net[:2](self._reduce(z))

    def forward(self, z):
        """(logits (B, num_classes), None) for latents (B, t, latent)."""
        return self.net(self._reduce(z)), None


class Block(nn.Module):
    """Pre-norm transformer block whose attention weights are kept for the heatmap."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        """(x (B, n, dim) after the block, attention weights (B, heads, n, n))."""
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5, dim=-1)  # (B, H, n, n)
        y = (self.drop(att) @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.drop(self.proj(y))
        x = x + self.drop(self.mlp(self.ln2(x)))
        return x, att


class AttentionHead(nn.Module):
    """C3T's h: a transformer over the t_rec latents with learned positions.

    With a class token (the default) it returns logits and the class token's attention over
    the t_rec steps (last layer, mean over heads, renormalised without the class token).
    Without one ("concat-attention"), the t_rec outputs are concatenated and projected."""

    def __init__(self, cfg: ModelConfig, class_token: bool = True):
        super().__init__()
        self.class_token = class_token
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.latent)) if class_token else None
        self.pos = nn.Parameter(torch.randn(1, cfg.t_rec + int(class_token), cfg.latent) * 0.02)
        self.blocks = nn.ModuleList(Block(cfg.latent, cfg.head_heads, cfg.dropout) for _ in range(cfg.head_layers))
        self.ln = nn.LayerNorm(cfg.latent)
        self.out = nn.Linear(cfg.latent if class_token else cfg.latent * cfg.t_rec, cfg.num_classes)

    def _encode(self, z):
        """(the representation the classifier reads, the last block's attention)."""
        x = torch.cat([self.cls.expand(len(z), -1, -1), z], dim=1) if self.class_token else z
        x = x + self.pos
        for block in self.blocks:
            x, att = block(x)
        return (self.ln(x[:, 0]) if self.class_token else self.ln(x).flatten(1)), att

    def representation(self, z):
        """The class token's output (or the concatenated outputs) the classifier reads."""
        return self._encode(z)[0]

    def forward(self, z):
        """(logits (B, num_classes), attention (B, t_rec) summing to 1, or None without a
        class token) for latents (B, t_rec, latent)."""
        x, att = self._encode(z)
        if not self.class_token:
            return self.out(x), None
        steps = att[:, :, 0, 1:].mean(dim=1)
        return self.out(x), steps / steps.sum(dim=-1, keepdim=True)


def make_head(cfg: ModelConfig) -> nn.Module:
    """The head h for a config: an MLP on the concatenated latents for fusion-pl, an MLP for the
    pooled methods, and for C3T the head `cfg.head` names ("attention", "concat-attention",
    "add-mlp", "concat-mlp"; another name raises KeyError)."""
    if cfg.method == "fusion-pl":
        return MlpHead(cfg, in_dim=2 * cfg.latent)
    if not cfg.sequence_latent:
        return MlpHead(cfg)
    return {
        "attention": lambda: AttentionHead(cfg),
        "concat-attention": lambda: AttentionHead(cfg, class_token=False),
        "add-mlp": lambda: MlpHead(cfg, "add"),
        "concat-mlp": lambda: MlpHead(cfg, "concat"),
    }[cfg.head]()


class UmaModel(nn.Module):
    """f1, f2 and h for one method.

    ST keeps two heads: the camera teacher's (h) and the IMU student's (h_imu); CA, C3T and
    supervised-fusion share h between modalities, which is the point of aligning the latents.
    fusion-pl is the appendix baseline g(camera, imu): h on both latents concatenated, a
    missing modality's latent being zeros."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.f1 = VisualEncoder(cfg) if cfg.method != "supervised-imu" else None
        self.f2 = ImuEncoder(cfg) if cfg.method != "supervised-visual" else None
        self.h = make_head(cfg)
        self.h_imu = MlpHead(cfg) if cfg.method == "st" else None
        # input normalisation, fitted on training data by the trainer and saved with the weights
        vshape = (1, 1, cfg.visual_channels) + ((1, 1) if cfg.visual_input == "frames" else ())
        self.register_buffer("imu_mean", torch.zeros(1, 1, cfg.imu_channels))
        self.register_buffer("imu_std", torch.ones(1, 1, cfg.imu_channels))
        self.register_buffer("visual_mean", torch.zeros(vshape))
        self.register_buffer("visual_std", torch.ones(vshape))

    @property
    def normalised(self) -> bool:
        """True for C3T and CA, whose latents are L2-normalised."""
        return self.cfg.method in ("c3t", "ca")

    def encode_visual(self, x):
        """f1 on a raw camera window (normalised here with the stored mean and std):
        latents (B, t, latent), L2-normalised for C3T and CA."""
        z = self.f1((x - self.visual_mean) / self.visual_std)
        return F.normalize(z, dim=-1) if self.normalised else z

    def encode_imu(self, x):
        """f2 on a raw IMU window (B, steps, imu_channels) (normalised here with the stored
        mean and std): latents (B, t, latent), L2-normalised for C3T and CA."""
        z = self.f2((x - self.imu_mean) / self.imu_std)
        return F.normalize(z, dim=-1) if self.normalised else z

    def fused(self, z_imu, z_visual):
        """The head's input from either or both latents."""
        if self.cfg.method == "fusion-pl":
            z_imu = torch.zeros_like(z_visual) if z_imu is None else z_imu
            z_visual = torch.zeros_like(z_imu) if z_visual is None else z_visual
            return torch.cat([z_visual, z_imu], dim=-1)
        if z_imu is None or z_visual is None:
            return z_imu if z_visual is None else z_visual
        z = z_imu + z_visual
        return F.normalize(z, dim=-1) if self.normalised else z / 2

    def forward(self, imu=None, visual=None):
        """Class probabilities and attention (or None) from whichever modalities are given.

        Fusion averages the two latents (renormalised); ST, whose two heads do not share a
        latent space, averages the two heads' probabilities instead.

        Raises:
            ValueError: when neither `imu` nor `visual` is given
        """
        if imu is None and visual is None:
            raise ValueError("give imu, visual or both")
        if self.cfg.method == "st" and imu is not None and visual is not None:
            p_imu = torch.softmax(self.h_imu(self.encode_imu(imu))[0], -1)
            p_vis = torch.softmax(self.h(self.encode_visual(visual))[0], -1)
            return (p_imu + p_vis) / 2, None
        if self.cfg.method == "st" and visual is None:
            logits, att = self.h_imu(self.encode_imu(imu))
        else:
            z_imu = None if imu is None else self.encode_imu(imu)
            z_vis = None if visual is None else self.encode_visual(visual)
            logits, att = self.h(self.fused(z_imu, z_vis))
        return torch.softmax(logits, -1), att


class Ensemble(nn.Module):
    """A deep ensemble (Lakshminarayanan et al., NeurIPS 2017): `cfg.members` UmaModels of one
    configuration (each with members=1), trained from different random initialisations and batch
    orders on the same split (methods.train); it predicts the mean of their class probabilities
    (B, num_classes) and of their attention (or None), so its one forward exports to one ONNX
    graph like a single model's."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.members = nn.ModuleList(UmaModel(replace(cfg, members=1)) for _ in range(cfg.members))

    def forward(self, imu=None, visual=None):
        """The members' mean class probabilities and mean attention (None without attention);
        inputs as UmaModel.forward takes them. Raises ValueError without either input."""
        outs = [m(imu=imu, visual=visual) for m in self.members]
        probs = torch.stack([p for p, _ in outs]).mean(0)
        att = None if outs[0][1] is None else torch.stack([a for _, a in outs]).mean(0)
        return probs, att


def build_model(cfg: ModelConfig) -> nn.Module:
    """The network a ModelConfig describes: an Ensemble when cfg.members > 1, else a UmaModel."""
    return Ensemble(cfg) if cfg.members > 1 else UmaModel(cfg)
