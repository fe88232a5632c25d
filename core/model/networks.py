"""The networks, in one readable file: encoders f1 (camera) and f2 (IMU), heads h, and the model.

Shapes: IMU (B, steps, 6); camera input per `visual_input`: "sequence" (B, T, C) skeleton,
"frames" (B, T, C, s, s) images for a small CNN, "features" (B, T, D) frozen-backbone features.
Every encoder returns (B, t, latent): t = t_rec for C3T (and attention fusion), t = 1 for the
pooled methods. CA and C3T latents are L2-normalised; the head sees the latent (or the sequence
of latents). The temporal part of f1 and f2 is convolutional (the paper's) or self-attention
(ModelConfig.encoder; the paper's encoder comparison, Table 5).
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from c3t.core.model.inference import model_paths
from c3t.core.options import ENCODERS, FUSIONS, HEADS, METHODS  # noqa: F401  (re-exported)


@dataclass
class ModelConfig:
    """The architecture of one model, saved as "model" in config.json: the method (c3t, ca,
    st, fusion-pl, supervised-*), class count, camera input kind and its per-step channels, IMU
    channels (6: accelerometer and gyroscope), latent and hidden widths, t_rec (the number of
    latent time steps C3T keeps), the head and its layers and attention heads, dropout, and the
    number of members of an ensemble (build_model), the spatial grid the small frame CNN
    keeps (FrameCNN; configs saved before it existed load with 1, the global average), the
    temporal encoder of f1 and f2 (ENCODERS: "conv" or "attention"; TemporalEncoder) and how
    supervised-fusion joins the modalities (FUSIONS; UmaModel). Configs saved before the last
    two existed load with "conv" and "feature", what they were trained with."""

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
    encoder: str = "conv"  # temporal part of f1 and f2: ENCODERS
    fusion: str = "feature"  # supervised-fusion only: FUSIONS

    @property
    def sequence_latent(self) -> bool:
        """True for C3T and attention fusion, whose encoders keep t_rec latents (B, t_rec,
        latent); the other methods pool to one (B, 1, latent)."""
        return self.method == "c3t" or (self.method == "supervised-fusion" and self.fusion == "attention")

    @property
    def paths(self) -> tuple[str, ...]:
        """The inputs the model predicts from: "imu" (IMU alone), "visual" (camera alone) and
        "fusion" (both); inference.model_paths's rule, in the trainers' modality names."""
        return tuple("visual" if p == "camera" else p for p in model_paths(self.to_dict()))

    def to_dict(self) -> dict:
        """The fields as a plain dict, for config.json."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """A config from `to_dict` output; unknown keys are ignored, missing ones get defaults."""
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def pool_matrix(t_in: int, t_out: int) -> torch.Tensor:
    """Adaptive average pooling from t_in to t_out steps as a (t_in, t_out) matrix, with torch's
    bins. TemporalEncoder pools with it so that an ONNX export sees a plain MatMul (the exporter
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


class TemporalEncoder(nn.Module):
    """(B, T, C) -> (B, t_out, latent): a temporal body, pooled to t_rec steps, then an FFN.

    The body ("conv", the paper's): four 1D convolutions (kernel 5), two of them strided, so T'
    = T / 4. ("attention"): every `patch` steps embedded as one token (a strided linear patch
    embedding, T' = T / patch), sinusoidal positions (Vaswani et al. 2017), then two pre-norm
    transformer blocks of 4 heads (Block) and a LayerNorm.
    With pool=True the t_rec steps are flattened into one latent (t_out = 1)."""

    def __init__(self, channels: int, width: int, latent: int, t_rec: int, pool: bool, dropout: float,
                 kind: str = "conv", patch: int = 1):
        super().__init__()
        if kind not in ENCODERS:
            raise ValueError(f"unknown encoder {kind!r}; expected one of {ENCODERS}")
        self.kind = kind
        if kind == "conv":
            def block(cin, cout, stride):
                """Conv1d (kernel 5, padding 2) -> BatchNorm -> GELU."""
                return nn.Sequential(nn.Conv1d(cin, cout, 5, stride, 2), nn.BatchNorm1d(cout), nn.GELU())

            self.convs = nn.Sequential(block(channels, width, 1), block(width, width, 2), block(width, width, 1), block(width, width, 2))
        else:
            self.tokens = nn.Conv1d(channels, width, patch, patch)
            self.blocks = nn.ModuleList(Block(width, 4, dropout) for _ in range(2))
            self.ln = nn.LayerNorm(width)
        self.t_rec, self.pool = t_rec, pool
        ffn_in = width * t_rec if pool else width
        self.ffn = nn.Sequential(nn.Dropout(dropout), nn.Linear(ffn_in, width), nn.GELU(), nn.Linear(width, latent))

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, width, tokens) through the attention body."""
        h = self.tokens(x).transpose(1, 2)  # (B, n, width)
        n, d = h.shape[1], h.shape[2]
        pos = torch.arange(n, dtype=h.dtype, device=h.device)[:, None]
        freq = torch.exp(torch.arange(0, d, 2, dtype=h.dtype, device=h.device) * (-np.log(10000.0) / d))
        h = h + torch.stack([torch.sin(pos * freq), torch.cos(pos * freq)], dim=-1).flatten(1)[:, :d]
        for block in self.blocks:
            h = block(h)[0]
        return self.ln(h).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, t_rec, latent), or (B, 1, latent) with pool=True."""
        h = self.convs(x.transpose(1, 2)) if self.kind == "conv" else self._attend(x.transpose(1, 2))  # (B, width, T')
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


