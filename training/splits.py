"""UMA splits and the views of the data that each part of training may see.

Three protocols (`PROTOCOLS`, `c3t train --protocol NAME`) decide which clips go where:

    random         the paper's: per class, seeded, 40% D_HAR, 40% D_Align, 10% D_Val, 10% D_Test
                   of all clips (the same person sits in training and in D_Test)
    cross-subject  people-wise: the test people's clips are D_Test, all of them; the other
                   people's clips are D_HAR / D_Align / D_Val (40/40/10 per class, seeded).
                   No clip of a test person reaches training or model selection.
    new-user       the app's case: D_HAR (camera + labels) and D_Val from the other people
                   (80/20 per class, seeded); D_Align (unlabelled camera + IMU) from the test
                   people's earlier trials (trial <= highest trial // 2: UTD-MHAD's trials 1-2),
                   D_Test from their later trials (3-4). The new users label nothing.

The people are read per clip (`people_of`): UTD-MHAD and `c3t synth` output from the file
name's subject (aA_sS_tT: person S), recorded sessions from the manifest's "person" (or
"subject") field. The test people are, unless named (`test_people=`), every second person in
sorted order: subjects 2, 4, 6, 8 of UTD-MHAD (its standard cross-subject split), the even
people of `c3t synth` output.

Each split becomes a view holding only what its role allows:

    CameraLabelled (D_HAR)    camera + labels
    Pairs          (D_Align)  camera + IMU, no labels at all (the class has no field for them)
    Checking       (D_Val / D_Test)  IMU + camera + labels, for model selection and scoring

IMU labels reach training only through `upper_bound`, for the supervised IMU and fusion
baselines that are reported as upper bounds, never through the UMA methods.

Recorded sessions are not split at random: each window already has a role from its labels
(training/session_dataset.py), and `role_split` keeps it (people-wise protocols keep roles too, see
`people_split`). `split_for` picks the right one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from c3t.core.errors import C3tError
from c3t.core.options import PROTOCOLS

SPLITS = ("har", "align", "val", "test")
FRACTIONS = (0.4, 0.4, 0.1, 0.1)
CROSS_SUBJECT_FRACTIONS = {"har": 0.4 / 0.9, "align": 0.4 / 0.9, "val": 0.1 / 0.9}   # of the training people
NEW_USER_FRACTIONS = {"har": 0.8, "val": 0.2}                                      # of the labelled people


def _stratified(labels: np.ndarray, pool: np.ndarray, fractions: dict[str, float],
                rng: np.random.Generator) -> dict[str, list[int]]:
    """Per class of `labels[pool]`, the shuffled indices of `pool` cut at the rounded
    cumulative `fractions` (name -> share, summing to 1)."""
    parts: dict[str, list[int]] = {name: [] for name in fractions}
    bounds = np.cumsum(list(fractions.values()))
    for c in np.unique(labels[pool]):
        idx = pool[labels[pool] == c].copy()
        rng.shuffle(idx)
        cuts = [0] + [int(round(b * len(idx))) for b in bounds]
        for name, lo, hi in zip(fractions, cuts[:-1], cuts[1:]):
            parts[name].extend(idx[lo:hi].tolist())
    return parts


def uma_split(labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The `random` protocol: indices per split; within each class the boundaries are rounded
    cumulative fractions (40/40/10/10).

    Raises:
        C3tError: when D_HAR or D_Align would be empty
    """
    labels = np.asarray(labels)
    parts = _stratified(labels, np.arange(len(labels)), dict(zip(SPLITS, FRACTIONS)), np.random.default_rng(seed))
    out = {name: np.array(sorted(v), dtype=np.int64) for name, v in parts.items()}
    for name in ("har", "align"):
        if len(out[name]) == 0:
            raise C3tError(f"the dataset is too small for a UMA split: D_{name} would be empty")
    return out


