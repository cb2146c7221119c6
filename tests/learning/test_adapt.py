"""Adaptation on synthetic embeddings: a new class is learnt from a few labels; bad labels are refused."""

from __future__ import annotations

import numpy as np

from agent.learning import head as heads
from agent.learning.adapt import Base, Labelled, adapt, hold_out, tolerance

SIZE = 16
LABELS = ("standing", "walking", "running")


def clusters(rng: np.random.Generator, centres: np.ndarray, per: int, spread: float = 0.3) -> np.ndarray:
    """``per`` points around every centre, in centre order (embeddings are ReLU outputs: non-negative)."""
    points = centres[:, None, :] + rng.normal(0, spread, (len(centres), per, centres.shape[1]))
    return np.abs(points.reshape(-1, centres.shape[1])).astype(np.float32)


def make_base(seed: int = 1) -> tuple[Base, np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(seed)
    centres = np.abs(rng.normal(0, 2, (len(LABELS) + 1, SIZE))).astype(np.float32)
    train_x = clusters(rng, centres[: len(LABELS)], 10)
    test_x = clusters(rng, centres[: len(LABELS)], 10)
    y = np.repeat(np.arange(len(LABELS)), 10)
    base = Base(LABELS, train_x, y, test_x, y.copy(), y.copy())
    return base, centres, rng


def shipped_guess(base: Base, x: np.ndarray) -> list[str]:
    """What a classifier that knows only the shipped classes says: the nearest shipped class."""
    means = np.stack([base.train_x[base.train_y == c].mean(axis=0) for c in range(len(base.labels))])
    nearest = np.linalg.norm(x[:, None, :] - means[None], axis=2).argmin(axis=1)
    return [base.labels[i] for i in nearest]


def test_a_separable_new_class_is_learnt_from_five_labels_and_the_old_ones_stay() -> None:
    base, centres, rng = make_base()
    owner = clusters(rng, centres[3:], 5)
    outcome = adapt(base, Labelled(owner, ["cycling"] * 5, shipped_guess(base, owner)), running=None)
    assert outcome.kept, outcome.reason
    assert outcome.new_classes == ("cycling",)
    assert outcome.classes == (*LABELS, "cycling")
    assert outcome.held_out_windows == 1
    assert outcome.held_out_accuracy == 1.0
    assert outcome.running_held_out_accuracy == 0.0
    assert outcome.test_accuracy >= outcome.running_test_accuracy - tolerance(len(base.test_y))
    assert outcome.head is not None
    unseen = clusters(rng, centres[3:], 20)
    assert (outcome.head.predict(unseen) == 3).mean() >= 0.9
    assert (outcome.head.predict(base.test_x) == base.test_y).mean() >= 0.95


def test_one_label_already_defines_a_new_class() -> None:
    base, centres, rng = make_base(seed=2)
    owner = clusters(rng, centres[3:], 1)
    outcome = adapt(base, Labelled(owner, ["cycling"], shipped_guess(base, owner)), running=None)
    assert outcome.kept
    assert outcome.held_out_windows == 0
    assert "too few labels" in outcome.reason
    assert outcome.head is not None
    assert (outcome.head.predict(clusters(rng, centres[3:], 20)) == 3).mean() >= 0.8


def test_labels_that_give_a_shipped_class_a_new_name_are_refused_by_the_test_split() -> None:
    # The owner labels eight standing windows as "resting": the new class takes standing's test windows.
    base, centres, rng = make_base(seed=3)
    owner = clusters(rng, centres[:1], 8)
    outcome = adapt(base, Labelled(owner, ["resting"] * 8, shipped_guess(base, owner)), running=None)
    assert not outcome.kept
    assert "worse on the shipped test split" in outcome.reason
    assert outcome.test_accuracy < outcome.running_test_accuracy - tolerance(len(base.test_y))


def test_labels_that_call_one_shipped_class_another_do_not_take_it_away() -> None:
    # Eight standing windows labelled walking (a slip of the mouse): standing's test windows stay standing.
    base, centres, rng = make_base(seed=3)
    owner = clusters(rng, centres[:1], 8)
    outcome = adapt(base, Labelled(owner, ["walking"] * 8, shipped_guess(base, owner)), running=None)
    after = outcome.test_accuracy if outcome.kept else outcome.running_test_accuracy
    assert after >= outcome.running_test_accuracy - tolerance(len(base.test_y))


def test_a_few_wrong_labels_among_right_ones_do_not_destroy_the_old_classes() -> None:
    base, centres, rng = make_base(seed=4)
    new = clusters(rng, centres[3:], 8)
    wrong = clusters(rng, centres[:3], 1)  # one window of each shipped class, labelled as the new class
    x = np.concatenate([new, wrong])
    names = ["cycling"] * 8 + ["cycling"] * 3
    outcome = adapt(base, Labelled(x, names, shipped_guess(base, x)), running=None)
    assert outcome.head is not None
    # The head itself keeps most of the shipped classes; whatever runs afterwards (the candidate if kept,
    # else what ran before) is within the tolerance on them.
    assert (outcome.head.predict(base.test_x) == base.test_y).mean() >= 0.85
    after = outcome.test_accuracy if outcome.kept else outcome.running_test_accuracy
    assert after >= outcome.running_test_accuracy - tolerance(len(base.test_y))
    if not outcome.kept:
        assert "worse on the shipped test split" in outcome.reason


def test_a_correction_of_a_shipped_class_wins_where_the_owner_labelled() -> None:
    # This home's "walking" sits between the shipped walking and running clusters, nearer running.
    base, centres, rng = make_base(seed=5)
    theirs = (0.35 * centres[1] + 0.65 * centres[2])[None]
    owner = clusters(rng, theirs, 8, spread=0.15)
    before = shipped_guess(base, owner)
    outcome = adapt(base, Labelled(owner, ["walking"] * 8, before), running=None)
    assert outcome.new_classes == ()
    assert outcome.head is not None
    later = clusters(rng, theirs, 20, spread=0.15)
    assert (outcome.head.predict(later) == 1).mean() > np.mean(
        [g == "walking" for g in shipped_guess(base, later)]
    )


def test_the_fit_is_deterministic_and_the_head_round_trips_through_bytes() -> None:
    base, centres, rng = make_base(seed=6)
    owner = clusters(rng, centres[3:], 4)
    labelled = Labelled(owner, ["cycling"] * 4, shipped_guess(base, owner))
    first = adapt(base, labelled, running=None).head
    second = adapt(base, labelled, running=None).head
    assert first is not None
    assert second is not None
    assert np.array_equal(first.weights, second.weights)
    again = heads.Head.from_bytes(first.to_bytes())
    assert again.classes == first.classes
    assert np.array_equal(again.probabilities(base.test_x), first.probabilities(base.test_x))


def test_every_fourth_window_of_each_class_is_held_out() -> None:
    names = ["a", "b", "a", "a", "b", "a", "b", "b", "a", "a", "a", "a"]
    assert [i for i, held in enumerate(hold_out(names)) if held] == [5, 7, 11]


def test_a_small_test_split_tolerates_one_window_and_a_large_one_five_in_a_hundred() -> None:
    assert tolerance(10) == 0.1
    assert tolerance(40) == 0.05
    assert tolerance(100) == 0.05
    assert tolerance(400) == 0.05


def test_the_head_answers_only_for_the_classes_the_owner_taught() -> None:
    base, centres, rng = make_base(seed=7)
    owner = clusters(rng, centres[3:], 5)
    outcome = adapt(base, Labelled(owner, ["cycling"] * 5, shipped_guess(base, owner)), running=None)
    assert outcome.head is not None
    assert outcome.head.taught is not None
    assert outcome.head.taught.tolist() == [False, False, False, True]
    # Where the head picks a shipped class, the shipped classifier's answer stands, whatever it is.
    shipped = np.full(len(base.test_x), 2)
    alone = outcome.head.predict(base.test_x)
    together = outcome.head.predict(base.test_x, shipped)
    assert np.array_equal(together, np.where(alone == 3, 3, 2))
    unseen = clusters(rng, centres[3:], 20)
    assert (outcome.head.predict(unseen, np.zeros(20, np.int64)) == 3).mean() >= 0.9
    again = heads.Head.from_bytes(outcome.head.to_bytes())
    assert again.taught is not None
    assert again.taught.tolist() == outcome.head.taught.tolist()
    # A head stored before heads knew what they were taught answers for every class.
    older = heads.Head.from_bytes(outcome.head._replace(taught=None).to_bytes())
    assert older.taught is None
    assert np.array_equal(older.predict(base.test_x, shipped), alone)


def test_no_worse_than_the_running_version_is_refused_past_the_allowance_below_shipped() -> None:
    # As if a version that cost the shipped classes more than the allowance were running (labels that call
    # standing "resting"): the same candidate again is no worse than it, and is refused all the same.
    base, centres, rng = make_base(seed=3)
    owner = clusters(rng, centres[:1], 8)
    labelled = Labelled(owner, ["resting"] * 8, shipped_guess(base, owner))
    first = adapt(base, labelled, running=None)
    assert first.head is not None
    shipped_accuracy = float((base.test_predicted == base.test_y).mean())
    assert first.test_accuracy < shipped_accuracy - tolerance(len(base.test_y))
    guessed = [first.head.classes[i] for i in first.head.predict(owner)]
    again = adapt(base, labelled._replace(predicted=guessed), running=first.head)
    assert again.test_accuracy == again.running_test_accuracy == first.test_accuracy
    assert not again.kept
    assert f"{shipped_accuracy:.3f} as shipped" in again.reason


def test_head_probabilities_are_the_softmax_of_cosine_logits_bit_for_bit() -> None:
    base, centres, rng = make_base()
    mean, scale = heads.standardisation(base.train_x, base.train_y)
    owner = np.zeros(len(base.train_y), dtype=bool)
    head = heads.fit(LABELS, base.train_x, base.train_y, owner, mean=mean, scale=scale)
    embeddings = np.concatenate([clusters(rng, centres, 5), np.zeros((1, SIZE), np.float32)])
    for rows in (embeddings, embeddings[:1], embeddings[-1:]):
        z = (rows - head.mean) / head.scale
        unit = z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-6)
        logits = unit @ head.weights.T + head.bias
        exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
        expected = (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)
        assert np.array_equal(head.probabilities(rows).view(np.uint32), expected.view(np.uint32))
