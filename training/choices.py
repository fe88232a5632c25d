"""Names of the training options the CLI offers, importable without numpy or torch.

    PROTOCOLS   how clips are split (training/splits.py)
    SELECTIONS  how the epoch is chosen (training/methods.py)
    IMU_LABELS  whose IMU labels the supervised upper bounds learn from (training/pipeline.py);
                "virtual": none, a virtual IMU from D_HAR's skeleton (training/virtual_imu.py)
    REFINABLE   methods pseudo-label refinement can follow (--refine-epochs)
    SOFT_LABELS methods whose teacher can give soft pseudo-labels (--soft-threshold)
    VIRTUAL_REGULARISED  methods whose IMU side can also learn D_HAR's virtual IMU (--virtual-weight;
                the combined schedule)
"""

PROTOCOLS = ("random", "cross-subject", "new-user")
SELECTIONS = ("val", "last", "align-loss")
IMU_LABELS = ("training", "new-users", "virtual")
REFINABLE = ("c3t", "ca")
SOFT_LABELS = ("st", "fusion-pl")
VIRTUAL_REGULARISED = ("c3t", "ca")


def option_problems(method: str, schedule: str | None, refine_epochs: int | None, soft_threshold: float | None,
                    virtual_weight: float | None) -> list[tuple[str, str]]:
    """The options given that `method` (and its `schedule`; None: the default, combined) cannot
    take: [(TrainConfig field, why)], empty when all fit. The CLI names the flag before reading
    any data; methods.train names the field."""
    problems = []
    if refine_epochs and (refine_epochs < 0 or method not in REFINABLE):
        problems.append(("refine_epochs", "pseudo-label refinement follows a CA or C3T schedule (c3t or ca), "
                                          "with 0 or more epochs"))
    if soft_threshold is not None and (method not in SOFT_LABELS or not 0 <= soft_threshold < 1):
        problems.append(("soft_threshold", "soft pseudo-labels are for st and fusion-pl, with a confidence threshold "
                                           "from 0 up to (not including) 1"))
    if virtual_weight and (method not in VIRTUAL_REGULARISED or virtual_weight < 0 or (schedule or "combined") != "combined"):
        problems.append(("virtual_weight", "the virtual IMU regularises c3t and ca with the combined schedule, "
                                           "with a weight of 0 or more"))
    return problems