def role_split(roles: np.ndarray, labels: np.ndarray, groups: np.ndarray, seed: int,
               require_checking: bool = True) -> dict[str, np.ndarray]:
    """The split of recorded sessions: "har" windows -> D_HAR, "align" -> D_Align, and "check"
    windows -> D_Val or D_Test by labelled segment (`groups`): per class, a seeded half of its
    check segments goes to D_Val, the rest to D_Test, so windows of one segment never sit in both.
    Check windows never reach D_HAR or D_Align, whatever the seed.

    Without `require_checking`, D_Val and D_Test may be empty (sessions with no check labels,
    or one check segment per class): training then keeps its last state, and nothing is scored.

    Raises:
        C3tError: when the sessions give no window for one of D_HAR, D_Align, D_Val or D_Test (the
            message says what to record)
    """
    roles, labels, groups = np.asarray(roles).astype(str), np.asarray(labels), np.asarray(groups).astype(str)
    rng = np.random.default_rng(seed)
    val_groups, test_groups = [], []
    check = roles == "check"
    for c in np.unique(labels[check]):
        g = np.unique(groups[check & (labels == c)])
        rng.shuffle(g)
        half = len(g) // 2
        val_groups += g[:half].tolist()
        test_groups += g[half:].tolist()
    out = {"har": np.flatnonzero(roles == "har"), "align": np.flatnonzero(roles == "align"),
           "val": np.flatnonzero(check & np.isin(groups, val_groups)),
           "test": np.flatnonzero(check & np.isin(groups, test_groups))}
    needs = {"har": "camera-labelled clips (c3t record --label NAME)",
             "align": "unlabelled recordings (c3t record without --label)",
             "val": "at least two segments of a class marked for checking (c3t record --label NAME --check)",
             "test": "segments marked for checking (c3t record --label NAME --check)"}
    for name in SPLITS if require_checking else ("har", "align"):
        if len(out[name]) == 0:
            raise C3tError(f"the sessions give no D_{name} windows: record {needs[name]}")
    return {k: v.astype(np.int64) for k, v in out.items()}


def _person_order(person: str):
    return (0, int(person), "") if person.lstrip("-").isdigit() else (1, 0, person)


def people_of(data) -> np.ndarray:
    """The person of every clip, as strings (N,).

    UTD-MHAD and `c3t synth` output: the subject S of the file name aA_sS_tT (`data.subjects`).
    Recorded sessions: the manifest's "person" (or "subject") field, `data.extra["people"]`.

    Raises:
        C3tError: naming the sessions that say no person
    """
    extra = getattr(data, "extra", None) or {}
    if "roles" in extra:
        people = extra.get("people")
        if people is None:
            raise C3tError("these sessions were read without their people; prepare them again (c3t train reads "
                           "the manifest's \"person\" field)")
        people = np.asarray(people).astype(str)
        if (people == "").any():
            names = extra.get("sessions") or []
            session_of = extra.get("session_index")
            missing = sorted({names[i] for i in np.asarray(session_of)[people == ""]}) if session_of is not None and names else []
            which = f"session(s) {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}" if missing else "some sessions"
            raise C3tError(f"{which} have no person: a people-wise protocol needs to know who wore the IMU. "
                           "Add \"person\": \"NAME\" to each session's manifest.json, or train with --protocol random")
        return people
    subjects = getattr(data, "subjects", None)
    if subjects is None:
        raise C3tError("the dataset has no person per clip (UTD-MHAD layout: the sS in aA_sS_tT); "
                       "use --protocol random")
    return np.asarray(subjects).astype(str)


def choose_test_people(people: np.ndarray, test_people=None) -> list[str]:
    """The test (new) people: `test_people` if given (each must be in the data), else every second
    person in sorted order (numbers sorted as numbers): UTD-MHAD 2, 4, 6, 8; synth's even people.

    Raises:
        C3tError: for fewer than two people or a `test_people` name not in the data
    """
    everyone = sorted(set(np.asarray(people).astype(str).tolist()), key=_person_order)
    if len(everyone) < 2:
        raise C3tError(f"a people-wise protocol needs at least two people; the data has {everyone or 'none'}. "
                       "Record (or synthesise) more people, or use --protocol random")
    if test_people is None:
        return everyone[1::2]
    chosen = [str(p).strip() for p in (test_people.split(",") if isinstance(test_people, str) else test_people)]
    unknown = [p for p in chosen if p not in everyone]
    if unknown:
        raise C3tError(f"test person {unknown[0]!r} is not in the data (people: {', '.join(everyone)})")
    if not chosen or set(chosen) == set(everyone):
        raise C3tError(f"--test-people must name some but not all people ({', '.join(everyone)})")
    return sorted(set(chosen), key=_person_order)


