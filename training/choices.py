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