def _per_frame(cfg: ModelConfig) -> tuple[nn.Module, int]:
    """f1's per-frame part by camera input (the small CNN, a projection of backbone features, or
    nothing for a skeleton sequence) and the width of what it gives per step."""
    if cfg.visual_input == "frames":
        return FrameCNN(cfg.visual_channels, cfg.width, cfg.frame_grid), cfg.width
    if cfg.visual_input == "features":
        return nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.visual_channels, cfg.width), nn.GELU()), cfg.width
    return nn.Identity(), cfg.visual_channels


def _frames(frame: nn.Module, kind: str, x: torch.Tensor) -> torch.Tensor:
    """A camera window through the per-frame part: (B, T, ...) -> (B, T, per-step width)."""
    b, t = x.shape[:2]
    return x if kind == "sequence" else frame(x.flatten(0, 1)).view(b, t, -1)


class VisualEncoder(nn.Module):
    """f1: per-frame representation (skeleton vector, small CNN, or backbone features), then TemporalEncoder."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.kind = cfg.visual_input
        self.frame, per_step = _per_frame(cfg)
        self.temporal = TemporalEncoder(per_step, cfg.width, cfg.latent, cfg.t_rec, not cfg.sequence_latent, cfg.dropout,
                                        cfg.encoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """A normalised camera window ((B, T, C), (B, T, C, s, s) or (B, T, D) by input kind)
        -> latents (B, t, latent)."""
        return self.temporal(_frames(self.frame, self.kind, x))


IMU_PATCH = 4   # IMU steps per token of the attention encoder: a 128-step clip (50 Hz, 2.5 s window: 125) -> 32 tokens


class EarlyFusionEncoder(nn.Module):
    """Early fusion's one encoder (supervised-fusion, fusion "early"): the camera window through
    f1's per-frame part, its steps linearly interpolated to the IMU's, the two concatenated step
    by step ((B, steps, per-step width + imu_channels)), then one pooled TemporalEncoder ->
    (B, 1, latent)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.kind = cfg.visual_input
        self.frame, per_step = _per_frame(cfg)
        self.temporal = TemporalEncoder(per_step + cfg.imu_channels, cfg.width, cfg.latent, cfg.t_rec, True, cfg.dropout,
                                        cfg.encoder, IMU_PATCH)

    def forward(self, imu: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        """Normalised IMU (B, steps, imu_channels) and camera windows -> latents (B, 1, latent)."""
        v = _frames(self.frame, self.kind, visual).transpose(1, 2)   # (B, per-step width, T)
        v = F.interpolate(v, size=int(imu.shape[1]), mode="linear", align_corners=True).transpose(1, 2)
        return self.temporal(torch.cat([v, imu], dim=-1))


class ImuEncoder(nn.Module):
    """f2: a TemporalEncoder over (steps, channels)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.temporal = TemporalEncoder(cfg.imu_channels, cfg.width, cfg.latent, cfg.t_rec, not cfg.sequence_latent, cfg.dropout,
                                        cfg.encoder, IMU_PATCH)

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


class AttentionHead(nn.Module):
    """C3T's h: a transformer over the t_rec latents with learned positions.

    With a class token (the default) it returns logits and the class token's attention over
    the t_rec steps (last layer, mean over heads, renormalised without the class token).
    Without one ("concat-attention"), the t_rec outputs are concatenated and projected.
    `steps`: the latents it reads (default t_rec; attention fusion reads both modalities' 2 t_rec)."""

    def __init__(self, cfg: ModelConfig, class_token: bool = True, steps: int | None = None):
        super().__init__()
        steps = steps or cfg.t_rec
        self.class_token = class_token
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.latent)) if class_token else None
        self.pos = nn.Parameter(torch.randn(1, steps + int(class_token), cfg.latent) * 0.02)
        self.blocks = nn.ModuleList(Block(cfg.latent, cfg.head_heads, cfg.dropout) for _ in range(cfg.head_layers))
        self.ln = nn.LayerNorm(cfg.latent)
        self.out = nn.Linear(cfg.latent if class_token else cfg.latent * steps, cfg.num_classes)

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
    """The head h for a config: an MLP on the concatenated latents for fusion-pl, a transformer
    over both modalities' t_rec latents for attention fusion, an MLP for the other pooled
    methods, and for C3T the head `cfg.head` names ("attention", "concat-attention",
    "add-mlp", "concat-mlp"; another name raises KeyError)."""
    if cfg.method == "fusion-pl":
        return MlpHead(cfg, in_dim=2 * cfg.latent)
    if cfg.method == "supervised-fusion" and cfg.fusion == "attention":
        return AttentionHead(cfg, steps=2 * cfg.t_rec)
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
    missing modality's latent being zeros. supervised-fusion joins the modalities as
    cfg.fusion says (FUSIONS): "feature" the mean of the pooled latents into h; "early" one
    EarlyFusionEncoder over both inputs into h (no f1, f2); "late" a camera classifier (f1, h)
    and an IMU classifier (f2, h_imu) whose probabilities are averaged, as ST's two heads;
    "attention" h a transformer over both modalities' t_rec latents (after HAMLET, Islam & Iqbal
    2020, whose fusion attends over the modalities' features).

    Raises:
        ValueError: for a cfg.fusion not in FUSIONS
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        fusion = cfg.fusion if cfg.method == "supervised-fusion" else None
        if fusion is not None and fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; expected one of {FUSIONS}")
        self.f1 = VisualEncoder(cfg) if cfg.method != "supervised-imu" and fusion != "early" else None
        self.f2 = ImuEncoder(cfg) if cfg.method != "supervised-visual" and fusion != "early" else None
        self.f_early = EarlyFusionEncoder(cfg) if fusion == "early" else None
        self.h = make_head(cfg)
        self.h_imu = MlpHead(cfg) if cfg.method == "st" or fusion == "late" else None
        self.joint = cfg.method == "st" or fusion in ("early", "late", "attention")   # both inputs: fusion_logits
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

    def fusion_logits(self, imu, visual) -> list[torch.Tensor]:
        """The logits (B, num_classes) a model gives from both raw inputs, each trained against
        the label by supervised-fusion: two for ST and late fusion (camera head, IMU head), one
        for the others (early, attention or feature fusion)."""
        if self.f_early is not None:
            return [self.h(self.f_early((imu - self.imu_mean) / self.imu_std, (visual - self.visual_mean) / self.visual_std))[0]]
        z_imu, z_vis = self.encode_imu(imu), self.encode_visual(visual)
        if self.h_imu is not None:
            return [self.h(z_vis)[0], self.h_imu(z_imu)[0]]
        if self.cfg.method == "supervised-fusion" and self.cfg.fusion == "attention":
            return [self.h(torch.cat([z_vis, z_imu], dim=1))[0]]
        return [self.h(self.fused(z_imu, z_vis))[0]]

    def forward(self, imu=None, visual=None):
        """Class probabilities and attention (or None) from whichever modalities are given.

        Feature fusion averages the two latents (renormalised); ST and late fusion, whose two
        heads do not share a latent space, average the two heads' probabilities instead; early
        and attention fusion read both inputs at once (fusion_logits).

        Raises:
            ValueError: when neither `imu` nor `visual` is given, or only one to a model that
                predicts from both only (ModelConfig.paths)
        """
        if imu is None and visual is None:
            raise ValueError("give imu, visual or both")
        if imu is not None and visual is not None and self.joint:
            return torch.stack([torch.softmax(x, -1) for x in self.fusion_logits(imu, visual)]).mean(0), None
        if self.cfg.paths == ("fusion",):
            raise ValueError(f"{self.cfg.fusion} fusion predicts from both inputs; give imu and visual")
        if self.h_imu is not None and visual is None:
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