def training_people_only(data, held_out: str):
    """For choosing on training people only (nested, #32): the clips of the people-wise
    protocols' training people (choose_test_people's default test people dropped: UTD-MHAD keeps
    subjects 1, 3, 5, 7), with `held_out`, one of them, to be given as the test person
    (`test_people=[held_out]`). The real test people's clips are not in what it returns, so
    nothing chosen on it can have seen them. A Prepared of the same classes and spec.

    Raises:
        C3tError: for recorded sessions or windows cut from clips (their rows are tied to roles and
            splits), or a `held_out` that is not one of the training people
    """
    import dataclasses

    if getattr(data, "extra", None):
        raise C3tError("choosing on training people only (--held-out) works on clip datasets (UTD-MHAD layout, "
                       "c3t synth output), not on recorded sessions or windows")
    people = people_of(data)
    training = sorted(set(people.tolist()) - set(choose_test_people(people)), key=_person_order)
    if str(held_out) not in training:
        raise C3tError(f"--held-out {held_out}: hold out one of the training people ({', '.join(training)}); the test "
                       f"people ({', '.join(choose_test_people(people))}) are left out altogether")
    keep = np.flatnonzero(np.isin(people, training))
    return dataclasses.replace(data, keys=[data.keys[i] for i in keep], labels=data.labels[keep],
                               subjects=data.subjects[keep], imu=data.imu[keep], visual=data.visual[keep],
                               trials=None if data.trials is None else data.trials[keep])


def people_split(labels: np.ndarray, people: np.ndarray, seed: int, protocol: str, test_people=None,
                 trials: np.ndarray | None = None, roles: np.ndarray | None = None,
                 require_checking: bool = True) -> dict[str, np.ndarray]:
    """The `cross-subject` and `new-user` splits (module docstring): indices per split.

    Clips (UTD-MHAD, synth; `trials` (N,) needed for new-user): seeded, stratified by class.
    Recorded sessions (`roles` (N,) of "har" / "align" / "check"): roles are kept; cross-subject:
    the training people's har / align / check windows -> D_HAR / D_Align / D_Val, the test people's
    check windows -> D_Test; new-user: the training people's har / check -> D_HAR / D_Val, the test
    people's align / check -> D_Align / D_Test. Windows a protocol has no place for are left out.

    Raises:
        C3tError: when a split would be empty, naming what to record
    """
    if protocol not in PROTOCOLS[1:]:
        raise C3tError(f"unknown people-wise protocol {protocol!r}; expected one of {PROTOCOLS[1:]}")
    labels, people = np.asarray(labels), np.asarray(people).astype(str)
    tested = np.isin(people, choose_test_people(people, test_people))
    rng = np.random.default_rng(seed)
    if roles is not None:
        roles = np.asarray(roles).astype(str)
        train_roles = {"har": "har", "align": "align", "check": "val"} if protocol == "cross-subject" else \
            {"har": "har", "check": "val"}
        test_roles = {"check": "test"} if protocol == "cross-subject" else {"align": "align", "check": "test"}
        parts = {name: [] for name in SPLITS}
        for role, name in train_roles.items():
            parts[name] = np.flatnonzero(~tested & (roles == role)).tolist()
        for role, name in test_roles.items():
            parts[name] = np.flatnonzero(tested & (roles == role)).tolist()
    elif protocol == "cross-subject":
        parts = {**_stratified(labels, np.flatnonzero(~tested), CROSS_SUBJECT_FRACTIONS, rng),
                 "test": np.flatnonzero(tested).tolist()}
    else:
        if trials is None:
            raise C3tError("the new-user protocol needs each clip's trial (the tT in aA_sS_tT) to tell a new user's "
                           "earlier clips (unlabelled D_Align) from the later ones (D_Test)")
        trials = np.asarray(trials)
        early = trials <= trials.max() // 2
        parts = {**_stratified(labels, np.flatnonzero(~tested), NEW_USER_FRACTIONS, rng),
                 "align": np.flatnonzero(tested & early).tolist(), "test": np.flatnonzero(tested & ~early).tolist()}
    out = {name: np.array(sorted(parts.get(name, [])), dtype=np.int64) for name in SPLITS}
    needs = {"har": "camera-labelled clips of the training people",
             "align": "unlabelled camera + IMU pairs" + (" of the test people" if protocol == "new-user" else ""),
             "val": "IMU-labelled (check) clips of the training people",
             "test": "IMU-labelled (check) clips of the test people" + (" (later trials)" if protocol == "new-user" else "")}
    if roles is None:   # clips: the training people's clips are shared out per class, so too few clips empty a share
        shared = CROSS_SUBJECT_FRACTIONS if protocol == "cross-subject" else NEW_USER_FRACTIONS
        fewest = int(np.bincount(labels[~tested]).min()) if (~tested).any() else 0
        needs.update({name: f"more clips per person and class: the training people ({', '.join(sorted(set(people[~tested])))}) "
                            f"have as few as {fewest} of a class (c3t synth: more --subjects or --reps)" for name in shared})
    for name in SPLITS if require_checking else ("har", "align"):
        if len(out[name]) == 0:
            raise C3tError(f"{protocol}: D_{name} would be empty; the data needs {needs[name]}")
    return out


def split_for(data, seed: int, require_checking: bool = True, protocol: str = "random",
              test_people=None) -> dict[str, np.ndarray]:
    """The split training uses (indices per split name, each (n,) int64).

    `random`: recorded roles where the data has them (role_split), else `uma_split`.
    `cross-subject` / `new-user`: `people_split` with the people of `people_of(data)`.
    `require_checking`: see role_split.

    Raises:
        C3tError: for an unknown protocol or missing people (and as the split functions do)
    """
    extra = getattr(data, "extra", None) or {}
    if "split" in extra:   # windows cut from an already split clip dataset (training/stream_windows.py)
        made = extra["split_for"]
        if (made["seed"], made["protocol"]) != (seed, protocol):
            raise C3tError(f"these windows were cut for seed {made['seed']}, protocol {made['protocol']}; "
                           f"cut them again for seed {seed}, protocol {protocol}")
        return extra["split"]
    if protocol == "random":
        if "roles" in extra:
            return role_split(extra["roles"], data.labels, extra["groups"], seed, require_checking)
        return uma_split(data.labels, seed)
    if protocol not in PROTOCOLS:
        raise C3tError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    return people_split(data.labels, people_of(data), seed, protocol, test_people,
                        trials=getattr(data, "trials", None), roles=extra.get("roles"),
                        require_checking=require_checking)


@dataclass(frozen=True)
class CameraLabelled:
    """D_HAR as training sees it: camera clips `visual` (N, ...) float32 and their class
    labels (N,) int64; no IMU. `virtual_imu`, when asked for (TrainConfig.virtual_weight): the
    IMU signals (N, steps, 6) computed from each clip's skeleton (training/virtual_imu.py), not
    measured: no IMU label comes with them, only the camera's."""

    visual: np.ndarray
    labels: np.ndarray
    virtual_imu: np.ndarray | None = None


@dataclass(frozen=True)
class Pairs:
    """D_Align as training sees it: paired camera `visual` (N, ...) and `imu` (N, steps, 6)
    float32 clips, and no labels (there is no field for them)."""

    visual: np.ndarray
    imu: np.ndarray


@dataclass(frozen=True)
class Checking:
    """D_Val or D_Test: IMU (N, steps, 6), camera (N, ...) float32 and labels (N,) int64,
    for model selection and scoring only. `independent`: how many of the N clips are
    independent draws (a recorded session's overlapping windows of one labelled segment count
    once; None: each clip is one), which decides whether D_Val can choose an epoch
    (methods.selection_rule)."""

    imu: np.ndarray
    visual: np.ndarray
    labels: np.ndarray
    independent: int | None = None

    @property
    def clips(self) -> int:
        """The number of independent clips: `independent`, or N when not given."""
        return len(self.labels) if self.independent is None else self.independent


@dataclass(frozen=True)
class UpperBound:
    """The IMU labels the supervised upper bounds (supervised-imu, supervised-fusion) train
    on: IMU (N, steps, 6), camera (N, ...) float32 and labels (N,) int64. No UMA method takes it."""

    imu: np.ndarray
    visual: np.ndarray
    labels: np.ndarray


def _independent(data, idx: np.ndarray) -> int | None:
    """Independent clips among data[idx]: recorded sessions' windows count once per labelled
    segment (extra["groups"]); None for clip datasets (each clip is one)."""
    groups = (getattr(data, "extra", None) or {}).get("groups")
    return None if groups is None else int(len(np.unique(np.asarray(groups)[idx])))


def views(data, split: dict[str, np.ndarray]):
    """(D_HAR, D_Align, D_Val, D_Test) views of prepared data."""
    har, align, val, test = (split[n] for n in SPLITS)
    return (
        CameraLabelled(data.visual[har], data.labels[har]),
        Pairs(data.visual[align], data.imu[align]),
        Checking(data.imu[val], data.visual[val], data.labels[val], _independent(data, val)),
        Checking(data.imu[test], data.visual[test], data.labels[test], _independent(data, test)),
    )


def upper_bound(data, split: dict[str, np.ndarray], parts=("har", "align"), per_class: int | None = None,
                seed: int = 0) -> UpperBound:
    """IMU + camera with labels from the splits `parts` (default D_HAR and D_Align): only for the
    supervised upper bounds. Under new-user, ("har",) is other people's labels and ("align",) the
    new users' own (their earlier trials, labelled: the ceiling). `per_class` keeps a seeded k clips
    per class (label efficiency). (Unlabelled windows of recorded sessions, label -1, have nothing
    to give them.)"""
    idx = np.concatenate([split[p] for p in parts])
    idx = idx[data.labels[idx] >= 0]
    if per_class is not None:
        rng = np.random.default_rng(seed)
        idx = np.sort(np.concatenate([rng.permutation(idx[data.labels[idx] == c])[:per_class]
                                      for c in np.unique(data.labels[idx])]))
    return UpperBound(data.imu[idx], data.visual[idx], data.labels[idx])


def to_json(data, split: dict[str, np.ndarray], seed: int, protocol: str = "random") -> dict:
    """split.json: seed, protocol, how clips were assigned, the keys per split, which people
    went where ("people": split -> sorted people, "test_people") and, for recorded sessions, the
    session_dataset.Windowing their windows were cut with ("windowing")."""
    extra = getattr(data, "extra", None) or {}
    if "split_json" in extra:   # stream windows: the clips per split, and how many windows each gave
        return {**extra["split_json"], "windows": {name: int(len(split[name])) for name in SPLITS},
                "windowing": extra.get("windowing")}
    if protocol != "random":
        assigned = {"assignment": f"{protocol} by person" + (", recorded roles kept" if "roles" in extra else "")}
    elif "roles" in extra:
        assigned = {"assignment": "recorded roles"}
    else:
        assigned = {"fractions": dict(zip(SPLITS, FRACTIONS))}
    out = {"seed": seed, "protocol": protocol, **assigned}
    if "roles" in extra and "windowing" in extra:   # recorded sessions: how their windows were cut
        out["windowing"] = extra["windowing"]
    try:
        people = people_of(data)
    except C3tError:
        people = None
    if people is not None:
        out["people"] = {name: sorted(set(people[split[name]].tolist()), key=_person_order) for name in SPLITS}
        if protocol != "random":
            out["test_people"] = out["people"]["test"]
    return {**out, **{name: [data.keys[i] for i in split[name]] for name in SPLITS}}
